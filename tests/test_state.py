"""The state view: the reproduction test from issue 2, and the physics behind every field."""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np
import pytest

from rewardsmith import tasks
from rewardsmith.state.view import Extra, StateSpec, UnknownStateField

# task -> the env its baseline re-implements; cheetah's 1000-step episodes are cut to 100 so
# that truncation resets happen within the test too.
REPRODUCED = {
    "hopper-forward-v0": None,
    "cheetah-run-v0": 100,
    "walker-forward-v0": None,
    "pendulum-balance-v0": None,
}
STEPS = 1000


def _run_random(venv, random_actions, min_transitions: int, seed: int = 0):
    """Step with random actions until the finished episodes hold ``min_transitions`` steps.
    Returns the rewards ``step()`` handed out, one list per sub-env."""
    rng = np.random.default_rng(seed)
    venv.reset()
    returned = [[] for _ in range(venv.num_envs)]
    for _ in range(20 * min_transitions):
        _, rew, _, _ = venv.step(random_actions(venv, rng))
        for i in range(venv.num_envs):
            returned[i].append(float(rew[i]))
        if sum(ep.length for eps in venv.episodes.values() for ep in eps) >= min_transitions:
            break
    return returned


@pytest.mark.parametrize("task_id", list(REPRODUCED))
def test_baseline_reproduces_env_reward(task_id, make_venv, random_actions):
    """A program written only against the state view reproduces the simulator's reward to 1e-6
    over 1000 random steps, terminal steps and resets included."""
    task = tasks.load(task_id)
    if REPRODUCED[task_id] is not None:
        task = dataclasses.replace(task, max_episode_steps=REPRODUCED[task_id])
    venv = make_venv(task, "baseline", n_envs=4, seed=1)
    returned = _run_random(venv, random_actions, STEPS, seed=1)
    episodes = [ep for i in sorted(venv.episodes) for ep in venv.episodes[i]]
    env_r = np.concatenate([ep.env_rewards for ep in episodes])
    prog_r = np.concatenate([ep.rewards for ep in episodes])
    assert env_r.size >= STEPS
    assert len(episodes) >= 4, "the test must cross episode ends and resets"
    np.testing.assert_allclose(prog_r, env_r, rtol=0, atol=1e-6)
    # the last step of every episode (termination or truncation) is reproduced too
    last = np.array([ep.env_rewards[-1] - ep.rewards[-1] for ep in episodes])
    assert np.abs(last).max() <= 1e-6
    # and the policy is handed the program's reward, step by step
    for i, eps in venv.episodes.items():
        ours = np.concatenate([ep.rewards for ep in eps])
        np.testing.assert_array_equal(ours, np.asarray(returned[i][: ours.size]))
    # the components the baseline reports are recorded per step
    assert all(ep.components and all(v.shape == (ep.length,) for v in ep.components.values())
               for ep in episodes)
    venv.close()


def test_env_reward_path_passes_env_reward_through(make_venv, random_actions):
    venv = make_venv(tasks.load("hopper-forward-v0"), None, n_envs=2)
    _run_random(venv, random_actions, 100)
    for eps in venv.episodes.values():
        for ep in eps:
            np.testing.assert_array_equal(ep.rewards, ep.env_rewards)
            assert ep.components == {}
    venv.close()


# ---------------------------------------------------------------------------- schema
UNITS = {"pos": "m", "linvel": "m/s", "angvel": "rad/s", "angle": "rad", "contact": "0/1",
         "quat": "-", "zaxis": "-", "vel": "m/s"}


def _reset_env(task, seed=0):
    env = task.make_env()
    env.reset(seed=seed)
    return env, env.unwrapped.model, env.unwrapped.data


