"""The design loop through --executor ray, on a local Ray started by the command: a 2x2 run
finishes with its results in the run directory; killed with SIGKILL and resumed, it redoes no
finished job and resends no LLM request, and keeps the executor it was started with."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from rewardsmith.runs.files import read_jsonl

pytest.importorskip("ray", reason="Ray is not installed (pip install 'rewardsmith[ray]')")
pytestmark = pytest.mark.slow

ARGS = ["--task", "pendulum-balance-v0", "--llm", "offline", "--steps", "2048", "--seeds", "1",
        "--no-baseline", "--schedule", "full", "--executor", "ray", "--workers", "1"]


def _env(tmp_path):
    e = dict(os.environ, REWARDSMITH_CACHE=str(tmp_path / "cache"), RAY_DISABLE_USAGE_STATS="1")
    e.pop("OPENAI_API_KEY", None)
    e.pop("OPENAI_BASE_URL", None)
    e.pop("RAY_ADDRESS", None)
    return e


def test_design_through_ray_killed_and_resumed(tmp_path):
    run_dir, env = tmp_path / "run", _env(tmp_path)
    cmd = [sys.executable, "-m", "rewardsmith", "design", *ARGS, "--iterations", "2",
           "--samples", "2", "--run-dir", str(run_dir)]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (run_dir / "candidates" / "0-0" / "DONE").exists():
        if proc.poll() is not None or time.time() > deadline:
            pytest.fail("the run ended (or stalled) before its first candidate finished")
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = read_jsonl(run_dir / "events.jsonl")
    done_before = {e["id"] for e in before if e["event"] == "candidate_finished"}
    assert "0-0" in done_before
    assert json.loads((run_dir / "candidates" / "0-0" / "seed-0" / "ray.json").read_text())

    p = subprocess.run([sys.executable, "-m", "rewardsmith", "design", "--resume", str(run_dir),
                        "--json"], env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    summary = json.loads(p.stdout[p.stdout.index("{"): p.stdout.rindex("}") + 1])
    assert summary["status"] == "finished" and summary["best"] is not None
    after = read_jsonl(run_dir / "events.jsonl")[len(before):]
    assert not {e["id"] for e in after if e["event"] == "training_started"} & done_before
    assert [c["iteration"] for c in after if c["event"] == "llm_call" and not c["cached"]] == [1]
    assert json.loads((run_dir / "manifest.json").read_text())["config"]["executor"] == "ray"
    for k in range(2):  # every candidate's results landed in the run directory on the driver
        seed = run_dir / "candidates" / f"1-{k}" / "seed-0"
        assert (seed / "DONE").exists() and (seed / "train" / "result.json").exists()
