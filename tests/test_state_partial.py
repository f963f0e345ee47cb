"""Partial state rows: training fills only the fields the reward, fitness and success read."""

from __future__ import annotations

import numpy as np
import pytest

from rewardsmith import tasks
from rewardsmith.errors import RewardsmithError
from rewardsmith.reward.program import RewardProgram, compile_program, fields_read
from rewardsmith.reward.vecenv import fields_needed
from rewardsmith.state.view import UnknownStateField
from rewardsmith.train.sb3 import baseline_program

NAMES = ["torso_pos", "rootx_vel", "foot_contact", "dt"]

JOINTS_ONLY = '''
def compute_reward(state, action, next_state):
    speed = next_state.rootx_vel
    return speed, {"speed": speed}
'''

WITH_BODIES = '''
def compute_reward(state, action, next_state):
    height = next_state.torso_pos[:, 2]
    lean = state["torso_zaxis"][:, 2]
    return next_state.rootx_vel + height + lean, {"height": height}
'''

WITH_CONTACT = '''
def compute_reward(state, action, next_state):
    return next_state.rootx_vel - next_state.foot_contact, {}
'''


# ------------------------------------------------------------------ reading the source
def test_fields_read_finds_attributes_and_string_keys():
    src = '''
def compute_reward(state, action, next_state):
    keys = ["dt"]
    up = next_state.torso_pos[:, 2] * state["rootx_vel"] + next_state[keys[0]]
    return up, {"up": up, "torso_pos_note": up}
'''
    assert fields_read(src, NAMES) == {"torso_pos", "rootx_vel", "dt"}


@pytest.mark.parametrize("built", [
    'next_state[f"torso_{k}"]',          # an f-string
    'next_state["torso_" + k]',          # concatenation with a constant
    'next_state["_".join(["torso", k])]',  # a string method
    'next_state[str(k)]',                # str()
    'next_state["torso_%s" % k]',        # % formatting
])
def test_fields_read_gives_up_on_names_built_at_run_time(built):
    src = f'''
def compute_reward(state, action, next_state):
    k = "pos"
    x = {built}
    return x[:, 0], {{}}
'''
    assert fields_read(src, NAMES) is None


def test_fields_read_of_text_that_does_not_parse_is_unknown():
    assert fields_read("def compute_reward(:", NAMES) is None


# ------------------------------------------------------------------ partial rows
def _stepped_sims(task, n=2, steps=40, seed=0):
    envs = [task.make_env() for _ in range(n)]
    rng = np.random.default_rng(seed)
    for i, env in enumerate(envs):
        env.reset(seed=i)
    for _ in range(steps):
        for env in envs:
            env.step(rng.uniform(env.action_space.low, env.action_space.high))
    return envs


@pytest.mark.parametrize("fields, kinematics, contact", [
    (["rootx_vel", "dt"], False, False),
    (["torso_pos"], True, False),
    (["foot_contact", "rootx_pos"], False, True),
    (None, True, True),
])
def test_partial_rows_match_full_rows_on_what_they_fill(fields, kinematics, contact):
    task = tasks.load("hopper-forward-v0")
    spec = task.spec
    assert spec.needs(fields) == (kinematics, contact)
    envs = _stepped_sims(task)
    models = [e.unwrapped.model for e in envs]
    datas = [e.unwrapped.data for e in envs]
    part = spec.extractor(models, datas, fields)
    rows = part()  # first: the partial one, which recomputes nothing it need not
    one = part.one(1, np.empty(spec.size))
    full = spec.extractor(models, datas)()
    view, full_view = part.view_spec.view(rows), spec.view(full)
    filled = [n for n in spec.fields if n not in part.view_spec._missing]
    assert set(fields or spec.fields) <= set(filled)
    for name in filled:
        np.testing.assert_array_equal(getattr(view, name), getattr(full_view, name), err_msg=name)
        np.testing.assert_array_equal(getattr(part.view_spec.view(one), name),
                                      getattr(full_view, name)[1], err_msg=name)
    missing = sorted(part.view_spec._missing)
    if fields is None:
        assert not missing
        return
    assert ("torso_pos" in missing) != kinematics and ("foot_contact" in missing) != contact
    for name in missing:  # never filled: NaN in the row, and refused by name in a view
        assert np.isnan(getattr(spec.view(rows), name)).all()
        with pytest.raises(RewardsmithError, match=name) as err:
            getattr(view, name)
        assert not isinstance(err.value, UnknownStateField)
    with pytest.raises(UnknownStateField):  # a field that does not exist is still that error
        view.no_such_field  # noqa: B018
    for env in envs:
        env.close()


def _needed(task_id, source=None, fitness=True):
    from rewardsmith.reward.program import RewardProgram, compile_program

    task = tasks.load(task_id)
    env = task.make_env()
    env.reset(seed=0)
    u = env.unwrapped
    rows = task.spec.extractor([u.model], [u.data])()
    reward = (compile_program(RewardProgram(source)) if source else
              compile_program(baseline_program(task)))
    fit = task.fitness if fitness else None
    out = fields_needed(task.spec, rows, env.action_space.shape, reward,
                        fit.fn if fit else None, fit.success if fit else None)
    env.close()
    return out


