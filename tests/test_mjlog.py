"""MuJoCo's own warnings reach logging (and a run's log), not a MUJOCO_LOG.TXT in the user's folder."""

from __future__ import annotations

import subprocess
import sys


def test_no_mujoco_log_file_in_the_current_folder(tmp_path):
    code = ("from rewardsmith import tasks\n"
            "for n in ('ant-forward-v0', 'walker-forward-v0', 'hopper-forward-v0'):\n"
            "    e = tasks.load(n).make_env(); e.reset(seed=0); e.close()\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
    assert "settotalmass" not in p.stderr  # the known harmless one is logged at debug level


def test_warnings_go_to_the_runs_log(tmp_path):
    code = ("import logging, mujoco\n"
            "from rewardsmith import mjlog\n"
            f"mjlog.to_file({str(tmp_path / 'mujoco.log')!r})\n"
            "mjlog._handler('Nan, Inf or huge value in QACC at DOF 0')\n"
            "mjlog._handler('settotalmass is deprecated')\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    log = (tmp_path / "mujoco.log").read_text()
    assert "QACC" in log and "settotalmass" not in log and not p.stderr


def test_the_control_suites_own_handler_does_not_print_to_the_terminal(tmp_path):
    """dm_control puts in a handler of its own on import (absl, to stderr): the dmc adapter
    routes MuJoCo's warnings back into logging, so the suite's cheetah loads quietly."""
    import pytest

    pytest.importorskip("dm_control", reason="the dmc extra (dm_control) is not installed")
    code = ("from rewardsmith import tasks\n"
            "e = tasks.load('dmc-cheetah-run-v0').make_env(); e.reset(seed=0); e.close()\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "settotalmass" not in p.stderr
