"""Layer 4, the runtime guard: every reward call is checked while training."""

from __future__ import annotations

import numpy as np
import pytest

vecenv = pytest.importorskip("rewardsmith.reward.vecenv")
RuntimeGuard, RewardRuntimeError = vecenv.RuntimeGuard, vecenv.RewardRuntimeError


def test_finite_rewards_pass_unchanged():
    g = RuntimeGuard()
    r = np.array([1.0, -2.0, 3.5])
    out = g.check(0, r, {"a": r})
    assert out is r and g.nonfinite_calls == 0 and g.first_bad_step is None


def test_nonfinite_values_are_counted_and_zeroed():
    g = RuntimeGuard(max_nonfinite_calls=10)
    r = np.array([1.0, np.nan, np.inf, 2.0])
    out = g.check(40, r, {"ok": np.ones(4), "bad": r})
    assert out.tolist() == [1.0, 0.0, 0.0, 2.0]
    assert g.nonfinite_calls == 1 and g.nonfinite_values == 2
    assert g.first_bad_step == 40 and "bad" in g.first_bad_detail and "ok" not in g.first_bad_detail
    g.check(48, np.array([np.nan, 1.0, 1.0, 1.0]), {})
    assert g.first_bad_step == 40 and g.nonfinite_values == 3
    j = g.to_json()
    assert j["nonfinite_calls"] == 2 and j["first_bad_step"] == 40


def test_a_candidate_that_keeps_producing_them_is_stopped():
    g = RuntimeGuard(max_nonfinite_calls=3)
    bad = np.array([np.nan, 1.0])
    for step in range(3):
        g.check(step * 8 + 16, bad, {})
    with pytest.raises(RewardRuntimeError) as e:
        g.check(100, bad, {})
    msg = str(e.value)
    assert "first at env step 16" in msg and "non-finite" in msg
    assert "np.maximum" in msg  # says what to change


def test_occasional_nonfinite_values_do_not_stop_training():
    g = RuntimeGuard(max_nonfinite_calls=5)
    for step in range(1000):
        r = np.array([np.nan]) if step % 250 == 0 else np.array([1.0])
        g.check(step, r, {})
    assert g.nonfinite_calls == 4


def test_nonfinite_components_of_a_finite_reward_are_zeroed_and_counted():
    g = RuntimeGuard()
    r = np.array([1.0, 2.0])
    comps = {"ok": np.ones(2), "ratio": np.array([np.inf, 0.5])}
    out = g.check(24, r, comps)
    assert out is r and g.nonfinite_calls == 0
    assert comps["ratio"].tolist() == [0.0, 0.5] and comps["ok"].tolist() == [1.0, 1.0]
    assert g.to_json()["nonfinite_component_calls"] == 1
    assert g.to_json()["first_bad_component"] == "ratio at env step 24"


def test_guard_inside_the_vec_env():
    """A reward that is NaN on every step stops training with the first offending step."""
    from rewardsmith import tasks
    from rewardsmith.reward.program import RewardProgram, compile_program

    task = tasks.load("hopper-forward-v0")
    prog = compile_program(RewardProgram(
        "def compute_reward(state, action, next_state):\n"
        "    return next_state.rootx_vel * np.nan, {}\n"))
    env = vecenv.RewardVecEnv([task.make_env], task.spec, prog,
                              guard=RuntimeGuard(max_nonfinite_calls=5))
    env.reset()
    with pytest.raises(RewardRuntimeError, match="first at env step 0"):
        for _ in range(20):
            env.step(np.zeros((1, task.action_dim)))
    env.close()
