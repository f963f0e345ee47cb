#!/usr/bin/env python
"""What a reward program costs: train the same task for the same steps on the simulator's own
reward and on the equivalent reward program (the task's baseline), side by side in one run.

    python scripts/bench_reward_overhead.py                         # cheetah, hopper, ant
    python scripts/bench_reward_overhead.py --task cheetah-run-v0 --steps 50000 --repeats 5

A third path, "plain", is the same PPO on SB3's own DummyVecEnv of the gymnasium env (no state
view, no episode records): what rewardsmith's recording costs on top of plain SB3.

Runs are interleaved (plain, native, program, program, native, plain, ...) so that drift in the machine's
speed hits both alike. Prints env steps/s for each path and the ratio program/native (target:
at least 0.95), on wall-clock and on CPU time, and the share of training time spent inside the
program and its checks, which is measured within each run and so stays meaningful on a busy
machine where run-to-run noise (±20%) swamps a few percent. ``--env-only`` also times the
vector env alone on random actions (no learning), next to SB3's plain DummyVecEnv. The run
ends with a table of every path against plain SB3, the vector env alone and PPO side by side.
Exit status 1 when the wall-clock ratio of a task is below the target.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings

import numpy as np

DEFAULT_TASKS = ["cheetah-run-v0", "hopper-forward-v0", "ant-sideways-v0"]
TARGET = 0.95


def _quiet_mujoco() -> None:
    import mujoco

    def handler(msg: str) -> None:  # gymnasium's XMLs trigger mujoco 4's settotalmass warning
        if "settotalmass" not in msg:
            warnings.warn(f"MuJoCo: {msg}", RuntimeWarning, stacklevel=1)

    mujoco.set_mju_user_warning(handler)


class _Attribution:
    """Time spent on the program path inside training: the program call with its output checks,
    and the runtime guard. Installed on the program runs only; native runs have neither."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.active = False

    def install(self) -> None:
        from rewardsmith.reward.vecenv import RuntimeGuard
        from rewardsmith.train import sb3

        compiled, check = sb3._compiled, RuntimeGuard.check
        att = self

        class Timed:
            def __init__(self, inner):
                self.inner = inner
                self.program = inner.program  # what the vec env reads the fields from

            def __call__(self, *args):
                t0 = time.perf_counter()
                try:
                    return self.inner(*args)
                finally:
                    att.seconds += time.perf_counter() - t0 if att.active else 0.0

        def timed_compiled(task, program):
            inner = compiled(task, program)
            return None if inner is None else Timed(inner)

        def timed_check(guard, *args):
            t0 = time.perf_counter()
            try:
                return check(guard, *args)
            finally:
                att.seconds += time.perf_counter() - t0 if att.active else 0.0

        sb3._compiled = timed_compiled
        RuntimeGuard.check = timed_check


ATTRIBUTION = _Attribution()


def train_rate(task, program, steps: int, seed: int) -> tuple[float, float, float]:
    """(wall, CPU) env steps/s of one PPO training run, timed from the first progress report
    (1% of the budget) to the step that completes the budget: model building, the final update
    and the evaluation are left out, as they are the same work on both paths. The third value
    is the share of that wall time spent calling the reward program and checking its output."""
    from rewardsmith.contracts import Budget
    from rewardsmith.train import sb3

    if isinstance(program, str) and program == "plain":
        return plain_train_rate(task, steps, seed)
    marks: list[tuple[int, float, float, float]] = []

    def progress(done: int, total: int, info) -> None:
        if info.get("phase") == "done" or (marks and marks[-1][0] >= total):
            return
        ATTRIBUTION.active = True
        marks.append((done, time.perf_counter(), time.process_time(), ATTRIBUTION.seconds))

    try:
        sb3.train(task, program, Budget(steps=steps, eval_episodes=1), seed, progress=progress)
    finally:
        ATTRIBUTION.active = False
    (d0, w0, c0, a0), (d1, w1, c1, a1) = marks[0], marks[-1]
    return (d1 - d0) / (w1 - w0), (d1 - d0) / (c1 - c0), (a1 - a0) / (w1 - w0)


