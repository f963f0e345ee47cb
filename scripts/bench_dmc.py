"""Env steps per second of a Control Suite task, random actions, one env, three ways: the suite's
own ``control.Environment``, rewardsmith's adapter (``rewardsmith.tasks.dmc.DmcEnv`` through
``gym.make``) and shimmy's ``DmControlCompatibilityV0`` with its dict observation flattened (what
SB3's MlpPolicy needs). Measured side by side, interleaved, best of ``--repeats``.

    python scripts/bench_dmc.py --env dmc:walker/walk --steps 3000
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def rate(step, reset, n: int) -> float:
    reset()
    t0 = time.perf_counter()
    for _ in range(n):
        if step():
            reset()
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", default="dmc:walker/walk")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import gymnasium as gym
    from dm_control import suite

    from rewardsmith.tasks import dmc

    domain, task = dmc.parse(args.env)
    rng = np.random.default_rng(0)
    raw = suite.load(domain, task, task_kwargs={"random": 0})
    spec = raw.action_spec()
    acts = rng.uniform(spec.minimum, spec.maximum, size=(args.steps,) + spec.shape)

    def raw_run():
        k = iter(range(args.steps))
        return rate(lambda: raw.step(acts[next(k)]).last(), raw.reset, args.steps)

    ours = dmc.make(args.env)

    def ours_run():
        k = iter(range(args.steps))

        def step():
            _, _, te, tr, _ = ours.step(acts[next(k)])
            return te or tr
        return rate(step, lambda: ours.reset(seed=0), args.steps)

    runs = {"dm_control": raw_run, "rewardsmith adapter": ours_run}
    try:
        from shimmy.dm_control_compatibility import DmControlCompatibilityV0

        sh = gym.wrappers.FlattenObservation(DmControlCompatibilityV0(
            suite.load(domain, task, task_kwargs={"random": 0})))

        def shimmy_run():
            k = iter(range(args.steps))

            def step():
                _, _, te, tr, _ = sh.step(acts[next(k)])
                return te or tr
            return rate(step, lambda: sh.reset(seed=0), args.steps)
        runs["shimmy + FlattenObservation"] = shimmy_run
    except ImportError:
        print("shimmy is not installed: measured without it")
    best = {name: 0.0 for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            best[name] = max(best[name], fn())
    base = best["dm_control"]
    for name, v in best.items():
        print(f"{args.env} {name:30s} {v:8.0f} steps/s  ({v / base:.2f}x dm_control)")


if __name__ == "__main__":
    main()
