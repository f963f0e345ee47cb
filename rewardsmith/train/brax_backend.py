"""The ``brax`` backend: the task's MuJoCo model on MJX, trained with Brax's PPO (or SAC).

Same protocol as :mod:`rewardsmith.train.sb3`: ``train(task, program, budget, seed, progress,
workdir, overrides) -> TrainResult`` and ``evaluate_untrained``. The reward program is the same
text as on the SB3 path, compiled with ``np`` bound to ``jax.numpy`` and called inside the
jitted env step (:mod:`rewardsmith.train.brax_env`).

Evaluation stays in JAX: at each of ``num_evals`` points of training, a jitted loop runs
``max(eval_episodes, curve_episodes)`` deterministic episodes in parallel and returns their
state rows, actions, rewards and components in one transfer; the host turns them into
:class:`~rewardsmith.contracts.Episode` objects and scores them with the task's own numpy
fitness, so fitness means the same on both backends. The curve's points are these
evaluations; the last one is the final evaluation.

``timings`` separates ``compile_s`` (tracing, lowering and XLA compilation, measured through
``jax.monitoring``) from ``train_s`` (training only: no compilation, no evaluation) and
``eval_s``; ``env_steps_per_s`` is over ``train_s``.

Imports no JAX at module level: without the extra, every entry point raises a
:class:`RewardsmithError` saying ``pip install 'rewardsmith[jax]'``.
"""

from __future__ import annotations

import functools
import json
import math
import os
import pickle
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
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
    score_episodes,
)
from rewardsmith.errors import RewardsmithError
from rewardsmith.reward.program import RewardProgram, RewardProgramError

NAME = "brax"
RESUMABLE = False  # a saved slice cannot be continued: successive halving trains it in full
INSTALL_HINT = "install with pip install 'rewardsmith[jax]'"

# Everything a user may set (task.hyperparams["brax"] or overrides); unknown keys are errors.
# Device-dependent values (None here) come from CPU_DEFAULTS / GPU_DEFAULTS.
DEFAULTS: dict[str, Any] = {
    "algo": "ppo",
    "num_envs": None,
    "num_evals": None,  # evaluation points (curve), the first at step 0
    "curve_episodes": None,  # episodes per evaluation point (at least budget.eval_episodes)
    "policy_hidden": None,
    "value_hidden": None,
    "normalize_observations": True,
    "episode_length": None,  # None: the gymnasium env's time limit
    # MJX (see brax_env.SimSettings)
    "solver_iterations": 8,
    "ls_iterations": 8,
    "integrator": None,
    "fresh_resets": True,
    "compile_cache": True,  # True: $REWARDSMITH_CACHE/jax or ~/.cache/rewardsmith/jax; a path; False
}
PPO_DEFAULTS: dict[str, Any] = {
    "batch_size": None, "num_minibatches": None, "unroll_length": None,
    "num_updates_per_batch": None, "learning_rate": 3e-4, "entropy_cost": 1e-2, "discounting": 0.97,
    "gae_lambda": 0.95, "clipping_epsilon": 0.3, "reward_scaling": 1.0, "max_grad_norm": None,
}
SAC_DEFAULTS: dict[str, Any] = {
    "learning_rate": 6e-4, "discounting": 0.97, "batch_size": None, "reward_scaling": 1.0,
    "tau": 0.005, "min_replay_size": None, "max_replay_size": None, "grad_updates_per_step": None,
}
# Small on a CPU (2 cores is normal): compile time dominates anyway, so the layout follows SB3's
# (few envs, long rollouts, several epochs over each batch) to learn from small budgets.
CPU_DEFAULTS: dict[str, Any] = {
    "num_envs": 8, "num_evals": 5, "curve_episodes": 4,
    "policy_hidden": (64, 64), "value_hidden": (64, 64),
    "batch_size": 8, "num_minibatches": 8, "unroll_length": 32, "num_updates_per_batch": 5,
    "sac": {"num_envs": 16, "batch_size": 128, "min_replay_size": 1_000,
            "max_replay_size": 200_000, "grad_updates_per_step": 1},
}
# Brax's published MJX settings, roughly: thousands of robots per GPU.
GPU_DEFAULTS: dict[str, Any] = {
    "num_envs": 2048, "num_evals": 10, "curve_episodes": 16,
    "policy_hidden": (32, 32, 32, 32), "value_hidden": (256, 256, 256, 256, 256),
    "batch_size": 1024, "num_minibatches": 32, "unroll_length": 10, "num_updates_per_batch": 4,
    "sac": {"num_envs": 128, "batch_size": 512, "min_replay_size": 8_192,
            "max_replay_size": 1_048_576, "grad_updates_per_step": 32},
}
# Per gymnasium env (both devices), after Brax's tuned settings for the same robots.
ENV_DEFAULTS: dict[str, dict[str, Any]] = {
    "InvertedPendulum-v5": {"discounting": 0.98, "entropy_cost": 0.0, "learning_rate": 1e-3,
                            "num_updates_per_batch": 10},
    "InvertedDoublePendulum-v5": {"discounting": 0.97, "entropy_cost": 1e-2, "reward_scaling": 0.1},
    "Hopper-v5": {"discounting": 0.97, "entropy_cost": 1e-3},
    "Walker2d-v5": {"discounting": 0.97, "entropy_cost": 1e-3},
    "HalfCheetah-v5": {"discounting": 0.95, "entropy_cost": 1e-3, "num_updates_per_batch": 8},
    "Ant-v5": {"discounting": 0.97, "entropy_cost": 1e-2},
    "Swimmer-v5": {"discounting": 0.9999, "entropy_cost": 1e-3},
    "Reacher-v5": {"discounting": 0.9, "entropy_cost": 1e-3},
}
# Per gymnasium env, per device: batch layout.
ENV_LAYOUT: dict[str, dict[str, dict[str, Any]]] = {
    # measured here: 20k steps reach the 1000-step maximum (32 envs x 16 steps: ~50-200)
    "InvertedPendulum-v5": {"cpu": {"num_envs": 4, "batch_size": 8, "num_minibatches": 4,
                                    "unroll_length": 64}},
    "HalfCheetah-v5": {"gpu": {"unroll_length": 20, "batch_size": 512}},
    "Ant-v5": {"gpu": {"num_envs": 4096, "batch_size": 2048, "unroll_length": 5}},
}
# Default budgets when a task defines none for this backend (env steps).
DEFAULT_STEPS = {"cpu": None, "gpu": {"InvertedPendulum-v5": 1_000_000,
                                      "InvertedDoublePendulum-v5": 3_000_000,
                                      "Reacher-v5": 5_000_000}}
