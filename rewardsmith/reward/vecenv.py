"""A vector env whose reward comes from a reward program, called once per step on the batch.

The env's own reward and the task's fitness are still recorded, every episode. The state view
of each sub-env is read straight after its step, before any auto-reset, so the terminal
transition is seen as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv

from rewardsmith.contracts import Episode
from rewardsmith.errors import RewardsmithError
from rewardsmith.reward import liveness
from rewardsmith.reward.program import CompiledReward
from rewardsmith.state.view import StateSpec


class RewardRuntimeError(RewardsmithError):
    """The reward program failed or kept producing non-finite values while training."""


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


@dataclass
class _Buffer:
    states: list[np.ndarray] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    env_rewards: list[float] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    components: dict[str, list[float]] = field(default_factory=dict)


class RewardVecEnv(DummyVecEnv):
    """DummyVecEnv that trains on ``reward`` (or the env's own reward when it is None)."""

    def __init__(
        self,
        env_fns: list[Callable[[], Any]],
        spec: StateSpec,
        reward: CompiledReward | None,
        fitness: Callable[[Episode], float] | None = None,
        success: Callable[[Episode], bool] | None = None,
        keep_episodes: bool = False,
        guard: RuntimeGuard | None = None,
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
        self._buffers = [_Buffer() for _ in range(n)]
        self._models = [e.unwrapped.model for e in self.envs]
        self._datas = [e.unwrapped.data for e in self.envs]
        self.total_steps = 0
        self.summaries: list[EpisodeSummary] = []
        self.episodes: dict[int, list[Episode]] = {}  # env index -> its finished episodes

    # -- SB3 VecEnv API --------------------------------------------------------
    def reset(self):
        obs = super().reset()
        for i in range(self.num_envs):
            self.spec.extract(self._models[i], self._datas[i], self._prev[i])
            self._buffers[i] = _Buffer(states=[self._prev[i].copy()])
        return obs

    def step_wait(self):
        n = self.num_envs
        terminated = np.zeros(n, dtype=bool)
        final_obs: list[Any] = [None] * n
        for i in range(n):
            obs, self.buf_rews[i], term, trunc, info = self.envs[i].step(self.actions[i])
            self.spec.extract(self._models[i], self._datas[i], self._next[i])
            self.buf_dones[i] = term or trunc
            terminated[i] = term
            info["TimeLimit.truncated"] = trunc and not term
            self.buf_infos[i] = info
            final_obs[i] = obs
        env_rewards = self.buf_rews.copy()
        comps: dict[str, np.ndarray] = {}
        if self.reward is not None:
            actions = self.actions.view()
            actions.flags.writeable = False
            state = self.spec.view(self._prev)
            next_state = self.spec.view(self._next)
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

        # one copy per step for all sub-envs; each episode buffer keeps its row of it
        states = self._next.copy()
        actions = np.array(self.actions, dtype=np.float64)
        env_list, rew_list = env_rewards.tolist(), self.buf_rews.tolist()
        comp_lists = {k: v.tolist() for k, v in comps.items()}
        for i in range(n):
            b = self._buffers[i]
            b.states.append(states[i])
            b.actions.append(actions[i])
            b.env_rewards.append(env_list[i])
            b.rewards.append(rew_list[i])
            for k, v in comp_lists.items():
                b.components.setdefault(k, []).append(v[i])
            obs = final_obs[i]
            if self.buf_dones[i]:
                self.buf_infos[i]["terminal_observation"] = obs
                self._finish_episode(i, bool(terminated[i]))
                obs, self.reset_infos[i] = self.envs[i].reset()
                self.spec.extract(self._models[i], self._datas[i], self._prev[i])
                self._buffers[i] = _Buffer(states=[self._prev[i].copy()])
            else:
                self._prev[i] = self._next[i]
            self._save_obs(i, obs)
        return self._obs_from_buf(), np.copy(self.buf_rews), np.copy(self.buf_dones), list(self.buf_infos)

    # -- episodes -------------------------------------------------------------
    def _finish_episode(self, i: int, terminated: bool) -> None:
        b = self._buffers[i]
        ep = Episode(
            states=np.stack(b.states),
            actions=np.stack(b.actions),
            env_rewards=np.asarray(b.env_rewards),
            rewards=np.asarray(b.rewards),
            components={k: np.asarray(v) for k, v in b.components.items()},
            terminated=terminated,
            spec=self.spec,
        )
        fit = self.fitness(ep) if self.fitness is not None else None
        succ = bool(self.success(ep)) if self.success is not None else None
        self.summaries.append(EpisodeSummary(
            step=self.total_steps, length=ep.length, fitness=fit, success=succ,
            env_return=float(ep.env_rewards.sum()), reward_return=float(ep.rewards.sum()),
            components={k: float(v.sum()) for k, v in ep.components.items()},
        ))
        if self.keep_episodes:
            self.episodes.setdefault(i, []).append(ep)

    def pop_summaries(self) -> list[EpisodeSummary]:
        out, self.summaries = self.summaries, []
        return out
