"""A benchmark's runs one after the other against ``--parallel-runs N``, side by side.

    python scripts/bench_parallel_runs.py [--task pendulum-balance-v0] [--repeats 4]
                                          [--parallel 2] [--workers 2] [--latency 20]
                                          [--steps 3000] [--iterations 2] [--samples 2]

Both passes run the same small benchmark (the offline designer, each run with its closing
evaluation) on the local pool with ``--workers`` workers; the parallel pass splits them between
``--parallel`` runs at once. ``--latency S`` makes every request to the designer take S seconds
more, as a hosted LLM's answer does (the offline designer answers at once; a GPT-4-class model
writing 4 programs takes 20-60 s): while one run waits on its designer, another trains. Each
pass has its own evaluation cache, so both train the hand-written reward. Prints each pass's
wall time, the ratio, and whether every run's verdict is the same in both (it must be: runs
at once compute what runs one after the other do).
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

from rewardsmith import tasks
from rewardsmith.benchmark import Benchmark, Plan, run_benchmark, write_table
from rewardsmith.executors import LocalExecutor
from rewardsmith.llm import run_llm


class Slow:
    """A designer whose every request takes ``latency`` seconds more."""

    def __init__(self, inner, latency: float):
        self.inner, self.latency = inner, latency
        self.name = inner.name

    def complete(self, *a, **kw):
        time.sleep(self.latency)
        return self.inner.complete(*a, **kw)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def one_pass(root: Path, args, parallel: int) -> tuple[float, list[dict]]:
    os.environ["REWARDSMITH_CACHE"] = str(root / "cache")
    design = {"iterations": args.iterations, "samples": args.samples, "steps": args.steps,
              "seeds": 2, "top_k": 1, "workers": args.workers, "final_seeds": args.final_seeds,
              "schedule": "full"}
    plan = Plan.make([tasks.load(args.task)], ["offline"], args.repeats, design)
    bench = Benchmark.create(root / "bench", plan)
    t0 = time.perf_counter()
    states = run_benchmark(bench, LocalExecutor(args.workers),
                           lambda d, path: Slow(run_llm(d, path, shared_cache=False), args.latency),
                           parallel=parallel)
    wall = time.perf_counter() - t0
    bad = [s for s in states if s.status != "finished"]
    if bad:
        raise SystemExit(f"runs did not finish: {[(s.key.rel, s.status, s.error) for s in bad]}")
    write_table(bench)
    with open(bench.path / "runs.csv") as f:
        rows = [{k: r[k] for k in ("repeat", "best", "score", "baseline", "verdict")}
                for r in csv.DictReader(f)]
    return wall, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="pendulum-balance-v0")
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--latency", type=float, default=20.0)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--iterations", type=int, default=2)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--final-seeds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        seq, seq_rows = one_pass(Path(tmp) / "one", args, 1)
        par, par_rows = one_pass(Path(tmp) / "par", args, args.parallel)
    print(f"{args.repeats} runs of {args.task} ({args.iterations} x {args.samples} at "
          f"{args.steps} steps, closing on {args.final_seeds} seeds), {args.workers} workers, "
          f"designer latency {args.latency:g} s a request")
    print(f"  one after the other: {seq:.0f} s ({seq / args.repeats:.0f} s a run)")
    print(f"  {args.parallel} at once:          {par:.0f} s ({par / args.repeats:.0f} s a run)")
    print(f"  ratio: {par / seq:.2f}x the wall time")
    print(f"  same verdicts: {'yes' if seq_rows == par_rows else 'NO'}")


if __name__ == "__main__":
    main()