GPU_DEFAULT_STEPS = 10_000_000


# ------------------------------------------------------------------------------ set-up
def _require_jax():
    from rewardsmith.state.mjx_view import quiet_brax_imports

    quiet_brax_imports()
    try:
        import jax  # noqa: F401

        from rewardsmith.state.mjx_view import import_mjx
        from rewardsmith.train.jax_compat import apply as jax_compat

        jax_compat()  # brax 0.14.2 on JAX >= 0.10 (see jax_compat)
        import_mjx()  # first, quietly: brax imports it too
        from brax.training.agents.ppo import train as _ppo  # noqa: F401
    except ImportError as e:
        raise RewardsmithError(f"the brax backend is not installed ({e.name or e} is missing)",
                               INSTALL_HINT) from None
    except RewardsmithError as e:
        raise RewardsmithError(f"the brax backend is not installed ({e.message})",
                               INSTALL_HINT) from None
    import jax

    return jax


def require() -> None:
    """Raise a :class:`RewardsmithError` naming the extra when JAX, Brax or MJX is missing.

    Looks for the packages without importing them: the process that checks is often the one
    that then starts jailed workers, and JAX warns about (and may deadlock on) a fork after it
    started its threads."""
    import importlib.util

    for mod in ("jax", "jaxlib", "brax", "mujoco.mjx"):
        try:
            found = importlib.util.find_spec(mod) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise RewardsmithError(f"the brax backend is not installed ({mod} is missing)",
                                   INSTALL_HINT)


def device_kind() -> str:
    """``"gpu"`` when JAX's default device is an accelerator, else ``"cpu"``."""
    jax = _require_jax()
    return "cpu" if jax.devices()[0].platform == "cpu" else "gpu"


