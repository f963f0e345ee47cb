"""The sb3 backend: a short PPO run that learns, what TrainResult holds, SAC, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rewardsmith import tasks
from rewardsmith.contracts import Budget, TrainResult
from rewardsmith.errors import RewardsmithError
from rewardsmith.train import sb3

TASK_ID = "pendulum-balance-v0"


@pytest.fixture(scope="module")
def task():
    return tasks.load(TASK_ID)


@pytest.fixture(scope="module")
def trained(task, tmp_path_factory):
    """PPO on the task's baseline program at its default budget (20k steps, ~10 s here)."""
    workdir = tmp_path_factory.mktemp("train")
    calls = []
    result = sb3.train(task, sb3.baseline_program(task), task.budget("sb3"), seed=0,
                       progress=lambda done, total, info: calls.append((done, total, dict(info))),
                       workdir=workdir)
    return result, workdir, calls


@pytest.fixture(scope="module")
def floor(task):
    return sb3.evaluate_untrained(task, task.budget("sb3"), seed=0)


def test_short_ppo_run_beats_the_untrained_policy(trained, floor, task):
    result, _, _ = trained
    assert floor.steps == 0 and len(floor.eval_fitness) == task.budget("sb3").eval_episodes
    assert result.fitness > max(3 * floor.fitness, 100.0), (result.fitness, floor.fitness)
    assert result.success_rate is not None and result.success_rate > floor.success_rate


def test_train_result_holds_curve_episodes_timings(trained, task):
    result, _, _ = trained
    budget = task.budget("sb3")
    assert result.task == TASK_ID and result.backend == "sb3" and result.seed == 0
    assert result.steps >= budget.steps
    # the curve: training windows with fitness and per-component statistics
    assert 2 <= len(result.curve) <= sb3.CURVE_POINTS
    steps = [p.step for p in result.curve]
    assert steps == sorted(steps) and steps[-1] <= result.steps
    for p in result.curve:
        assert p.episodes > 0 and p.fitness is not None and p.episode_length > 0
        assert set(p.components) == {"alive"}
        assert p.components["alive"] == pytest.approx(p.reward_return)
        assert p.env_return == pytest.approx(p.reward_return)  # the baseline is the env's reward
    assert result.curve[-1].fitness > result.curve[0].fitness
    # deterministic evaluation episodes on the fitness
    assert len(result.eval_episodes) == budget.eval_episodes == len(result.eval_fitness)
    for ep, f in zip(result.eval_episodes, result.eval_fitness):
        assert f == pytest.approx(task.fitness(ep))
        assert ep.states.shape == (ep.length + 1, task.spec.size)
        assert set(ep.components) == {"alive"}
    assert result.fitness == pytest.approx(np.mean(result.eval_fitness))
    assert result.fitness_std == pytest.approx(np.std(result.eval_fitness))
    t = result.timings
    assert t["wall_s"] >= t["train_s"] > 0 and t["eval_s"] > 0 and t["env_steps_per_s"] > 100
    assert result.runtime["nonfinite_calls"] == 0


def test_progress_is_reported(trained, task):
    _, _, calls = trained
    total = task.budget("sb3").steps
    assert len(calls) >= 10 and all(c[1] == total for c in calls)
    assert calls[-1][:2] == (total, total) and calls[-1][2].get("phase") == "done"
    assert any(c[2].get("fitness") is not None for c in calls)


def test_progress_is_monotonic_and_bounded(trained, task):
    _, _, calls = trained
    done = [c[0] for c in calls]
    assert done == sorted(done) and max(done) <= task.budget("sb3").steps
    assert len(calls) <= 110


def test_policy_is_saved_and_loads(trained, task):
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    result, workdir, _ = trained
    assert result.policy_path == str(workdir / "policy.zip")
    assert (workdir / "policy.zip").is_file() and (workdir / "vecnormalize.pkl").is_file()
    model = PPO.load(result.policy_path, device="cpu")
    venv = sb3._make_vecenv(task, None, 1, seed=5, keep=False)
    norm = VecNormalize.load(str(workdir / "vecnormalize.pkl"), venv)
    norm.training = False
    obs = norm.reset()
    for _ in range(50):
        action, _ = model.predict(obs, deterministic=True)
        obs, _, done, _ = norm.step(action)
        assert not done.any(), "the saved policy balances the pole"
    norm.close()


