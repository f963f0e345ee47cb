"""MuJoCo's own warnings go to Python's logging (logger ``rewardsmith.mujoco``), never to a
``MUJOCO_LOG.TXT`` in the user's current folder, which is what MuJoCo writes without a handler.

A training worker's log is its ``worker.log`` in the run; a design run adds the run's
``mujoco.log``. The "settotalmass deprecated" warning that mujoco 4 prints for every one of
gymnasium's own XML files is harmless and logged at debug level only.
"""

from __future__ import annotations

import logging

LOG = logging.getLogger("rewardsmith.mujoco")
HARMLESS = ("settotalmass",)
_installed = False


def _handler(message: str) -> None:
    text = message.strip()
    LOG.log(logging.DEBUG if any(h in text for h in HARMLESS) else logging.WARNING,
            "MuJoCo: %s", text)


def install(force: bool = False) -> None:
    """Route MuJoCo's warnings into logging (idempotent; cheap once mujoco is imported).
    ``force``: install again, after a library replaced the handler with its own (dm_control
    does on import, sending every warning to the terminal through absl)."""
    global _installed
    if _installed and not force:
        return
    import mujoco

    mujoco.set_mju_user_warning(_handler)
    _installed = True


def to_file(path) -> logging.Handler:
    """Also write MuJoCo's warnings to ``path`` (a run's log), and only there."""
    install()
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    LOG.addHandler(handler)
    LOG.propagate = False
    return handler
