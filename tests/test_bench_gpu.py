"""scripts/bench_gpu.sh --cpu: the GPU benchmark's stages, small, on a CPU (slow: XLA compiles
each brax program for minutes on 2 cores). Both backends' env steps/s, brax's compile time and
one design iteration's wall time land in one JSON file."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.mark.timeout(1200)
def test_cpu_mode_writes_every_figure_to_one_json(tmp_path):
    if importlib.util.find_spec("brax") is None:
        pytest.skip("the jax extra is not installed")
    out = tmp_path / "bench"
    env = {**os.environ, "NO_SETUP": "1", "PYTHON": sys.executable, "OUT_DIR": str(out),
           "BUDGET_S": "1100"}
    r = subprocess.run(["bash", str(ROOT / "scripts" / "bench_gpu.sh"), "--cpu"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=1180)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    figures = json.loads((out / "bench_gpu.json").read_text())
    assert figures["mode"] == "cpu" and figures["device_kind"] == "cpu"
    assert figures["wall_s"] <= figures["budget_s"]
    b = figures["backends"]
    assert b["exit_codes"] == {"sb3": 0, "brax": 0} and b["timed_out"] == []
    for name in ("brax", "sb3"):
        assert b[name]["env_steps_per_s"] > 0 and b[name]["steps"] > 0
    assert b["brax"]["compile_s"] > 0 and b["brax_over_sb3_env_steps_per_s"] > 0
    d = figures["design"]
    assert d["exit_code"] == 0 and d["wall_s"] > 0 and d["candidates_asked"] == 2
    assert d["candidates"]["ok"] >= 1 and d["per_candidate"]
    assert "steps/s" in r.stdout and "design: 1 iteration of 2 candidates" in r.stdout