def test_train_result_round_trips_json(trained, tmp_path):
    result, _, _ = trained
    d = json.loads(json.dumps(result.to_json()))
    back = TrainResult.from_json(d)
    assert back.fitness == result.fitness and back.curve == result.curve
    assert d["eval_episode_lengths"] == [e.length for e in result.eval_episodes]
    result.save(tmp_path)
    assert (tmp_path / "result.json").is_file() and (tmp_path / "eval_episode_0.npz").is_file()


def test_sac_is_selectable(task, tmp_path):
    budget = Budget(steps=400, eval_episodes=2)
    result = sb3.train(task, sb3.baseline_program(task), budget, seed=0, workdir=tmp_path,
                       overrides={"algo": "sac", "learning_starts": 100, "buffer_size": 1000})
    assert result.steps >= 400 and len(result.eval_fitness) == 2
    assert (tmp_path / "policy.zip").is_file()
    from stable_baselines3 import SAC

    assert isinstance(SAC.load(result.policy_path, device="cpu"), SAC)
    hp = sb3.settings(task, {"algo": "sac"})
    assert "n_epochs" not in hp["algo_kwargs"] and "learning_starts" in hp["algo_kwargs"]


def test_unknown_algorithm_is_an_error(task):
    with pytest.raises(RewardsmithError, match="unknown algorithm 'a2c'"):
        sb3.settings(task, {"algo": "a2c"})


def test_same_seed_same_result(task, tmp_path, monkeypatch):
    budget = Budget(steps=1024, eval_episodes=2)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # no workdir: nothing is written anywhere
    monkeypatch.setattr("tempfile.tempdir", None)
    a = sb3.train(task, None, budget, seed=7)
    assert not list(tmp_path.glob("SB3-*"))  # SB3 makes one per job when left to itself
    b = sb3.train(task, None, budget, seed=7)
    assert a.eval_fitness == b.eval_fitness
    assert [p.fitness for p in a.curve] == [p.fitness for p in b.curve]


def test_training_writes_tensorboard_scalars_for_the_task_and_every_component(trained):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, workdir, _ = trained
    files = sorted((workdir / "tb").rglob("events.out.tfevents.*"))
    assert files, "no TensorBoard event files"
    acc = EventAccumulator(str(files[0].parent))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for tag in ("rewardsmith/fitness", "rewardsmith/return", "rewardsmith/episode_length",
                "rewardsmith/component/alive", "train/value_loss"):
        assert tag in tags, (tag, sorted(tags))
    lengths = [e.value for e in acc.Scalars("rewardsmith/episode_length")]
    assert len(lengths) >= 3 and lengths[-1] > lengths[0]  # the pole stays up longer


def test_a_curve_becomes_tensorboard_scalars_for_backends_that_log_none(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from rewardsmith.contracts import CurvePoint
    from rewardsmith.train import tblog

    curve = [CurvePoint(step=1000 * (i + 1), episodes=4, fitness=float(i), success_rate=None,
                        episode_length=10.0, env_return=1.0, reward_return=2.0 * i,
                        components={"forward": 0.5 * i}) for i in range(5)]
    out = tblog.write_curve(curve, tmp_path / "tb")
    assert tblog.has_events(tmp_path / "tb")
    acc = EventAccumulator(str(out))
    acc.Reload()
    assert [e.value for e in acc.Scalars("rewardsmith/component/forward")] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert [e.step for e in acc.Scalars("rewardsmith/fitness")] == [1000, 2000, 3000, 4000, 5000]


def test_training_seeds_share_no_start_states():
    """Seeds 0, 1 and 2 evaluate from start states of their own: a vector env seeds sub-env i
    with seed + i, which gave neighbouring training seeds nearly the same episodes."""
    task = tasks.load("hopper-forward-v0")
    budget = Budget(steps=0, eval_episodes=4)
    starts = []
    for seed in (0, 1, 2):
        result = sb3.evaluate_untrained(task, budget, seed)
        assert len(result.eval_episodes) == 4
        starts += [tuple(np.round(ep.states[0], 12)) for ep in result.eval_episodes]
    assert len(set(starts)) == 12
    assert sb3.env_seed(1) - sb3.env_seed(0) == sb3.ENV_SEED_BLOCK > sb3.EVAL_OFFSET
    assert sb3.env_seed(0, evaluation=True) == sb3.EVAL_OFFSET
