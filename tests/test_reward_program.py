"""Reward programs: loading, compiling, output checks, the reward vec env and the runtime guard."""

from __future__ import annotations

import numpy as np
import pytest

from rewardsmith import tasks
from rewardsmith.reward.program import (
    RewardProgram,
    RewardProgramError,
    check_output,
    compile_program,
)
from rewardsmith.reward.vecenv import RewardRuntimeError, RuntimeGuard
from rewardsmith.state.view import UnknownStateField

B = 4
CONSTANT = """
def compute_reward(state, action, next_state):
    bonus = 2.0
    effort = np.sum(np.square(action), axis=-1)
    return bonus + 0.0 * effort, {"bonus": bonus + 0.0 * effort, "effort": -effort}
"""


def _returning(expr: str, comps: str = "{}") -> RewardProgram:
    return RewardProgram.from_text(
        f"def compute_reward(state, action, next_state):\n"
        f"    n = action.shape[0]\n"
        f"    return {expr}, {comps}\n"
    )


@pytest.fixture(scope="module")
def hopper():
    return tasks.load("hopper-forward-v0")


@pytest.fixture(scope="module")
def batch(hopper):
    """A (B, D) batch of real hopper states and random actions."""
    env = hopper.make_env()
    env.reset(seed=0)
    model, data, spec = env.unwrapped.model, env.unwrapped.data, hopper.spec
    rows = []
    for _ in range(B + 1):
        env.step(env.action_space.sample())
        rows.append(spec.extract(model, data))
    env.close()
    rows = np.stack(rows)
    actions = np.random.default_rng(0).uniform(-1, 1, (B, 3))
    return spec.view(rows[:-1]), actions, spec.view(rows[1:])


# ------------------------------------------------------------------------- compiling
def test_compile_from_text_and_file(tmp_path, batch):
    path = tmp_path / "my_reward.py"
    path.write_text(CONSTANT)
    for program in (RewardProgram.from_text(CONSTANT), RewardProgram.from_file(path)):
        r, comps = compile_program(program)(*batch)
        np.testing.assert_array_equal(r, np.full(B, 2.0))
        assert set(comps) == {"bonus", "effort"} and comps["effort"].shape == (B,)
    assert RewardProgram.from_file(path).origin == str(path)
    assert RewardProgram.from_file(path).sha == RewardProgram.from_text(CONSTANT).sha


def test_missing_file(tmp_path):
    with pytest.raises(RewardProgramError, match="does not exist"):
        RewardProgram.from_file(tmp_path / "nope.py")


def test_missing_compute_reward():
    src = "def reward(state, action, next_state):\n    return 1.0, {}\n"
    with pytest.raises(RewardProgramError, match="compute_reward"):
        compile_program(RewardProgram.from_text(src))
    with pytest.raises(RewardProgramError, match="does not define compute_reward"):
        compile_program(RewardProgram.from_text("compute_reward = 3\n"), checked=False)


@pytest.mark.parametrize("checked", [True, False])
def test_syntax_error(checked):
    src = "def compute_reward(state, action, next_state)\n    return 1.0, {}\n"
    with pytest.raises(RewardProgramError, match="(?i)syntax error.*line 1"):
        compile_program(RewardProgram.from_text(src), checked=checked)


def test_error_while_defining():
    src = "K = 1 / 0\ndef compute_reward(state, action, next_state):\n    return K, {}\n"
    with pytest.raises(RewardProgramError, match="ZeroDivisionError"):
        compile_program(RewardProgram.from_text(src))


def test_static_checks_reject_imports():
    src = "import os\ndef compute_reward(state, action, next_state):\n    return 1.0, {}\n"
    with pytest.raises(RewardProgramError, match="import"):
        compile_program(RewardProgram.from_text(src))