def settings(task, overrides: Mapping[str, Any] | None = None,
             device: str | None = None) -> dict[str, Any]:
    """The resolved settings: defaults < device defaults < env defaults < task < overrides."""
    device = device or device_kind()
    dev = CPU_DEFAULTS if device == "cpu" else GPU_DEFAULTS
    task_hp = dict(task.hyperparams.get(NAME, {}))
    user = {**task_hp, **dict(overrides or {})}
    algo = user.get("algo", DEFAULTS["algo"])
    if algo not in ("ppo", "sac"):
        raise RewardsmithError(f"unknown algorithm {algo!r} for the brax backend; use ppo or sac")
    algo_defaults = PPO_DEFAULTS if algo == "ppo" else SAC_DEFAULTS
    known = set(DEFAULTS) | set(PPO_DEFAULTS) | set(SAC_DEFAULTS)
    unknown = sorted(k for k in user if k not in known)
    if unknown:
        raise RewardsmithError(
            f"unknown brax backend setting(s) {', '.join(unknown)}",
            f"known: {', '.join(sorted(known))}",
        )
    dev_values = {k: v for k, v in dev.items() if k != "sac"}
    if algo == "sac":
        dev_values.update(dev["sac"])
    env_values = {**ENV_DEFAULTS.get(task.env_id, {}),
                  **ENV_LAYOUT.get(task.env_id, {}).get(device, {})}
    hp: dict[str, Any] = {}
    for k in list(DEFAULTS) + list(algo_defaults):
        v = DEFAULTS.get(k, algo_defaults.get(k))
        for layer in (dev_values, env_values, user):
            if k in layer:
                v = layer[k]
        hp[k] = v
    hp["algo"] = algo
    hp["device"] = device
    for k in ("policy_hidden", "value_hidden"):
        hp[k] = tuple(int(x) for x in hp[k])
    if algo == "ppo" and (hp["batch_size"] * hp["num_minibatches"]) % hp["num_envs"]:
        raise RewardsmithError(
            f"brax PPO needs batch_size * num_minibatches ({hp['batch_size']} * "
            f"{hp['num_minibatches']}) to be a multiple of num_envs ({hp['num_envs']})",
            "change one of them",
        )
    return hp


def discount(task, overrides: Mapping[str, Any] | None = None) -> float:
    """The discount the learner uses on ``task`` (on this machine's device)."""
    return float(settings(task, overrides)["discounting"])


def default_budget(task, device: str | None = None) -> Budget:
    """The task's brax budget, or one that suits the device (CPU: the SB3 budget)."""
    if NAME in task.budgets:
        return task.budgets[NAME]
    device = device or device_kind()
    sb3 = task.budgets.get("sb3")
    if device == "cpu":
        return sb3 or Budget(steps=100_000)
    steps = DEFAULT_STEPS["gpu"].get(task.env_id, GPU_DEFAULT_STEPS)
    return Budget(steps=steps, eval_episodes=sb3.eval_episodes if sb3 else 5)


def describe() -> dict[str, Any]:
    """For ``rewardsmith backends``: versions, devices, defaults (raises when not installed)."""
    jax = _require_jax()
    from rewardsmith.train.brax_env import PORTS
    from rewardsmith.versions import package_versions

    versions = package_versions(("jax", "jaxlib", "flax", "brax", "mujoco", "mujoco-mjx"))

    kind = device_kind()
    from rewardsmith.train.jax_compat import applied

    return {"devices": [str(d) for d in jax.devices()], "device_kind": kind,
            "versions": versions, "ported_envs": sorted(PORTS), "jax_compat": list(applied),
            "defaults": {**DEFAULTS, **PPO_DEFAULTS,
                         **{k: v for k, v in (CPU_DEFAULTS if kind == "cpu" else GPU_DEFAULTS).items()
                            if k != "sac"}}}


def _compile_cache(hp: dict[str, Any]) -> str | None:
    """Turn on JAX's persistent compilation cache (the same program on another seed, or the
    same task's untrained evaluation, then skips XLA compilation)."""
    jax = _require_jax()
    want = hp.get("compile_cache", True)
    if not want:
        return None
    current = jax.config.jax_compilation_cache_dir
    if current:
        return current
    if isinstance(want, str):
        path = Path(want)
    else:
        from rewardsmith.paths import cache_dir

        path = cache_dir("jax")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError:
        return None  # read-only (a jailed worker): compile every time
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    return str(path)


