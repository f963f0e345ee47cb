"""One process at a time in a run's or a benchmark's folder: a second one gets an error that
names the first, writes nothing there, and a crashed holder leaves no stale lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest
from typer.testing import CliRunner

from rewardsmith.errors import RewardsmithError
from rewardsmith.runs.lock import exclusive
from rewardsmith.runs.rundir import RunDir

HOLD = """
import sys, time
from rewardsmith.runs.lock import exclusive
with exclusive(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def holder():
    """Another process holding a folder's lock until it is killed."""
    procs = []

    def hold(folder):
        p = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE,
                             text=True)
        assert p.stdout.readline().strip() == "held"
        procs.append(p)
        return p

    yield hold
    for p in procs:
        p.kill()
        p.wait()


def test_a_second_process_is_refused_by_name_and_a_killed_holder_leaves_no_lock(tmp_path, holder):
    p = holder(tmp_path)
    with pytest.raises(RewardsmithError, match=f"run {tmp_path} is in use by process {p.pid}"):
        with exclusive(tmp_path):
            pass
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    with exclusive(tmp_path):  # the kernel let it go with the process
        pass


def test_another_thread_is_refused_and_the_holding_thread_may_take_it_again(tmp_path):
    errors: list[Exception] = []

    def other():
        try:
            with exclusive(tmp_path, "benchmark"):
                pass
        except RewardsmithError as e:
            errors.append(e)

    with exclusive(tmp_path, "benchmark"):
        with exclusive(tmp_path, "benchmark"):  # the same thread: the command, then its loop
            t = threading.Thread(target=other)
            t.start()
            t.join(timeout=60)
    assert len(errors) == 1 and "benchmark" in str(errors[0])
    other()  # released: the other thread may have it now
    assert len(errors) == 1


def test_resuming_a_run_another_process_is_running_writes_nothing_there(tmp_path, holder):
    from rewardsmith.cli.main import app

    run = RunDir.create(tmp_path / "run", {"task": "pendulum-balance-v0", "config": {}})
    events_before = (run.path / "events.jsonl").read_text()
    manifest_before = run.manifest
    p = holder(run.path)
    r = CliRunner().invoke(app, ["design", "--resume", str(run.path)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    out = " ".join(r.output.split())
    assert f"is in use by process {p.pid}" in out
    assert f"rewardsmith design --resume {run.path}" in out
    assert (run.path / "events.jsonl").read_text() == events_before  # no "resumed", no "failed"
    assert json.loads((run.path / "manifest.json").read_text()) == manifest_before


def test_runs_tells_a_running_run_from_one_whose_process_was_killed(tmp_path, holder):
    from rewardsmith.cli.main import app
    from rewardsmith.runs.lock import holder as lock_holder

    live = RunDir.create(tmp_path / "live", {"task": "pendulum-balance-v0", "config": {}})
    dead = RunDir.create(tmp_path / "dead", {"task": "pendulum-balance-v0", "config": {}})
    RunDir.create(tmp_path / "old", {"task": "pendulum-balance-v0", "config": {}})
    p = holder(live.path)
    q = holder(dead.path)
    q.kill()  # SIGKILL: the manifest still says running, the lock file keeps the pid
    q.wait()
    assert lock_holder(live.path) == p.pid and lock_holder(dead.path) is None
    with exclusive(tmp_path / "done"):
        pass
    assert lock_holder(tmp_path / "done") is None  # released: no pid left behind
    rows = json.loads(CliRunner().invoke(app, ["runs", str(tmp_path), "--json"]).output)
    status = {os.path.basename(r["run"]): r["status"] for r in rows}
    assert status == {"live": f"running (pid {p.pid})",
                      "dead": "stopped (its process is gone: --resume)",
                      "old": "running"}  # no lock file: a run from before it, cannot tell