# ----------------------------------------------------------------------- output checks
@pytest.mark.parametrize("expr, comps, message", [
    ("None", None, "must return a tuple"),  # the whole return value is None
    ("None", "{}", "reward must be an array of shape"),
    ("[1.0] * 4", "{}", "reward must be an array of shape"),
    ("'high'", "{}", "reward must be an array of shape"),
    ("np.ones((n, 3))", "{}", r"shape \(4, 3\); it must be \(4,\)"),
    ("np.ones(n + 1)", "{}", r"shape \(5,\)"),
    ("np.array([None] * n)", "{}", "real numbers"),
    ("np.ones(n) * 1j", "{}", "real numbers"),
    ("np.ones(n)", "[1.0]", "components must be a dict"),
    ("np.ones(n)", "{'a': np.ones((n, 2))}", r"component 'a' has shape \(4, 2\)"),
    ("np.ones(n)", "{'a': None}", "component 'a' must be an array"),
    ("np.ones(n)", "{1: np.ones(n)}", "component names must be strings"),
])
def test_wrong_outputs_are_clear_errors(batch, expr, comps, message):
    if comps is None:
        program = RewardProgram.from_text("def compute_reward(state, action, next_state):\n"
                                          "    return None\n")
    else:
        program = _returning(expr, comps)
    reward = compile_program(program, checked=False)  # the static layer forbids some of these
    with pytest.raises(RewardProgramError, match=message):
        reward(*batch)


@pytest.mark.parametrize("expr", ["1.5", "np.float32(1.5)", "np.array(1.5)", "np.full((n, 1), 1.5)",
                                  "np.ones(n, dtype=np.int64) + 0.5"])
def test_scalars_and_columns_broadcast(batch, expr):
    r, comps = compile_program(_returning(expr, "{'c': 1.5}"), checked=False)(*batch)
    assert r.shape == (B,) and r.dtype.kind == "f"
    np.testing.assert_array_equal(r, np.full(B, 1.5))
    np.testing.assert_array_equal(comps["c"], np.full(B, 1.5))


def test_bool_rewards_become_floats(batch):
    r, _ = compile_program(_returning("next_state.rootz_pos > -10.0"))(*batch)
    assert r.dtype.kind == "f" and r.shape == (B,)
    np.testing.assert_array_equal(r, np.ones(B))


def test_bool_reward_of_wrong_shape_is_rejected():
    with pytest.raises(RewardProgramError, match="shape"):
        check_output((np.ones((B, 3), dtype=bool), {}), B)


def test_components_need_not_sum_to_the_reward(batch):
    r, comps = compile_program(_returning("np.zeros(n)", "{'a': np.ones(n), 'b': 3.0}"))(*batch)
    np.testing.assert_array_equal(r, np.zeros(B))
    np.testing.assert_array_equal(comps["b"], np.full(B, 3.0))


def test_program_sees_read_only_inputs(hopper, make_venv, random_actions):
    src = ("def compute_reward(state, action, next_state):\n"
           "    next_state.qpos[:, 0] = 0.0\n"
           "    return np.zeros(action.shape[0]), {}\n")
    venv = make_venv(hopper, src, n_envs=2)
    venv.reset()
    with pytest.raises(RewardRuntimeError, match="read-only"):
        venv.step(random_actions(venv, np.random.default_rng(0)))
    venv.close()


def test_unknown_field_in_program_names_close_matches(hopper, make_venv, random_actions):
    venv = make_venv(hopper, _returning("next_state.torso_height"), n_envs=2)
    venv.reset()
    with pytest.raises(UnknownStateField, match="torso_pos"):
        venv.step(random_actions(venv, np.random.default_rng(0)))
    venv.close()


# ------------------------------------------------------------------------ the vec env
def _episodes(venv, random_actions, n_episodes: int, seed: int = 0, max_steps: int = 5000):
    rng = np.random.default_rng(seed)
    venv.reset()
    returned = []
    for _ in range(max_steps):
        _, r, _, _ = venv.step(random_actions(venv, rng))
        returned.append(r)
        if len(venv.summaries) >= n_episodes:
            break
    return np.stack(returned)


