"""The contracts every part keeps (see DESIGN.md): plain dataclasses and Protocols, no backends."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from rewardsmith.state.view import StateSpec, StateView


@dataclass
class Episode:
    """One episode, as recorded by a training backend.

    ``states`` holds T+1 flat state rows (s_0 .. s_T) in the layout of ``spec``;
    ``prev``/``next`` are views over s_0..s_{T-1} and s_1..s_T, aligned with ``actions``.
    """

    states: np.ndarray  # (T+1, D)
    actions: np.ndarray  # (T, A)
    env_rewards: np.ndarray  # (T,) the simulator's own reward
    rewards: np.ndarray  # (T,) the reward the policy trained on
    components: dict[str, np.ndarray]  # name -> (T,)
    terminated: bool  # ended by the env (fell over), not by the time limit
    spec: StateSpec = field(repr=False)

    @property
    def length(self) -> int:
        return int(self.actions.shape[0])

    @property
    def prev(self) -> StateView:
        return self.spec.view(self.states[:-1])

    @property
    def next(self) -> StateView:
        return self.spec.view(self.states[1:])

    def field(self, name: str) -> np.ndarray:
        """A state field over s_1..s_T, shaped (T, ...)."""
        return getattr(self.next, name)

    def save(self, path: Path) -> None:
        arrays = {
            "states": self.states,
            "actions": self.actions,
            "env_rewards": self.env_rewards,
            "rewards": self.rewards,
            "terminated": np.asarray(self.terminated),
        }
        arrays.update({f"component:{k}": v for k, v in self.components.items()})
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: Path, spec: StateSpec) -> Episode:
        """The episode saved at ``path``, read with ``spec`` (a ValueError when its states were
        recorded with a state view of another size)."""
        with np.load(path) as z:
            width = z["states"].shape[-1]
            if width != spec.size:
                raise ValueError(f"{path} holds states of {width} values; this task's state view "
                                 f"has {spec.size} (recorded by another version of the view)")
            comps = {k.split(":", 1)[1]: z[k] for k in z.files if k.startswith("component:")}
            return cls(z["states"], z["actions"], z["env_rewards"], z["rewards"], comps,
                       bool(z["terminated"]), spec)


@dataclass
class CurvePoint:
    """Statistics over the training episodes that ended in one window of training."""

    step: int
    episodes: int
    fitness: float | None
    success_rate: float | None
    episode_length: float
    env_return: float
    reward_return: float
    components: dict[str, float]  # mean episode sum of each component
    # share of the window's episodes that a termination rule ended (not the time limit); None
    # where the backend does not tell
    ended_early: float | None = None
    # share of the window's episodes that ended early past each of the env's bounds (keyed by
    # Bound.name(), see tasks.context.Bound; OTHER_END: past none); one past two counts twice
    ended_by: dict[str, float] = field(default_factory=dict)


OTHER_END = "(other)"  # CurvePoint.ended_by's key for episodes that ended early past no known bound


def ending_shares(ends: Sequence[tuple[bool, Sequence[str]]]) -> dict[str, Any]:
    """A :class:`CurvePoint`'s ``ended_early`` and ``ended_by`` over a window's episodes, each
    given as (terminated, the names of the bounds it ended past); {} for no episodes. An episode
    that ended early past none of them counts under :data:`OTHER_END`."""
    if not ends:
        return {}
    names: dict[str, int] = {}
    for terminated, past in ends:
        for name in (past or ([OTHER_END] if terminated else [])):
            names[name] = names.get(name, 0) + 1
    return {"ended_early": sum(bool(t) for t, _ in ends) / len(ends),
            "ended_by": {k: v / len(ends) for k, v in sorted(names.items())}}


@dataclass(frozen=True)
class RuntimeStats:
    """What the runtime guard saw while a reward trained, the same on every backend (read from
    ``TrainResult.runtime``, which also holds backend-specific extras)."""

    nonfinite_steps: int = 0  # env steps whose reward was NaN/inf (replaced by 0)
    first_bad_step: int | None = None
    first_bad_detail: str = ""
    nonfinite_component_steps: int = 0  # steps with a finite reward but a NaN/inf component
    first_bad_component: str = ""

    @classmethod
    def from_runtime(cls, runtime: Mapping[str, Any]) -> RuntimeStats:
        """From the sb3 guard's counters (``nonfinite_calls``...) or the brax backend's
        (``nonfinite_eval_steps``: counted inside the jitted evaluation)."""
        steps = runtime.get("nonfinite_calls")
        if steps is None:
            steps = runtime.get("nonfinite_eval_steps", 0)
        return cls(nonfinite_steps=int(steps or 0), first_bad_step=runtime.get("first_bad_step"),
                   first_bad_detail=str(runtime.get("first_bad_detail") or ""),
                   nonfinite_component_steps=int(runtime.get("nonfinite_component_calls") or 0),
                   first_bad_component=str(runtime.get("first_bad_component") or ""))


@dataclass
class TrainResult:
    """What a training backend returns. Data, never scraped from logs."""

    task: str
    backend: str
    seed: int
    steps: int
    fitness: float  # mean fitness of the deterministic evaluation episodes
    fitness_std: float
    success_rate: float | None
    eval_fitness: list[float]  # one per evaluation episode
    curve: list[CurvePoint]
    eval_episodes: list[Episode] = field(repr=False, default_factory=list)
    policy_path: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # wall_s, train_s, eval_s, env_steps_per_s
    runtime: dict[str, Any] = field(default_factory=dict)  # runtime-guard counters

    @property
    def stats(self) -> RuntimeStats:
        return RuntimeStats.from_runtime(self.runtime)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("eval_episodes")
        d["eval_episode_lengths"] = [e.length for e in self.eval_episodes]
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TrainResult:
        d = dict(d)
        d.pop("eval_episode_lengths", None)
        d["curve"] = [CurvePoint(**c) for c in d.get("curve", [])]
        return cls(**d)

    @classmethod
    def scored(cls, task: Any, backend: str, seed: int, steps: int, episodes: list[Episode],
               curve: list[CurvePoint], timings: dict[str, float],
               runtime: dict[str, Any] | None = None, policy_path: str | None = None
               ) -> TrainResult:
        """A result whose fitness is the task's own fitness over ``episodes`` (the env's return
        where the task has none), the same way on every backend."""
        fits, succ = score_episodes(task, episodes)
        return cls(task=task.id, backend=backend, seed=seed, steps=int(steps),
                   fitness=float(np.mean(fits)), fitness_std=float(np.std(fits)),
                   success_rate=succ, eval_fitness=fits, curve=curve, eval_episodes=episodes,
                   policy_path=policy_path, timings=timings, runtime=runtime or {})

    def save(self, directory: Path) -> None:
        from rewardsmith.runs.files import atomic_write_json

        directory.mkdir(parents=True, exist_ok=True)
        for i, ep in enumerate(self.eval_episodes):
            ep.save(directory / f"eval_episode_{i}.npz")
        atomic_write_json(directory / "result.json", self.to_json())


def score_episodes(task: Any, episodes: list[Episode]) -> tuple[list[float], float | None]:
    """Each episode's fitness under ``task`` (its env return where the task has no fitness),
    and the success rate where the task has a success predicate."""
    fit = task.fitness
    fits = [float(fit(e)) if fit else float(e.env_rewards.sum()) for e in episodes]
    succ = None
    if fit is not None and fit.success is not None:
        succ = float(np.mean([bool(fit.success(e)) for e in episodes]))
    return fits, succ


def episode_files(directory: Path) -> list[Path]:
    """The evaluation episodes saved by :meth:`TrainResult.save`, in the order they were saved
    (numerically: episode 10 comes after episode 9), so they line up with ``eval_fitness``."""
    def index(p: Path) -> int:
        tail = p.stem.rsplit("_", 1)[-1]
        return int(tail) if tail.isdigit() else -1

    return sorted(Path(directory).glob("eval_episode_*.npz"), key=index)


@dataclass(frozen=True)
class BackendNeeds:
    """What a training backend asks of the executors and the sandbox, declared where it is
    registered (:data:`rewardsmith.train.BACKENDS`) so they can read it without importing the
    backend (and its torch or JAX). Nothing outside a backend's own modules names a backend:
    callers read these fields instead."""

    jax: bool = False  # programs run under jax.numpy: the dry run adds jit, vmap and numpy agreement
    gpu: bool = False  # a job takes a GPU share where one is visible (CUDA_VISIBLE_DEVICES)
    address_space_limit: bool = True  # trains under the jail's address-space limit (XLA reserves more)
    all_cores: bool = False  # a job uses every core (XLA): its CPU-time limit counts all of them
    resumable: bool = False  # train(resume_from=..., planned_steps=...) continues a saved slice


@dataclass(frozen=True)
class JobSpec:
    """One training job, by content. ``to_json`` is the ``job.json`` a worker reads."""

    task: Mapping[str, Any]  # the task's origin (rewardsmith.tasks.from_origin)
    program: str | None  # the reward's source; None: the simulator's own reward
    steps: int  # env steps of training (0 for the untrained policy)
    eval_episodes: int
    seed: int
    backend: str = "sb3"
    label: str = ""
    untrained: bool = False  # evaluate the untrained policy instead of training
    overrides: Mapping[str, Any] = field(default_factory=dict)  # the backend's settings
    # successive halving: the saved slice this one continues, the whole budget it belongs to,
    # whether its worker may train the next slice in memory, and which slice it is
    resume_from: str | None = None
    planned_steps: int | None = None
    continuable: bool = False
    rung: int | None = None

    @classmethod
    def build(cls, task, program, steps: int, eval_episodes: int, seed: int, backend: str, *,
              untrained: bool = False, overrides: Mapping[str, Any] | None = None,
              label: str = "") -> JobSpec:
        """The spec for training ``program`` (a RewardProgram, or None for the env's reward)
        on ``task``: the one place a job is built."""
        return cls(task=dict(task.origin), program=None if program is None else program.source,
                   steps=int(steps), eval_episodes=int(eval_episodes), seed=int(seed),
                   backend=backend, untrained=untrained, overrides=dict(overrides or {}),
                   label=label or (program.origin if program else "env reward"))

    def replace(self, **changes: Any) -> JobSpec:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "task": dict(self.task), "program": self.program, "label": self.label,
            "budget": {"steps": self.steps, "eval_episodes": self.eval_episodes},
            "seed": self.seed, "backend": self.backend, "untrained": self.untrained,
            "overrides": dict(self.overrides),
        }
        for k in ("resume_from", "planned_steps", "rung"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        if self.continuable:
            d["continuable"] = True
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> JobSpec:
        budget = d.get("budget") or {}
        return cls(task=dict(d["task"]), program=d.get("program"),
                   steps=int(budget.get("steps", 0)), eval_episodes=int(budget.get("eval_episodes", 5)),
                   seed=int(d["seed"]), backend=d.get("backend") or "sb3",
                   label=d.get("label", ""), untrained=bool(d.get("untrained")),
                   overrides=dict(d.get("overrides") or {}), resume_from=d.get("resume_from"),
                   planned_steps=d.get("planned_steps"), continuable=bool(d.get("continuable")),
                   rung=d.get("rung"))


@dataclass(frozen=True)
class Budget:
    """How much training one candidate gets."""

    steps: int
    eval_episodes: int = 5


class Progress(Protocol):
    def __call__(self, done_steps: int, total_steps: int, info: Mapping[str, Any]) -> None: ...


FitnessFn = Callable[[Episode], float]
SuccessFn = Callable[[Episode], bool]


def fields_looked_up(spec, fns, rows: np.ndarray | None = None,
                     action_shape: tuple[int, ...] = (1,)) -> set[str] | None:
    """The state fields that ``fns`` (a fitness, a success test; None entries skipped) read:
    each is called once on a two-step episode of ``rows`` (full state rows; zeros by default)
    through a view of ``spec`` that notes what it looks up. None where one raises: what it
    reads cannot be told."""
    probe, read = spec.recording()
    states = np.zeros((3, spec.size)) if rows is None else np.repeat(rows[:1], 3, axis=0)
    ep = Episode(states=states, actions=np.zeros((2, *action_shape)), env_rewards=np.zeros(2),
                 rewards=np.zeros(2), components={}, terminated=False, spec=probe)
    try:
        for fn in fns:
            if fn is not None:
                fn(ep)
    except Exception:  # noqa: BLE001 - a function that needs more than these rows
        return None
    return read & set(spec.fields)
