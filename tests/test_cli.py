"""The command line, through typer's runner: what users type, what they see, exit codes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rewardsmith.cli.main import app
from rewardsmith.loop.evaluate import CACHE_SCHEME

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    out = result.output.strip()
    assert out.startswith("error:"), out
    return out


def test_tasks_table_lists_every_task():
    from rewardsmith import tasks

    r = run("tasks", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert {t["id"] for t in rows} == set(tasks.names())
    assert len(rows) >= 10


def test_tasks_show_is_the_llm_context_with_the_fitness_in_words():
    from rewardsmith import tasks

    task = tasks.load("hopper-forward-v0")
    r = run("tasks", "show", "hopper-forward-v0")
    assert r.exit_code == 0, r.output
    assert "hop forward" in r.output
    assert "rootx_vel" in r.output and "torso_pos" in r.output
    assert "def compute_reward(state, action, next_state):" in r.output
    # what the score measures is said in words (design --hide-fitness leaves it out) ...
    assert task.fitness.doc in r.output and task.fitness.success_doc in r.output
    assert "Geometry at reset" in r.output
    # the whole first request's task message: the training and what to write
    from rewardsmith.llm.prompts import initial_messages

    assert r.output.strip() == initial_messages(task)[1]["content"].strip()
    assert "Write a reward function for this task." in r.output
    # ... the hand-written reward is not
    assert task.baseline_doc not in r.output
    hidden = run("tasks", "show", "hopper-forward-v0", "--hidden")
    assert task.baseline_doc in hidden.output
    # --system: the whole first request, the system message (the coding rules) first
    both = run("tasks", "show", "hopper-forward-v0", "--system")
    system, user = initial_messages(task)[0]["content"], initial_messages(task)[1]["content"]
    assert both.output.startswith("--- system ---\n" + system)
    assert both.output.strip().endswith(user.strip())


def test_unknown_task_is_one_line_error():
    out = one_line_error(run("tasks", "show", "hopper-forwrd-v0"))
    assert "hopper-forward-v0" in out  # the suggestion


def test_evaluate_missing_reward_file(tmp_path):
    out = one_line_error(run("evaluate", "--task", "pendulum-balance-v0", "--reward", str(tmp_path / "nope.py")))
    assert "does not exist" in out


def test_evaluate_reward_without_compute_reward(tmp_path):
    f = tmp_path / "r.py"
    f.write_text("def reward(state, action, next_state):\n    return action[:, 0], {}\n")
    out = one_line_error(run("evaluate", "--task", "pendulum-balance-v0", "--reward", str(f)))
    assert "compute_reward" in out


def test_evaluate_unknown_state_field(tmp_path):
    f = tmp_path / "r.py"
    f.write_text("def compute_reward(state, action, next_state):\n"
                 "    r = next_state.pole_angle\n    return r, {'r': r}\n")
    out = one_line_error(run("evaluate", "--task", "pendulum-balance-v0", "--reward", str(f)))
    assert "pole_angle" in out and "hinge_angle" in out


def test_evaluate_bad_flag_combination():
    one_line_error(run("evaluate", "--task", "pendulum-balance-v0", "--env", "Hopper-v5"))


def test_adhoc_fitness_with_unknown_field():
    out = one_line_error(run("evaluate", "--env", "Walker2d-v5", "--description", "walk backwards",
                             "--fitness", "-rootx_velocity"))
    assert "rootx_vel" in out


def test_evaluate_json(tmp_path, monkeypatch):
    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache"))
    r = run("evaluate", "--task", "pendulum-balance-v0", "--reward", "baseline", "--seeds", "1",
            "--steps", "2048", "--json", "--run-dir", str(tmp_path / "eval"))
    assert r.exit_code == 0, r.output
    report = json.loads(r.output[r.output.index("{"):])
    for key in ("task", "reward", "backend", "steps", "seeds", "fitness", "success_rate", "wall_s",
                "env_steps_per_s"):
        assert key in report
    assert set(report["fitness"]) >= {"mean", "std", "per_seed"}
    assert len(report["fitness"]["per_seed"]) == 1


@pytest.mark.parametrize("args", [["design", "--task", "nope-v0"], ["show", "/nonexistent/run"]])
def test_design_and_show_bad_input(args):
    one_line_error(run(*args))


def test_evaluate_reward_file_that_is_not_text_or_is_a_folder(tmp_path):
    f = tmp_path / "r.py"
    f.write_bytes(b"\xff\xfe\x00def compute_reward")
    out = one_line_error(run("evaluate", "--task", "pendulum-balance-v0", "--reward", str(f)))
    assert "not UTF-8 text" in out
    out = one_line_error(run("evaluate", "--task", "pendulum-balance-v0", "--reward", str(tmp_path)))
    assert "is a folder" in out


def test_tasks_table_has_robot_and_env_columns():
    r = run("tasks")
    assert r.exit_code == 0, r.output
    head = r.output.splitlines()[:4]
    assert any("robot" in line and "env" in line for line in head), head
    assert "InvertedPendulum-v5" in r.output


def test_version():
    from rewardsmith import __version__

    r = run("--version")
    assert r.exit_code == 0 and r.output.strip() == __version__


def test_evaluate_compare_baseline_caches_floor_and_baseline(tmp_path, monkeypatch):
    """--compare baseline: the normalized score against the untrained policy and the baseline;
    a second comparison reuses both from the cache, and other settings do not."""
    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "mine.py"
    f.write_text("def compute_reward(state, action, next_state):\n"
                 "    upright = np.where(np.abs(next_state.hinge_angle) < 0.2, 1.0, 0.0)\n"
                 "    return upright, {\"upright\": upright}\n")
    args = ["evaluate", "--task", "pendulum-balance-v0", "--reward", str(f), "--seeds", "1",
            "--steps", "1024", "--compare", "baseline", "--json", "--workers", "2"]

    def report(*extra):
        r = run(*args, "--run-dir", str(tmp_path / f"eval{len(list(tmp_path.iterdir()))}"), *extra)
        assert r.exit_code == 0, r.output
        return json.loads(r.output[r.output.index("{"):])

    first = report()
    c = first["compare"]
    f_mine, f_base = first["fitness"]["mean"], c["baseline"]["fitness"]["mean"]
    f_floor = c["floor"]["fitness"]["mean"]
    v = c["verdict"]
    # one seed: no interval, no test can say whether it beats the baseline, and one seed of the
    # baseline cannot show that it beats the untrained policy's episodes: no normalized score
    assert v["reward"]["low"] is None and v["versus_baseline"]["beyond_noise"] is None
    assert v["line"].startswith("one seed cannot tell")
    assert v["floor"]["mean"] == pytest.approx(f_floor) and v["baseline"]["mean"] == f_base
    assert v["reward"]["mean"] == f_mine and len(c["floor"]["episodes"]) >= 1
    assert v["normalized"]["defined"] is False and "1 seed(s) cannot show" in v["normalized"]["why"]
    cached = sorted(p.name for p in (tmp_path / "cache" / f"eval-{CACHE_SCHEME}").glob("*/sb3/*"))
    assert [n.split("-")[0] for n in cached] == ["baseline", "floor"]
    assert all((p / "DONE").exists() for p in (tmp_path / "cache" / f"eval-{CACHE_SCHEME}").glob("*/sb3/*"))
    mtimes = {p: (p / "DONE").stat().st_mtime_ns for p in (tmp_path / "cache" / f"eval-{CACHE_SCHEME}").glob("*/sb3/*")}

    second = report()  # the floor and baseline come from the cache: the same numbers
    assert second["compare"]["baseline"]["fitness"] == c["baseline"]["fitness"]
    assert second["compare"]["floor"]["fitness"] == c["floor"]["fitness"]
    assert {p: (p / "DONE").stat().st_mtime_ns for p in mtimes} == mtimes

    report("--algo", "sac")  # another algorithm: its own baseline and floor, not PPO's
    names = sorted(p.name for p in (tmp_path / "cache" / f"eval-{CACHE_SCHEME}").glob("*/sb3/*"))
    assert len(names) == 4 and len(set(n.rsplit("-", 1)[-1] for n in names)) >= 2


def test_missing_jax_extra_is_named_with_its_brackets(monkeypatch):
    """The hint `pip install 'rewardsmith[jax]'` must survive rich's markup."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.split(".")[0] in ("jax", "brax") else real(name, *a))
    out = one_line_error(run("evaluate", "--task", "pendulum-balance-v0", "--backend", "brax"))
    assert "brax backend is not installed" in out and "rewardsmith[jax]" in out
    r = run("backends", "--json")
    brax = next(b for b in json.loads(r.output) if b["name"] == "brax")
    assert brax["installed"] is False and "rewardsmith[jax]" in brax["hint"]


