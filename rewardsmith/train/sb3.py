"""The ``sb3`` backend: gymnasium + MuJoCo with stable-baselines3 (PPO by default, SAC selectable)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.contracts import (
    Budget,
    CurvePoint,
    Episode,
    Progress,
    TrainResult,
    ending_shares,
)
from rewardsmith.errors import RewardsmithError
from rewardsmith.reward.program import CompiledReward, RewardProgram, compile_program
from rewardsmith.tasks.task import Task

NAME = "sb3"
RESUMABLE = True  # train(resume_from=...) continues a saved slice (successive halving)
CURVE_POINTS = 10

# Settings that work across gymnasium's MuJoCo robots at small budgets; tasks override them.
DEFAULTS: dict[str, Any] = {
    "algo": "ppo",
    "n_envs": 8,
    "normalize_obs": True,
    "normalize_reward": True,
    "net_arch": [64, 64],
}
PPO_DEFAULTS: dict[str, Any] = {
    "n_steps": 256, "batch_size": 256, "n_epochs": 5, "learning_rate": 3e-4, "gamma": 0.99,
    "gae_lambda": 0.95, "clip_range": 0.2, "ent_coef": 0.0, "max_grad_norm": 0.5,
}
SAC_DEFAULTS: dict[str, Any] = {
    "learning_rate": 3e-4, "buffer_size": 300_000, "batch_size": 256, "gamma": 0.99,
    "learning_starts": 5_000, "train_freq": 1, "gradient_steps": 1,
}


def describe() -> dict[str, Any]:
    """For ``rewardsmith backends``: versions, devices, defaults."""
    from rewardsmith.versions import package_versions

    versions = package_versions(("stable-baselines3", "torch", "gymnasium", "mujoco"))
    return {"devices": ["cpu"], "device_kind": "cpu", "versions": versions,
            "defaults": {**DEFAULTS, "ppo": PPO_DEFAULTS, "sac": SAC_DEFAULTS}}


def training_summary(task: Task, steps: int, overrides: Mapping[str, Any] | None = None) -> str:
    """How a reward will be trained, in words, for the prompt: algorithm, budget, parallel envs,
    discount, and what the trainer normalizes."""
    hp = settings(task, overrides)
    kw = hp["algo_kwargs"]
    algo = "PPO" if hp["algo"] == "ppo" else "SAC"
    lines = [f"{algo} (stable-baselines3) trains each reward for {int(steps):,} env steps in "
             f"total, over {hp['n_envs']} environments at a time, with discount gamma "
             f"{kw.get('gamma', 0.99):g}: a short budget, so shaping that leads towards the "
             "task matters."]
    if hp["algo"] == "ppo":
        gathered = int(hp["n_envs"]) * int(kw["n_steps"])
        updates = max(1, int(steps) // gathered)
        lines.append(f"Each PPO update gathers {int(kw['n_steps'])} steps from each environment "
                     f"({gathered:,} in all) and makes {int(kw['n_epochs'])} passes over them in "
                     f"minibatches of {int(kw['batch_size'])}: about {updates} "
                     f"update{'s' if updates != 1 else ''} over the whole budget; the policy is a "
                     f"{'x'.join(str(n) for n in hp['net_arch'])} network.")
        ent = float(kw.get("ent_coef", 0.0))
        lines.append("It explores with Gaussian noise on each action, of standard deviation 1 at "
                     "the start (before clipping to the action's range), learned from there"
                     + (f", with an entropy bonus of {ent:g}." if ent else
                        ", with no entropy bonus: the policy gradient alone sets how much it "
                        "keeps exploring."))
    if hp["normalize_reward"]:
        lines.append("Rewards are scaled by a running estimate of the return's spread before "
                     "learning (VecNormalize), so the absolute size of the reward does not matter "
                     "but the relative sizes of its terms do.")
    if hp["normalize_obs"]:
        lines.append("Observations are normalized by running mean and spread.")
    return "\n".join(lines)


def discount(task: Task, overrides: Mapping[str, Any] | None = None) -> float:
    """The discount (gamma) the learner uses on ``task``."""
    return float(settings(task, overrides)["algo_kwargs"].get("gamma", 0.99))


def settings(task: Task, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The task's settings over the defaults, strictly: an unknown key is an error."""
    hp = {**DEFAULTS, **dict(task.hyperparams.get(NAME, {})), **dict(overrides or {})}
    algo = hp["algo"]
    if algo not in ("ppo", "sac"):
        raise RewardsmithError(f"unknown algorithm {algo!r} for the sb3 backend; use ppo or sac")
    known = set(DEFAULTS) | set(PPO_DEFAULTS) | set(SAC_DEFAULTS)
    unknown = sorted(set(hp) - known)
    if unknown:
        raise RewardsmithError(f"unknown sb3 settings {', '.join(unknown)} (task {task.id})",
                               f"known: {', '.join(sorted(known))}")
    base = PPO_DEFAULTS if algo == "ppo" else SAC_DEFAULTS
    own = set(DEFAULTS)
    # a task's PPO settings do not apply when SAC is selected, and vice versa
    algo_kwargs = {k: v for k, v in hp.items() if k not in own and k in base}
    return {**{k: hp[k] for k in own}, "algo_kwargs": {**base, **algo_kwargs}}


