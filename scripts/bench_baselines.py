#!/usr/bin/env python
"""Does each task's hand-written baseline learn visibly in its default budget on this machine?

    python scripts/bench_baselines.py                        # every task, 1 seed, sb3 budgets
    python scripts/bench_baselines.py --task hopper-jump-v0 --seeds 2 --workers 2
    python scripts/bench_baselines.py --task dmc-hopper-hop-v0 --steps 1000000   # another budget

Trains the baseline reward of each task at its default sb3 budget, evaluates the untrained policy
the same way (the floor), and prints one row per task: fitness of the floor and of the baseline,
success rates, the gain (baseline - floor, in the fitness's units) and the wall time. Results go
to the evaluation cache (the same one ``rewardsmith evaluate --compare baseline`` reads), so a
later comparison does not train them again. All jobs of all tasks share one worker pool.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", action="append", help="task id (repeat for several); default: all")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--steps", type=int, help="train this many steps instead of each task's budget")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args(argv)

    from rewardsmith import tasks
    from rewardsmith.contracts import JobSpec
    from rewardsmith.executors.local import run_jobs
    from rewardsmith.loop.evaluate import cached_job, resolve_reward
    from rewardsmith.train import budget_for

    ids = args.task or tasks.names()
    jobs, index = [], []
    for tid in ids:
        t = tasks.load(tid)
        b = budget_for(t, "sb3")
        steps = args.steps or b.steps
        base = resolve_reward(t, "baseline")
        for s in range(args.seeds):
            jobs.append(cached_job(t, "baseline", JobSpec.build(t, base.program, steps,
                                                           b.eval_episodes, s, "sb3",
                                                           label="baseline")))
            index.append((tid, "baseline"))
            jobs.append(cached_job(t, "floor", JobSpec.build(t, None, 0, b.eval_episodes, s, "sb3",
                                                        untrained=True, label="untrained")))
            index.append((tid, "floor"))
    # the longest first, so the pool ends together
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i].spec.steps)
    print(f"{len(ids)} tasks, {args.seeds} seed(s), {args.workers} workers", flush=True)

    def on_event(job, ev):
        if ev.get("type") == "finished":
            tid, kind = index[jobs.index(job)]
            what = f"fitness {ev['fitness']:.4g}" if ev.get("ok") else f"FAILED: {ev.get('error')}"
            print(f"  {tid:28s} {kind:9s} {what}", flush=True)

    t0 = time.perf_counter()
    outcomes = run_jobs([jobs[i] for i in order], args.workers, on_event=on_event)
    wall = time.perf_counter() - t0
    by: dict[tuple[str, str], list] = {}
    for i, o in zip(order, outcomes):
        by.setdefault(index[i], []).append(o)

    rows = []
    for tid in ids:
        t = tasks.load(tid)
        row = {"task": tid, "steps": args.steps or budget_for(t, "sb3").steps}
        for kind in ("floor", "baseline"):
            outs = by[(tid, kind)]
            res = [o.result for o in outs if o.ok]
            row[kind] = float(np.mean([r.fitness for r in res])) if res else None
            succ = [r.success_rate for r in res if r.success_rate is not None]
            row[f"{kind}_success"] = float(np.mean(succ)) if succ else None
            if kind == "baseline":
                row["train_s"] = float(np.mean([r.timings.get("wall_s", 0) for r in res])) if res else None
                row["reused"] = all(o.reused for o in outs)
        rows.append(row)

    def f(x, spec=".4g"):
        return "-" if x is None else format(x, spec)

    head = f"{'task':28s}{'steps':>9s}{'floor':>11s}{'baseline':>11s}{'success':>13s}{'train s':>9s}"
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        succ = (f"{f(r['floor_success'], '.2f')} -> {f(r['baseline_success'], '.2f')}"
                if r["baseline_success"] is not None else "-")
        note = " (cached)" if r.get("reused") else ""
        print(f"{r['task']:28s}{r['steps']:>9,}{f(r['floor']):>11s}{f(r['baseline']):>11s}"
              f"{succ:>13s}{f(r['train_s'], '.0f'):>9s}{note}")
    print(f"\nwall time {wall:.0f} s with {args.workers} workers")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "wall_s": wall}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
