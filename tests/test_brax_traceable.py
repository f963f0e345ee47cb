"""The JAX path's gate and settings: traceable programs pass, untraceable ones are rejected with
what to change; strict settings; a clear error for unported envs and a missing extra. Fast."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

pytest.importorskip("jax")
pytest.importorskip("brax")

from rewardsmith import tasks  # noqa: E402
from rewardsmith.errors import RewardsmithError  # noqa: E402
from rewardsmith.reward.program import RewardProgram  # noqa: E402
from rewardsmith.train import brax_backend  # noqa: E402
from rewardsmith.train.sb3 import baseline_program  # noqa: E402

TASK_ID = "hopper-forward-v0"


@pytest.fixture(scope="module")
def task():
    return tasks.load(TASK_ID)


def _prog(body: str) -> RewardProgram:
    return RewardProgram("def compute_reward(state, action, next_state):\n" + body)


@pytest.mark.parametrize("task_id", ["hopper-forward-v0", "cheetah-run-v0", "ant-sideways-v0",
                                     "pendulum-balance-v0", "hopper-jump-v0"])
def test_baseline_programs_are_traceable(task_id):
    task = tasks.load(task_id)
    program = baseline_program(task)
    if program is None:  # the env's own reward: nothing to trace
        assert brax_backend.check_traceable(RewardProgram("env"), task) == []
        return
    assert brax_backend.check_traceable(program, task) == []


def test_python_branching_on_arrays_is_rejected_with_what_to_change(task):
    program = _prog(
        "    v = next_state.rootx_vel\n"
        "    if v > 0:\n"
        "        r = v\n"
        "    else:\n"
        "        r = 0.0 * v\n"
        "    return r, {'forward': r}\n")
    problems = brax_backend.check_traceable(program, task)
    assert len(problems) == 1
    assert "branches in Python on array values" in problems[0]
    assert "np.where" in problems[0]


def test_python_max_on_arrays_is_rejected(task):
    program = _prog("    r = max(next_state.rootx_vel, 0.0)\n    return r, {'forward': r}\n")
    problems = brax_backend.check_traceable(program, task)
    assert problems and "np.maximum" in problems[0]


def test_in_place_writes_are_rejected_with_what_to_change(task):
    program = _prog(
        "    r = np.zeros_like(next_state.rootx_vel)\n"
        "    r[0] = 1.0\n"
        "    return r, {'bonus': r}\n")
    problems = brax_backend.check_traceable(program, task)
    assert problems and "in place" in problems[0] and "np.where" in problems[0]


def test_python_numbers_from_arrays_are_rejected(task):
    program = _prog("    w = float(np.mean(next_state.rootx_vel))\n"
                    "    r = w * np.ones_like(next_state.rootx_vel)\n"
                    "    return r, {'w': r}\n")
    problems = brax_backend.check_traceable(program, task)
    assert problems and ("Python number" in problems[0] or "batch" in problems[0])


def test_rewards_that_mix_rows_of_the_batch_are_rejected(task):
    program = _prog("    v = next_state.rootx_vel\n"
                    "    r = v - np.mean(v)\n"
                    "    return r, {'relative': r}\n")
    problems = brax_backend.check_traceable(program, task)
    assert problems and "other rows of the batch" in problems[0]


def test_statically_rejected_programs_say_so(task):
    problems = brax_backend.check_traceable(RewardProgram("import os\n"), task)
    assert problems and "rejected" in problems[0]


def test_works_from_recorded_transitions_alone(task):
    """The dry-run worker has transitions and a layout, not a task."""
    from rewardsmith.sandbox.dryrun import record_transitions

    tr = record_transitions(task)
    assert brax_backend.check_traceable(baseline_program(task), None, tr) == []
    bad = _prog("    r = next_state.rootx_vel\n    if r > 0:\n        r = r\n    return r, {}\n")
    assert brax_backend.check_traceable(bad, None, tr)


def test_settings_are_strict_and_layered(task):
    hp = brax_backend.settings(task, {"num_envs": 16, "batch_size": 16}, device="cpu")
    assert hp["num_envs"] == 16 and hp["algo"] == "ppo"
    assert hp["entropy_cost"] == brax_backend.ENV_DEFAULTS["Hopper-v5"]["entropy_cost"]
    gpu = brax_backend.settings(task, device="gpu")
    assert gpu["num_envs"] > hp["num_envs"]
    with pytest.raises(RewardsmithError, match="unknown brax backend setting"):
        brax_backend.settings(task, {"n_envs": 4}, device="cpu")
    with pytest.raises(RewardsmithError, match="multiple of num_envs"):
        brax_backend.settings(task, {"num_envs": 48}, device="cpu")
    with pytest.raises(RewardsmithError, match="unknown algorithm"):
        brax_backend.settings(task, {"algo": "ddpg"}, device="cpu")
    sac = brax_backend.settings(task, {"algo": "sac"}, device="cpu")
    assert sac["grad_updates_per_step"] >= 1 and "num_minibatches" not in sac


def test_default_budget(task):
    assert brax_backend.default_budget(task, device="cpu") == task.budget("sb3")
    assert brax_backend.default_budget(task, device="gpu").steps >= 1_000_000


def test_unported_env_is_a_clear_error():
    from rewardsmith.train.brax_env import PortError, port_for

    fake = SimpleNamespace(id="humanoid-walk-v0", env_id="Humanoid-v5")
    with pytest.raises(PortError, match="no MJX port") as e:
        port_for(fake)
    assert "sb3" in str(e.value) and "Hopper-v5" in str(e.value)


def test_unimplemented_env_setting_is_a_clear_error(task):
    from rewardsmith.train.brax_env import Hopper, PortError, port_config

    fake = SimpleNamespace(id="x", env_id="Hopper-v5", env_kwargs={"healthy_reward": 2.0,
                                                                   "fancy": 1})
    with pytest.raises(PortError, match="fancy"):
        port_config(fake, Hopper)
    ok = SimpleNamespace(id="x", env_id="Hopper-v5", env_kwargs={"healthy_reward": 2.0})
    assert port_config(ok, Hopper)["healthy_reward"] == 2.0


def test_missing_extra_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "brax.training.agents.ppo", None)
    with pytest.raises(RewardsmithError, match=r"pip install 'rewardsmith\[jax\]'"):
        brax_backend._require_jax()


def test_compile_clock_counts_nested_intervals_once():
    clock = brax_backend.CompileClock()
    clock._intervals = [(0.0, 2.0), (1.0, 1.5), (3.0, 4.0)]
    assert clock.seconds() == pytest.approx(3.0)
    assert clock.seconds(since=1.0, until=3.5) == pytest.approx(1.5)
