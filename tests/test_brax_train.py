"""The brax backend end to end (slow: XLA compiles for 1-3 minutes on a CPU): a tiny PPO run on
pendulum-balance-v0 beats the untrained policy; the same reward file trains on both backends;
the result holds the curve, components, episodes, a saved policy and separate compile time."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("brax")

from rewardsmith import tasks  # noqa: E402
from rewardsmith.contracts import Budget, TrainResult  # noqa: E402
from rewardsmith.reward.program import RewardProgram  # noqa: E402
from rewardsmith.train import brax_backend  # noqa: E402

pytestmark = pytest.mark.slow

TASK_ID = "pendulum-balance-v0"
STEPS = 20_000

# A hand-written reward file (not the task's baseline): upright bonus, shaped by the angle and
# the cart's distance from the centre, with an effort penalty.
REWARD_FILE = '''
def compute_reward(state, action, next_state):
    upright_weight = 1.0
    angle_weight = 1.0
    centre_weight = 0.1
    effort_weight = 0.001
    angle = np.abs(next_state.hinge_angle)
    upright = upright_weight * np.where(angle <= 0.2, 1.0, 0.0)
    tilt = angle_weight * np.square(angle)
    centre = centre_weight * np.square(next_state.slider_pos)
    effort = effort_weight * np.sum(np.square(action), axis=-1)
    reward = upright - tilt - centre - effort
    return reward, {"upright": upright, "tilt": -tilt, "centre": -centre, "effort": -effort}
'''


@pytest.fixture(scope="module")
def task():
    return tasks.load(TASK_ID)


@pytest.fixture(scope="module")
def reward_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("reward") / "my_reward.py"
    path.write_text(REWARD_FILE)
    return path


@pytest.fixture(scope="module")
def trained(task, reward_file, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("brax")
    calls = []
    result = brax_backend.train(
        task, RewardProgram.from_file(reward_file), Budget(steps=STEPS, eval_episodes=5), seed=0,
        progress=lambda done, total, info: calls.append((done, total, dict(info))),
        workdir=workdir)
    return result, workdir, calls


@pytest.fixture(scope="module")
def floor(task):
    return brax_backend.evaluate_untrained(task, Budget(steps=STEPS, eval_episodes=5), seed=0)


def test_tiny_run_beats_the_untrained_policy(trained, floor):
    result, _, _ = trained
    assert floor.steps == 0 and len(floor.eval_fitness) == 5
    assert result.fitness > 2 * floor.fitness, (result.fitness, floor.fitness)
    assert result.curve[-1].fitness > result.curve[0].fitness


def test_result_holds_curve_components_episodes_timings(trained, task, floor):
    result, workdir, calls = trained
    assert isinstance(result, TrainResult) and result.backend == "brax"
    assert result.steps >= STEPS
    assert [p.step for p in result.curve] == sorted(p.step for p in result.curve)
    assert result.curve[0].step == 0 and result.curve[-1].step == result.steps
    names = {"upright", "tilt", "centre", "effort"}
    for p in result.curve:
        assert p.fitness is not None and set(p.components) == names
        assert p.reward_return == pytest.approx(sum(p.components.values()), rel=1e-3, abs=1e-3)
    # evaluation episodes: state rows in the task's layout, scored by the task's own fitness
    assert len(result.eval_episodes) == 5
    for ep, fit in zip(result.eval_episodes, result.eval_fitness):
        assert ep.states.shape == (ep.length + 1, task.spec.size)
        assert np.all(np.abs(ep.actions) <= 3.0 + 1e-6)  # env units (the cart's ctrlrange)
        assert set(ep.components) == names
        assert fit == pytest.approx(task.fitness(ep))
        assert ep.terminated == (ep.length < 1000)
    # the untrained policy starts from the same place as training's first curve point
    assert floor.fitness == pytest.approx(result.curve[0].fitness)
    t = result.timings
    assert t["compile_s"] > 0 and t["train_s"] > 0 and t["env_steps_per_s"] > 0
    assert t["compile_s"] + t["train_s"] + t["eval_s"] <= t["wall_s"] + 1e-6
    assert result.runtime["nonfinite_eval_steps"] == 0
    assert calls and calls[-1][2].get("phase") == "done"
    # the saved policy reproduces the evaluation's actions
    assert result.policy_path and (workdir / "policy.json").is_file()
    act = brax_backend.load_policy(task, workdir)
    ep = result.eval_episodes[0]
    obs = np.concatenate([ep.prev.qpos[:3], ep.prev.qvel[:3]], axis=-1)  # pendulum obs: qpos, qvel
    np.testing.assert_allclose(act(obs), ep.actions[:3], atol=1e-3)


def test_same_reward_file_trains_on_both_backends(trained, task, reward_file, tmp_path):
    from rewardsmith.sandbox.dryrun import check_program
    from rewardsmith.train import sb3

    program = RewardProgram.from_file(reward_file)
    assert check_program(program, task).accepted
    assert brax_backend.check_traceable(program, task) == []
    budget = Budget(steps=4_096, eval_episodes=3)
    on_sb3 = sb3.train(task, program, budget, seed=0, workdir=tmp_path / "sb3")
    on_brax, _, _ = trained
    for r in (on_sb3, on_brax):
        assert np.isfinite(r.fitness)
        assert set(r.curve[-1].components) == {"upright", "tilt", "centre", "effort"}
        # fitness means the same thing: episode length, from the state rows
        assert all(f == pytest.approx(e.length) for f, e in zip(r.eval_fitness, r.eval_episodes))
