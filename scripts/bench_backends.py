#!/usr/bin/env python
"""The same task, reward program and budget on the sb3 and brax backends, side by side.

    python scripts/bench_backends.py --task pendulum-balance-v0 --steps 20000
    python scripts/bench_backends.py --task ant-forward-v0 --steps 5000000 --backends brax \
        --brax num_envs=4096 --json bench.json

Prints, per backend: the device, env steps trained, wall time, compile time (brax: tracing and
XLA compilation, measured apart), training time, env steps per second of training, and the
fitness reached (mean and std over the evaluation episodes and seeds). Fitness is the task's own
numpy fitness over evaluation episodes on both backends, so the numbers compare.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _overrides(pairs: list[str]) -> dict:
    out = {}
    for p in pairs:
        if "=" not in p:
            raise SystemExit(f"--sb3/--brax take key=value, got {p!r}")
        k, v = p.split("=", 1)
        out[k.strip()] = _value(v.strip())
    return out


def run_backend(name: str, task, program, budget, seeds: list[int], overrides: dict,
                floor: bool) -> dict:
    from rewardsmith.train import load

    backend = load(name)
    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        r = backend.train(task, program, budget, seed, overrides=overrides or None)
        wall = time.perf_counter() - t0
        t = r.timings
        rows.append({
            "seed": seed, "steps": r.steps, "wall_s": wall,
            "compile_s": float(t.get("compile_s", 0.0)),
            "train_s": float(t.get("train_s", wall)),
            "env_steps_per_s": float(t.get("env_steps_per_s", r.steps / wall)),
            "fitness": r.fitness, "eval_fitness": r.eval_fitness,
            "success_rate": r.success_rate,
            "device": r.runtime.get("device", "cpu"),
        })
        print(f"  {name} seed {seed}: fitness {r.fitness:.4g} in {wall:.0f} s "
              f"(compile {rows[-1]['compile_s']:.0f} s, {rows[-1]['env_steps_per_s']:,.0f} steps/s)",
              flush=True)
    out = {"backend": name, "runs": rows}
    if floor:
        f = backend.evaluate_untrained(task, budget, seeds[0])
        out["floor_fitness"] = f.fitness
    fits = [x for r in rows for x in r["eval_fitness"]]
    out.update({
        "device": rows[0]["device"], "steps": int(np.mean([r["steps"] for r in rows])),
        "wall_s": float(np.mean([r["wall_s"] for r in rows])),
        "compile_s": float(np.mean([r["compile_s"] for r in rows])),
        "train_s": float(np.mean([r["train_s"] for r in rows])),
        "env_steps_per_s": float(np.mean([r["env_steps_per_s"] for r in rows])),
        "fitness": float(np.mean(fits)), "fitness_std": float(np.std(fits)),
    })
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="pendulum-balance-v0")
    ap.add_argument("--reward", help="reward program file (default: the task's baseline)")
    ap.add_argument("--steps", type=int, help="env steps (default: the task's sb3 budget)")
    ap.add_argument("--sb3-steps", type=int,
                    help="env steps for sb3 only (a GPU run of millions of brax steps would take "
                         "sb3 hours; steps/s compare anyway)")
    ap.add_argument("--eval-episodes", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--backends", default="sb3,brax")
    ap.add_argument("--sb3", nargs="*", default=[], metavar="KEY=VALUE", help="sb3 settings")
    ap.add_argument("--brax", nargs="*", default=[], metavar="KEY=VALUE", help="brax settings")
    ap.add_argument("--floor", action="store_true", help="also evaluate the untrained policy")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args(argv)

    from rewardsmith import tasks
    from rewardsmith.contracts import Budget
    from rewardsmith.reward.program import RewardProgram
    from rewardsmith.train.sb3 import baseline_program

    task = tasks.load(args.task)
    program = RewardProgram.from_file(args.reward) if args.reward else baseline_program(task)
    steps = args.steps or task.budget("sb3").steps
    budget = Budget(steps=steps, eval_episodes=args.eval_episodes)
    seeds = list(range(args.seeds))
    label = args.reward or ("baseline" if program is not None else "env reward")
    print(f"{task.id}: {steps:,} steps, reward {label}, seeds {seeds}", flush=True)

    results = []
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        over = _overrides(args.sb3 if name == "sb3" else args.brax)
        b = budget
        if name == "sb3" and args.sb3_steps:
            b = Budget(steps=args.sb3_steps, eval_episodes=args.eval_episodes)
        results.append(run_backend(name, task, program, b, seeds, over, args.floor))

    head = (f"{'backend':<8}{'device':<8}{'steps':>10}{'wall s':>9}{'compile s':>11}"
            f"{'train s':>9}{'steps/s':>10}{'fitness':>16}" + (f"{'untrained':>11}" if args.floor else ""))
    print("\n" + head + "\n" + "-" * len(head))
    for r in results:
        line = (f"{r['backend']:<8}{r['device']:<8}{r['steps']:>10,}{r['wall_s']:>9.1f}"
                f"{r['compile_s']:>11.1f}{r['train_s']:>9.1f}{r['env_steps_per_s']:>10,.0f}"
                f"{r['fitness']:>10.4g} ± {r['fitness_std']:<4.2g}")
        if args.floor:
            line += f"{r.get('floor_fitness', float('nan')):>11.3g}"
        print(line)
    by = {r["backend"]: r for r in results}
    if "sb3" in by and "brax" in by:
        s, b = by["sb3"], by["brax"]
        wall = (f"{b['wall_s'] / s['wall_s']:.2f}x wall time" if b["steps"] == s["steps"] else
                f"wall time per env step {b['wall_s'] / b['steps'] * 1e6:.0f} vs "
                f"{s['wall_s'] / s['steps'] * 1e6:.0f} µs")
        print(f"\nbrax / sb3: {b['env_steps_per_s'] / s['env_steps_per_s']:.1f}x env steps/s in "
              f"training; {wall} (brax compile {b['compile_s']:.0f} s of {b['wall_s']:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps({"task": task.id, "steps": steps, "reward": label,
                                               "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
