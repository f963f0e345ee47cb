"""Does a reward's agreement on recorded episodes, measured before it trains, predict how well it
trains? And what would ``--screen T`` have cost and saved?

    python scripts/bench_screen.py RUN_DIR [RUN_DIR ...]           # measure recorded design runs
    python scripts/bench_screen.py --make --out /tmp/screen-runs   # make them first (offline designer)
    python scripts/bench_screen.py --make --out DIR --tasks hopper-forward-v0 cheetah-run-v0 --json

``--make`` runs one design run per task (default: four 100k-step locomotion tasks, 3 x 4
candidates, every candidate trained: no --screen, no closing evaluation) into ``--out``, reusing
runs already finished there, then measures them. Every candidate records its agreement before
training (Kendall tau between its return and the task score over the run's recorded episodes)
and, once its iteration trained, after (on episodes that include the iteration's own).

Printed:

- per task, the rank correlation between each trained candidate's agreement before training
  and its trained task score (first seed): within each iteration (Kendall tau, the mean over
  iterations; candidates of one iteration share the episodes they were screened on) and pooled
  over the task's candidates (Spearman); the same for the discounted return's agreement and for
  the agreement after training;
- for thresholds T: the share of trained candidates ``--screen T`` would have skipped (the
  training it saves: every candidate trains the same budget under ``--schedule full``), how often
  it would have skipped the iteration's eventual best (its highest first-seed score), how often
  the run's best, and what a random skip of the same share would lose (the chance of skipping
  the best is then the share itself);
- the order: how often the iteration's best was among the first half to train (by agreement).

The issue's target for a default: skips the eventual best in under 5% of iterations while saving
at least 25% of training. The figures are printed whatever they are.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

TASKS = ["hopper-forward-v0", "cheetah-run-v0", "walker-backward-v0", "hopper-jump-v0"]
THRESHOLDS = [-0.25, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]


def make_runs(tasks: list[str], out: Path, seed: int) -> list[Path]:
    """One design run per task (every candidate trained), reusing finished ones."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for task in tasks:
        path = out / task
        manifest = path / "manifest.json"
        if manifest.exists() and json.loads(manifest.read_text()).get("status") == "finished":
            print(f"{task}: reusing {path}", file=sys.stderr)
        else:
            args = ["design", "--task", task, "--llm", "offline", "--final-seeds", "0",
                    "--seed", str(seed), "--json"]
            args += ["--resume", str(path)] if manifest.exists() else ["--run-dir", str(path)]
            t0 = time.perf_counter()
            p = subprocess.run([sys.executable, "-m", "rewardsmith.cli.main", *args],
                               capture_output=True, text=True, env=os.environ.copy())
            if p.returncode != 0:
                raise SystemExit(f"the design run on {task} failed:\n{p.stderr[-3000:]}")
            print(f"{task}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        paths.append(path)
    return paths


def load(path: Path) -> dict:
    """A run's trained candidates: iteration, id, agreement before and after, first-seed score."""
    from rewardsmith.runs.rundir import RunDir

    run = RunDir.open(path)
    rows = []
    for c in run.candidate_records():
        if c.status not in ("ok", "stopped") or c.fitness is None:
            continue
        before = c.screening or {}
        after = c.screening_after or {}
        rows.append({"id": c.id, "iteration": c.iteration, "fitness": c.fitness,
                     "tau": before.get("tau"), "tau_discounted": before.get("tau_discounted"),
                     "tau_after": after.get("tau"), "episodes": before.get("episodes", 0)})
    best = run.best()
    return {"task": run.manifest.get("task"), "path": str(path), "rows": rows,
            "best": best.get("candidate") if best else None}


def correlations(rows: list[dict], key: str) -> dict:
    """Within-iteration Kendall tau (mean over iterations with 3+ measured candidates) and the
    pooled Spearman rho between ``key`` and the trained score."""
    within = []
    for it in sorted({r["iteration"] for r in rows}):
        group = [r for r in rows if r["iteration"] == it and r[key] is not None]
        if len(group) >= 3 and np.ptp([r[key] for r in group]) > 0:
            t = stats.kendalltau([r[key] for r in group], [r["fitness"] for r in group]).statistic
            if np.isfinite(t):
                within.append(float(t))
    pooled = [r for r in rows if r[key] is not None]
    x, y = [r[key] for r in pooled], [r["fitness"] for r in pooled]
    rho = (float(stats.spearmanr(x, y).statistic)
           if len(pooled) >= 4 and np.ptp(x) > 0 and np.ptp(y) > 0 else None)
    return {"within": float(np.mean(within)) if within else None, "iterations": len(within),
            "pooled": rho, "n": len(pooled)}


def thresholds(runs: list[dict]) -> list[dict]:
    out = []
    for t in THRESHOLDS:
        skipped = total = best_skipped = iterations = run_best_skipped = 0
        for run in runs:
            rows = run["rows"]
            total += len(rows)
            skipped += sum(r["tau"] is not None and r["tau"] < t for r in rows)
            for it in sorted({r["iteration"] for r in rows}):
                group = [r for r in rows if r["iteration"] == it]
                best = max(group, key=lambda r: r["fitness"])
                iterations += 1
                best_skipped += best["tau"] is not None and best["tau"] < t
            mine = [r for r in rows if r["id"] == run["best"]]
            run_best_skipped += bool(mine) and mine[0]["tau"] is not None and mine[0]["tau"] < t
        out.append({"threshold": t, "saved": skipped / total if total else 0.0,
                    "best_skipped": best_skipped / iterations if iterations else 0.0,
                    "iterations": iterations, "run_best_skipped": run_best_skipped,
                    "runs": len(runs)})
    return out


def order(runs: list[dict]) -> dict:
    """How often the iteration's best trained in the first half by agreement (ties: by id)."""
    first = n = 0
    for run in runs:
        rows = run["rows"]
        for it in sorted({r["iteration"] for r in rows}):
            group = [r for r in rows if r["iteration"] == it]
            if len(group) < 2:
                continue
            ranked = sorted(group, key=lambda r: (r["tau"] is None, -(r["tau"] or 0.0), r["id"]))
            best = max(group, key=lambda r: r["fitness"])
            first += ranked.index(best) < len(group) / 2
            n += 1
    return {"first_half": first, "iterations": n}


def fmt(x) -> str:
    return "-" if x is None else f"{x:+.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", type=Path, help="recorded design run folders")
    ap.add_argument("--make", action="store_true", help="make one design run per task first")
    ap.add_argument("--out", type=Path, default=Path("runs/bench-screen"))
    ap.add_argument("--tasks", nargs="+", default=TASKS)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    a = ap.parse_args()
    paths = list(a.runs) + (make_runs(a.tasks, a.out, a.seed) if a.make else [])
    if not paths:
        ap.error("give recorded run folders, or --make --out DIR")
    runs = [load(p) for p in paths]
    n = sum(len(r["rows"]) for r in runs)
    print(f"{len(runs)} runs, {n} trained candidates\n")
    print(f"{'task':28} {'cands':>5}  {'before: within / pooled':>24}  {'discounted':>15}  "
          f"{'after training':>15}")
    per_task = {}
    everyone = [r for run in runs for r in run["rows"]]
    for run in runs:
        cs = {k: correlations(run["rows"], k) for k in ("tau", "tau_discounted", "tau_after")}
        per_task[run["task"]] = cs
        print(f"{run['task']:28} {len(run['rows']):>5}  "
              f"{fmt(cs['tau']['within']):>11} / {fmt(cs['tau']['pooled']):>10}  "
              f"{fmt(cs['tau_discounted']['within']):>6} / {fmt(cs['tau_discounted']['pooled']):>6}  "
              f"{fmt(cs['tau_after']['within']):>6} / {fmt(cs['tau_after']['pooled']):>6}")
    # over every run: the mean of the within-iteration taus (scores of different tasks are not
    # comparable, so nothing is pooled across tasks)
    overall = {}
    for k in ("tau", "tau_discounted", "tau_after"):
        ws = []
        for run in runs:
            for it in sorted({r["iteration"] for r in run["rows"]}):
                c = correlations([r for r in run["rows"] if r["iteration"] == it], k)["within"]
                if c is not None:
                    ws.append(c)
        overall[k] = {"within": float(np.mean(ws)) if ws else None, "iterations": len(ws)}
    print(f"{'all (within-iteration mean)':28} {len(everyone):>5}  "
          f"{fmt(overall['tau']['within']):>11} ({overall['tau']['iterations']} it.)   "
          f"{fmt(overall['tau_discounted']['within']):>6}          "
          f"{fmt(overall['tau_after']['within']):>6}")
    print("\nwith --screen T (every candidate trains the same budget, so the share skipped is "
          "the training saved;\na random skip of the same share skips the iteration's best with "
          "that same chance):")
    print(f"{'T':>6} {'training saved':>15} {'iteration best skipped':>23} {'run best skipped':>17}")
    th = thresholds(runs)
    for t in th:
        print(f"{t['threshold']:>+6.2f} {t['saved']:>15.0%} "
              f"{t['best_skipped']:>15.0%} of {t['iterations']:<4} "
              f"{t['run_best_skipped']:>9} of {t['runs']}")
    o = order(runs)
    print(f"\norder: the iteration's best trained in the first half (by agreement) in "
          f"{o['first_half']} of {o['iterations']} iterations (a coin flip: half)")
    ok = [t for t in th if t["best_skipped"] < 0.05 and t["saved"] >= 0.25]
    print("target (best skipped < 5%, saved >= 25%): "
          + ("met at T = " + ", ".join(f"{t['threshold']:+.2f}" for t in ok) if ok
             else "not met at any threshold measured"))
    if a.json:
        print(json.dumps({"runs": [{k: r[k] for k in ("task", "path", "best")} for r in runs],
                          "candidates": n, "per_task": per_task, "overall": overall,
                          "thresholds": th, "order": o}, indent=1))


if __name__ == "__main__":
    main()
