"""Layer 3, the dry run, and check_program: recorded transitions, the checks, accepted programs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rewardsmith import tasks
from rewardsmith.reward.program import RewardProgram
from rewardsmith.sandbox import dryrun
from rewardsmith.sandbox.dryrun import (
    CheckReport,
    DryRunSettings,
    SandboxError,
    check_program,
    dry_run,
    load_transitions,
    record_transitions,
)

FAST = DryRunSettings(call_timeout_s=0.5, wall_s=3.0)

HELPERS = '''
def upright_bonus(zaxis, temperature=0.3):
    return np.exp(-(1.0 - zaxis[:, 2]) / temperature)


def forward_velocity(state, next_state):
    return (next_state.rootx_pos - state.rootx_pos) / next_state.dt


def compute_reward(state, action, next_state):
    fwd = forward_velocity(state, next_state)
    up = upright_bonus(next_state.torso_zaxis)
    ctrl = -1e-3 * np.sum(np.square(action), axis=-1)
    return fwd + 0.5 * up + ctrl, {"forward": fwd, "upright": up, "ctrl": ctrl}
'''

WHERE = '''
def compute_reward(state, action, next_state):
    healthy = (next_state.rootz_pos > 0.7) & (np.abs(next_state.rooty_angle) < 0.2)
    alive = np.where(healthy, 1.0, 0.0)
    fwd = np.clip(next_state.rootx_vel, -10.0, 10.0)
    fell = np.where(healthy, 0.0, -1.0)
    return fwd + alive + fell, {"forward": fwd, "alive": alive, "fell": fell}
'''

TEMPERATURES = '''
def compute_reward(state, action, next_state):
    vel_temp = 1.0
    height_temp = 0.2
    vel_term = np.exp(-np.abs(next_state.rootx_vel - 2.0) / vel_temp)
    height_term = np.exp(-np.square(next_state.rootz_pos - 1.25) / height_temp)
    energy = np.sum(np.abs(action * next_state.qvel[:, 3:]), axis=-1)
    energy_term = np.exp(-np.minimum(energy, 50.0) / 10.0)
    total = vel_term + 0.5 * height_term + 0.1 * energy_term
    return total, {"vel": vel_term, "height": height_term, "energy": energy_term}
'''

LOOPS = '''
def compute_reward(state, action, next_state):
    parts = []
    for i in range(action.shape[1]):
        parts.append(np.square(action[:, i]))
    ctrl = np.stack(parts, axis=-1).sum(axis=-1)
    r = next_state.rootx_vel - 0.01 * ctrl
    comps = {name: value for name, value in zip(["fwd", "ctrl"], [next_state.rootx_vel, ctrl])}
    return r.astype(np.float32), comps
'''


@pytest.fixture(scope="module")
def hopper():
    return tasks.load("hopper-forward-v0")


def test_record_transitions_groups_and_cache(hopper, tmp_path, monkeypatch):
    tr = record_transitions(hopper, 16, cache=tmp_path)
    assert tr.path.parent == tmp_path and tr.path.suffix == ".npz"
    spec = hopper.spec
    D, A = spec.size, hopper.action_dim
    for g in dryrun.GROUPS:
        s, a, n = tr.groups[g]
        assert s.shape[1] == D and n.shape == s.shape and a.shape == (s.shape[0], A), g
        assert np.isfinite(s).all() and np.isfinite(a).all() and np.isfinite(n).all(), g
    assert tr.groups["ordinary"][0].shape[0] == 16
    dt = spec.fields["dt"].offset
    for g in dryrun.GROUPS:
        assert np.allclose(tr.groups[g][0][:, dt], spec.dt), g  # dt is never zero or extreme
    zs, za, _ = tr.groups["zero"]
    assert not np.delete(zs, dt, axis=1).any() and not za.any()
    es, ea, _ = tr.groups["extreme"]
    o = tr.groups["ordinary"][0]
    assert (np.abs(es[0]) >= np.abs(o).max(axis=0) - 1e-9).all()  # beyond every ordinary value
    assert np.allclose(ea[0], tr.action_high) and np.allclose(ea[1], tr.action_low)
    assert tr.layout["size"] == D and len(tr.layout["fields"]) == len(spec.fields)

    def no_recording(*a, **k):
        raise AssertionError("recorded again instead of reading the cache")

    monkeypatch.setattr(dryrun, "_record", no_recording)
    again = record_transitions(hopper, 16, cache=tmp_path)
    assert again.path == tr.path
    loaded = load_transitions(tr.path)
    assert np.array_equal(loaded.groups["extreme"][0], es)
    assert tr.path.stat().st_size < 2 * 1024**2  # small


@pytest.mark.parametrize("src", [HELPERS, WHERE, TEMPERATURES, LOOPS],
                         ids=["helpers", "where", "temperatures", "loops_and_float32"])
def test_accepted_programs(src, hopper, tmp_path):
    report = check_program(RewardProgram(src), hopper, workdir=tmp_path)
    assert report.accepted, report.problems
    assert report.stage == "ok" and report.problems == []
    assert report.components
    assert report.feedback() == ""


BASELINES = [n for n in tasks.names() if tasks.load(n).baseline_reward != "env"]


@pytest.mark.parametrize("name", BASELINES)
def test_every_baseline_reward_is_accepted(name, tmp_path):
    task = tasks.load(name)
    report = check_program(RewardProgram(task.baseline_reward, origin="baseline"), task,
                           workdir=tmp_path)
    assert report.accepted, (name, report.problems)


def test_report_json_and_feedback(hopper):
    bad = "def compute_reward(state, action, next_state):\n    return None\n"
    report = check_program(bad, hopper, settings=FAST)
    j = report.to_json()
    assert set(j) == {"accepted", "stage", "problems", "timings"}
    assert j["accepted"] is False and j["stage"] == "dry_run"
    json.dumps(j)
    assert {"static_s", "dry_run_s", "total_s"} <= set(j["timings"])
    fb = report.feedback()
    assert fb.startswith("The reward program was rejected by the dry run") and "returned None" in fb


def test_static_rejection_starts_no_process(hopper, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("spawned a worker for a statically rejected program")

    monkeypatch.setattr(dryrun.jail, "spawn", boom)
    report = check_program("import os\n", hopper)
    assert report.stage == "static" and not report.accepted
    assert report.timings["total_s"] < 0.5


def test_problems_name_every_kind_of_state_once(hopper):
    src = ("def compute_reward(state, action, next_state):\n"
           "    return next_state.rootx_vel * np.nan, {}\n")
    report = check_program(src, hopper, settings=FAST)
    assert len(report.problems) == 1, report.problems
    p = report.problems[0]
    assert "ordinary states" in p and "also on all-zero states, extreme states" in p


def test_workdir_holds_only_the_dry_run_folder(hopper, tmp_path):
    (tmp_path / "keep.txt").write_text("candidate file")
    report = check_program(HELPERS, hopper, workdir=tmp_path)
    assert report.accepted
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dryrun", "keep.txt"]
    assert {p.name for p in (tmp_path / "dryrun").iterdir()} >= {"program.py", "result.json"}


def test_temporary_folder_is_removed(hopper, monkeypatch, tmp_path):
    made = []
    real = dryrun.tempfile.mkdtemp

    def mkdtemp(**kw):
        made.append(real(dir=tmp_path, **kw))
        return made[-1]

    monkeypatch.setattr(dryrun.tempfile, "mkdtemp", mkdtemp)
    assert check_program(HELPERS, hopper).accepted
    assert made and not any(p.exists() for p in map(type(tmp_path), made))


def test_slow_calls_are_rejected(hopper):
    settings = DryRunSettings(max_call_s=1e-7)
    report = check_program(HELPERS, hopper, settings=settings)
    assert not report.accepted
    assert "above the bound of 1e-07 s" in report.problems[0] and "vectorised" in report.problems[0]


def test_c_level_computation_is_killed_by_the_watchdog(hopper, tmp_path):
    """Big-integer multiplication does not check for signals: only the parent can stop it."""
    src = ("def compute_reward(state, action, next_state):\n    v = 3\n"
           "    for i in range(64):\n        v = v * v\n    return next_state.rootx_vel, {}\n")
    settings = DryRunSettings(call_timeout_s=60.0, wall_s=1.5)
    report = check_program(src, hopper, workdir=tmp_path, settings=settings)
    assert report.stage == "dry_run" and not report.accepted
    assert re_search(r"ran over its time limit of 1.5 s|out of memory", report.problems[0])


def re_search(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text) is not None


def test_broken_installation_is_a_sandbox_error(hopper, monkeypatch):
    monkeypatch.setattr(dryrun, "WORKER_MODULE", "rewardsmith.sandbox.no_such_worker")
    with pytest.raises(SandboxError, match="failed before running the program"):
        dry_run(HELPERS, hopper, settings=FAST)


def test_a_warm_check_records_nothing_again(hopper, tmp_path, monkeypatch):
    """What makes a check fast (scripts/bench_check.py measures it): the transitions are
    recorded once per task and read back after."""
    check_program(HELPERS, hopper, workdir=tmp_path)  # warm: transitions recorded

    def no_recording(*a, **k):
        raise AssertionError("recorded again instead of reading the cache")

    monkeypatch.setattr(dryrun, "_record", no_recording)
    report = check_program(HELPERS, hopper, workdir=tmp_path)
    assert report.accepted


def test_self_test():
    report = dryrun.self_test()
    assert isinstance(report, CheckReport) and report.accepted, report.problems


def test_the_zero_step_shares_are_kept_only_as_they_should_be():
    # result.json is written beside the candidate's code: what is read back is checked
    from rewardsmith.sandbox.dryrun import _zero_steps

    assert _zero_steps({"steps": 64, "zero": {"a": 1.0, "b": "x", "c": 2.0, "d": 0.5, "e": True}}) \
        == {"steps": 64, "zero": {"a": 1.0, "d": 0.5}}
    for bad in (None, {"steps": "64", "zero": {}}, {"steps": 0, "zero": {}}, {"steps": 3, "zero": [1]}):
        assert _zero_steps(bad) is None
    assert _zero_steps({"steps": 8, "zero": {"a": 1.0}, "pays": ["a", 3]}) == {
        "steps": 8, "zero": {"a": 1.0}, "pays": ["a"]}


def test_the_screening_returns_are_kept_only_as_they_should_be():
    from rewardsmith.sandbox.dryrun import _screening

    good = {"returns": [1.0, 2], "discounted": [0.5, 1.0], "components": {"a": [1.0, 2.0], "b": [1.0]}}
    assert _screening(good) == {"returns": [1.0, 2.0], "discounted": [0.5, 1.0],
                                "components": {"a": [1.0, 2.0]}}  # 'b' has the wrong length
    for bad in (None, [], {"returns": "x"}, {"returns": [1.0], "discounted": [1.0, 2.0], "components": {}},
                {"returns": [float("nan")], "discounted": [1.0], "components": {}},
                {"returns": [1.0], "discounted": [1.0], "components": []}):
        assert _screening(bad) is None
