"""Saved training results load back in the order they were saved."""

from __future__ import annotations

import numpy as np

from rewardsmith.contracts import Episode, TrainResult, episode_files


def test_episode_files_sort_numerically(tmp_path):
    for i in (0, 1, 2, 9, 10, 11):
        (tmp_path / f"eval_episode_{i}.npz").write_bytes(b"")
    names = [p.name for p in episode_files(tmp_path)]
    assert names == [f"eval_episode_{i}.npz" for i in (0, 1, 2, 9, 10, 11)]


def test_twelve_saved_episodes_line_up_with_their_fitness(tmp_path):
    eps = []
    for i in range(12):
        n = 3 + i  # each episode's length says which it is
        eps.append(Episode(states=np.zeros((n + 1, 2)), actions=np.zeros((n, 1)),
                           env_rewards=np.zeros(n), rewards=np.full(n, float(i)), components={},
                           terminated=False, spec=None))
    res = TrainResult(task="t", backend="sb3", seed=0, steps=1, fitness=0.0, fitness_std=0.0,
                      success_rate=None, eval_fitness=[float(i) for i in range(12)], curve=[],
                      eval_episodes=eps)
    res.save(tmp_path)
    lengths = [len(np.load(p)["rewards"]) for p in episode_files(tmp_path)]
    assert lengths == [3 + i for i in range(12)]
