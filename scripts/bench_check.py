"""How long ``rewardsmith check`` takes for an accepted program (target: under 2 s).

    python scripts/bench_check.py [--task hopper-forward-v0] [--runs 5] [--json out.json]

cold: a fresh Python process runs one check (imports, cached transitions, the jailed dry run),
      as the ``check`` command does; ``--fresh-cache`` also records the transitions first.
warm: checks in one process, as the design loop makes them (mean, min and max over --runs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

PROGRAM = '''
def upright(zaxis, temperature=0.3):
    return np.exp(-(1.0 - zaxis[:, 2]) / temperature)


def compute_reward(state, action, next_state):
    forward = (next_state.rootx_pos - state.rootx_pos) / next_state.dt
    up = upright(next_state.torso_zaxis)
    alive = np.where(next_state.rootz_pos > 0.7, 1.0, 0.0)
    ctrl = -1e-3 * np.sum(np.square(action), axis=-1)
    return forward + 0.5 * up + alive + ctrl, {"forward": forward, "upright": up,
                                               "alive": alive, "ctrl": ctrl}
'''

COLD = '''
import sys, time
t0 = time.perf_counter()
from rewardsmith import tasks
from rewardsmith.sandbox.dryrun import check_program
r = check_program(sys.argv[1], tasks.load(sys.argv[2]))
assert r.accepted, r.problems
print(time.perf_counter() - t0)
'''


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="hopper-forward-v0")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--fresh-cache", action="store_true",
                    help="record the transitions anew (cold start of a new task)")
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args(argv)

    from rewardsmith import tasks
    from rewardsmith.sandbox import jail
    from rewardsmith.sandbox.dryrun import check_program, record_transitions

    task = tasks.load(args.task)
    iso = jail.isolation()
    print(f"jail: {iso.mode} ({iso.detail})")
    t0 = time.perf_counter()
    record_transitions(task, refresh=args.fresh_cache)
    record_s = time.perf_counter() - t0
    print(f"transitions ({'recorded' if args.fresh_cache else 'cached or recorded'}): "
          f"{record_s:.3f} s")

    cold = []
    for _ in range(args.runs):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", COLD, PROGRAM, args.task],
                             capture_output=True, text=True, cwd=tempfile.gettempdir())
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return 1
        cold.append((time.perf_counter() - t, float(out.stdout.strip().splitlines()[-1])))

    warm, parts = [], []
    check_program(PROGRAM, task)  # first call in this process
    for _ in range(args.runs):
        t = time.perf_counter()
        r = check_program(PROGRAM, task)
        warm.append(time.perf_counter() - t)
        parts.append(r.timings)
        assert r.accepted, r.problems

    def line(name, xs):
        return (f"{name:<34} mean {statistics.mean(xs):.3f} s   min {min(xs):.3f} s   "
                f"max {max(xs):.3f} s")

    print(line("cold: process incl. interpreter", [c[0] for c in cold]))
    print(line("cold: imports + check", [c[1] for c in cold]))
    print(line("warm: check_program", warm))
    keys = ("static_s", "transitions_s", "dry_run_s", "worker_load_s", "worker_calls_s")
    print("warm breakdown (mean): " + ", ".join(
        f"{k} {statistics.mean(p.get(k, 0.0) for p in parts):.4f}" for k in keys))
    ok = statistics.mean(c[0] for c in cold) < 2.0 and statistics.mean(warm) < 2.0
    print("target < 2 s: " + ("met" if ok else "NOT met"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"jail": iso.mode, "record_s": record_s,
                       "cold_process_s": [c[0] for c in cold], "cold_check_s": [c[1] for c in cold],
                       "warm_s": warm}, f, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