def plain_train_rate(task, steps: int, seed: int) -> tuple[float, float, float]:
    """The same PPO (settings, VecNormalize, one torch thread) on SB3's own DummyVecEnv of the
    gymnasium env: no state view, no episode records, no reward program. Timed as
    :func:`train_rate` is, from 1% of the budget to its end."""
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv

    from rewardsmith.train import sb3

    hp = sb3.settings(task)
    venv = DummyVecEnv([task.make_env for _ in range(hp["n_envs"])])
    venv.seed(seed)
    model, _ = sb3._build_model(task, hp, venv, seed)
    marks: list[tuple[int, float, float]] = []
    first = max(steps // 100, 1)

    class Marks(BaseCallback):
        def _on_step(self) -> bool:
            n = self.num_timesteps
            if (not marks and n >= first) or (marks and n >= steps and marks[-1][0] < steps):
                marks.append((n, time.perf_counter(), time.process_time()))
            return True

    model.learn(total_timesteps=steps, callback=Marks(), progress_bar=False)
    venv.close()
    (d0, w0, c0), (d1, w1, c1) = marks[0], marks[-1]
    return (d1 - d0) / (w1 - w0), (d1 - d0) / (c1 - c0), 0.0


def env_rate(task, program, steps: int, seed: int, n_envs: int) -> tuple[float, float]:
    """(wall, CPU) env steps/s of the vector env alone, on pre-drawn random actions. ``program``
    "plain" times SB3's own DummyVecEnv (no state view, no episode records) for reference."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    from rewardsmith.train import sb3

    if isinstance(program, str) and program == "plain":
        venv = DummyVecEnv([task.make_env for _ in range(n_envs)])
        venv.seed(seed)
    else:
        venv = sb3._make_vecenv(task, sb3._compiled(task, program), n_envs, seed, keep=False)
    rng = np.random.default_rng(seed)
    low, high = venv.action_space.low, venv.action_space.high
    actions = rng.uniform(low, high, size=(256, n_envs, *venv.action_space.shape))
    venv.reset()
    n = steps // n_envs
    w0, c0 = time.perf_counter(), time.process_time()
    for k in range(n):
        venv.step(actions[k % 256])
    w1, c1 = time.perf_counter(), time.process_time()
    venv.close()
    return n * n_envs / (w1 - w0), n * n_envs / (c1 - c0), 0.0


def _interleaved(paths: dict, repeats: int, run, label: str) -> dict[str, list[tuple]]:
    """Runs every path ``repeats`` times, alternating the order (ABBA...) so that slow drift in
    the machine's speed hits both alike."""
    rates: dict[str, list[tuple]] = {k: [] for k in paths}
    for r in range(repeats):
        order = list(paths.items()) if r % 2 == 0 else list(reversed(paths.items()))
        for k, prog in order:
            rates[k].append(run(prog, r))
            wall, cpu, share = rates[k][-1]
            extra = f", {100 * share:4.1f}% of it in the program" if share else ""
            print(f"  {label} {k:8s} run {r + 1}: {wall:6.0f} steps/s wall, {cpu:6.0f} per CPU s"
                  f"{extra}", flush=True)
    return rates


def bench(task_id: str, steps: int, repeats: int, seed: int, env_only: bool, train: bool) -> dict:
    from rewardsmith import tasks
    from rewardsmith.train import sb3

    task = tasks.load(task_id)
    program = sb3.baseline_program(task)
    if program is None:
        raise SystemExit(f"{task_id} has no reward program baseline (its baseline is the env's own)")
    out: dict = {"task": task_id, "steps": steps, "repeats": repeats}
    if env_only:
        n_envs = sb3.settings(task)["n_envs"]
        env_rate(task, program, 2000, seed, n_envs)  # warm up
        paths = {"plain": "plain", "native": None, "program": program}
        rates = _interleaved(paths, max(repeats, 3),
                             lambda prog, r: env_rate(task, prog, steps, seed + r, n_envs),
                             f"{task_id} env only")
        out["env_only"] = _summary(rates)
        _print(task_id, f"vec env alone, {n_envs} envs", out["env_only"])
    if train:
        train_rate(task, program, 1024, seed)  # warm up: imports, first model
        paths = {"plain": "plain", "native": None, "program": program}
        rates = _interleaved(paths, repeats, lambda prog, r: train_rate(task, prog, steps, seed + r),
                             f"{task_id} train")
        out["train"] = _summary(rates)
        _print(task_id, f"PPO training, {steps} steps", out["train"])
    return out


def _summary(rates: dict[str, list[tuple]]) -> dict:
    """Means over runs; the ratio is the median of the per-repeat ratios (pairs of adjacent
    runs), on wall-clock and on CPU time (less sensitive to other processes on the machine)."""
    out: dict = {}
    for k, runs in rates.items():
        out[f"{k}_steps_per_s"] = statistics.mean(r[0] for r in runs)
        out[f"{k}_steps_per_cpu_s"] = statistics.mean(r[1] for r in runs)
        out[f"{k}_runs"] = [list(r[:2]) for r in runs]
    pairs = list(zip(rates["program"], rates["native"]))
    out["ratio"] = statistics.median(p[0] / n[0] for p, n in pairs)
    out["ratio_cpu"] = statistics.median(p[1] / n[1] for p, n in pairs)
    shares = [r[2] for r in rates["program"] if r[2]]
    if shares:  # the program path's own share of training time: noise-free, unlike the ratio
        out["program_share"] = statistics.median(shares)
        out["ratio_attributed"] = 1.0 - out["program_share"]
    if "plain" in rates:  # CPU time, and wall clock
        for k in ("native", "program"):
            out[f"{k}_vs_plain"] = statistics.median(
                r[1] / q[1] for r, q in zip(rates[k], rates["plain"]))
            out[f"{k}_vs_plain_wall"] = statistics.median(
                r[0] / q[0] for r, q in zip(rates[k], rates["plain"]))
    return out


def _print(task_id: str, what: str, s: dict) -> None:
    ok = "ok" if s["ratio"] >= TARGET else f"BELOW the {TARGET} target"
    line = (f"{task_id:18s} {what:30s} native {s['native_steps_per_s']:6.0f} steps/s  program "
            f"{s['program_steps_per_s']:6.0f} steps/s  ratio {s['ratio']:.3f} ({ok}), "
            f"on CPU time {s['ratio_cpu']:.3f}")
    if "program_share" in s:
        line += (f"; {100 * s['program_share']:.1f}% of training time is spent in the program "
                 f"and its checks (ratio {s['ratio_attributed']:.3f} if nothing else differed)")
    if "native_vs_plain" in s:
        line += (f"; plain SB3 DummyVecEnv {s['plain_steps_per_s']:6.0f} steps/s "
                 f"(the state view and episode records: native/plain "
                 f"{s['native_vs_plain']:.3f}, program/plain {s['program_vs_plain']:.3f} on CPU time)")
    print(line, flush=True)


def _print_vs_plain(results: list[dict]) -> None:
    """Every task's native and program paths against plain SB3, the vector env alone and PPO
    training side by side: wall clock, and CPU time in brackets (median of paired runs)."""
    cols = [("env_only", "native"), ("env_only", "program"), ("train", "native"), ("train", "program")]
    if not any(part in r for r in results for part, _ in cols):
        return
    print(f"\nrewardsmith vs plain SB3 (target {TARGET}): steps/s ratio on wall clock (CPU time)")
    print(f"{'':18s} {'vec env alone vs DummyVecEnv':^32s}  {'PPO steps/s vs plain SB3':^32s}")
    print(f"{'task':18s} " + "  ".join(f"{k:^15s}" for _, k in cols))
    for r in results:
        cells = []
        for part, k in cols:
            s = r.get(part)
            cells.append(f"{s[f'{k}_vs_plain_wall']:.3f} ({s[f'{k}_vs_plain']:.3f})" if s else "-")
        print(f"{r['task']:18s} " + "  ".join(f"{c:^15s}" for c in cells), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", action="append", help="task id (repeat for several); default: "
                   + ", ".join(DEFAULT_TASKS))
    p.add_argument("--steps", type=int, default=30_000, help="env steps per training run")
    p.add_argument("--repeats", type=int, default=3, help="runs of each path, interleaved")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--env-only", action="store_true", help="also time the vector env alone")
    p.add_argument("--no-train", action="store_true", help="skip the training runs")
    p.add_argument("--json", metavar="PATH", help="write the figures to this file")
    args = p.parse_args(argv)
    _quiet_mujoco()
    ATTRIBUTION.install()
    results = [bench(t, args.steps, args.repeats, args.seed, args.env_only, not args.no_train)
               for t in (args.task or DEFAULT_TASKS)]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    _print_vs_plain(results)
    ratios = [r["train"]["ratio"] for r in results if "train" in r]
    return 0 if all(x >= TARGET for x in ratios) else 1


if __name__ == "__main__":
    sys.exit(main())
