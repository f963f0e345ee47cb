"""Whole design runs, side by side on this machine: wall time and the best reward's score for

- earlier: every candidate trains its whole budget and the top 2 of every iteration are then
  re-evaluated on a second seed (``--schedule full --reevaluate top-k``: the behaviour before
  challenger re-evaluation);
- default: today's defaults (``--schedule full --reevaluate challengers``: once there is a best,
  only candidates that beat it on their first seed get the second seed, queued as they finish);
- halving: successive halving (``--schedule halving``): weak candidates stop at a quarter and at
  half of their budget.

    python scripts/bench_design.py                                  # hopper and cheetah, 3 repetitions
    python scripts/bench_design.py --tasks hopper-forward-v0 --reps 1 --steps 40000   # shorter
    python scripts/bench_design.py --main-job --reps 3              # the README's main job, as a new user runs it

``--main-job`` runs `scripts/run-design`'s job (hopper-forward-v0 at its own budget, every
default, the closing evaluation included) --reps times, each with its own base seed and an empty
cache (as on a fresh clone: the hand-written reward and the untrained policy are trained inside
the run), and prints each run's wall time and verdict, then their spread.

Each repetition runs every configuration one after the other with the offline designer and
the same settings (3 iterations x 4 samples, --top-k 2, 2 seeds) and its own base seed. The
hand-written baseline and the untrained floor are trained once beforehand and cached, so no
run pays for them. The best reward of every run is then scored the way users compare rewards:
`rewardsmith evaluate --compare baseline` over --score-seeds seeds, as a normalized score
(1.0 = the hand-written reward, 0.0 = the untrained policy). Target: a wall time <= 40% of the
earlier way's, with a score no worse beyond the spread over seeds.

The end of the output measures what successive halving bets on: in the runs that trained every
candidate in full, how often the iteration's eventual best (by its final first-seed fitness)
was in the better half by its training-curve fitness at a quarter and at half of the budget
(a coin flip keeps it half the time with 4 candidates).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# name -> the design options that make it
CONFIGS = {
    "earlier": ["--schedule", "full", "--reevaluate", "top-k"],
    "default": [],
    "halving": ["--schedule", "halving"],
}


def cli(*args: str, env: dict[str, str]) -> dict:
    p = subprocess.run([sys.executable, "-m", "rewardsmith.cli.main", *args, "--json"],
                       capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise SystemExit(f"rewardsmith {' '.join(args)} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout[p.stdout.index("{"): p.stdout.rindex("}") + 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=["hopper-forward-v0", "cheetah-run-v0"])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=None, help="env steps per candidate (default: the task's budget)")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--score-seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--out", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    ap.add_argument("--main-job", action="store_true", help="the main job, as a new user runs it (see above)")
    args = ap.parse_args()
    if args.main_job:
        return main_job(args)

    tmp = tempfile.TemporaryDirectory()
    root = args.out or Path(tmp.name)
    env = {**os.environ, "REWARDSMITH_CACHE": str(root / "cache")}
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENAI_BASE_URL", None)
    steps = ["--steps", str(args.steps)] if args.steps else []
    rows: dict[tuple[str, str], list[tuple[float, float | None]]] = {}
    for task in args.tasks:
        # baseline and floor once, cached for every run and every scoring below
        cli("evaluate", "--task", task, "--reward", "baseline", "--seeds", str(args.score_seeds),
            "--compare", "baseline", *steps, "--workers", str(args.workers),
            "--run-dir", str(root / f"{task}-baseline"), env=env)
        for rep in range(args.reps):
            for schedule in CONFIGS:
                run = root / f"{task}-{schedule}-{rep}"
                t0 = time.perf_counter()
                s = cli("design", "--task", task, "--llm", "offline", *CONFIGS[schedule],
                        "--iterations", str(args.iterations), "--samples", str(args.samples),
                        "--top-k", "2", "--seeds", "2",
                        "--seed", str(rep), "--workers", str(args.workers), *steps,
                        "--run-dir", str(run), env=env)
                wall = time.perf_counter() - t0
                score = raw = None
                if s.get("best"):
                    e = cli("evaluate", "--task", task, "--reward", s["best"]["reward_path"],
                            "--seeds", str(args.score_seeds), "--compare", "baseline", *steps,
                            "--workers", str(args.workers), "--run-dir", str(run / "evaluations" / "bench"),
                            env=env)
                    score = e["compare"]["verdict"]["normalized"]["value"]  # None when undefined
                    raw = e["fitness"]["mean"]
                rows.setdefault((task, schedule), []).append((wall, score, raw))
                print(f"{task} {schedule:>7} rep {rep}: {wall:7.1f} s, best {s['best']['id'] if s.get('best') else '-'}, "
                      f"normalized score {score if score is None else round(score, 3)}, "
                      f"fitness {raw if raw is None else round(raw, 3)}, "
                      f"candidates {s['candidates']}, stopped early: {s.get('stopped_early')}", flush=True)

    def mean_sd(xs: list[float]) -> str:
        if not xs:
            return "-"
        return f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs) if len(xs) > 1 else 0.0:.3f}"

    # the normalized score is undefined where the baseline does not beat the untrained policy
    # beyond noise at this budget: the best reward's raw fitness (3 seeds) is printed beside it
    print(f"\n{'task':<22} {'schedule':>8} {'wall s (mean)':>14} {'normalized score':>20} "
          f"{'fitness (mean ± sd)':>22}")
    for task in args.tasks:
        walls = {}
        for schedule in CONFIGS:
            r = rows[(task, schedule)]
            walls[schedule] = statistics.mean([x for x, _, _ in r])
            sc = mean_sd([y for _, y, _ in r if y is not None])
            raw = mean_sd([z for _, _, z in r if z is not None])
            print(f"{task:<22} {schedule:>8} {walls[schedule]:>14.1f} {sc:>20} {raw:>22}")
        for schedule in ("default", "halving"):
            print(f"{task:<22} {schedule} wall time = {walls[schedule] / walls['earlier']:.0%} of "
                  "the earlier way's (target <= 40%)")
    print()
    for task in args.tasks:
        runs = [root / f"{task}-{c}-{rep}" for c in ("earlier", "default") for rep in range(args.reps)]
        kept, groups = rung_predictivity(runs)
        if groups:
            print(f"{task:<22} the eventual best was in the better half of its iteration at "
                  + ", ".join(f"{f:.0%} of the budget in {kept[f]} of {groups}" for f in sorted(kept))
                  + " iterations (training-curve fitness; chance: half)")
    tmp.cleanup()


def main_job(args) -> None:
    """The main job --reps times, each from an empty cache: wall time and the closing verdict."""
    tmp = tempfile.TemporaryDirectory()
    root = args.out or Path(tmp.name)
    task = "hopper-forward-v0" if args.tasks == ["hopper-forward-v0", "cheetah-run-v0"] else args.tasks[0]
    extra = ["--steps", str(args.steps)] if args.steps else []
    runs = []
    for rep in range(args.reps):
        env = {**os.environ, "REWARDSMITH_CACHE": str(root / f"cache-{rep}")}
        env.pop("OPENAI_API_KEY", None)
        env.pop("OPENAI_BASE_URL", None)
        t0 = time.perf_counter()
        s = cli("design", "--task", task, "--llm", "offline", "--seed", str(rep), *extra,
                "--workers", str(args.workers), "--run-dir", str(root / f"main-{rep}"), env=env)
        wall = time.perf_counter() - t0
        v = (s.get("best") or {}).get("verdict") or {}
        vs = v.get("versus_baseline") or {}
        runs.append({"wall": wall, "best": (s.get("best") or {}).get("id"),
                     "score": (v.get("reward") or {}).get("mean"),
                     "baseline": (v.get("baseline") or {}).get("mean"),
                     "floor": (v.get("floor") or {}).get("mean"),
                     "normalized": (v.get("normalized") or {}).get("value"),
                     "difference": vs.get("difference"), "wins": vs.get("wins"), "n": vs.get("n"),
                     "better": vs.get("direction") == "better", "line": v.get("line"),
                     "warnings": v.get("warnings") or []})
        r = runs[-1]
        print(f"{task} run {rep}: {wall / 60:.1f} min, best {r['best']}: {r['score']} against "
              f"hand-written {r['baseline']} and untrained {r['floor']}; normalized score "
              f"{r['normalized']}\n  verdict: {r['line']}", flush=True)
        for w in r["warnings"]:
            print(f"  warning: {w}")

    def spread(key: str) -> str:
        xs = [r[key] for r in runs if r[key] is not None]
        if not xs:
            return "-"
        sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
        return f"{statistics.mean(xs):.3g} ± {sd:.2g} (min {min(xs):.3g}, max {max(xs):.3g})"

    print(f"\n{task}, {len(runs)} runs of the main job (mean ± sd over runs):")
    print(f"  wall time, closing evaluation included: {spread('wall')} s")
    print(f"  the best's score over the closing seeds: {spread('score')}")
    print(f"  the hand-written reward's: {spread('baseline')}; the untrained policy's: {spread('floor')}")
    print(f"  the best minus the hand-written reward, paired by seed: {spread('difference')}")
    print(f"  normalized score: {spread('normalized')}")
    print(f"  better than the hand-written reward beyond noise in {sum(r['better'] for r in runs)} "
          f"of {len(runs)} runs")
    screening_predictivity([root / f"main-{rep}" for rep in range(len(runs))])
    tmp.cleanup()


def screening_predictivity(runs: list[Path]) -> None:
    """How well each candidate's agreement before training (its Kendall tau on the run's
    recorded episodes) foretold its trained score: the rank correlation within each iteration,
    and how often the iteration's best trained candidate had the highest agreement."""
    from scipy import stats

    taus, tops, groups = [], 0, 0
    for run in runs:
        by_it: dict[int, list[tuple[float, float]]] = {}
        for f in sorted(run.glob("candidates/*/result.json")):
            c = json.loads(f.read_text())
            tau = (c.get("screening") or {}).get("tau")
            if c.get("status") == "ok" and tau is not None and c.get("fitness") is not None:
                by_it.setdefault(c["iteration"], []).append((tau, c["fitness"]))
        for cands in by_it.values():
            if len(cands) < 3:
                continue
            a, f = zip(*cands)
            t = stats.kendalltau(a, f).statistic
            if t == t:  # not NaN (agreement all equal)
                taus.append(float(t))
            groups += 1
            tops += max(range(len(cands)), key=lambda i: f[i]) == max(range(len(cands)), key=lambda i: a[i])
    if groups:
        mean = f"{statistics.mean(taus):+.2f}" if taus else "undefined (equal agreements)"
        print(f"  screening: agreement before training vs trained score, Kendall tau within an "
              f"iteration {mean} over {len(taus)} iterations; the best trained candidate had the "
              f"highest agreement in {tops} of {groups}")