def test_tables_through_a_pipe_are_plain_rows_with_every_cell_in_full():
    import subprocess
    import sys

    from rewardsmith import tasks

    p = subprocess.run([sys.executable, "-m", "rewardsmith", "tasks"], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[1].split("\t") == ["id", "robot", "env", "steps", "description"]
    for name in tasks.names():
        t = tasks.load(name)
        assert any(line.startswith(t.id + "\t") and line.endswith("\t" + t.description)
                   for line in lines), name


def test_evaluate_trains_enough_seeds_for_a_verdict_by_default(monkeypatch, tmp_path):
    """With --compare the default is the fewest seeds a paired test can settle (5); without, 3."""
    import rewardsmith.loop.evaluate as ev

    asked = []

    def fake(task, reward, *, seeds, **kw):
        asked.append(seeds)
        return {"task": task.id, "reward": reward.label, "backend": "sb3", "steps": 1,
                "seeds": list(range(seeds)), "run_dir": str(tmp_path), "wall_s": 0.0,
                "fitness": {"mean": 0.0, "std": 0.0, "per_seed": [0.0] * seeds}}

    monkeypatch.setattr(ev, "evaluate", fake)
    for extra, want in (([], 3), (["--compare", "baseline"], 5), (["--seeds", "2", "--compare", "baseline"], 2)):
        r = run("evaluate", "--task", "pendulum-balance-v0", "--reward", "baseline", "--json",
                "--run-dir", str(tmp_path), *extra)
        assert r.exit_code == 0, r.output
        assert asked[-1] == want


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_a_stop_signal_ends_a_command_as_ctrl_c_does(signame):
    """A command stopped by ``kill`` or a closed terminal says "interrupted" and exits 130, after
    the command's own clean-up ran (the runs mark themselves interrupted there)."""
    import os
    import signal

    import typer

    from rewardsmith.cli.common import guarded

    cleaned = []

    @guarded
    def work():
        try:
            os.kill(os.getpid(), getattr(signal, signame))
            for _ in range(10**7):  # the handler runs between two of these steps
                pass
            raise AssertionError("the signal did not interrupt the command")
        finally:
            cleaned.append(True)

    before = signal.getsignal(getattr(signal, signame))
    with pytest.raises(typer.Exit) as e:
        work()
    assert e.value.exit_code == 130 and cleaned == [True]
    assert signal.getsignal(getattr(signal, signame)) is before


def test_top_level_help_lists_design_first_and_each_summary_as_one_paragraph():
    from rewardsmith.cli.main import ORDER, _command_name

    names = [_command_name(i) for i in app.registered_commands]
    assert names[0] == "design"
    assert set(ORDER) <= set(names), "a command in ORDER is no longer registered"
    assert all(i.short_help and "\n" not in i.short_help for i in app.registered_commands)
    r = run("--help")
    assert r.exit_code == 0, r.output
    assert r.output.index("design ") < r.output.index("evaluate ") < r.output.index("check ")