# ---------------------------------------------------------------------- compile clock
class CompileClock:
    """Wall time spent tracing, lowering and compiling (from ``jax.monitoring`` events).

    Nested events (a jit traced inside another) are counted once: each event is an interval
    ending when it is reported, and the clock measures the union of the intervals.
    """

    EVENTS = ("/jax/core/compile/jaxpr_trace_duration",
              "/jax/core/compile/jaxpr_to_mlir_module_duration",
              "/jax/core/compile/backend_compile_duration",
              "/jax/compilation_cache/cache_retrieval_time_sec")

    def __init__(self):
        self._intervals: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def _listener(self, event: str, duration: float, **_: Any) -> None:
        if event in self.EVENTS:
            end = time.perf_counter()
            with self._lock:
                self._intervals.append((end - float(duration), end))

    def __enter__(self) -> CompileClock:
        from jax import monitoring

        monitoring.register_event_duration_secs_listener(self._listener)
        return self

    def __exit__(self, *exc) -> None:
        from jax._src import monitoring as _m

        try:
            _m.unregister_event_duration_listener(self._listener)
        except (AttributeError, ValueError):
            pass

    def seconds(self, since: float = float("-inf"), until: float = float("inf")) -> float:
        with self._lock:
            spans = sorted((max(a, since), min(b, until)) for a, b in self._intervals)
        total, cur_a, cur_b = 0.0, None, None
        for a, b in spans:
            if b <= a:
                continue
            if cur_b is None or a > cur_b:
                if cur_b is not None:
                    total += cur_b - cur_a
                cur_a, cur_b = a, b
            else:
                cur_b = max(cur_b, b)
        if cur_b is not None:
            total += cur_b - cur_a
        return total


# ----------------------------------------------------------------------- traceability
def check_traceable(program: RewardProgram | str, task=None, transitions=None,
                    *, spec=None, compare_numpy: bool = True) -> list[str]:
    """Can ``program`` run on the JAX path? ``[]`` when it can; otherwise what to change
    (:func:`rewardsmith.reward.traceable.check_traceable` on ``transitions``, recorded from
    ``task`` by the sandbox's dry run when not given)."""
    from rewardsmith.reward import traceable

    _require_jax()
    if transitions is None:
        if task is None:
            raise ValueError("check_traceable needs a task or recorded transitions")
        from rewardsmith.sandbox.dryrun import record_transitions

        transitions = record_transitions(task)
    if spec is None and task is not None:
        spec = task.spec
    return traceable.check_traceable(program, transitions, spec=spec, compare_numpy=compare_numpy)


# --------------------------------------------------------------------------- training
@dataclass
class _Eval:
    """Evaluation in JAX: ``n`` deterministic episodes in one jitted loop, from the same initial
    states every time (the key depends on the seed only)."""

    env: Any
    n: int
    seed: int
    clock: CompileClock | None = None
    make_policy: Any = None
    _fn: Any = None
    wall_s: float = 0.0  # all evaluation calls, compilation included
    compile_s: float = 0.0  # compilation inside them

    def run(self, make_policy, params) -> tuple[list[Episode], float]:
        import jax

        from rewardsmith.train.brax_env import make_rollout

        t = time.perf_counter()
        if self._fn is None or make_policy is not self.make_policy:
            rollout = make_rollout(self.env, self.n)
            self._fn = jax.jit(lambda p, k: rollout(make_policy(p, deterministic=True), k))
            self.make_policy = make_policy
        # host copies: the same placement every call, so the rollout compiles once
        out = self._fn(jax.device_get(params), jax.random.PRNGKey(self.seed + 100_003))
        out = jax.device_get(out)
        episodes = self.env.episodes(out)
        t_end = time.perf_counter()
        self.wall_s += t_end - t
        if self.clock is not None:
            self.compile_s += self.clock.seconds(t, t_end)
        return episodes, float(out["nonfinite"])

    @property
    def exec_s(self) -> float:
        return max(self.wall_s - self.compile_s, 0.0)


def _point(task, step: int, episodes: list[Episode]) -> CurvePoint:
    from rewardsmith.tasks.context import ended_past

    fits, succ = score_episodes(task, episodes)
    names = sorted({k for e in episodes for k in e.components})
    ctx = task.robot_context
    found = ctx.bounds if ctx is not None else ()
    ends = [(e.terminated, ended_past(found, e)) for e in episodes]
    return CurvePoint(
        step=int(step), episodes=len(episodes), fitness=float(np.mean(fits)), success_rate=succ,
        episode_length=float(np.mean([e.length for e in episodes])),
        env_return=float(np.mean([e.env_rewards.sum() for e in episodes])),
        reward_return=float(np.mean([e.rewards.sum() for e in episodes])),
        components={k: float(np.mean([e.components[k].sum() for e in episodes])) for k in names},
        **ending_shares(ends),
    )


