"""Train K candidates sequentially and in parallel in one run; print the speed-up.

    python scripts/bench_parallel.py [--task hopper-forward-v0] [--k 4] [--steps 20000] [--workers N]

Both passes use the same jailed worker processes as the design loop (rewardsmith.executors.local);
the sequential pass runs one worker at a time. Target on 2 cores: at least 1.8x.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from rewardsmith import tasks
from rewardsmith.contracts import JobSpec
from rewardsmith.executors.job import Job
from rewardsmith.executors.local import run_jobs
from rewardsmith.loop.evaluate import resolve_reward


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="hopper-forward-v0")
    ap.add_argument("--k", type=int, default=4, help="candidates")
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()

    task = tasks.load(args.task)
    prog = resolve_reward(task, "baseline").program
    timings = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode, workers in (("sequential", 1), ("parallel", args.workers)):
            jobs = [Job(Path(tmp) / mode / f"c{k}",
                        JobSpec.build(task, prog, args.steps, 2, seed=k, backend="sb3"), label=f"c{k}")
                    for k in range(args.k)]
            t0 = time.perf_counter()
            outs = run_jobs(jobs, workers)
            timings[mode] = time.perf_counter() - t0
            failed = [o.error for o in outs if not o.ok]
            if failed:
                raise SystemExit(f"{mode}: a job failed: {failed[0]}")
            print(f"{mode:>10}: {args.k} candidates x {args.steps:,} steps on {workers} worker(s): "
                  f"{timings[mode]:.1f} s ({args.k * args.steps / timings[mode]:,.0f} env steps/s overall)")
    print(f"speed-up: {timings['sequential'] / timings['parallel']:.2f}x on {os.cpu_count()} cores "
          f"(task {args.task}; target >= 1.8x on 2 cores)")


if __name__ == "__main__":
    main()
