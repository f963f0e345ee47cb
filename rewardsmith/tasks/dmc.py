"""DeepMind Control Suite tasks (``dm_control``, the optional ``dmc`` extra) as gymnasium envs.

An env id ``dmc:DOMAIN/TASK`` (``dmc:walker/walk``, ``dmc:finger/turn_hard``) is any task of
``dm_control.suite``. :class:`DmcEnv` is a thin adapter: the suite's observation dict flattened
into one vector (in the suite's key order), its action spec as a ``Box``, its reward as the
env's reward, and ``model``, ``data`` and ``dt`` as gymnasium's MuJoCo envs have them (the
physics' own ``mujoco.MjModel`` and ``mujoco.MjData``), so the state view, the training
backends, videos and export see a Control Suite task as any other MuJoCo env.

It steps the suite's ``control.Environment`` directly; shimmy's ``DmControlCompatibilityV0``
does the same with a dict observation and copies of it, and measured slower here (walker/walk,
one env, random actions: the adapter at 0.95x the suite's own steps/s, shimmy with its
observation flattened at 0.88x; ``scripts/bench_dmc.py``). The suite's episode end (a time limit) becomes gymnasium's
``TimeLimit`` with the suite's number of steps, so ``max_episode_steps`` works as for any env;
a suite task that ends an episode itself (discount 0) reports ``terminated``.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import numpy as np

from rewardsmith.errors import RewardsmithError
from rewardsmith.tasks.task import Measure

PREFIX = "dmc:"
INSTALL_HINT = ("install the optional extra: pip install 'rewardsmith[dmc]' "
                "(dm_control, which needs mujoco >= 4.0.1)")


class DmcError(RewardsmithError):
    pass


def is_dmc_id(env_id: str) -> bool:
    return env_id.startswith(PREFIX)


def parse(env_id: str) -> tuple[str, str]:
    """``dmc:walker/walk`` -> ``("walker", "walk")``."""
    m = re.fullmatch(r"dmc:([A-Za-z0-9_]+)/([A-Za-z0-9_]+)", env_id)
    if not m:
        raise DmcError(f"{env_id!r} is not a Control Suite env id",
                       "write it as dmc:DOMAIN/TASK, for example dmc:walker/walk")
    return m.group(1), m.group(2)


def _suite():
    import warnings

    try:
        with warnings.catch_warnings():  # glfw, imported by dm_control, warns without a display
            warnings.filterwarnings("ignore", message=".*DISPLAY environment variable.*")
            from dm_control import suite
    except ImportError as e:
        raise DmcError(f"Control Suite tasks need dm_control, which cannot be imported ({e})",
                       INSTALL_HINT) from None
    from rewardsmith import mjlog

    mjlog.install(force=True)  # dm_control's import put its own handler in (absl, to stderr)
    return suite


def _check_known(domain: str, task: str) -> None:
    suite = _suite()
    if (domain, task) not in suite.ALL_TASKS:
        tasks = sorted(f"{d}/{t}" for d, t in suite.ALL_TASKS)
        close = [t for t in tasks if t.startswith(domain + "/")] or tasks
        raise DmcError(f"the Control Suite has no task {domain}/{task}",
                       f"use one of: {', '.join(close)}")


def gym_id(env_id: str) -> str:
    """The gymnasium id a suite task is registered under (``dmc/walker-walk-v0``)."""
    domain, task = parse(env_id)
    return f"dmc/{domain}-{task}-v0"


def shimmy_id(env_id: str) -> str:
    """The id shimmy registers the same suite task under (``dm_control/walker-walk-v0``): what an
    exported reward module, which does without rewardsmith, makes its env with."""
    domain, task = parse(env_id)
    return f"dm_control/{domain}-{task}-v0"


def episode_steps(domain: str, task: str) -> int:
    """The suite's episode length in control steps (its default time limit / control step)."""
    suite = _suite()
    fn = suite._DOMAINS[domain].SUITE[task]
    limit = inspect.signature(fn).parameters.get("time_limit")
    default = getattr(limit, "default", inspect.Parameter.empty)
    env = suite.load(domain, task, task_kwargs={"random": 0})
    try:
        step = float(env.control_timestep())
    finally:
        env.close()
    if default is inspect.Parameter.empty or not np.isfinite(default):
        return 1000
    return int(round(float(default) / step))