@pytest.mark.parametrize("task_id", tasks.names())
def test_fields_shapes_units_for_every_task(task_id):
    task = tasks.load(task_id)
    spec = task.spec
    env, model, data = _reset_env(task)
    rows = np.stack([spec.extract(model, data), spec.extract(model, data)])
    env.close()
    assert rows.shape == (2, spec.size) and np.all(np.isfinite(rows))
    state = spec.view(rows)
    offsets = 0
    for name, f in spec.fields.items():
        assert f.offset == offsets, "fields tile the row without gaps"
        offsets += f.size
        assert getattr(state, name).shape == (2, *f.shape), name
        assert f.unit and f.doc, name
        suffix = name.rsplit("_", 1)[-1]
        if suffix in UNITS and f.group.startswith("body"):
            assert f.unit == UNITS[suffix], name
    assert offsets == spec.size
    for name in ("time", "dt", "qpos", "qvel", "com_pos", "com_vel"):
        assert name in spec.fields
    assert state.qpos.shape == (2, model.nq) and state.qvel.shape == (2, model.nv)
    np.testing.assert_allclose(state.dt, env.unwrapped.dt)
    np.testing.assert_allclose(state.time, data.time)
    bodies = [f.group.removeprefix("body ") for f in spec.fields.values() if f.group.startswith("body")]
    assert len(set(bodies)) == model.nbody - 1
    for b in set(bodies):
        for key in ("pos", "quat", "zaxis", "linvel", "angvel", "contact"):
            assert f"{b}_{key}" in spec.fields
        np.testing.assert_allclose(np.linalg.norm(getattr(state, f"{b}_quat"), axis=-1), 1.0, atol=1e-9)
        np.testing.assert_allclose(np.linalg.norm(getattr(state, f"{b}_zaxis"), axis=-1), 1.0, atol=1e-9)
    # every joint of the model is there by name
    for j in range(model.njnt):
        if model.jnt_type[j] in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE):
            name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j)
            suffix = "_angle" if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE else "_pos"
            np.testing.assert_allclose(getattr(state, name + suffix), data.qpos[model.jnt_qposadr[j]])
    text = spec.render()
    assert all(name in text for name in spec.fields)


def test_body_named_like_a_joint_gets_distinct_fields():
    """HalfCheetah's `bthigh` is a body and a hinge: the joint keeps the plain names."""
    spec = tasks.load("cheetah-run-v0").spec
    assert spec.fields["bthigh_angvel"].group == "joint bthigh"
    assert spec.fields["bthigh_body_angvel"].group.startswith("body")
    assert spec.fields["bthigh_body_angvel"].shape == (3,)


# --------------------------------------------------------------------------- physics
def _stepped(env_id: str, steps: int = 30, seed: int = 0):
    import gymnasium as gym

    env = gym.make(env_id)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    for _ in range(steps):
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            env.reset()
    u = env.unwrapped
    return env, u.model, u.data, StateSpec.from_model(u.model, u.dt)


def _body_fields(spec):
    return {f.group.removeprefix("body "): f.name.removesuffix("_pos")
            for f in spec.fields.values() if f.group.startswith("body") and f.name.endswith("_pos")}


def _kinematics_at(model, data, qpos):
    d = mujoco.MjData(model)
    d.qpos[:] = qpos
    mujoco.mj_kinematics(model, d)
    mujoco.mj_comPos(model, d)
    return d


@pytest.mark.parametrize("env_id", ["Hopper-v5", "HalfCheetah-v5", "Ant-v5"])
def test_linvel_angvel_com_match_finite_differences(env_id):
    env, model, data, spec = _stepped(env_id)
    state = spec.view(spec.extract(model, data))
    h = 1e-6
    qp, qm = data.qpos.copy(), data.qpos.copy()
    mujoco.mj_integratePos(model, qp, data.qvel, h)
    mujoco.mj_integratePos(model, qm, data.qvel, -h)
    dp, dm = _kinematics_at(model, data, qp), _kinematics_at(model, data, qm)
    scale = 1 + np.abs(data.qvel).max()
    names = [None] + [_body_fields(spec)[g] for g in _body_groups(spec)]
    for b in range(1, model.nbody):
        name = names[b]
        np.testing.assert_allclose(getattr(state, f"{name}_pos"), data.xpos[b], atol=1e-12)
        fd_lin = (dp.xpos[b] - dm.xpos[b]) / (2 * h)
        np.testing.assert_allclose(getattr(state, f"{name}_linvel"), fd_lin, atol=1e-5 * scale)
        # angular velocity: MuJoCo's own, and the finite difference of the orientation
        res = np.zeros(6)
        mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_BODY, b, res, 0)
        np.testing.assert_allclose(getattr(state, f"{name}_angvel"), res[:3], atol=1e-10)
        Rp, Rm = dp.xmat[b].reshape(3, 3), dm.xmat[b].reshape(3, 3)
        W = (Rp - Rm) / (2 * h) @ data.xmat[b].reshape(3, 3).T
        np.testing.assert_allclose(getattr(state, f"{name}_angvel"), [W[2, 1], W[0, 2], W[1, 0]],
                                   atol=1e-5 * scale)
        np.testing.assert_allclose(getattr(state, f"{name}_zaxis"), data.xmat[b].reshape(3, 3)[:, 2])
    mass = model.body_mass[1:]
    com = (mass[:, None] * data.xipos[1:]).sum(0) / mass.sum()
    np.testing.assert_allclose(state.com_pos, com, atol=1e-10)
    com_fd = ((mass[:, None] * (dp.xipos[1:] - dm.xipos[1:])).sum(0) / mass.sum()) / (2 * h)
    np.testing.assert_allclose(state.com_vel, com_fd, atol=1e-5 * scale)
    assert np.linalg.norm(state.com_vel) > 1e-3, "the robot moves after random steps"
    env.close()


