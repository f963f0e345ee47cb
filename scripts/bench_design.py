"""Whole design runs with every candidate trained in full (--schedule full) and with successive
halving (the default), side by side on this machine: wall time and the best reward's score.

    python scripts/bench_design.py                                  # hopper and cheetah, 3 repetitions
    python scripts/bench_design.py --tasks hopper-forward-v0 --reps 1 --steps 40000   # shorter

Each repetition runs both schedules one after the other with the offline designer and the same
settings (3 iterations x 4 samples, top-2 on a second seed by default). The hand-written
baseline and the untrained floor are trained once beforehand and cached, so neither schedule
pays for them. The best reward of every run is then scored the way users compare rewards:
`rewardsmith evaluate --compare baseline` over --score-seeds seeds, as a normalized score
(1.0 = the hand-written reward, 0.0 = the untrained policy). Target: halving's wall time <= 40%
of full's, with a score no worse beyond the spread over seeds.
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
    args = ap.parse_args()

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
            for schedule in ("full", "halving"):
                run = root / f"{task}-{schedule}-{rep}"
                t0 = time.perf_counter()
                s = cli("design", "--task", task, "--llm", "offline", "--schedule", schedule,
                        "--iterations", str(args.iterations), "--samples", str(args.samples),
                        "--seed", str(rep), "--workers", str(args.workers), *steps,
                        "--run-dir", str(run), env=env)
                wall = time.perf_counter() - t0
                score = raw = None
                if s.get("best"):
                    e = cli("evaluate", "--task", task, "--reward", s["best"]["reward_path"],
                            "--seeds", str(args.score_seeds), "--compare", "baseline", *steps,
                            "--workers", str(args.workers), "--run-dir", str(run / "evaluations" / "bench"),
                            env=env)
                    score = e["compare"]["normalized_score"]["mean"]  # None when undefined
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
        for schedule in ("full", "halving"):
            r = rows[(task, schedule)]
            walls[schedule] = statistics.mean([x for x, _, _ in r])
            sc = mean_sd([y for _, y, _ in r if y is not None])
            raw = mean_sd([z for _, _, z in r if z is not None])
            print(f"{task:<22} {schedule:>8} {walls[schedule]:>14.1f} {sc:>20} {raw:>22}")
        print(f"{task:<22} halving wall time = {walls['halving'] / walls['full']:.0%} of full's (target <= 40%)")
    tmp.cleanup()


if __name__ == "__main__":
    main()
