"""Training backends behind one protocol, by name: ``sb3`` (gymnasium + MuJoCo), ``brax`` (JAX)."""

from __future__ import annotations

import importlib
from types import ModuleType

from rewardsmith.errors import RewardsmithError
from rewardsmith.registry import Registry

# name -> module path; modules are imported only when used (they pull in torch or jax).
BACKENDS: Registry[str] = Registry("training backend")
BACKENDS.register("sb3", "rewardsmith.train.sb3")


def load(name: str) -> ModuleType:
    path = BACKENDS.load(name)
    try:
        return importlib.import_module(path)
    except ImportError as e:
        raise RewardsmithError(
            f"the {name} backend is not installed ({e.name or e})",
            f"install its extra: pip install 'rewardsmith[{name}]'",
        ) from None
