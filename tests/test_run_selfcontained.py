"""A run records a task from a file or a $REWARDSMITH_TASKS folder by content, so show, export,
report and --resume work after the folder is gone (or on another machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rewardsmith import tasks


def _task_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "my_tasks"
    folder.mkdir()
    text = (Path(tasks.load("pendulum-balance-v0").source_file).read_text()
            .replace('id="pendulum-balance-v0"', 'id="my-pendulum-v0"'))
    (folder / "my_pendulum.py").write_text(text)
    return folder


def test_builtin_and_adhoc_tasks_are_recorded_by_id():
    assert tasks.recorded_origin(tasks.load("hopper-forward-v0")) == {"kind": "registry",
                                                                      "id": "hopper-forward-v0"}
    t = tasks.adhoc("Walker2d-v5", "walk backwards", "-rootx_vel")
    assert tasks.recorded_origin(t)["kind"] == "adhoc"


def test_a_run_with_a_task_from_a_folder_exports_after_the_folder_is_gone(tmp_path):
    folder = _task_folder(tmp_path)
    env = {"REWARDSMITH_TASKS": str(folder), "PATH": "/usr/bin:/bin"}
    code = ("import json, sys\nfrom rewardsmith import tasks\n"
            "print(json.dumps(tasks.recorded_origin(tasks.load('my-pendulum-v0'))))\n")
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    origin = json.loads(p.stdout)
    assert origin["kind"] == "text" and origin["id"] == "my-pendulum-v0"
    assert origin["from"].endswith("my_pendulum.py")
    import shutil

    shutil.rmtree(folder)
    # in this process the folder was never on the path: the recorded text is enough
    t = tasks.from_origin(origin)
    assert t.id == "my-pendulum-v0" and t.fitness is not None

    from rewardsmith.export import export_module

    run = tmp_path / "run"
    (run / "candidates" / "0-0").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"task": t.id, "task_origin": origin,
                                                   "config": {}, "status": "finished"}))
    src = ("def compute_reward(state, action, next_state):\n    w = 1.0\n"
           "    up = w * next_state.pole_zaxis[:, 2]\n    return up, {'up': up}\n")
    (run / "candidates" / "0-0" / "reward.py").write_text(src)
    (run / "candidates" / "0-0" / "result.json").write_text(json.dumps(
        {"id": "0-0", "status": "ok", "source": src}))
    (run / "candidates" / "0-0" / "DONE").write_text("")
    text = export_module(run, candidate="0-0")
    assert "TASK_ID = 'my-pendulum-v0'" in text
