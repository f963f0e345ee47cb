"""Successive halving continues a job from the slice before it, in the worker's memory or from
the slice's saved files (another worker, Ray, a resume): both ways must give the same policy and
the same scores, so a design run's picks do not depend on which worker was free."""

from __future__ import annotations

import numpy as np
import pytest

from rewardsmith import tasks
from rewardsmith.contracts import Budget
from rewardsmith.train import sb3

TASK = "pendulum-balance-v0"
SLICE, WHOLE = 1024, 2048


def _params(train_dir, algo: str = "ppo"):
    from stable_baselines3 import PPO, SAC

    model = (PPO if algo == "ppo" else SAC).load(str(train_dir / "policy.zip"), device="cpu")
    return np.concatenate([p.detach().numpy().ravel() for p in model.policy.parameters()])


def _two_slices(tmp_path, name: str, in_memory: bool, seed: int = 0, algo: str = "ppo"):
    task = tasks.load(TASK)
    first, second = tmp_path / name / "rung-0", tmp_path / name / "rung-1"
    sb3.keep_live(True)  # the first slice is one to be continued
    try:
        sb3.train(task, None, Budget(SLICE, 3), seed=seed, workdir=first,
                  planned_steps=WHOLE).save(first)  # as the worker saves it
        if not in_memory:  # as in another worker, on Ray or after a resume
            sb3._LIVE.clear()
        result = sb3.train(task, None, Budget(WHOLE, 3), seed=seed, workdir=second,
                           resume_from=first, planned_steps=WHOLE)
        result.save(second)
    finally:
        sb3.keep_live(False)
        sb3._LIVE.clear()
    return result, _params(second, algo)


def test_a_slice_continued_from_its_files_is_the_slice_continued_in_memory(tmp_path):
    mem, mem_params = _two_slices(tmp_path, "memory", in_memory=True)
    disk, disk_params = _two_slices(tmp_path, "disk", in_memory=False)
    assert mem.steps == disk.steps == WHOLE
    np.testing.assert_array_equal(mem_params, disk_params)
    assert mem.eval_fitness == disk.eval_fitness
    assert [c.step for c in mem.curve] == [c.step for c in disk.curve]


def test_a_continued_slice_does_not_replay_the_first_slices_start_states(tmp_path, monkeypatch):
    from rewardsmith.reward.vecenv import RewardVecEnv

    seeds: list = []
    orig = RewardVecEnv.seed
    monkeypatch.setattr(RewardVecEnv, "seed", lambda self, seed=None: seeds.append(seed) or orig(self, seed))
    _two_slices(tmp_path, "disk", in_memory=False)
    evaluation = sb3.env_seed(0, evaluation=True)
    training = [s for s in seeds if s != evaluation]
    assert training[0] == sb3.env_seed(0) and len(set(training)) == 2, seeds


@pytest.fixture(autouse=True)
def _no_live_slices():
    yield
    sb3.keep_live(False)
    sb3._LIVE.clear()


def test_a_sac_slice_continued_from_its_files_keeps_its_experience(tmp_path, monkeypatch):
    sac = {"algo": "sac", "learning_starts": 256, "buffer_size": 4096}
    real = sb3.train
    monkeypatch.setattr(sb3, "train", lambda *a, **k: real(*a, **k, overrides=sac))
    mem, mem_params = _two_slices(tmp_path, "memory", in_memory=True, algo="sac")
    disk, disk_params = _two_slices(tmp_path, "disk", in_memory=False, algo="sac")
    np.testing.assert_array_equal(mem_params, disk_params)
    assert mem.eval_fitness == disk.eval_fitness
