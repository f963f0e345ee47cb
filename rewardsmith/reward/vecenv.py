"""A vector env whose reward comes from a reward program, called once per step on the batch.

The env's own reward and the task's fitness are still recorded, every episode. The state view
of each sub-env is read straight after its step, before any auto-reset, so the terminal
transition is seen as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv

from rewardsmith.contracts import Episode, fields_looked_up
from rewardsmith.errors import RewardRuntimeError, RewardsmithError
from rewardsmith.reward import liveness
from rewardsmith.reward.program import CompiledReward, fields_read
from rewardsmith.state.view import StateSpec, StateView


@dataclass
class RuntimeGuard:
    """Layer 4 of the sandbox: every reward call is checked."""

    max_nonfinite_calls: int = 50
    nonfinite_calls: int = 0
    nonfinite_values: int = 0
    first_bad_step: int | None = None
    first_bad_detail: str = ""
    nonfinite_component_calls: int = 0  # calls with a finite reward but a NaN/inf component
    first_bad_component: str = ""

    def check(self, step: int, reward: np.ndarray, comps: dict[str, np.ndarray]) -> np.ndarray:
        """The reward to train on. Non-finite rewards become 0 and are counted (too many stop
        the candidate); non-finite components are set to 0 in ``comps``, in place, and counted,
        so the logged component statistics stay finite."""
        # the common case, every value finite, in one pass over all of them
        if np.isfinite(np.concatenate((reward, *comps.values()), axis=None)).all():
            return reward
        bad = [k for k, v in comps.items() if not np.all(np.isfinite(v))]
        for k in bad:
            comps[k] = np.where(np.isfinite(comps[k]), comps[k], 0.0)
        if bad:
            self.nonfinite_component_calls += 1
            self.first_bad_component = self.first_bad_component or f"{bad[0]} at env step {step}"
        finite = np.isfinite(reward)
        if finite.all():
            return reward
        self.nonfinite_calls += 1
        self.nonfinite_values += int((~finite).sum())
        if self.first_bad_step is None:
            self.first_bad_step = step
            self.first_bad_detail = (
                f"reward {reward[~finite][:3].tolist()}"
                + (f"; non-finite components: {', '.join(bad)}" if bad else "")
            )
        if self.nonfinite_calls > self.max_nonfinite_calls:
            raise RewardRuntimeError(
                f"the reward was non-finite (NaN or inf) in {self.nonfinite_calls} steps, first at "
                f"env step {self.first_bad_step} ({self.first_bad_detail}); guard divisions with "
                "np.maximum(x, eps), clip exponents, and keep every term finite"
            )
        return np.where(finite, reward, 0.0)

    def to_json(self) -> dict[str, Any]:
        return {"nonfinite_calls": self.nonfinite_calls, "nonfinite_values": self.nonfinite_values,
                "first_bad_step": self.first_bad_step, "first_bad_detail": self.first_bad_detail,
                "nonfinite_component_calls": self.nonfinite_component_calls,
                "first_bad_component": self.first_bad_component}


@dataclass
class EpisodeSummary:
    step: int  # env steps (all sub-envs) when the episode ended
    length: int
    fitness: float | None
    success: bool | None
    env_return: float
    reward_return: float
    components: dict[str, float]
    terminated: bool = False  # a termination rule ended it, not the time limit
    ended_by: tuple[str, ...] = ()  # the env's bounds its last state lay past (Bound.name())


class _Records:
    """The episodes in progress, one per sub-env, in preallocated arrays with one row per vector
    step (``(rows, n_envs, ...)``): a step writes one contiguous row of each array, and a finished
    episode is copied out of its env's column.

    Env ``i``'s episode holds the transitions of rows ``start[i]`` up to ``rows`` (the rows
    written so far) and starts from ``first[i]``, its state after reset. When the arrays are
    full, the rows no episode needs any more are dropped, and the arrays doubled if that frees
    less than half of them.
    """

    def __init__(self, n: int, dim: int, action_shape: tuple[int, ...], capacity: int = 256):
        self.rows = 0
        self.start = np.zeros(n, dtype=np.intp)
        self.first = np.zeros((n, dim))
        self.states = np.zeros((capacity, n, dim))  # the state after each transition
        self.actions = np.zeros((capacity, n, *action_shape))
        self.env_rewards = np.zeros((capacity, n))
        self.rewards = np.zeros((capacity, n))
        self.components: dict[str, np.ndarray] = {}
        self.last_seen: dict[str, int] = {}  # name -> the last row the program reported it in

    def begin(self, i: int, state: np.ndarray) -> None:
        """A new episode for env ``i``, from ``state``."""
        self.start[i] = self.rows
        self.first[i] = state

    def record(self, actions, env_rewards, rewards, comps: dict[str, np.ndarray],
               next_states: np.ndarray) -> None:
        """One step of every sub-env."""
        if self.rows == len(self.rewards):
            self._make_room()
        k = self.rows
        self.states[k] = next_states
        self.actions[k] = actions
        self.env_rewards[k] = env_rewards
        self.rewards[k] = rewards
        for name, v in comps.items():
            buf = self.components.get(name)
            if buf is None:
                buf = self.components[name] = np.zeros_like(self.rewards)
            buf[k] = v
            self.last_seen[name] = k
        if len(comps) != len(self.components):  # a component missing from this step counts 0
            for name, buf in self.components.items():
                if name not in comps:
                    buf[k] = 0.0
        self.rows = k + 1

    def _make_room(self) -> None:
        base = int(self.start.min())  # rows before it belong to finished episodes only
        live = self.rows - base
        capacity = len(self.rewards)
        if live > capacity // 2:
            capacity *= 2

        def moved(a: np.ndarray) -> np.ndarray:
            out = np.zeros((capacity, *a.shape[1:]))
            out[:live] = a[base : self.rows]
            return out

        self.states, self.actions = moved(self.states), moved(self.actions)
        self.env_rewards, self.rewards = moved(self.env_rewards), moved(self.rewards)
        self.components = {k: moved(v) for k, v in self.components.items()}
        self.last_seen = {k: v - base for k, v in self.last_seen.items()}
        self.start -= base
        self.rows = live

    def episode(self, i: int, terminated: bool, spec: StateSpec) -> Episode:
        s, e = int(self.start[i]), self.rows
        states = np.empty((e - s + 1, self.first.shape[1]))
        states[0] = self.first[i]
        states[1:] = self.states[s:e, i]
        return Episode(
            states=states,
            actions=self.actions[s:e, i].copy(),
            env_rewards=self.env_rewards[s:e, i].copy(),
            rewards=self.rewards[s:e, i].copy(),
            components={k: v[s:e, i].copy() for k, v in self.components.items()
                        if self.last_seen[k] >= s},
            terminated=terminated,
            spec=spec,
        )


def fields_needed(spec: StateSpec, rows: np.ndarray, action_shape: tuple[int, ...],
                  reward: CompiledReward | None, fitness=None, success=None) -> set[str] | None:
    """The state fields that training with ``reward``, ``fitness`` and ``success`` reads, or
    None for all of them (when that cannot be told).

    The program's are read from its source (:func:`fields_read`); the program, the fitness and
    the success test are also called once on ``rows`` (full state rows, ``(1, D)``) through a
    view that notes what they look up, which catches what a task's own Python reads.
    """
    found: set[str] = set()
    if reward is not None:
        program = getattr(reward, "program", None)  # a wrapped program may not say
        static = None if program is None else fields_read(program.source, spec.fields)
        if static is None:
            return None
        found |= static
    probe, read = spec.recording()
    try:
        if reward is not None:
            view = StateView(rows[:1].repeat(2, axis=0), probe)
            reward(view, np.zeros((2, *action_shape)), view)
    except Exception:  # noqa: BLE001 - whatever it is, training will say; fill every field
        return None
    scored = fields_looked_up(spec, (fitness, success), rows, action_shape)
    if scored is None:
        return None
    return found | (read & set(spec.fields)) | scored


class RewardVecEnv(DummyVecEnv):
    """DummyVecEnv that trains on ``reward`` (or the env's own reward when it is None).

    With ``partial``, each step fills only the state fields that the reward, the fitness and
    the success test read (:func:`fields_needed`): a program of joint angles and velocities
    then costs no kinematics. Episodes kept (``keep_episodes``) always hold every field.
    ``bounds``: the env's rules for ending an episode early, on fields
    (:class:`~rewardsmith.tasks.context.Bound`; None: read from the first env's own settings):
    each summary names those its episode ended past.
    """

    def __init__(
        self,
        env_fns: list[Callable[[], Any]],
        spec: StateSpec,
        reward: CompiledReward | None,
        fitness: Callable[[Episode], float] | None = None,
        success: Callable[[Episode], bool] | None = None,
        keep_episodes: bool = False,
        guard: RuntimeGuard | None = None,
        partial: bool = False,
        bounds: tuple | None = None,
    ):
        super().__init__(env_fns)
        self.spec = spec
        self.reward = reward
        self.fitness = fitness
        self.success = success
        self.keep_episodes = keep_episodes
        self.guard = guard or RuntimeGuard()
        n = self.num_envs
        self._prev = np.zeros((n, spec.size))
        self._next = np.zeros((n, spec.size))
        self._models = [e.unwrapped.model for e in self.envs]
        self._datas = [e.unwrapped.data for e in self.envs]
        if bounds is None:
            from rewardsmith.tasks.context import bounds as env_bounds

            bounds = env_bounds(self.envs[0].unwrapped, self._models[0], spec)
        self.bounds = tuple(bounds)
        fields = None
        if partial and not keep_episodes:
            rows = spec.extract(self._models[0], self._datas[0])[None]
            fields = fields_needed(spec, rows, tuple(self.action_space.shape or ()), reward,
                                   fitness, success)
        self._extract = spec.extractor(self._models, self._datas, fields)
        self._view_spec = self._extract.view_spec  # refuses the fields not filled
        self._records = _Records(n, spec.size, tuple(self.action_space.shape or ()))
        self.total_steps = 0
        self.summaries: list[EpisodeSummary] = []
        self.episodes: dict[int, list[Episode]] = {}  # env index -> its finished episodes

    # -- SB3 VecEnv API --------------------------------------------------------
    def reset(self):
        obs = super().reset()
        self._extract(self._prev)
        for i in range(self.num_envs):
            self._records.begin(i, self._prev[i])
        return obs

    def step_wait(self):
        n = self.num_envs
        terminated = np.zeros(n, dtype=bool)
        final_obs: list[Any] = [None] * n
        for i in range(n):
            obs, self.buf_rews[i], term, trunc, info = self.envs[i].step(self.actions[i])
            self.buf_dones[i] = term or trunc
            terminated[i] = term
            info["TimeLimit.truncated"] = trunc and not term
            self.buf_infos[i] = info
            final_obs[i] = obs
        # every sub-env's state, read before any auto-reset, in one batch
        self._extract(self._next)
        env_rewards = self.buf_rews.copy()
        comps: dict[str, np.ndarray] = {}
        if self.reward is not None:
            actions = self.actions.view()
            actions.flags.writeable = False
            state = self._view_spec.view(self._prev)
            next_state = self._view_spec.view(self._next)
            try:
                reward, comps = self.reward(state, actions, next_state)
            except RewardsmithError:
                raise
            except Exception as e:
                raise RewardRuntimeError(
                    f"the reward program raised {type(e).__name__} at env step {self.total_steps}: {e}"
                ) from None
            reward = np.asarray(reward, dtype=np.float64)
            comps = {k: np.asarray(v, dtype=np.float64) for k, v in comps.items()}
            self.buf_rews[:] = self.guard.check(self.total_steps, reward, comps)
        self.total_steps += n
        liveness.tick(n)

        records = self._records
        records.record(self.actions, env_rewards, self.buf_rews, comps, self._next)
        # the next step starts where this one ended, except in the sub-envs reset below
        self._prev, self._next = self._next, self._prev
        for i in np.flatnonzero(self.buf_dones).tolist():
            self.buf_infos[i]["terminal_observation"] = final_obs[i]
            self._finish_episode(i, bool(terminated[i]))
            final_obs[i], self.reset_infos[i] = self.envs[i].reset()
            self._extract.one(i, self._prev[i])
            records.begin(i, self._prev[i])
        for i in range(n):
            self._save_obs(i, final_obs[i])
        return self._obs_from_buf(), np.copy(self.buf_rews), np.copy(self.buf_dones), list(self.buf_infos)

    # -- episodes -------------------------------------------------------------
    def _finish_episode(self, i: int, terminated: bool) -> None:
        from rewardsmith.tasks.context import ended_past

        ep = self._records.episode(i, terminated, self._view_spec)
        fit = self.fitness(ep) if self.fitness is not None else None
        succ = bool(self.success(ep)) if self.success is not None else None
        self.summaries.append(EpisodeSummary(
            step=self.total_steps, length=ep.length, fitness=fit, success=succ,
            env_return=float(ep.env_rewards.sum()), reward_return=float(ep.rewards.sum()),
            components={k: float(v.sum()) for k, v in ep.components.items()},
            terminated=terminated, ended_by=ended_past(self.bounds, ep),
        ))
        if self.keep_episodes:
            self.episodes.setdefault(i, []).append(ep)

    def pop_summaries(self) -> list[EpisodeSummary]:
        out, self.summaries = self.summaries, []
        return out
