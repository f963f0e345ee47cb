"""``python -m rewardsmith``: the same as the ``rewardsmith`` command."""

from rewardsmith.cli.main import main

main()