def test_fields_needed_joins_the_program_and_the_tasks_own_reads():
    # cheetah's baseline reads rootx_pos and dt; its fitness, rootx_vel and dt
    assert _needed("cheetah-run-v0") == {"rootx_pos", "rootx_vel", "dt"}
    assert _needed("hopper-forward-v0", WITH_BODIES) == {"torso_pos", "torso_zaxis", "rootx_vel", "dt"}
    assert _needed("hopper-forward-v0", WITH_BODIES, fitness=False) == {
        "torso_pos", "torso_zaxis", "rootx_vel"}


def test_fields_needed_is_everything_when_it_cannot_tell():
    assert _needed("hopper-forward-v0", JOINTS_ONLY.replace("next_state.rootx_vel",
                                                            'next_state["rootx_" + "vel"]')) is None
    # a program that fails on the probe: training will report it; meanwhile fill everything
    assert _needed("hopper-forward-v0", JOINTS_ONLY.replace("speed, {", "speed[:, 5], {")) is None
    # an ad-hoc task's fitness expression reads every field by name
    task = tasks.adhoc("Hopper-v5", "hop", "next_state.rootx_vel")
    env = task.make_env()
    env.reset(seed=0)
    rows = task.spec.extractor([env.unwrapped.model], [env.unwrapped.data])()
    got = fields_needed(task.spec, rows, env.action_space.shape, None, task.fitness.fn)
    assert got == set(task.spec.fields)
    env.close()


@pytest.mark.parametrize("source", [None, JOINTS_ONLY, WITH_BODIES, WITH_CONTACT])
def test_partial_training_env_gives_the_same_rewards_and_episodes(source, make_venv, random_actions):
    """Partial rows change nothing training sees: rewards, components, episode fitness."""
    task = tasks.load("hopper-forward-v0")
    program = "baseline" if source is None else source
    full = make_venv(task, program, n_envs=2, keep_episodes=False)
    part = make_venv(task, program, n_envs=2, keep_episodes=False, partial=True)
    if source is JOINTS_ONLY:
        assert not part._extract._kin and not part._extract._contact
    if source is WITH_CONTACT:
        assert part._extract._contact and not part._extract._kin
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    full.reset(), part.reset()
    for _ in range(300):
        _, r1, d1, _ = full.step(random_actions(full, rng_a))
        _, r2, d2, _ = part.step(random_actions(part, rng_b))
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(d1, d2)
    a, b = full.pop_summaries(), part.pop_summaries()
    assert len(a) == len(b) > 5
    for x, y in zip(a, b):
        assert (x.length, x.fitness, x.success, x.reward_return, x.components) == (
            y.length, y.fitness, y.success, y.reward_return, y.components)
        assert (x.terminated, x.ended_by) == (y.terminated, y.ended_by)  # why each ended
    assert any(x.terminated and x.ended_by for x in a)  # random hopper actions fall
    assert all(x.ended_by == () for x in a if not x.terminated)
    full.close(), part.close()


def test_a_training_env_fills_the_fields_of_the_envs_own_bounds():
    """Which bound ended a training episode is read from fields the reward may not read: they
    are filled all the same; an ant's torso height from qpos[2], where the env reads it, not
    from its body position, which would cost kinematics."""
    from rewardsmith.reward.vecenv import RewardVecEnv

    task = tasks.load("ant-forward-v0")
    qvel_only = RewardProgram.from_text(
        "def compute_reward(state, action, next_state):\n    return next_state.qvel[:, 0], {}\n")
    envs = [RewardVecEnv([task.make_env], task.spec, compile_program(qvel_only), partial=True,
                         bounds=b) for b in (None, ())]
    (own,) = envs[0].bounds
    assert (own.field, own.index, own.low, own.high, own.qpos) == ("torso_pos", 2, 0.2, 1.0, 2)
    assert "qpos" not in envs[0]._view_spec._missing and not envs[0]._extract._kin
    assert own.values(envs[0]._view_spec.view(envs[0]._prev)).shape == (1,)  # filled: readable
    # the same value either way, on a full row
    full = RewardVecEnv([task.make_env], task.spec, None)
    full.reset()
    full.step(np.zeros((1, task.action_dim)))
    view = task.spec.view(full._prev)
    assert own.values(view)[0] == view.torso_pos[0, 2]
    for e in (*envs, full):
        e.close()


def test_kept_episodes_always_hold_every_field(make_venv):
    task = tasks.load("hopper-forward-v0")
    venv = make_venv(task, JOINTS_ONLY, n_envs=1, keep_episodes=True, partial=True)
    assert venv._extract._kin and venv._extract._contact
    assert not venv._view_spec._missing
    venv.close()
