"""rewardsmith: design reward functions for robot RL with an LLM.

Importing this package loads no heavy backend (no torch, jax or stable-baselines3).
"""

__version__ = "0.1.0"

from rewardsmith.errors import RewardsmithError  # noqa: E402

__all__ = ["RewardsmithError", "__version__"]
