#!/usr/bin/env bash
# The JAX path's GPU figures in one short run (for a machine with an NVIDIA GPU), in under 10
# minutes of wall time:
#   1. ant-forward-v0 on both backends: env steps/s of training side by side, brax on the GPU and
#      sb3 on the CPU (sb3 on fewer steps: steps/s compare anyway), brax's compile time, fitness;
#   2. one design iteration of 8 offline-designed candidates on ant-forward-v0 (brax), timed.
# All figures land in one JSON file, $OUT_DIR/bench_gpu.json (default runs/bench-gpu/), next to
# each stage's own output; a summary is printed at the end.
#
#   scripts/bench_gpu.sh                        # GPU; runs scripts/setup first
#   NO_SETUP=1 PYTHON=python3 scripts/bench_gpu.sh   # a machine without a package index, after
#                                                    # installing the wheelhouse (docs/GPU.md)
#   scripts/bench_gpu.sh --cpu                  # the same stages, small, on a CPU (slow tests)
#
# Sizes (environment variables): TASK (ant-forward-v0; --cpu: pendulum-balance-v0), STEPS (brax
# env steps per run and per candidate, 2,000,000; --cpu: 4,096), SB3_STEPS (20,000; --cpu: 2,048),
# SAMPLES (candidates, 8; --cpu: 2), REWARDSMITH_JOBS_PER_GPU (candidates sharing one GPU, 8),
# BUDGET_S (the whole run's wall-time limit, 570 s; --cpu: 900 s): each stage runs under a
# timeout (sb3 a sixth of the budget, brax two fifths, the design what is left), so the script
# ends in time and the JSON says which stage ran out.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=gpu
if [ "${1:-}" = "--cpu" ]; then MODE=cpu; shift; fi
[ -n "${NO_SETUP:-}" ] || scripts/setup
PY=${PYTHON:-.venv/bin/python}
OUT_DIR=${OUT_DIR:-runs/bench-gpu}
if [ "$MODE" = cpu ]; then
  TASK=${TASK:-pendulum-balance-v0}; STEPS=${STEPS:-4096}; SB3_STEPS=${SB3_STEPS:-2048}
  SAMPLES=${SAMPLES:-2}; BUDGET_S=${BUDGET_S:-900}; EVAL_EPISODES=${EVAL_EPISODES:-2}
  export JAX_PLATFORMS=${JAX_PLATFORMS:-cpu}
else
  TASK=${TASK:-ant-forward-v0}; STEPS=${STEPS:-2000000}; SB3_STEPS=${SB3_STEPS:-20000}
  SAMPLES=${SAMPLES:-8}; BUDGET_S=${BUDGET_S:-570}; EVAL_EPISODES=${EVAL_EPISODES:-5}
fi
export REWARDSMITH_JOBS_PER_GPU=${REWARDSMITH_JOBS_PER_GPU:-8}
rm -rf "$OUT_DIR/design"
mkdir -p "$OUT_DIR"
t_start=$(date +%s)
left() { echo $(( BUDGET_S - ($(date +%s) - t_start) )); }

echo "bench_gpu ($MODE): $TASK, brax $STEPS steps, sb3 $SB3_STEPS steps, $SAMPLES candidates," \
     "budget ${BUDGET_S} s" >&2
"$PY" -m rewardsmith backends --json > "$OUT_DIR/backends_info.json"

# 1. both backends, side by side: sb3 (CPU) then brax (GPU), each under its own limit (a sixth
#    and two fifths of the budget), each writing its figures as it finishes
bench() {  # bench NAME LIMIT_S STEPS
  local rc=0
  timeout --signal=TERM --kill-after=10 "$2" \
    "$PY" scripts/bench_backends.py --task "$TASK" --backends "$1" --steps "$3" \
      --eval-episodes "$EVAL_EPISODES" --json "$OUT_DIR/backend_$1.json" \
      > "$OUT_DIR/bench_$1.txt" 2>&1 || rc=$?
  grep -v cpu_aot_loader "$OUT_DIR/bench_$1.txt" | grep "seed" >&2 || true
  return $rc
}
rm -f "$OUT_DIR"/backend_*.json
t0=$(date +%s)
rc_sb3=0; bench sb3 $(( BUDGET_S / 6 )) "$SB3_STEPS" || rc_sb3=$?
rc_brax=0; bench brax $(( BUDGET_S * 2 / 5 )) "$STEPS" || rc_brax=$?
backends_s=$(( $(date +%s) - t0 ))

# 2. one design iteration of SAMPLES candidates (brax, every candidate its whole budget)
rc_design=0
limit=$(( $(left) - 15 ))
t0=$(date +%s)
if [ "$limit" -gt 30 ]; then
  timeout --signal=INT --kill-after=20 "$limit" \
    "$PY" -m rewardsmith design --task "$TASK" --backend brax --llm offline --iterations 1 \
      --samples "$SAMPLES" --seeds 1 --top-k 1 --no-baseline --schedule full --steps "$STEPS" \
      --run-dir "$OUT_DIR/design" --json > "$OUT_DIR/design.json" 2> "$OUT_DIR/design.log" \
    || rc_design=$?