def _jsonable(hp: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in hp.items()}


def _sim(hp):
    from rewardsmith.train.brax_env import SimSettings

    return SimSettings(solver_iterations=hp["solver_iterations"], ls_iterations=hp["ls_iterations"],
                       integrator=hp["integrator"], fresh_resets=hp["fresh_resets"])


def _program(task, program: RewardProgram | None) -> RewardProgram | None:
    if program is None or program.source.strip() == "env":
        return None
    problems = check_traceable(program, task)
    if problems:
        raise RewardProgramError(
            f"reward program {program.origin} cannot run on the JAX path: " + "; ".join(problems))
    return program


def _num_evals(total: int, hp: Mapping[str, Any]) -> int:
    """``num_evals`` near the setting whose rounding of the budget overshoots least: Brax's PPO
    runs whole training steps, ``num_evals - 1`` epochs of equally many."""
    want = max(int(hp["num_evals"]), 2)
    if hp["algo"] != "ppo":
        return want
    per_step = hp["batch_size"] * hp["unroll_length"] * hp["num_minibatches"]

    def done(n_after: int) -> int:
        return math.ceil(total / (n_after * per_step)) * n_after * per_step

    best = min(range(max(want - 3, 1), want + 3), key=lambda n: (done(n), abs(n + 1 - want)))
    return best + 1


def _network_factory(hp):
    if hp["algo"] == "ppo":
        from brax.training.agents.ppo import networks as ppo_networks

        return functools.partial(ppo_networks.make_ppo_networks,
                                 policy_hidden_layer_sizes=hp["policy_hidden"],
                                 value_hidden_layer_sizes=hp["value_hidden"])
    from brax.training.agents.sac import networks as sac_networks

    return functools.partial(sac_networks.make_sac_networks,
                             hidden_layer_sizes=hp["policy_hidden"])


def train(task, program: RewardProgram | None, budget: Budget, seed: int,
          progress: Progress | None = None, workdir: Path | None = None,
          overrides: Mapping[str, Any] | None = None) -> TrainResult:
    """Train one policy on ``program`` (None: the env's own reward); evaluate it on the fitness."""
    _require_jax()
    from rewardsmith.train.brax_env import RewardEnv, wrap_for_training

    hp = settings(task, overrides)
    cache = _compile_cache(hp)
    program = _program(task, program)
    total = int(budget.steps)
    t0 = time.perf_counter()
    with CompileClock() as clock:
        env = RewardEnv(task, program, _sim(hp), hp["episode_length"])
        n_eval = max(int(budget.eval_episodes), int(hp["curve_episodes"]))
        ev = _Eval(env, n_eval, seed, clock)
        curve: list[CurvePoint] = []
        last: dict[str, Any] = {}
        nonfinite = [0.0]

        def on_params(step, make_policy, params):
            episodes, bad = ev.run(make_policy, params)
            nonfinite[0] += bad
            curve.append(_point(task, step, episodes))
            last.update(episodes=episodes, params=params, step=step)
            if progress is not None:
                progress(min(int(step), total), total,
                         {"fitness": curve[-1].fitness, "episodes": len(episodes),
                          "phase": "train"})

        wrap = functools.partial(wrap_for_training, fresh_resets=hp["fresh_resets"])
        common = dict(environment=env, num_timesteps=total, episode_length=env.episode_length,
                      wrap_env_fn=wrap, num_envs=hp["num_envs"], seed=int(seed),
                      normalize_observations=hp["normalize_observations"],
                      network_factory=_network_factory(hp),
                      learning_rate=hp["learning_rate"], discounting=hp["discounting"],
                      reward_scaling=hp["reward_scaling"], batch_size=hp["batch_size"],
                      num_evals=_num_evals(total, hp))
        t_setup = time.perf_counter()
        if hp["algo"] == "ppo":
            from brax.training.agents.ppo import train as ppo

            make_policy, params, _ = ppo.train(
                **common, run_evals=False, policy_params_fn=on_params,
                num_minibatches=hp["num_minibatches"], unroll_length=hp["unroll_length"],
                num_updates_per_batch=hp["num_updates_per_batch"],
                entropy_cost=hp["entropy_cost"], gae_lambda=hp["gae_lambda"],
                clipping_epsilon=hp["clipping_epsilon"], max_grad_norm=hp["max_grad_norm"])
            steps_done = int(last.get("step", total))
        else:
            make_policy, params, steps_done = _train_sac(hp, common, env, ev, task, curve, last,
                                                         progress, total)
        t_trained = time.perf_counter()
        if hp["algo"] == "sac":  # the final evaluation is still to run; it replaces Brax's
            if curve and curve[-1].step == steps_done and curve[-1].fitness is None:
                curve.pop()
            on_params(steps_done, make_policy, params)
        t_end = time.perf_counter()
        compile_s = clock.seconds(t0, t_end)
        compile_train = clock.seconds(t_setup, t_trained)
    eval_s = ev.exec_s
    train_s = max((t_trained - t_setup) - compile_train - eval_s, 1e-9)
    episodes = last["episodes"][: int(budget.eval_episodes)]
    policy_path = _save_policy(workdir, hp, env, params) if workdir is not None else None
    timings = {"wall_s": t_end - t0, "compile_s": compile_s, "train_s": train_s,
               "eval_s": eval_s, "env_steps_per_s": steps_done / train_s,
               "setup_s": t_setup - t0}
    runtime = {"nonfinite_eval_steps": int(nonfinite[0]),
               "eval_steps": int(sum(p.episode_length * p.episodes for p in curve)),
               "device": hp["device"], "compile_cache": cache or "", "settings": _jsonable(hp)}
    if progress is not None:
        progress(total, total, {"fitness": None, "phase": "done"})
    if nonfinite[0] > 50:
        from rewardsmith.errors import RewardRuntimeError

        raise RewardRuntimeError(
            f"the reward was non-finite (NaN or inf) in {int(nonfinite[0])} evaluation steps; "
            "guard divisions with np.maximum(x, eps), clip exponents, and keep every term finite")
    return TrainResult.scored(task, NAME, seed, steps_done, episodes, curve, timings, runtime,
                              policy_path)