def _compiled(task: Task, program: RewardProgram | None) -> CompiledReward | None:
    """``None`` means: train on the env's own reward."""
    if program is None:
        return None
    if program.source.strip() == "env":
        return None
    return compile_program(program)


def baseline_program(task: Task) -> RewardProgram | None:
    if task.baseline_reward.strip() == "env":
        return None
    return RewardProgram(task.baseline_reward, origin=f"{task.id} baseline")


# Each training seed draws its environments' seeds from a block of its own: sub-env i of training
# seed s is seeded ENV_SEED_BLOCK * s + i, and its evaluation episodes EVAL_OFFSET above that.
# (Seeding sub-env i with s + i, as a vector env does by default, gave training seeds 0 and 1 seven
# of their eight environments' start states, and their evaluations nine of ten.)
ENV_SEED_BLOCK = 10_000
EVAL_OFFSET = 5_000  # above any n_envs


def env_seed(seed: int, evaluation: bool = False) -> int:
    """The seed of sub-env 0 for training seed ``seed`` (sub-env i adds i)."""
    return ENV_SEED_BLOCK * int(seed) + (EVAL_OFFSET if evaluation else 0)


def slice_seeds(seed: int, start: int) -> tuple[int, int]:
    """The seeds a slice of training seed ``seed`` that continues from ``start`` steps starts
    from: (sub-env 0's seed, the learner's random streams' seed). A continued slice starts new
    episodes from fresh start states and fresh exploration noise (drawn from ``seed`` and
    ``start`` alone), the same whether its worker kept the slice before in memory or loads it
    from its files: a job's result does not depend on which worker continued it."""
    env, learner = np.random.SeedSequence([int(seed), int(start)]).generate_state(2)
    return int(env) % 2**31, int(learner) % 2**31


def _continue_slice(model, venv, seed: int, start: int) -> None:
    """Make ``model`` on ``venv`` start the slice after ``start`` steps as every worker does
    (see :func:`slice_seeds`): new episodes, reseeded envs and random streams."""
    from stable_baselines3.common.utils import set_random_seed

    env, learner = slice_seeds(seed, start)
    set_random_seed(learner)  # python, numpy and torch: PPO's sampling and minibatches
    model.action_space.seed(learner)
    venv.seed(env)
    venv.action_space.seed(env)
    model._last_obs = None  # learn() resets the envs (and the normalizer's running returns)


def _make_vecenv(task: Task, reward: CompiledReward | None, n_envs: int, seed: int, keep: bool):
    """A vector env of ``n_envs`` copies of ``task``'s env; sub-env i seeded ``seed + i``."""
    from rewardsmith.reward.vecenv import RewardVecEnv

    fit = task.fitness
    venv = RewardVecEnv(
        [task.make_env for _ in range(n_envs)],
        task.spec,
        reward,
        fitness=fit.fn if fit else None,
        success=fit.success if fit else None,
        keep_episodes=keep,
        partial=not keep,  # training fills only the fields it reads
    )
    venv.seed(seed)
    venv.action_space.seed(seed)
    return venv