def _body_groups(spec):
    seen = []
    for f in spec.fields.values():
        g = f.group.removeprefix("body ")
        if f.group.startswith("body") and g not in seen:
            seen.append(g)
    return seen


def test_joint_fields_are_qpos_qvel():
    env, model, data, spec = _stepped("Hopper-v5")
    s = spec.view(spec.extract(model, data))
    assert s.rootx_pos == data.qpos[0] and s.rootz_pos == data.qpos[1]
    assert s.rooty_angle == data.qpos[2] and s.thigh_joint_angle == data.qpos[3]
    assert s.rootx_vel == data.qvel[0] and s.thigh_joint_angvel == data.qvel[3]
    np.testing.assert_array_equal(s.qpos, data.qpos)
    np.testing.assert_array_equal(s.qvel, data.qvel)
    env.close()


def test_ball_and_free_joints():
    """Ant's root is a free joint: it shows in qpos/qvel and the torso body fields."""
    env, model, data, spec = _stepped("Ant-v5", steps=5)
    s = spec.view(spec.extract(model, data))
    np.testing.assert_allclose(s.torso_pos, data.qpos[:3])
    np.testing.assert_allclose(s.torso_quat, data.qpos[3:7])
    np.testing.assert_allclose(s.torso_linvel, data.qvel[:3], atol=1e-10)  # free joint: world-frame
    env.close()


def test_contacts_foot_on_ground_and_bodies_in_the_air():
    env, model, data, spec = _stepped("Hopper-v5", steps=0)
    for _ in range(20):  # it starts a few cm up and settles on its foot after ~10 steps
        env.step(np.zeros(env.action_space.shape))
    s = spec.view(spec.extract(model, data))
    assert s.foot_contact == 1.0, "the hopper stands on its foot"
    assert s.torso_contact == 0.0 and s.thigh_contact == 0.0
    # lift it 1 m: nothing touches anything
    data.qpos[1] += 1.0
    mujoco.mj_forward(model, data)
    s = spec.view(spec.extract(model, data))
    for b in ("torso", "thigh", "leg", "foot"):
        assert getattr(s, f"{b}_contact") == 0.0, b
    env.close()


# ------------------------------------------------------------------------------ views
@pytest.fixture(scope="module")
def hopper_rows():
    env, model, data, spec = _stepped("Hopper-v5", steps=3)
    rows = np.stack([spec.extract(model, data) for _ in range(5)])
    env.close()
    return spec, rows


def test_view_is_read_only(hopper_rows):
    spec, rows = hopper_rows
    before = rows.copy()
    s = spec.view(rows)
    with pytest.raises(TypeError, match="read-only"):
        s.torso_pos = np.zeros((5, 3))
    with pytest.raises(ValueError):
        s.torso_pos[:, 0] = 1.0
    with pytest.raises(ValueError):
        s.rootx_pos += 1.0  # in place on a read-only array
    with pytest.raises(ValueError):
        np.add(s.qpos, 1.0, out=s.qpos)
    with pytest.raises(ValueError):
        s.time[0] = 3.0
    np.testing.assert_array_equal(rows, before)
    assert rows.flags.writeable, "the view does not lock its caller's array"


def test_unknown_field_names_close_matches(hopper_rows):
    spec, rows = hopper_rows
    s = spec.view(rows)
    with pytest.raises(UnknownStateField) as e:
        _ = s.torso_position
    msg = str(e.value)
    assert "'torso_position'" in msg and "torso_pos" in msg and "Did you mean" in msg
    assert isinstance(e.value, AttributeError) and not hasattr(s, "torso_velocity")
    with pytest.raises(UnknownStateField, match="rootx_vel"):
        spec.field("rootx_velocity")
    assert "torso_pos" in s and "nope" not in s
    np.testing.assert_array_equal(s["torso_pos"], s.torso_pos)


def test_batched_views(hopper_rows):
    spec, rows = hopper_rows
    s = spec.view(rows)
    assert s.torso_pos.shape == (5, 3) and s.rootx_vel.shape == (5,) and s.qpos.shape == (5, 6)
    assert s.torso_quat.shape == (5, 4) and s.foot_contact.shape == (5,)
    stacked = spec.view(np.stack([rows, rows + 1.0]))  # (T, B, D)
    assert stacked.torso_pos.shape == (2, 5, 3) and stacked.time.shape == (2, 5)
    np.testing.assert_array_equal(stacked.torso_pos[1], rows[:, spec.fields["torso_pos"].offset:][:, :3] + 1)
    one = spec.view(rows[0])
    assert one.torso_pos.shape == (3,) and one.time.shape == ()
    assert "batch=(5,)" in repr(s)


