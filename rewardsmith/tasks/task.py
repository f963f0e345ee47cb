"""What a task is: an env, a description for the LLM, a hidden fitness, and a baseline reward."""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from rewardsmith.contracts import Budget, Episode
from rewardsmith.errors import RewardsmithError
from rewardsmith.state.view import Extra, StateSpec

if TYPE_CHECKING:
    from rewardsmith.tasks.context import RobotContext


class TaskError(RewardsmithError):
    pass


@dataclass(frozen=True)
class Fitness:
    """Ground truth for selecting candidates. Its code is never shown to the LLM; ``doc`` and
    ``success_doc`` are, in words, in the first prompt and beside the scores of the feedback
    (unless a run sets ``--hide-fitness``).

    ``fn(episode) -> float``: higher is better. ``doc`` says in words what it measures.

    Read the episode's fields by name (``ep.field("rootx_vel")``, ``ep.next.torso_pos``), not
    from ``ep.states`` by column: while training, a step fills only the fields that the reward,
    ``fn`` and ``success`` look up (probed once by name), and the other columns are NaN there.
    """

    fn: Callable[[Episode], float]
    doc: str
    success: Callable[[Episode], bool] | None = None
    success_doc: str = ""
    maximum: float | None = None  # the best fitness there is, where one is known (1000 steps up)
    # "as fast / far / high as possible": success is a bar on the way, not the goal, so a design
    # run does not stop when every episode succeeds (only at ``maximum`` or its --patience)
    open_ended: bool = False
    # the score pays only in a small region of the states (touching a target, spinning past a
    # bar): a policy earns none of it until it first gets there. The first prompt then weighs a
    # dense term that leads towards it against settling for near (unless --hide-fitness)
    sparse: bool = False

    def __call__(self, ep: Episode) -> float:
        return float(self.fn(ep))


@dataclass(frozen=True)
class Measure:
    """A quantity the feedback follows through every evaluation episode, beside the task score:
    a distance to a goal, an angle from upright, a spin rate. Where the score is sparse (1 while
    touching a target) or read at one moment (the distance at the end), it says how close an
    episode came, when, and where it ended. Never used for selection; not part of a task's
    fingerprint.

    ``fn(episode)`` gives one value per state s_1..s_T, shape (T,), as ``episode.field`` reads
    them. ``better`` is "lower" or "higher"; ``bar``, where there is one, is the value that
    counts as there (a touch radius): the feedback gives the share of steps at or beyond it."""

    name: str
    fn: Callable[[Episode], np.ndarray]
    unit: str = ""
    better: str = "lower"
    bar: float | None = None

    def __post_init__(self):
        if self.better not in ("lower", "higher"):
            raise TaskError(f"measure {self.name!r}: better must be 'lower' or 'higher', not "
                            f"{self.better!r}")

    def values(self, ep: Episode) -> np.ndarray:
        v = np.asarray(self.fn(ep), dtype=float)
        if v.shape != (ep.length,):
            raise TaskError(f"measure {self.name!r} gives shape {v.shape} over an episode of "
                            f"{ep.length} steps; it must give one value per state s_1..s_T, "
                            f"({ep.length},), as episode.field reads them")
        return v

    def reached(self, values: np.ndarray) -> np.ndarray:
        """Where ``values`` are at or beyond the bar (all False without one)."""
        if self.bar is None:
            return np.zeros(values.shape, dtype=bool)
        return values <= self.bar if self.better == "lower" else values >= self.bar


def distance_between(a: str, b: str, dims: int = 3) -> Callable[[Episode], np.ndarray]:
    """Measure helper: the distance between two position fields at each state, over their first
    ``dims`` coordinates (2: on the ground plane)."""

    def fn(ep: Episode) -> np.ndarray:
        return np.linalg.norm(ep.field(a)[:, :dims] - ep.field(b)[:, :dims], axis=-1)

    fn.__doc__ = f"distance between {a} and {b} ({dims}D)"
    return fn


_PLAIN = (int, float, complex, str, bytes, bool, type(None))


def _value_identity(v: Any) -> str:
    """A value a fitness reads, as text that is the same in every process: plain values and
    containers of them by their repr, anything else by its type (a repr may hold an address)."""
    if isinstance(v, _PLAIN):
        return repr(v)
    if isinstance(v, (tuple, list, frozenset, set)):
        items = sorted(map(_value_identity, v)) if isinstance(v, (set, frozenset)) else map(_value_identity, v)
        return f"{type(v).__name__}({', '.join(items)})"
    if isinstance(v, dict):
        return "dict(" + ", ".join(f"{_value_identity(k)}: {_value_identity(x)}" for k, x in v.items()) + ")"
    if isinstance(v, np.ndarray) and v.size <= 1000:
        return f"array({v.dtype}, {v.shape}, {v.tolist()!r})"
    return type(v).__name__