def test_vecenv_trains_on_program_and_records_env_reward(hopper, make_venv, random_actions):
    """The policy gets the program's reward; each episode still records the simulator's
    reward, the fitness and the per-component sums."""
    ours = make_venv(hopper, CONSTANT, n_envs=2, seed=3)
    returned = _episodes(ours, random_actions, 6, seed=3)
    np.testing.assert_array_equal(returned, 2.0)
    native = make_venv(hopper, None, n_envs=2, seed=3)  # the same trajectories, env reward
    native_returned = _episodes(native, random_actions, 6, seed=3, max_steps=len(returned))
    assert not np.allclose(native_returned, 2.0)

    for s, n in zip(ours.summaries, native.summaries):
        assert s.length == n.length
        assert s.reward_return == pytest.approx(2.0 * s.length)
        assert s.env_return == pytest.approx(n.env_return, abs=1e-9)
        assert s.env_return != pytest.approx(s.reward_return)
        assert s.components["bonus"] == pytest.approx(2.0 * s.length)
        assert s.components["effort"] < 0
        assert n.components == {} and n.reward_return == pytest.approx(n.env_return)
    # and the episodes behind the summaries agree with them
    for eps in ours.episodes.values():
        for ep in eps:
            s = next(x for x in ours.summaries if x.length == ep.length
                     and x.env_return == pytest.approx(float(ep.env_rewards.sum())))
            assert s.fitness == pytest.approx(hopper.fitness(ep))
            assert s.success == bool(hopper.fitness.success(ep))
            assert s.components["effort"] == pytest.approx(float(ep.components["effort"].sum()))
            assert ep.states.shape == (ep.length + 1, hopper.spec.size)
    summaries = ours.pop_summaries()
    assert len(summaries) >= 6 and ours.summaries == []
    assert summaries[-1].step == max(s.step for s in summaries) <= ours.total_steps
    ours.close()
    native.close()


def test_runtime_guard_stops_a_nan_program_and_reports_the_first_bad_step(hopper, make_venv):
    # NaN once the simulated time passes 0.1 s: step 12 of each env (dt = 0.008 s), so env step
    # 24 over two envs; zero actions keep the hopper standing until then.
    src = _returning("np.where(next_state.time > 0.1, np.nan, 1.0)",
                     "{'ok': np.ones(n), 'bad': np.where(next_state.time > 0.1, np.inf, 0.0)}")
    venv = make_venv(hopper, src, n_envs=2)
    venv.guard = RuntimeGuard(max_nonfinite_calls=5)
    venv.reset()
    zeros = np.zeros((2, 3))
    for _ in range(12):
        _, r, done, _ = venv.step(zeros)
        assert np.all(r == 1.0) and not done.any()
    _, r, _, _ = venv.step(zeros)
    np.testing.assert_array_equal(r, 0.0)  # non-finite values never reach the learner
    assert venv.guard.first_bad_step == 24 and "bad" in venv.guard.first_bad_detail
    with pytest.raises(RewardRuntimeError, match="first at env step 24") as e:
        for _ in range(10):
            venv.step(zeros)
    assert "non-finite" in str(e.value) and "bad" in str(e.value)
    assert venv.guard.nonfinite_calls == 6 and venv.guard.to_json()["first_bad_step"] == 24
    venv.close()


def test_runtime_guard_tolerates_rare_nans():
    guard = RuntimeGuard(max_nonfinite_calls=3)
    for step in range(0, 30, 10):
        out = guard.check(step, np.array([1.0, np.nan]), {})
        np.testing.assert_array_equal(out, [1.0, 0.0])
    assert guard.first_bad_step == 0 and guard.nonfinite_values == 3
    np.testing.assert_array_equal(guard.check(40, np.ones(2), {}), np.ones(2))


def test_program_exception_becomes_runtime_error(hopper, make_venv, random_actions):
    venv = make_venv(hopper, _returning("np.ones(n) + np.ones(n + 1)"), n_envs=2)
    venv.reset()
    with pytest.raises(RewardRuntimeError, match="raised ValueError at env step 0"):
        venv.step(random_actions(venv, np.random.default_rng(0)))
    venv.close()


def test_fingerprint_ignores_comments_docstrings_and_layout_but_not_code():
    from rewardsmith.reward.program import fingerprint

    a = "def compute_reward(state, action, next_state):\n    w = 1.0\n    return w, {}\n"
    b = ('def compute_reward(state, action,\n                   next_state):\n'
         '    """A docstring."""\n    # a comment\n\n    w = 1.0   # weight\n    return w, {}\n')
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(a.replace("1.0", "2.0"))
    assert fingerprint("def broken(:\n  x") == fingerprint("def broken(:   # note\n\n  x")
