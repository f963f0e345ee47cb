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


def test_runtime_stats_read_the_same_from_either_backend():
    from rewardsmith.contracts import RuntimeStats

    sb3 = RuntimeStats.from_runtime({"nonfinite_calls": 3, "nonfinite_values": 5, "first_bad_step": 40,
                                     "first_bad_detail": "reward [nan]",
                                     "nonfinite_component_calls": 1, "first_bad_component": "x"})
    brax = RuntimeStats.from_runtime({"nonfinite_eval_steps": 3, "device": "cpu"})
    assert sb3.nonfinite_steps == brax.nonfinite_steps == 3
    assert sb3.first_bad_step == 40 and brax.first_bad_step is None
    assert RuntimeStats.from_runtime({}) == RuntimeStats()


def test_the_critic_warns_about_non_finite_rewards_from_the_brax_backend_too():
    from rewardsmith import tasks
    from rewardsmith.contracts import TrainResult
    from rewardsmith.critic.reflect import reflect

    r = TrainResult(task="pendulum-balance-v0", backend="brax", seed=0, steps=100, fitness=1.0,
                    fitness_std=0.0, success_rate=None, eval_fitness=[1.0], curve=[],
                    runtime={"nonfinite_eval_steps": 7})
    text = reflect(tasks.load("pendulum-balance-v0"), r, "def compute_reward(s, a, n):\n  pass\n")
    assert "NaN/inf in 7 steps" in text


def test_the_share_of_episodes_ended_early_and_past_which_bound():
    from rewardsmith.contracts import OTHER_END, CurvePoint, ending_shares

    got = ending_shares([(True, ["rootz_pos", "rooty_angle"]), (True, []), (False, []),
                         (True, ["rooty_angle"])])
    assert got == {"ended_early": 0.75,
                   "ended_by": {OTHER_END: 0.25, "rooty_angle": 0.5, "rootz_pos": 0.25}}
    assert ending_shares([]) == {}
    # a curve written before these were recorded reads back with them unknown
    old = {"step": 1, "episodes": 2, "fitness": None, "success_rate": None, "episode_length": 3.0,
           "env_return": 0.0, "reward_return": 0.0, "components": {}}
    assert (CurvePoint(**old).ended_early, CurvePoint(**old).ended_by) == (None, {})