def _build_model(task: Task, hp: dict[str, Any], venv, seed: int):
    import torch
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)
    wrapped = VecNormalize(venv, norm_obs=hp["normalize_obs"], norm_reward=hp["normalize_reward"],
                           gamma=hp["algo_kwargs"].get("gamma", 0.99))
    policy_kwargs = {"net_arch": list(hp["net_arch"])}
    cls = PPO if hp["algo"] == "ppo" else SAC
    model = cls("MlpPolicy", wrapped, seed=seed, device="cpu", verbose=0,
                policy_kwargs=policy_kwargs, **hp["algo_kwargs"])
    return model, wrapped


def _curve(summaries, total_steps: int, start: int = 0, planned: int | None = None
           ) -> list[CurvePoint]:
    """Bin the training episodes into CURVE_POINTS windows of the ``planned`` steps (default:
    ``total_steps``); a slice from ``start`` to ``total_steps`` gets the windows it covers."""
    if not summaries or total_steps <= start:
        return []
    width = max(planned or total_steps, total_steps) / CURVE_POINTS
    inner = [k * width for k in range(1, CURVE_POINTS) if start < k * width < total_steps]
    edges = np.array([start, *inner, total_steps], dtype=float)
    points = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        window = [s for s in summaries if lo < s.step <= hi] or []
        if not window:
            continue
        fits = [s.fitness for s in window if s.fitness is not None]
        succ = [s.success for s in window if s.success is not None]
        names = sorted({k for s in window for k in s.components})
        points.append(CurvePoint(
            step=int(hi),
            episodes=len(window),
            fitness=float(np.mean(fits)) if fits else None,
            success_rate=float(np.mean(succ)) if succ else None,
            episode_length=float(np.mean([s.length for s in window])),
            env_return=float(np.mean([s.env_return for s in window])),
            reward_return=float(np.mean([s.reward_return for s in window])),
            components={k: float(np.mean([s.components.get(k, 0.0) for s in window])) for k in names},
            **ending_shares([(s.terminated, s.ended_by) for s in window]),
        ))
    return points


def evaluate_policy(task: Task, model, obs_normalizer, reward: CompiledReward | None,
                    n_episodes: int, seed: int) -> list[Episode]:
    """Run ``n_episodes`` deterministic episodes in parallel, one per sub-env, and return them."""
    venv = _make_vecenv(task, reward, n_episodes, env_seed(seed, evaluation=True), keep=True)
    obs = venv.reset()
    while len(venv.episodes) < n_episodes:
        norm = obs_normalizer.normalize_obs(obs) if obs_normalizer is not None else obs
        action, _ = model.predict(norm, deterministic=True)
        obs, _, _, _ = venv.step(action)
    venv.close()
    return [venv.episodes[i][0] for i in range(n_episodes)]


def _tensorboard_dir(workdir: Path | None) -> str | None:
    """Where SB3 writes TensorBoard event files: the job's ``train/tb`` (``tensorboard --logdir
    runs/<id>`` then shows every candidate); None without a workdir or without tensorboard."""
    import importlib.util

    if workdir is None or importlib.util.find_spec("tensorboard") is None:
        return None
    return str(Path(workdir) / "tb")


def _log_episode(logger, s) -> None:
    """One finished training episode's task score, returns, length and reward components."""
    if s.fitness is not None:
        logger.record_mean("rewardsmith/fitness", float(s.fitness))
    if s.success is not None:
        logger.record_mean("rewardsmith/success", float(s.success))
    logger.record_mean("rewardsmith/episode_length", float(s.length))
    logger.record_mean("rewardsmith/return", float(s.reward_return))
    logger.record_mean("rewardsmith/env_return", float(s.env_return))
    for name, value in s.components.items():
        logger.record_mean(f"rewardsmith/component/{name}", float(value))


def _resume(hp: dict[str, Any], venv, start: Path, seed: int):
    """The model and observation/reward normalizer saved in ``start`` (a finished slice's
    ``train`` folder), on ``venv``, ready to learn on."""
    import torch
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)
    for name in ("policy.zip", "vecnormalize.pkl", "result.json"):
        if not (start / name).is_file():
            raise RewardsmithError(f"cannot continue training from {start}: {name} is missing")
    wrapped = VecNormalize.load(str(start / "vecnormalize.pkl"), venv)
    wrapped.training = True
    cls = PPO if hp["algo"] == "ppo" else SAC
    model = cls.load(start / "policy.zip", env=wrapped, device="cpu", seed=seed)
    if hp["algo"] == "sac":  # its experience so far, as a worker that kept it in memory has it
        if not (start / REPLAY_BUFFER).is_file():
            raise RewardsmithError(f"cannot continue SAC training from {start}: "
                                   f"{REPLAY_BUFFER} is missing")
        model.load_replay_buffer(start / REPLAY_BUFFER)
    return model, wrapped


