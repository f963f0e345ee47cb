"""The MJX ports against gymnasium: from the same state and action, one env step gives the same
observation, own reward, termination and state row; the reward program's components land in
``state.metrics``. Compiling one MJX step takes 20-60 s on a CPU: slow."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("brax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from rewardsmith import tasks  # noqa: E402
from rewardsmith.state.mjx_view import import_mjx  # noqa: E402
from rewardsmith.train.brax_env import PORTS, RewardEnv  # noqa: E402
from rewardsmith.train.sb3 import baseline_program  # noqa: E402

TASK_FOR_ENV = {
    "InvertedPendulum-v5": "pendulum-balance-v0",
    "Hopper-v5": "hopper-forward-v0",
    "HalfCheetah-v5": "cheetah-run-v0",
    "Ant-v5": "ant-sideways-v0",
    "Walker2d-v5": "walker-forward-v0",
    "Swimmer-v5": "swimmer-forward-v0",
    "InvertedDoublePendulum-v5": "double-pendulum-balance-v0",
    "Reacher-v5": "reacher-reach-v0",
}


# Steps of a random policy before the compared step. The Ant starts in the air and is compared
# before its feet touch the floor: MJX 3.17 regularises the Ant's contacts inside their margin
# differently from MuJoCo's C solver (3.17 and 4.0 alike: efc_D 0.68 there, 1-4 in MJX), so
# at contact the constraint forces, and with them the next state, differ by a few percent.
WARMUP = {"Ant-v5": 1}


def test_every_port_has_a_task():
    assert set(TASK_FOR_ENV) == set(PORTS)


@pytest.mark.slow
@pytest.mark.parametrize("env_id", sorted(TASK_FOR_ENV))
def test_one_step_matches_gymnasium(env_id):
    task = tasks.load(TASK_FOR_ENV[env_id])
    env = RewardEnv(task, baseline_program(task))
    mjx = import_mjx()
    gym_env = task.make_env()
    u = gym_env.unwrapped
    gym_env.reset(seed=3)
    gym_env.action_space.seed(3)
    for _ in range(WARMUP.get(env_id, 6)):
        gym_env.step(gym_env.action_space.sample())
    q, v = u.data.qpos.copy(), u.data.qvel.copy()
    rng = np.random.default_rng(1)
    a01 = rng.uniform(-0.9, 0.9, size=env.action_size)
    a_env = env.ctrl_low + (a01 + 1) / 2 * (env.ctrl_high - env.ctrl_low)

    u.set_state(q, v)
    u.data.time = 0.0
    prev = task.spec.extract(u.model, u.data).copy()
    obs, reward, terminated, _, _ = gym_env.step(a_env)
    row = task.spec.extract(u.model, u.data).copy()
    gym_env.close()

    def one(q, v, a):
        s = env.reset(jax.random.PRNGKey(0))
        d = mjx.forward(env.mx, s.pipeline_state.replace(qpos=q, qvel=v))
        s = s.replace(pipeline_state=d, info={**s.info, "row": env.row(d)})
        return s, env.step(s, a)

    f32 = jnp.float32
    s0, s1 = jax.jit(one)(jnp.asarray(q, f32), jnp.asarray(v, f32), jnp.asarray(a01, f32))
    np.testing.assert_allclose(np.asarray(s0.info["row"]), prev, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(s1.obs), obs, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(s1.info["row"]), row, rtol=1e-4, atol=1e-4)
    assert float(s1.metrics["env_reward"]) == pytest.approx(reward, rel=1e-4, abs=1e-4)
    assert bool(s1.done > 0.5) == bool(terminated)
    assert float(s1.metrics["nonfinite"]) == 0.0
    program = baseline_program(task)
    if program is None:  # trains on the env's own reward
        assert float(s1.reward) == pytest.approx(reward, rel=1e-4, abs=1e-4)
        assert env.component_names == ()
    else:  # the program, evaluated on the numpy path on the same transition
        from rewardsmith.reward.program import compile_program

        r_np, comps = compile_program(program)(task.spec.view(prev[None]), a_env[None],
                                               task.spec.view(row[None]))
        assert float(s1.reward) == pytest.approx(float(r_np[0]), rel=1e-3, abs=1e-3)
        assert env.component_names == tuple(sorted(comps))
        for k, val in comps.items():
            assert float(s1.metrics[f"component/{k}"]) == pytest.approx(float(val[0]), rel=1e-3,
                                                                          abs=1e-3)