else
  rc_design=124
fi
design_s=$(( $(date +%s) - t0 ))

# 3. one JSON file with every figure, and a summary
"$PY" - "$OUT_DIR" "$MODE" "$TASK" "$STEPS" "$SB3_STEPS" "$SAMPLES" "$rc_sb3" "$rc_brax" \
  "$backends_s" \
  "$rc_design" "$design_s" "$(( $(date +%s) - t_start ))" "$BUDGET_S" <<'EOF'
import json
import os
import sys
from pathlib import Path

out, mode, task = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
(steps, sb3_steps, samples, rc_sb3, rc_brax, backends_s, rc_d, design_s, wall_s,
 budget_s) = map(int, sys.argv[4:14])
rc = {"sb3": rc_sb3, "brax": rc_brax}


def load(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


keep = ("device", "steps", "wall_s", "compile_s", "train_s", "env_steps_per_s", "fitness",
        "fitness_std")
info = {e["name"]: e for e in load(out / "backends_info.json") or []}
brax_info = info.get("brax", {})
backends = {}
for name in ("brax", "sb3"):
    for r in (load(out / f"backend_{name}.json") or {}).get("results", []):
        backends[r["backend"]] = {k: r.get(k) for k in keep}
ratio = None
if "brax" in backends and "sb3" in backends and backends["sb3"]["env_steps_per_s"]:
    ratio = backends["brax"]["env_steps_per_s"] / backends["sb3"]["env_steps_per_s"]

summary = load(out / "design.json") or {}
cands = []
for p in sorted((out / "design" / "candidates").glob("*/result.json")):
    r = load(p) or {}
    t = r.get("timings") or (r.get("train") or {}).get("timings") or {}
    cands.append({"id": p.parent.name, "fitness": r.get("fitness"),
                  "compile_s": t.get("compile_s"), "env_steps_per_s": t.get("env_steps_per_s"),
                  "wall_s": t.get("wall_s")})


def mean(xs):
    xs = [x for x in xs if isinstance(x, (int, float))]
    return sum(xs) / len(xs) if xs else None


figures = {
    "mode": mode, "task": task, "budget_s": budget_s, "wall_s": wall_s,
    "devices": brax_info.get("devices"), "device_kind": brax_info.get("device_kind"),
    "versions": {**(brax_info.get("versions") or {}), **(info.get("sb3", {}).get("versions") or {})},
    "jax_compat": brax_info.get("jax_compat"),
    "backends": {"steps": {"brax": steps, "sb3": sb3_steps}, "wall_s": backends_s,
                 "exit_codes": rc, "timed_out": [k for k, v in rc.items() if v in (124, 137)],
                 **backends,
                 "brax_over_sb3_env_steps_per_s": ratio},
    "design": {"candidates_asked": samples, "steps_per_candidate": steps,
               "jobs_per_gpu": (int(os.environ.get("REWARDSMITH_JOBS_PER_GPU", 1))
                                if mode == "gpu" else None),
               "wall_s": design_s, "exit_code": rc_d, "timed_out": rc_d in (124, 137),
               "candidates": summary.get("candidates"),
               "best_score": (summary.get("best") or {}).get("score"),
               "mean_compile_s": mean(c["compile_s"] for c in cands),
               "mean_env_steps_per_s": mean(c["env_steps_per_s"] for c in cands),
               "per_candidate": cands},
}
(out / "bench_gpu.json").write_text(json.dumps(figures, indent=2))


def fmt(x, spec=",.0f"):
    return "-" if x is None else format(x, spec)


print(f"\nbench_gpu ({mode}) on {task}: {', '.join(figures['devices'] or ['?'])}")
print(f"{'backend':<8}{'device':<8}{'steps':>11}{'steps/s':>11}{'compile s':>11}{'fitness':>10}")
for name in ("brax", "sb3"):
    r = backends.get(name)
    if r:
        print(f"{name:<8}{r['device'] or '-':<8}{r['steps']:>11,}{fmt(r['env_steps_per_s']):>11}"
              f"{fmt(r['compile_s'], '.1f'):>11}{fmt(r['fitness'], '.4g'):>10}")
    else:
        print(f"{name:<8}(no result: exit code {rc[name]}, see {out}/bench_{name}.txt)")
if ratio:
    print(f"brax / sb3 env steps/s: {ratio:.1f}x")
d = figures["design"]
print(f"design: 1 iteration of {samples} candidates x {steps:,} steps in {design_s} s "
      f"(exit code {rc_d}; candidates {d['candidates']}; mean compile "
      f"{fmt(d['mean_compile_s'], '.1f')} s, mean {fmt(d['mean_env_steps_per_s'])} steps/s)")
print(f"total {wall_s} s of a {budget_s} s budget; figures in {out / 'bench_gpu.json'}")
EOF
[ "$rc_sb3" = 0 ] && [ "$rc_brax" = 0 ] && [ "$rc_design" = 0 ]
