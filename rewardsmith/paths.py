"""Where rewardsmith keeps what outlives a run: one cache folder, shared by every part.

``$REWARDSMITH_CACHE`` when set; else ``$XDG_CACHE_HOME/rewardsmith``; else
``~/.cache/rewardsmith``. Inside it: ``llm/`` (answers by request), ``eval/`` (the hand-written
reward's and the untrained policy's results by task, backend, budget and seed),
``transitions/`` (the dry run's recorded transitions) and ``jax/`` (XLA's compile cache).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """The cache folder, or the folder ``parts`` inside it (not created here)."""
    root = os.environ.get("REWARDSMITH_CACHE")
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "rewardsmith"
    return base.joinpath(*parts)