def test_task_extras_are_appended():
    env, model, data, _ = _stepped("Reacher-v5", steps=2)
    goal = Extra("goal", (2,), "m", "where to go", lambda m, d: d.qpos[-2:] * 2)
    spec = StateSpec.from_model(model, env.unwrapped.dt, [goal])
    s = spec.view(spec.extract(model, data)[None])
    assert spec.fields["goal"].group == "task" and s.goal.shape == (1, 2)
    np.testing.assert_allclose(s.goal[0], data.qpos[-2:] * 2)
    assert "goal" in spec.render()
    env.close()


# ------------------------------------------------------------------ batched extraction
@pytest.mark.parametrize("task_id", ["hopper-forward-v0", "ant-forward-v0", "reacher-reach-v0"])
def test_batch_extractor_gives_the_rows_of_extract_bit_for_bit(task_id):
    task = tasks.load(task_id)
    spec = task.spec
    extras = [Extra("twice_qpos0", (2,), "-", "test extra", lambda m, d: 2 * d.qpos[:2])]
    envs = [task.make_env() for _ in range(3)]
    for i, env in enumerate(envs):
        env.reset(seed=i)
    models = [e.unwrapped.model for e in envs]
    datas = [e.unwrapped.data for e in envs]
    with_extra = StateSpec.from_model(models[0], spec.dt, extras)
    batch, batch_extra = spec.extractor(models, datas), with_extra.extractor(models, datas)
    rng = np.random.default_rng(0)
    contacts = 0
    for _ in range(150):
        for env in envs:
            _, _, term, trunc, _ = env.step(rng.uniform(env.action_space.low, env.action_space.high))
            if term or trunc:
                env.reset()
        rows, rows_extra = batch(), batch_extra()
        for i, (m, d) in enumerate(zip(models, datas)):
            np.testing.assert_array_equal(rows[i], spec.extract(m, d))
            np.testing.assert_array_equal(rows_extra[i], with_extra.extract(m, d))
            # one simulation's row alone (after a reset) is the same row
            np.testing.assert_array_equal(batch.one(i, np.empty(spec.size)), rows[i])
            np.testing.assert_array_equal(batch_extra.one(i, np.empty(with_extra.size)),
                                          rows_extra[i])
        contacts += sum(d.ncon > 0 for d in datas)
    assert contacts > 0 or task_id == "reacher-reach-v0"
    np.testing.assert_array_equal(with_extra.view(rows_extra).twice_qpos0[:, 0], 2 * rows[:, 2])
    for env in envs:
        env.close()


def test_episode_records_replay_and_outgrow_their_first_buffers(make_venv, random_actions):
    """Each recorded episode is what replaying its actions from its reset gives: states,
    actions, rewards, bit for bit, also past the records' first capacity (256 steps) and across
    the dropping of finished episodes' rows. A component a program leaves out in some steps
    counts 0 there."""
    task = dataclasses.replace(tasks.load("cheetah-run-v0"), max_episode_steps=300)
    program = """
def compute_reward(state, action, next_state):
    x = next_state.rootx_pos
    comps = {"x": x}
    if next_state.time[0] > 1.0:
        comps["late"] = np.ones_like(x)
    return x, comps
"""
    venv = make_venv(task, program, n_envs=2, seed=5)
    _run_random(venv, random_actions, 1800, seed=5)
    x_offset = task.spec.field("rootx_pos").offset
    for i in range(2):
        assert len(venv.episodes[i]) == 3
        env = task.make_env()
        env.reset(seed=5 + i)
        m, d = env.unwrapped.model, env.unwrapped.data
        for n, ep in enumerate(venv.episodes[i]):
            if n:
                env.reset()
            assert ep.length == 300 and ep.states.shape == (301, task.spec.size)
            x = ep.states[1:, x_offset]
            np.testing.assert_array_equal(ep.rewards, x.astype(np.float32))  # SB3's reward buffer
            np.testing.assert_array_equal(ep.components["x"], x)
            late = ep.next.time > 1.0
            np.testing.assert_array_equal(ep.components["late"], np.where(late, 1.0, 0.0))
            np.testing.assert_array_equal(ep.states[0], task.spec.extract(m, d))
            for t, a in enumerate(ep.actions):
                _, r, _, _, _ = env.step(a)
                assert ep.env_rewards[t] == np.float32(r)
                np.testing.assert_array_equal(ep.states[t + 1], task.spec.extract(m, d))
        env.close()
    venv.close()
