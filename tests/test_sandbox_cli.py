"""``rewardsmith check``: exit codes, the printed reasons, --json."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from rewardsmith.cli.check import register

GOOD = ("def compute_reward(state, action, next_state):\n"
        "    v = next_state.rootx_vel\n    return v, {'forward': v}\n")
BAD_STATIC = "import os\ndef compute_reward(state, action, next_state):\n    return 0.0, {}\n"
BAD_DRY = ("def compute_reward(state, action, next_state):\n"
           "    return next_state.rootx_vel * np.inf, {}\n")


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()

    @app.callback()
    def main() -> None:  # a group, as in the real CLI
        pass

    register(app)
    return app


def invoke(app, *args):
    return CliRunner().invoke(app, ["check", *map(str, args)])


def test_accepted_exits_0(app, tmp_path):
    f = tmp_path / "r.py"
    f.write_text(GOOD)
    res = invoke(app, f, "--task", "hopper-forward-v0")
    assert res.exit_code == 0, res.output
    assert "accepted" in res.output and "forward" in res.output


def test_rejected_exits_1_with_stage_and_reasons(app, tmp_path):
    f = tmp_path / "r.py"
    f.write_text(BAD_STATIC)
    res = invoke(app, f, "--task", "hopper-forward-v0")
    assert res.exit_code == 1
    assert "rejected" in res.output and "static" in res.output
    assert "remove the import" in res.output
    f.write_text(BAD_DRY)
    res = invoke(app, f, "--task", "hopper-forward-v0")
    assert res.exit_code == 1 and "dry_run" in res.output and "inf" in res.output


@pytest.mark.parametrize("src,code", [(GOOD, 0), (BAD_STATIC, 1), (BAD_DRY, 1)])
def test_json(app, tmp_path, src, code):
    f = tmp_path / "r.py"
    f.write_text(src)
    res = invoke(app, f, "--task", "hopper-forward-v0", "--json")
    assert res.exit_code == code
    j = json.loads(res.stdout)
    # an accepted program also gets each term's share of zero steps on the random-action steps
    assert set(j) == {"accepted", "stage", "problems", "timings"} | ({"zero_steps"} if code == 0 else set())
    assert j["accepted"] is (code == 0)
    assert j["stage"] == {0: "ok"}.get(code, j["stage"])
    if code:
        assert j["problems"]


def test_usage_errors_exit_2_in_one_line(app, tmp_path):
    f = tmp_path / "r.py"
    f.write_text(GOOD)
    res = invoke(app, f, "--task", "no-such-task")
    assert res.exit_code == 2
    assert "unknown task 'no-such-task'" in res.output and "Traceback" not in res.output
    res = invoke(app, tmp_path / "missing.py", "--task", "hopper-forward-v0")
    assert res.exit_code == 2 and "does not exist" in res.output
    res = CliRunner().invoke(app, ["check", str(f)])
    assert res.exit_code == 2  # --task is required


def test_an_accepted_program_with_a_term_that_never_pays_gets_a_note(app, tmp_path):
    f = tmp_path / "r.py"
    f.write_text("def compute_reward(state, action, next_state):\n"
                 "    high = np.maximum(next_state.torso_pos[:, 2] - 3.0, 0.0)\n"
                 "    return high, {'high': high}\n")
    res = invoke(app, f, "--task", "hopper-forward-v0")
    assert res.exit_code == 0, res.stdout
    assert "note: 'high' paid exactly 0 on 100% of 64 random-action steps" in " ".join(res.stdout.split())