def ensure_registered(env_id: str) -> str:
    """Register ``env_id``'s suite task with gymnasium (once) and return its gymnasium id. An
    unknown task, or dm_control missing, raises :class:`DmcError` saying what to do."""
    import gymnasium as gym

    domain, task = parse(env_id)
    gid = gym_id(env_id)
    if gid in gym.registry:
        return gid
    _check_known(domain, task)
    gym.register(id=gid, entry_point=f"{__name__}:DmcEnv",
                 kwargs={"domain": domain, "task": task},
                 max_episode_steps=episode_steps(domain, task))
    return gid


def make(env_id: str, **kwargs):
    """``gym.make`` for a ``dmc:DOMAIN/TASK`` id (TimeLimit and the other standard wrappers)."""
    import gymnasium as gym

    return gym.make(ensure_registered(env_id), **kwargs)


def _env_base():
    import gymnasium as gym

    return gym.Env


class DmcEnv(_env_base()):  # type: ignore[misc]
    """One Control Suite task as a gymnasium env (see the module's doc)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, domain: str, task: str, render_mode: str | None = None,
                 width: int = 480, height: int = 480, task_kwargs: dict | None = None):
        import gymnasium as gym

        suite = _suite()
        self.domain, self.task_name = domain, task
        # no time limit inside: gymnasium's TimeLimit ends episodes (registered with the
        # suite's own length), so max_episode_steps can change it
        # unseeded, the suite draws its initial states from fresh entropy (as gymnasium's envs
        # do); reset(seed=...) makes them reproducible
        kw: dict[str, Any] = {"random": None, **(task_kwargs or {})}
        if "time_limit" in inspect.signature(suite._DOMAINS[domain].SUITE[task]).parameters:
            kw["time_limit"] = float("inf")
        self._env = suite.load(domain, task, task_kwargs=kw)
        self.physics = self._env.physics
        self.dt = float(self._env.control_timestep())
        self.metadata = {**self.metadata, "render_fps": int(round(1.0 / self.dt))}
        spec = self._env.action_spec()
        self._low = np.asarray(spec.minimum, dtype=np.float32) * np.ones(spec.shape, np.float32)
        self._high = np.asarray(spec.maximum, dtype=np.float32) * np.ones(spec.shape, np.float32)
        self.action_space = gym.spaces.Box(self._low, self._high, dtype=np.float32)
        obs_spec = self._env.observation_spec()
        self._keys = list(obs_spec)
        size = sum(int(np.prod(s.shape)) for s in obs_spec.values())
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (size,), dtype=np.float64)
        self.render_mode = render_mode
        self._size = (width, height)
        self._renderer = None

    # gymnasium's MuJoCo envs have these; the state view, videos and export read them
    @property
    def model(self):
        return self.physics.model.ptr

    @property
    def data(self):
        return self.physics.data.ptr

    def _obs(self, observation) -> np.ndarray:
        return np.concatenate([np.asarray(observation[k], dtype=np.float64).ravel()
                               for k in self._keys])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:  # the suite's task draws its initial states from its own RandomState
            self._env.task._random = np.random.RandomState(seed)
        ts = self._env.reset()
        return self._obs(ts.observation), {}

    def step(self, action):
        a = np.clip(np.asarray(action, dtype=np.float64), self._low, self._high)
        ts = self._env.step(a)
        # the suite ends an episode by its time limit (discount 1; only where it could not be
        # lifted) or because the task is over (discount 0)
        terminated = bool(ts.last() and ts.discount == 0)
        truncated = bool(ts.last()) and not terminated
        return self._obs(ts.observation), float(ts.reward or 0.0), terminated, truncated, {}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        import mujoco

        if self._renderer is None:
            w, h = self._size
            self._renderer = mujoco.Renderer(self.model, height=h, width=w)
        self._renderer.update_scene(self.data, camera=0 if self.model.ncam else -1)
        return self._renderer.render().copy()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self._env.close()

    def __repr__(self) -> str:
        return f"DmcEnv({self.domain}/{self.task_name})"



# ------------------------------------------------------------------------ for the task files
def suite_return(ep) -> float:
    """The suite's episode return: the sum of its own reward (each step's in [0, 1]) over the
    episode, as recorded from the env. The measure the suite's authors report."""
    return float(np.sum(ep.env_rewards))