def _train_sac(hp, common, env, ev, task, curve, last, progress, total):
    """Brax SAC. Its trainer has no parameter callback, so the curve's middle points come from
    Brax's own evaluator (returns and components, no fitness); the final point is ours."""
    from brax.training.agents.sac import train as sac

    def on_metrics(step, metrics):
        if step == 0 and not metrics:
            return
        comps = {k.removeprefix("eval/episode_component/"): float(v) for k, v in metrics.items()
                 if k.startswith("eval/episode_component/") and not k.endswith("_std")}
        curve.append(CurvePoint(
            step=int(step), episodes=int(ev.n), fitness=None, success_rate=None,
            episode_length=float(metrics.get("eval/avg_episode_length", np.nan)),
            env_return=float(metrics.get("eval/episode_env_reward", np.nan)),
            reward_return=float(metrics.get("eval/episode_reward", np.nan)),
            components=comps))
        last["step"] = int(step)
        if progress is not None:
            progress(min(int(step), total), total, {"fitness": None, "phase": "train"})

    make_policy, params, _ = sac.train(
        **common, num_eval_envs=ev.n, deterministic_eval=True, progress_fn=on_metrics,
        tau=hp["tau"], min_replay_size=hp["min_replay_size"],
        max_replay_size=hp["max_replay_size"], grad_updates_per_step=hp["grad_updates_per_step"])
    return make_policy, params, int(last.get("step", total))


def evaluate_untrained(task, budget: Budget, seed: int,
                       overrides: Mapping[str, Any] | None = None) -> TrainResult:
    """F_floor: the freshly initialised policy, evaluated exactly as a trained one is."""
    _require_jax()
    from rewardsmith.train.brax_env import RewardEnv

    hp = settings(task, overrides)
    cache = _compile_cache(hp)
    t0 = time.perf_counter()
    with CompileClock() as clock:
        env = RewardEnv(task, None, _sim(hp), hp["episode_length"])
        make_policy, params = _initial_policy(hp, env, seed)
        ev = _Eval(env, int(budget.eval_episodes), seed, clock)
        episodes, bad = ev.run(make_policy, params)
        t_end = time.perf_counter()
        compile_s = clock.seconds(t0, t_end)
    timings = {"wall_s": t_end - t0, "compile_s": compile_s, "eval_s": ev.exec_s}
    runtime = {"nonfinite_eval_steps": int(bad), "device": hp["device"],
               "compile_cache": cache or ""}
    return TrainResult.scored(task, NAME, seed, 0, episodes, [], timings, runtime)


