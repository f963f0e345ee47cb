"""State-view parity: the same qpos/qvel into mujoco.MjData and mjx.Data give the same row,
field by field (float32 on the JAX side: tolerance 1e-5)."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("mujoco.mjx")

from rewardsmith import tasks  # noqa: E402
from rewardsmith.state.mjx_view import extract_batch  # noqa: E402


def _states(task, n: int = 6, seed: int = 0):
    """(qpos, qvel, time, numpy rows) of states visited by a random policy, some with extra
    random velocity, each recomputed with mj_forward."""
    env = task.make_env()
    try:
        u = env.unwrapped
        m, d = u.model, u.data
        rng = np.random.default_rng(seed)
        env.action_space.seed(seed)
        Q, V, T, R = [], [], [], []
        env.reset(seed=seed)
        for i in range(n):
            for _ in range(int(rng.integers(5, 40))):
                _, _, term, trunc, _ = env.step(env.action_space.sample())
                if term or trunc:
                    env.reset(seed=seed + i + 1)
            q = d.qpos.copy()
            v = d.qvel.copy() + (rng.normal(size=m.nv) if i % 2 else 0.0)
            t = 0.1 * i
            d.qpos[:], d.qvel[:], d.time = q, v, t
            mujoco.mj_forward(m, d)
            R.append(task.spec.extract(m, d).copy())
            Q.append(q)
            V.append(v)
            T.append(t)
        return m, np.array(Q), np.array(V), np.array(T), np.array(R)
    finally:
        env.close()


def _compare(task, rows, ref):
    assert rows.shape == ref.shape
    for name, f in task.spec.fields.items():
        a = rows[:, f.offset : f.offset + f.size]
        b = ref[:, f.offset : f.offset + f.size]
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=f"field {name}")


def test_pendulum_rows_match_field_by_field():
    task = tasks.load("pendulum-balance-v0")
    m, q, v, t, ref = _states(task)
    _compare(task, extract_batch(task.spec, m, q, v, t), ref)


@pytest.mark.slow
@pytest.mark.parametrize("task_id", ["hopper-forward-v0", "cheetah-run-v0", "ant-forward-v0",
                                     "walker-forward-v0", "reacher-reach-v0"])
def test_robot_rows_match_field_by_field(task_id):
    task = tasks.load(task_id)
    m, q, v, t, ref = _states(task, n=8)
    rows = extract_batch(task.spec, m, q, v, t)
    _compare(task, rows, ref)
    if task_id != "reacher-reach-v0":  # robots on the floor: the contact flags were exercised
        contact = [f.offset for n, f in task.spec.fields.items() if n.endswith("_contact")]
        assert ref[:, contact].sum() > 0


@pytest.mark.slow
def test_contacts_match_when_the_hopper_lies_on_the_floor():
    task = tasks.load("hopper-forward-v0")
    env = task.make_env()
    u = env.unwrapped
    m, d = u.model, u.data
    q = m.qpos0.copy()
    q[1] = -0.6  # rootz: the leg and foot in the floor
    q[2] = 0.3
    d.qpos[:], d.qvel[:] = q, 0.0
    mujoco.mj_forward(m, d)
    ref = task.spec.extract(m, d)[None]
    env.close()
    assert d.ncon > 0
    rows = extract_batch(task.spec, m, q[None], np.zeros((1, m.nv)))
    _compare(task, rows, ref)
