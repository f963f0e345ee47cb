"""The LLM contract: one ``complete()`` for every backend, and the registry that makes them.

A backend turns chat ``messages`` into ``n`` answer texts plus token use::

    llm = make_llm("openai:gpt-4o")           # rewardsmith.llm.make_llm; "offline", "manual", None
    out = llm.complete(messages, n=4, temperature=1.0, context=DesignContext.from_task(task))
    out.texts, out.usage.prompt_tokens, out.usage.cost_usd, out.cached

``context`` is a structured side channel for the offline designer (which reads the state
schema and the reflection as data rather than text); network backends ignore it and never send it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from rewardsmith.errors import RewardsmithError
from rewardsmith.registry import Registry

if TYPE_CHECKING:
    from rewardsmith.tasks.task import Task

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"


class LLMError(RewardsmithError):
    """The LLM backend could not answer; the message says why, the hint what to do."""


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None  # None: unknown (a local model, a model without a price)

    def __add__(self, other: Usage) -> Usage:
        cost = None if self.cost_usd is None or other.cost_usd is None else self.cost_usd + other.cost_usd
        return Usage(self.prompt_tokens + other.prompt_tokens,
                     self.completion_tokens + other.completion_tokens, cost)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Completion:
    texts: list[str]
    usage: Usage  # what this call cost (zero for a cache hit)
    model: str
    cached: bool = False
    paid: Usage | None = None  # a cache hit: what the answer cost when it was first asked


@dataclass
class CandidateFeedback:
    """What the loop knows about one earlier candidate."""

    source: str
    fitness: float | None
    success_rate: float | None
    components: dict[str, list[float]]  # component -> mean episode sum at ~10 points over training
    episode_lengths: list[float]
    fitness_curve: list[float | None]
    error: str | None = None  # validation/training failure text, if it failed


@dataclass
class DesignContext:
    """Structured side channel for the offline designer; never sent over the wire."""

    task_id: str
    description: str
    env_id: str
    fields: dict[str, tuple[tuple[int, ...], str, str]]  # name -> (shape, unit, doc)
    action_dim: int
    iteration: int
    best: CandidateFeedback | None = None  # best so far (elitism)
    others: list[CandidateFeedback] = field(default_factory=list)  # this iteration's other candidates
    # fingerprints (rewardsmith.reward.program.fingerprint) of every program the run has seen:
    # a designer should not propose them again
    tried: list[str] = field(default_factory=list)
    human_text: str | None = None
    # What an engineer would look up before writing a reward: the state right after reset
    # (scalar and small vector fields, rounded) and the episode's time limit in steps.
    initial: dict[str, float | list[float]] = field(default_factory=dict)
    episode_limit: int | None = None

    @classmethod
    def from_task(cls, task: Task, iteration: int = 0) -> DesignContext:
        spec = task.spec
        fields = {n: (tuple(f.shape), f.unit, f.doc) for n, f in spec.fields.items()}
        initial, limit = _reset_state(task)
        return cls(task_id=task.id, description=task.description, env_id=task.env_id,
                   fields=fields, action_dim=task.action_dim, iteration=iteration,
                   initial=initial, episode_limit=limit)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprint(self) -> str:
        return hashlib.sha256(canonical_json(self.to_json()).encode()).hexdigest()


def _reset_state(task: Task) -> tuple[dict[str, float | list[float]], int | None]:
    """The task's typical state after reset (as the prompt shows it; else a seeded reset's), and
    its time limit; best effort (empty on failure)."""
    import numpy as np

    limit = task.max_episode_steps
    initial: dict[str, float | list[float]] = {}
    try:
        env = task.make_env()
    except RewardsmithError:
        return initial, limit
    try:
        if limit is None and env.spec is not None and env.spec.max_episode_steps:
            limit = int(env.spec.max_episode_steps)
        robot = task.robot_context  # the typical reset state the prompt shows (a median)
        if robot is not None:
            reset = {name: t.reset for name, t in robot.typical.items()}
        else:
            env.reset(seed=0)
            u = env.unwrapped
            view = task.spec.view(task.spec.extract(u.model, u.data)[None])
            reset = {name: np.asarray(getattr(view, name))[0] for name in task.spec.fields}
        for name, f in task.spec.fields.items():
            if f.size <= 4 and name not in ("qpos", "qvel"):
                v = np.round(np.asarray(reset[name], dtype=float).reshape(f.shape), 4)
                initial[name] = float(v) if v.ndim == 0 else [float(x) for x in v.ravel()]
    except Exception:  # noqa: BLE001 - the designer works without it
        initial = {}
    finally:
        env.close()
    return initial, limit


def canonical_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces) for hashing requests."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)


def _plain(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def request_key(backend: str, messages: list[dict], n: int, temperature: float,
                context: DesignContext | None = None, iteration: int | None = None) -> str:
    """sha256 of the full request. ``context`` counts only where given (the offline designer);
    ``iteration`` keeps one iteration's answers from serving another that sent the same text."""
    payload: dict[str, Any] = {"v": 2, "backend": backend, "messages": messages, "n": int(n),
                               "temperature": float(temperature), "iteration": iteration}
    if context is not None:
        payload["context"] = context.to_json()
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


@runtime_checkable
class LLM(Protocol):
    name: str  # "openai:gpt-4o", "offline", "manual"

    def complete(self, messages: list[dict], n: int, temperature: float,
                 context: DesignContext | None = None) -> Completion: ...


# ------------------------------------------------------------------------------ registry
# A factory takes the part of the spec after "name:" (or None) and keyword settings.
LLMFactory = Callable[..., LLM]

# Backends by name. This module imports no backend: rewardsmith.llm.registry enters the built-in
# ones (imported only when one is made) and holds make_llm.
REGISTRY: Registry[LLMFactory] = Registry("LLM backend")


def register(name: str, factory: LLMFactory, *, replace: bool = False) -> LLMFactory:
    return REGISTRY.register(name, factory, replace=replace)