def _merged_runtime(before: Mapping[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """Runtime-guard counters of a slice added to those of the slices before it."""
    out = dict(now)
    for k, v in before.items():
        if isinstance(v, int) and not isinstance(v, bool) and isinstance(now.get(k), int):
            out[k] = v + now[k]
        elif k.startswith("first_") and v not in (None, ""):
            out[k] = v
    return out


# A worker that trains the slices of one job in turn keeps the last slice's model, normalizer
# and envs here (keyed by its train folder): the next slice continues from them with no reload;
# a fresh process loads the saved files instead. Either way the slice then starts as
# _continue_slice says, so both give the same result.
_LIVE: dict[str, tuple[Any, Any, Any]] = {}
REPLAY_BUFFER = "replay_buffer.pkl"  # SAC's experience, saved with a slice that is continued
_KEEP_LIVE = False


def keep_live(on: bool) -> None:
    """Whether :func:`train` keeps its model in this process for a following slice."""
    global _KEEP_LIVE
    _KEEP_LIVE = on


def train(task: Task, program: RewardProgram | None, budget: Budget, seed: int,
          progress: Progress | None = None, workdir: Path | None = None,
          overrides: Mapping[str, Any] | None = None,
          resume_from: Path | None = None, planned_steps: int | None = None) -> TrainResult:
    """Train one policy on ``program`` (None: the env's own reward) and evaluate it on the fitness.

    ``resume_from``: the ``train`` folder of an earlier slice of the same job (successive
    halving): training continues from its saved policy and normalizer up to ``budget.steps``
    in all, and the result's curve and counters include that slice's. ``planned_steps``: the
    whole job's budget when this is one slice of it (the curve's windows divide that)."""
    from stable_baselines3.common.callbacks import BaseCallback

    from rewardsmith.runs.files import read_json

    hp = settings(task, overrides)
    reward = _compiled(task, program)
    t0 = time.perf_counter()
    before: dict[str, Any] = {}
    live = _LIVE.pop(str(Path(resume_from).resolve()), None) if resume_from is not None else None
    for _, stale, _ in _LIVE.values():  # a slice nobody continued: its envs close
        stale.close()
    _LIVE.clear()
    if live is not None:  # the slice before, still in memory: no reload
        from rewardsmith.reward.vecenv import RuntimeGuard

        model, wrapped, venv = live
        venv.total_steps = 0
        venv.pop_summaries()
        venv.guard = RuntimeGuard()  # the counters so far are in the slice's result
        wrapped.training = True
    else:
        venv = _make_vecenv(task, reward, hp["n_envs"], env_seed(seed), keep=False)
        model, wrapped = (_resume(hp, venv, Path(resume_from), seed) if resume_from is not None
                          else _build_model(task, hp, venv, seed))
    if resume_from is not None:
        before = read_json(Path(resume_from) / "result.json")
    start = int(before.get("steps", 0))
    if resume_from is not None:  # in memory or from the files, the slice starts the same way
        _continue_slice(model, venv, seed, start)
    summaries = []
    total = int(budget.steps)

    class _Cb(BaseCallback):
        def __init__(self):
            super().__init__()
            self.last = 0

        def _on_step(self) -> bool:
            done = min(start + venv.total_steps, total)  # PPO finishes its last rollout past the budget
            if progress is not None and done > self.last and (
                    done - self.last >= max(total // 100, 1) or done >= total):
                self.last = done
                recent = venv.summaries[-20:] or summaries[-20:]
                fits = [s.fitness for s in recent if s.fitness is not None]
                progress(done, total, {"fitness": float(np.mean(fits)) if fits else None,
                                       "episodes": len(summaries) + len(venv.summaries)})
            if len(venv.summaries) > 0:
                new = venv.pop_summaries()
                summaries.extend(new)
                for s in new:  # TensorBoard: averaged over the episodes of each PPO update
                    _log_episode(self.logger, s)
            return True

    model.tensorboard_log = _tensorboard_dir(workdir)
    if model.tensorboard_log is None:  # else SB3 makes an empty /tmp/SB3-<time> folder per job
        from stable_baselines3.common.logger import Logger

        model.set_logger(Logger(folder=None, output_formats=[]))
    if total > start:
        model.learn(total_timesteps=total - start, callback=_Cb(), progress_bar=False,
                    reset_num_timesteps=resume_from is None, tb_log_name="ppo" if
                    hp["algo"] == "ppo" else "sac")
    summaries.extend(venv.pop_summaries())
    for s in summaries:  # steps of the whole job, not of this slice
        s.step += start
    train_s = time.perf_counter() - t0
    steps_done = start + venv.total_steps

    t1 = time.perf_counter()
    wrapped.training = False
    episodes = evaluate_policy(task, model, wrapped if hp["normalize_obs"] else None, reward,
                               budget.eval_episodes, seed)
    eval_s = time.perf_counter() - t1
    policy_path = None
    if workdir is not None:
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        model.save(workdir / "policy.zip")
        wrapped.save(str(workdir / "vecnormalize.pkl"))
        policy_path = str(workdir / "policy.zip")
        if _KEEP_LIVE and hp["algo"] == "sac":  # a slice to be continued, maybe elsewhere
            model.save_replay_buffer(workdir / REPLAY_BUFFER)
    if _KEEP_LIVE and workdir is not None:
        _LIVE[str(Path(workdir).resolve())] = (model, wrapped, venv)
    else:
        wrapped.close()
    if progress is not None:
        progress(total, total, {"fitness": None, "phase": "done"})
    prior_t = before.get("timings") or {}
    timings = {"wall_s": time.perf_counter() - t0 + prior_t.get("wall_s", 0.0),
               "train_s": train_s + prior_t.get("train_s", 0.0), "eval_s": eval_s,
               "env_steps_per_s": venv.total_steps / train_s if train_s > 0 else 0.0}
    curve = [CurvePoint(**c) for c in before.get("curve", [])] + _curve(summaries, steps_done, start, planned_steps)
    return TrainResult.scored(task, NAME, seed, steps_done, episodes, curve, timings,
                              runtime=_merged_runtime(before.get("runtime") or {},
                                                      venv.guard.to_json()),
                              policy_path=policy_path)


def load_policy(task: Task, train_dir: Path, overrides: Mapping[str, Any] | None = None):
    """The policy saved in ``train_dir`` (``policy.zip`` and ``vecnormalize.pkl``) as a
    function: one observation -> one deterministic action."""
    import pickle

    from stable_baselines3 import PPO, SAC

    train_dir = Path(train_dir)
    if not (train_dir / "policy.zip").is_file():
        raise RewardsmithError(f"no saved policy in {train_dir}",
                               "train with a workdir (every design run does)")
    cls = PPO if settings(task, overrides)["algo"] == "ppo" else SAC
    model = cls.load(str(train_dir / "policy.zip"), device="cpu")
    norm = None
    if (train_dir / "vecnormalize.pkl").exists():
        with open(train_dir / "vecnormalize.pkl", "rb") as f:
            norm = pickle.load(f)  # noqa: S301 - our own file, written by the training worker

    def act(obs):
        o = np.asarray(obs, dtype=np.float32)[None]
        if norm is not None and getattr(norm, "norm_obs", False):
            o = norm.normalize_obs(o)
        action, _ = model.predict(o, deterministic=True)
        return action[0]

    return act


def evaluate_untrained(task: Task, budget: Budget, seed: int,
                       overrides: Mapping[str, Any] | None = None) -> TrainResult:
    """F_floor: the freshly initialised policy, evaluated exactly as a trained one is."""
    hp = settings(task, overrides)
    t0 = time.perf_counter()
    venv = _make_vecenv(task, None, 1, env_seed(seed), keep=False)
    model, wrapped = _build_model(task, hp, venv, seed)
    wrapped.training = False
    episodes = evaluate_policy(task, model, wrapped if hp["normalize_obs"] else None, None,
                               budget.eval_episodes, seed)
    wrapped.close()
    return TrainResult.scored(task, NAME, seed, 0, episodes, [],
                              {"wall_s": time.perf_counter() - t0})


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