def _initial_policy(hp, env, seed: int):
    """The policy Brax's trainer starts from for ``seed`` (same networks, same keys)."""
    import jax
    from brax.training.acme import running_statistics, specs

    obs_spec = specs.Array((env.observation_size,), np.dtype("float32"))
    normalize = (running_statistics.normalize if hp["normalize_observations"]
                 else (lambda x, y: x))
    key = jax.random.PRNGKey(int(seed))
    global_key, _ = jax.random.split(key)
    key_policy, key_value = jax.random.split(global_key)
    normalizer = running_statistics.init_state(obs_spec)
    if hp["algo"] == "ppo":
        from brax.training.agents.ppo import networks as ppo_networks

        nets = _network_factory(hp)(env.observation_size, env.action_size,
                                    preprocess_observations_fn=normalize)
        make_policy = ppo_networks.make_inference_fn(nets)
        params = (normalizer, nets.policy_network.init(key_policy),
                  nets.value_network.init(key_value))
    else:
        from brax.training.agents.sac import networks as sac_networks

        nets = _network_factory(hp)(env.observation_size, env.action_size,
                                    preprocess_observations_fn=normalize)
        make_policy = sac_networks.make_inference_fn(nets)
        params = (normalizer, nets.policy_network.init(key_policy))
    return make_policy, params


# ------------------------------------------------------------------------------ policy
def _save_policy(workdir: Path, hp, env, params) -> str:
    import jax

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = {"backend": NAME, "algo": hp["algo"], "task": env.task.id,
              "observation_size": env.observation_size, "action_size": env.action_size,
              "policy_hidden": list(hp["policy_hidden"]), "value_hidden": list(hp["value_hidden"]),
              "normalize_observations": hp["normalize_observations"],
              "ctrl_low": env.ctrl_low.tolist(), "ctrl_high": env.ctrl_high.tolist(),
              "format": "pickle of (normalizer, policy[, value]) params as numpy; actions in "
                        "[-1, 1] map linearly to [ctrl_low, ctrl_high]"}
    path = workdir / "policy.pkl"
    tmp = workdir / ".policy.pkl.tmp"
    with open(tmp, "wb") as f:
        pickle.dump({"config": config, "params": jax.device_get(params)}, f)
    os.replace(tmp, path)
    (workdir / "policy.json").write_text(json.dumps(config, indent=2))
    return str(path)


def load_policy(task, train_dir: str | Path, overrides: Mapping[str, Any] | None = None):
    """The policy saved in ``train_dir`` (the contract's form): ``act(obs) -> action``."""
    return load_policy_file(Path(train_dir) / "policy.pkl")


def load_policy_file(path: str | Path):
    """``act(obs) -> action`` (env units, deterministic) from a saved ``policy.pkl``."""
    import jax
    import jax.numpy as jnp
    from brax.training.acme import running_statistics

    with open(path, "rb") as f:
        blob = pickle.load(f)  # noqa: S301 - our own file, written by _save_policy
    cfg, params = blob["config"], blob["params"]
    hp = {"algo": cfg["algo"], "policy_hidden": tuple(cfg["policy_hidden"]),
          "value_hidden": tuple(cfg["value_hidden"])}
    normalize = (running_statistics.normalize if cfg["normalize_observations"]
                 else (lambda x, y: x))
    nets = _network_factory(hp)(cfg["observation_size"], cfg["action_size"],
                                preprocess_observations_fn=normalize)
    if cfg["algo"] == "ppo":
        from brax.training.agents.ppo import networks as ppo_networks

        make_policy = ppo_networks.make_inference_fn(nets)
    else:
        from brax.training.agents.sac import networks as sac_networks

        make_policy = sac_networks.make_inference_fn(nets)
    policy = jax.jit(make_policy(params, deterministic=True))
    lo, hi = np.asarray(cfg["ctrl_low"]), np.asarray(cfg["ctrl_high"])

    def act(obs):
        a, _ = policy(jnp.asarray(obs, jnp.float32), jax.random.PRNGKey(0))
        a = np.clip(np.asarray(a, np.float64), -1.0, 1.0)
        return lo + (a + 1.0) * 0.5 * (hi - lo)

    return act
