"""Training backends behind one protocol, by name: ``sb3`` (gymnasium + MuJoCo), ``brax`` (JAX)."""

from __future__ import annotations

import importlib
from types import ModuleType

from rewardsmith.contracts import Budget
from rewardsmith.errors import RewardsmithError
from rewardsmith.registry import Registry

# name -> module path; modules are imported only when used (they pull in torch or jax).
BACKENDS: Registry[str] = Registry("training backend")
BACKENDS.register("sb3", "rewardsmith.train.sb3")
BACKENDS.register("brax", "rewardsmith.train.brax_backend")


def load(name: str) -> ModuleType:
    """The backend module ``name``; a clear error when it is unknown or its extra is missing.

    A backend module has ``train(task, program, budget, seed, progress, workdir, overrides)`` and
    ``evaluate_untrained(task, budget, seed, overrides)``; it may have ``require()`` (raises when
    its dependencies are missing) and ``default_budget(task)`` (a budget for tasks that define
    none for it)."""
    path = BACKENDS.load(name)
    try:
        module = importlib.import_module(path)
    except ImportError as e:
        raise RewardsmithError(
            f"the {name} backend is not installed ({e.name or e})",
            f"install its extra: pip install 'rewardsmith[{name}]'",
        ) from None
    if hasattr(module, "require"):
        module.require()
    return module


def budget_for(task, backend: str) -> Budget:
    """The task's default budget on ``backend``: its own, else the backend's choice."""
    if backend in task.budgets:
        return task.budgets[backend]
    module = load(backend)
    if hasattr(module, "default_budget"):
        return module.default_budget(task)
    return task.budget(backend)  # raises, saying what to pass