SUITE_RETURN_DOC = ("the Control Suite's episode return: the sum of the suite's own reward, each "
                    "step's in [0, 1], over the {steps}-step episode (1000 at best)")


def suite_return_doc(per_step: str, steps: int = 1000) -> str:
    """The score's doc for a registered suite task: what it sums, and each step's reward in
    words (the designer is told what is measured, thresholds included)."""
    return f"{SUITE_RETURN_DOC.format(steps=steps)}. Each step's reward is {per_step.rstrip('.')}"

# dm_control.utils.rewards.tolerance written as reward-program helpers (one per sigmoid the
# suite's tasks use here), for the baselines in envs/dmc_*.py: 1 inside [lower, upper], falling
# with the distance outside it to value_at_margin at `margin` (margin 0: 0 outside).
TOLERANCE = '''
def outside_distance(x, lower, upper, margin):
    return np.where(x < lower, lower - x, x - upper) / margin


def in_bounds(x, lower, upper):
    return (lower <= x) & (x <= upper)


def tolerance_gaussian(x, lower, upper, margin, value_at_margin):
    scale = np.sqrt(-2.0 * np.log(value_at_margin))
    d = outside_distance(x, lower, upper, margin)
    return np.where(in_bounds(x, lower, upper), 1.0, np.exp(-0.5 * (d * scale) ** 2))


def tolerance_linear(x, lower, upper, margin, value_at_margin):
    scaled = outside_distance(x, lower, upper, margin) * (1.0 - value_at_margin)
    return np.where(in_bounds(x, lower, upper), 1.0,
                    np.where(np.abs(scaled) < 1.0, 1.0 - scaled, 0.0))


def tolerance_quadratic(x, lower, upper, margin, value_at_margin):
    scaled = outside_distance(x, lower, upper, margin) * np.sqrt(1.0 - value_at_margin)
    return np.where(in_bounds(x, lower, upper), 1.0,
                    np.where(np.abs(scaled) < 1.0, 1.0 - scaled ** 2, 0.0))
'''


def walker_baseline(move_speed: float) -> str:
    """The reward program of the suite's walker tasks (``walker/walk`` at 1 m/s, ``walker/run``
    at 8 m/s; they differ in nothing else), written against the state view: the program text
    of envs/dmc_walker_*.py's ``baseline_reward`` (equal to the suite's to 1e-6:
    tests/test_dmc.py)."""
    return TOLERANCE + f'''
def compute_reward(state, action, next_state):
    stand_height = 1.2
    move_speed = {float(move_speed)!r}
    standing = tolerance_gaussian(next_state.torso_pos[:, 2], stand_height, np.inf, stand_height / 2, 0.1)
    upright = (1.0 + next_state.torso_zaxis[:, 2]) / 2.0
    stand = (3.0 * standing + upright) / 4.0
    move = tolerance_linear(next_state.com_vel[:, 0], move_speed, np.inf, move_speed / 2, 0.5)
    reward = stand * (5.0 * move + 1.0) / 6.0
    return reward, {{"standing": standing, "upright": upright, "move": move}}
'''


def forward_speed(speed: float) -> Measure:
    """Measure helper: the centre of mass's x velocity at each state, with the suite's target
    speed as its bar (the move or run factor of the suite's locomotion rewards)."""
    return Measure("centre of mass's x velocity (com_vel[:, 0])",
                   lambda ep: ep.field("com_vel")[:, 0], "m/s", better="higher", bar=speed)


def walker_measures(move_speed: float) -> tuple[Measure, ...]:
    """The two factors of the suite's walker reward, followed through every episode: the torso's
    height against the 1.2 m it counts as standing, and the forward speed against the task's."""
    return (Measure("torso height (torso_pos[:, 2])", lambda ep: ep.field("torso_pos")[:, 2], "m",
                    better="higher", bar=1.2),
            forward_speed(move_speed))