def rung_predictivity(runs: list[Path]) -> tuple[dict[float, int], int]:
    """How often each iteration's best (final first-seed fitness) ranks in the better half by
    its training-curve fitness at 25% and 50% of the budget, over the iterations of ``runs``."""
    kept = {0.25: 0, 0.5: 0}
    groups = 0
    for run in runs:
        by_it: dict[int, list[tuple[list, float]]] = {}
        for f in sorted(run.glob("candidates/*/result.json")):
            c = json.loads(f.read_text())
            curve = (c.get("train") or {}).get("curve") or []
            fit = c.get("fitness")  # its first seed
            if c.get("status") == "ok" and curve and fit is not None:
                by_it.setdefault(c["iteration"], []).append((curve, fit))
        for cands in by_it.values():
            if len(cands) < 3:
                continue
            groups += 1
            best = max(range(len(cands)), key=lambda i: cands[i][1])
            for frac in kept:
                def at(curve, frac=frac):
                    pts = [p for p in curve if p["step"] <= frac * curve[-1]["step"] + 1
                           and p.get("fitness") is not None]
                    return pts[-1]["fitness"] if pts else float("-inf")
                order = sorted(range(len(cands)), key=lambda i: -at(cands[i][0]))
                kept[frac] += best in order[: len(cands) // 2]
    return kept, groups


if __name__ == "__main__":
    main()
