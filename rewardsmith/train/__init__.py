"""Training backends behind one protocol, by name: ``sb3`` (gymnasium + MuJoCo), ``brax`` (JAX)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

from rewardsmith.contracts import BackendNeeds, Budget, Progress, TrainResult
from rewardsmith.errors import RewardsmithError
from rewardsmith.registry import Registry


@runtime_checkable
class TrainingBackend(Protocol):
    """What a backend module provides; every registered backend passes the conformance test
    (tests/test_backends.py). Optional: ``require()`` (raises, saying what to install, when its
    dependencies are missing), ``default_budget(task)``, ``training_summary(task, steps)`` (the
    prompt's words on how rewards are trained), ``discount(task)`` (the discount its learner
    uses, which screening discounts recorded returns with; 0.99 when it does not say)."""

    NAME: str
    # train(resume_from=..., planned_steps=...) continues a saved slice, with the same result
    # whether this process trained that slice or not (tests/test_sb3_slices.py)
    RESUMABLE: bool

    def train(self, task: Any, program: Any, budget: Budget, seed: int,
              progress: Progress | None = None, workdir: Path | None = None,
              overrides: Mapping[str, Any] | None = None) -> TrainResult: ...

    def evaluate_untrained(self, task: Any, budget: Budget, seed: int,
                           overrides: Mapping[str, Any] | None = None) -> TrainResult: ...

    def describe(self) -> dict[str, Any]: ...

    def load_policy(self, task: Any, train_dir: Path,
                    overrides: Mapping[str, Any] | None = None) -> Callable[[Any], Any]: ...


@dataclass(frozen=True)
class BackendEntry:
    """A registered backend: the module that implements :class:`TrainingBackend` (imported only
    when used: it pulls in torch or JAX) and what it needs of the executors and the sandbox."""

    module: str
    needs: BackendNeeds = BackendNeeds()


# To add a backend: write a module like rewardsmith/train/sb3.py (the TrainingBackend above:
# NAME, RESUMABLE, train, evaluate_untrained, describe, load_policy), register it here with its
# needs, and tests/test_backends.py checks it conforms.
BACKENDS: Registry[BackendEntry] = Registry("training backend")
BACKENDS.register("sb3", BackendEntry("rewardsmith.train.sb3", BackendNeeds(resumable=True)))
BACKENDS.register("brax", BackendEntry("rewardsmith.train.brax_backend", BackendNeeds(
    jax=True, gpu=True, address_space_limit=False, all_cores=True, resumable=False)))


def register(name: str, module: str, needs: BackendNeeds = BackendNeeds()) -> None:
    BACKENDS.register(name, BackendEntry(module, needs))


def needs(name: str) -> BackendNeeds:
    """What backend ``name`` needs of the executors and the sandbox, without importing it (an
    unknown name is an error listing the known ones)."""
    return BACKENDS.load(name).needs


def load(name: str) -> ModuleType:
    """The backend module ``name`` (a :class:`TrainingBackend`); a clear error when it is
    unknown or its extra is missing."""
    path = BACKENDS.load(name).module
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


DEFAULT_DISCOUNT = 0.99


def discount_for(task, backend: str) -> float:
    """The discount ``backend``'s learner uses on ``task`` (its ``discount(task)``; 0.99 for a
    backend that does not say)."""
    module = load(backend)
    return float(module.discount(task)) if hasattr(module, "discount") else DEFAULT_DISCOUNT


def budget_for(task, backend: str) -> Budget:
    """The task's default budget on ``backend``: its own, else the backend's choice."""
    if backend in task.budgets:
        return task.budgets[backend]
    module = load(backend)
    if hasattr(module, "default_budget"):
        return module.default_budget(task)
    return task.budget(backend)  # raises, saying what to pass
