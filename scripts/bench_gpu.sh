#!/usr/bin/env bash
# The JAX path's GPU figures in one short run (for a machine with an NVIDIA GPU):
#   1. ant-forward-v0 on both backends: env steps/s of training side by side (sb3 on fewer steps:
#      steps/s compare anyway), compile time, fitness;
#   2. one design iteration of 8 offline-designed candidates on ant-forward-v0, timed.
# STEPS (brax env steps per candidate, default 2,000,000), SB3_STEPS (default 20,000) and
# REWARDSMITH_JOBS_PER_GPU (candidates sharing one GPU, default 4) change the sizes.
# Everything lands in runs/bench-gpu/. NO_SETUP=1 PYTHON=python3 uses an interpreter that already
# has rewardsmith's dependencies (a machine without a package index).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${NO_SETUP:-}" ] || scripts/setup
PY=${PYTHON:-.venv/bin/python}
out=runs/bench-gpu
mkdir -p "$out"
STEPS=${STEPS:-2000000}
SB3_STEPS=${SB3_STEPS:-20000}
export REWARDSMITH_JOBS_PER_GPU=${REWARDSMITH_JOBS_PER_GPU:-4}
"$PY" -m rewardsmith backends | tee "$out/backends.txt"
"$PY" scripts/bench_backends.py --task ant-forward-v0 --steps "$STEPS" \
    --sb3-steps "$SB3_STEPS" --json "$out/backends.json" 2>&1 | grep -v cpu_aot_loader \
    | tee "$out/bench_backends.txt"
start=$(date +%s)
"$PY" -m rewardsmith design --task ant-forward-v0 --backend brax --llm offline --iterations 1 \
    --samples 8 --seeds 1 --top-k 1 --no-baseline --steps "$STEPS" --run-dir "$out/design" \
    --json > "$out/design.json" 2> "$out/design.log"
echo "design: 1 iteration of 8 candidates x $STEPS steps on ant-forward-v0 in $(( $(date +%s) - start )) s" \
    | tee "$out/design.txt"