def _code_names(code: Any) -> set[str]:
    """The global names a code object reads, its nested code (lambdas, comprehensions) included."""
    import dis

    names = {i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    for c in code.co_consts:
        if inspect.iscode(c):
            names |= _code_names(c)
    return names


def _own_code(f: Any) -> bool:
    """Whether ``f`` is Python code of a task file or of rewardsmith, which a fitness's identity
    follows; an installed library's function (numpy's) is not followed: an upgrade of it would
    change every task's fingerprint."""
    if not inspect.isfunction(f):
        return False
    name = getattr(inspect.getmodule(f), "__name__", None) or f.__module__ or ""
    if name.split(".")[0] == "rewardsmith" or name.startswith("rewardsmith_task"):
        return True
    try:
        path = inspect.getsourcefile(f) or ""
    except TypeError:
        return False
    return "site-packages" not in path and "dist-packages" not in path and not path.startswith(
        sys.base_prefix)


def _function_identity(f: Any, depth: int = 0, seen: set[int] | None = None) -> str:
    """Text that changes when a fitness function changes: its source; for a closure made by a
    helper such as :func:`distance_travelled`, the values it closed over; and the module-level
    names it reads (a constant such as a goal radius, a helper function of the task file, in
    turn followed), so that editing any of them in a task file changes the task's fingerprint."""
    if f is None:
        return "-"
    seen = set() if seen is None else seen
    if id(f) in seen:
        return "(again)"
    seen.add(id(f))
    try:
        text = inspect.getsource(f)
    except (OSError, TypeError):
        text = getattr(f, "__doc__", "") or type(f).__name__
    if depth >= 6:
        return text

    def follow(v: Any) -> str:
        if inspect.ismodule(v):
            return v.__name__
        if callable(v):
            return _function_identity(v, depth + 1, seen) if _own_code(v) else getattr(
                v, "__qualname__", type(v).__name__)
        return _value_identity(v)

    for c in getattr(f, "__closure__", None) or ():
        try:
            v = c.cell_contents
        except ValueError:  # an empty cell
            continue
        text += "\n" + follow(v)
    code, scope = getattr(f, "__code__", None), getattr(f, "__globals__", None)
    if code is not None and scope is not None:
        for name in sorted(_code_names(code)):
            if name in scope:
                text += f"\n{name} = " + follow(scope[name])
    return text


def distance_travelled(field_name: str, axis: int | None = None, sign: float = 1.0,
                       doc: str = "") -> Callable[[Episode], float]:
    """Fitness helper: sum over the episode of a velocity field times dt (metres moved)."""

    def fn(ep: Episode) -> float:
        v = ep.field(field_name)
        if axis is not None:
            v = v[:, axis]
        return float(sign * np.sum(v * ep.field("dt")))

    fn.__doc__ = doc or f"distance travelled along {field_name}"
    return fn


def expression_fitness(expr: str, reduce: str = "mean") -> Callable[[Episode], float]:
    """An ad-hoc fitness: a numpy expression over the state fields of s_1..s_T, reduced over steps.

    Field names are bare (``torso_pos[:, 2]``, ``rootx_vel``), each shaped (T, ...); ``np`` is
    numpy; ``prev`` is the view of s_0..s_{T-1} and ``action`` the (T, A) actions.
    """
    from rewardsmith.rules.namespace import make_namespace
    from rewardsmith.rules.static import check_source

    problems = [p for p in check_source(f"def compute_reward(state, action, next_state):\n    return {expr}, {{}}\n")
                if "compute_reward" not in p]
    if problems:
        raise TaskError(f"the fitness expression {expr!r} is not allowed: {'; '.join(problems)}")
    try:
        code = compile(expr, "<fitness>", "eval")
    except SyntaxError as e:
        raise TaskError(f"the fitness expression {expr!r} is not valid Python: {e.msg}") from None
    reducers = {"mean": np.mean, "sum": np.sum, "max": np.max, "min": np.min, "last": lambda a: a[-1]}
    if reduce not in reducers:
        raise TaskError(f"unknown fitness reduction {reduce!r}; use one of {', '.join(reducers)}")
    red = reducers[reduce]

    def fn(ep: Episode) -> float:
        ns = make_namespace(np)
        nxt = ep.next
        ns.update({name: getattr(nxt, name) for name in ep.spec.fields})
        ns.update(prev=ep.prev, action=ep.actions, next_state=nxt, state=ep.prev)
        value = np.asarray(eval(code, ns), dtype=float)  # noqa: S307 - checked expression, minimal namespace
        if value.ndim == 0:
            value = np.full(ep.length, float(value))
        if value.shape[0] != ep.length or value.ndim != 1:
            raise TaskError(
                f"the fitness expression {expr!r} gives shape {value.shape} over an episode of "
                f"{ep.length} steps; it must give one number per step (reduce vector fields, "
                "e.g. torso_pos[:, 2])"
            )
        return float(red(value))

    fn.__doc__ = f"{reduce} over evaluation steps of: {expr}"
    return fn


def _env_dt(u) -> float:
    """Seconds per env step. An env that runs another MuJoCo env inside it (gymnasium-robotics'
    mazes and kitchen) has no ``dt`` of its own: the inner env on the same model gives it."""
    dt = getattr(u, "dt", None)
    if dt is None:
        for v in vars(u).values():
            if getattr(v, "model", None) is u.model and getattr(v, "dt", None) is not None:
                dt = v.dt
                break
    if dt is None:
        raise TaskError(f"env {type(u).__name__} has no step length (dt)",
                        "rewardsmith needs an env with a fixed time per step")
    return float(dt)


@dataclass(frozen=True)
class Task:
    """A task definition. ``envs/*.py`` files each define one as ``TASK``."""

    id: str
    env_id: str
    description: str
    fitness: Fitness | None
    baseline_reward: str  # a reward program's source, or "env" for the simulator's own reward
    baseline_doc: str = ""
    robot: str = ""
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    extras: tuple[Extra, ...] = ()
    budgets: Mapping[str, Budget] = field(default_factory=dict)  # backend -> budget
    hyperparams: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # backend -> settings
    max_episode_steps: int | None = None
    source_file: str = ""
    origin: Mapping[str, Any] = field(default_factory=dict)  # how to load it again (see tasks.from_origin)
    # Per-episode parts of the scene that live in the model rather than in qpos (the Control
    # Suite's reacher moves its target geom at each reset): ``restore_scene(model, view, row)``
    # sets them from row ``row`` of a recorded episode's state view, so that a replayed pose
    # (videos, keyframes) shows that episode's scene.
    restore_scene: Callable[[Any, Any, int], None] | None = None
    # What the feedback follows through each evaluation episode beside the score (see Measure)
    measures: tuple[Measure, ...] = ()

    # -------------------------------------------------------------- environment
    def make_env(self, render_mode: str | None = None):
        import gymnasium as gym

        from rewardsmith import mjlog

        mjlog.install()  # MuJoCo's warnings into logging, not MUJOCO_LOG.TXT in the cwd
        kwargs = dict(self.env_kwargs)
        if self.max_episode_steps is not None:
            kwargs["max_episode_steps"] = self.max_episode_steps
        if render_mode:
            kwargs["render_mode"] = render_mode
        from rewardsmith.tasks import dmc, robotics

        if dmc.is_dmc_id(self.env_id):  # Control Suite tasks (dmc:DOMAIN/TASK), registered on demand
            env_id = dmc.ensure_registered(self.env_id)
        else:
            robotics.ensure_registered(self.env_id)  # gymnasium-robotics ids, imported on demand
            env_id = self.env_id
        try:
            env = gym.make(env_id, **kwargs)
        except Exception as e:  # gymnasium raises several types for a bad id or kwargs
            clear = robotics.explain_failure(self.env_id, e)
            if clear is not None:
                raise clear from None
            raise TaskError(
                f"task {self.id}: cannot make env {self.env_id!r}: {type(e).__name__}: {e}",
                "check the env id (gymnasium MuJoCo envs such as Hopper-v5, or dmc:DOMAIN/TASK) "
                "and its settings",
            ) from None
        return robotics.wrap(env) if robotics.is_robotics_env(env) else env

    @cached_property
    def spec(self) -> StateSpec:
        env = self.make_env()
        try:
            u = env.unwrapped
            if not hasattr(u, "model") or not hasattr(u, "data"):
                raise TaskError(
                    f"task {self.id}: env {self.env_id} is not a MuJoCo env (no model/data)",
                    "rewardsmith derives the state view from a MuJoCo model; use a gymnasium MuJoCo env",
                )
            return StateSpec.from_model(u.model, _env_dt(u), self.extras)
        finally:
            env.close()

    def budget(self, backend: str) -> Budget:
        if backend in self.budgets:
            return self.budgets[backend]
        raise TaskError(f"task {self.id} has no default budget for backend {backend!r}",
                        "pass --steps")

    @property
    def has_success(self) -> bool:
        return self.fitness is not None and self.fitness.success is not None

    @property
    def fingerprint(self) -> str:
        """Changes whenever the task definition changes (for caches)."""
        h = hashlib.sha256()
        for part in (self.id, self.env_id, repr(sorted(self.env_kwargs.items())),
                     self.baseline_reward, repr(self.max_episode_steps),
                     repr(sorted((k, sorted(v.items())) for k, v in self.hyperparams.items()))):
            h.update(part.encode())
        if self.fitness is not None:
            for f in (self.fitness.fn, self.fitness.success):
                h.update(_function_identity(f).encode())
        # the state view's layout: recorded episodes are rows of it (a new field is a new task
        # as far as cached evaluation episodes are concerned)
        h.update(self.spec.layout.encode())
        return h.hexdigest()[:16]

    # ----------------------------------------------------------- what the LLM sees
    def llm_context(self, compact: bool = False, typical_for: Collection[str] = ()) -> str:
        """The task as the LLM reads it: description, robot, state fields and signature.
        ``compact``: the state fields as name, shape and unit only (requests after the first,
        which carried the full table with each field's meaning and typical values), with the
        typical values of the fields in ``typical_for`` (those the rewards so far read)."""
        from rewardsmith.reward.program import SIGNATURE
        from rewardsmith.state.view import render_compact
        from rewardsmith.tasks.context import RESETS, STEPS

        robot = self.robot_context
        notes = robot.notes if robot else {}
        typical = (f"[reset ..; lo..hi]: typical value at reset, 5th..95th percentile over {STEPS} "
                   f"random-action steps and {RESETS} resets (|v|: a vector's length; z: its "
                   "height); [same as X]: equal to field X throughout.\n") if notes else ""
        table = f"{typical}{self.spec.render(notes)}"
        if compact:
            table = ("Name, shape and unit of each (the full table with every field's meaning "
                     "and typical values is left out here; every field has a leading batch axis "
                     "B):\n"
                     + render_compact(self.spec))
            kept = [n for n in self.spec.fields if n in set(typical_for) and notes.get(n)]
            if kept:
                table += ("\nTypical values of the fields the rewards so far read ([reset value; "
                          "5th..95th percentile] over random-action steps and resets, as the "
                          "first request gave them):\n"
                          + "\n".join(f"  {n} {notes[n]}" for n in kept))
        return (
            f"Task: {self.description}\n\n"
            f"Robot: {self.robot or self.env_id} (simulator env {self.env_id}, "
            f"{self.spec.dt:g} s per step)\n"
            f"Action: shape (B, {self.action_dim}), {self.action_range} (motor controls, as "
            f"applied: the exploration noise is clipped to this range before the step, so a "
            f"reward never sees an action outside it)\n"
            + (f"Observation (what the policy sees): {robot.observation}\n"
               if robot and robot.observation else "")
            + (f"{robot.render()}\n" if robot else "")
            + "\nState fields (state = before the step, next_state = after it):\n"
            f"{table}\n\n"
            f"Signature:\n{SIGNATURE}\n"
            f"    ...\n    return reward, {{\"term_name\": term, ...}}  # reward (B,), each term (B,)\n"
        )

    @cached_property
    def robot_context(self) -> RobotContext | None:
        """What the prompt says about the robot beyond the schema (typical values, joint signs,
        actuators, objects, episode ends), from the model and a short seeded random-action run;
        computed once. None, with a warning logged, where the env cannot be run that way."""
        from rewardsmith.tasks.context import robot_context

        try:
            return robot_context(self)
        except RewardsmithError:  # not a MuJoCo env, no such env: said where the spec is made
            raise
        except Exception as e:  # noqa: BLE001 - an unusual env: the prompt goes without it
            import logging

            logging.getLogger(__name__).warning(
                "task %s: no robot context for the prompt (%s: %s); the state schema alone is shown",
                self.id, type(e).__name__, e)
            return None

    @cached_property
    def score_fields(self) -> tuple[str, ...]:
        """The state fields the task score reads (``time`` and ``dt`` left out), in the view's
        order (see :func:`~rewardsmith.contracts.fields_looked_up`); () where there is no
        score or what it reads cannot be told."""
        from rewardsmith.contracts import fields_looked_up

        if self.fitness is None:
            return ()
        read = fields_looked_up(self.spec, (self.fitness,)) or set()
        return tuple(f for f in self.spec.fields if f in read and f not in ("time", "dt"))

    @cached_property
    def _action_space(self):
        env = self.make_env()
        try:
            return env.action_space
        finally:
            env.close()

    @property
    def action_dim(self) -> int:
        return int(np.prod(self._action_space.shape))

    @property
    def action_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)``: each action entry's bounds, flat (inf where unbounded)."""
        space = self._action_space
        return (np.asarray(space.low, dtype=float).ravel(), np.asarray(space.high, dtype=float).ravel())

    @property
    def action_range(self) -> str:
        low, high = self._action_space.low, self._action_space.high
        if np.all(low == low.flat[0]) and np.all(high == high.flat[0]):
            return f"each entry in [{low.flat[0]:g}, {high.flat[0]:g}]"
        return f"entries bounded by low={np.round(low, 3).tolist()} high={np.round(high, 3).tolist()}"
