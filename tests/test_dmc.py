"""DeepMind Control Suite tasks (the dmc extra): the adapter env, the baselines against the
suite's own reward, ad-hoc ``dmc:DOMAIN/TASK`` ids, and the message without dm_control."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from rewardsmith import tasks
from rewardsmith.contracts import Episode
from rewardsmith.reward.program import compile_program
from rewardsmith.tasks import dmc
from rewardsmith.train.sb3 import baseline_program

DMC_TASKS = [n for n in tasks.names() if n.startswith("dmc-")]


def test_without_dm_control_a_dmc_id_says_which_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dm_control", None)  # the import fails
    task = tasks.Task(id="x-v0", env_id="dmc:cartpole/three_poles", description="x",
                      fitness=None, baseline_reward="env")
    with pytest.raises(dmc.DmcError) as e:
        task.make_env()
    assert "dm_control" in str(e.value) and "rewardsmith[dmc]" in (e.value.hint or "")


def test_a_malformed_dmc_id_is_a_clear_error():
    with pytest.raises(dmc.DmcError, match="dmc:DOMAIN/TASK"):
        dmc.parse("dmc:walker")


@pytest.fixture
def suite():
    """dm_control's suite; the tests that run it are skipped without the dmc extra."""
    return pytest.importorskip("dm_control.suite",
                               reason="the dmc extra (dm_control) is not installed")


def test_at_least_eight_suite_tasks_are_registered():
    assert len(DMC_TASKS) >= 8
    assert {"dmc-walker-walk-v0", "dmc-cheetah-run-v0", "dmc-cartpole-swingup-v0",
            "dmc-quadruped-walk-v0"} <= set(DMC_TASKS)


def _kicked_rollout(task, steps=150, seed=0):
    """Random transitions, with the joint velocities kicked every few steps so that the sparse
    and speed-gated terms of the suite's rewards (a spinning hinge, a fast hop) are reached:
    (prev rows, actions, next rows, the suite's rewards)."""
    env = task.make_env()
    u, spec = env.unwrapped, task.spec
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    prev, acts, nxt, rews = [], [], [], []
    for k in range(steps):
        if k % 5 == 0:  # before the state row is taken, so the transition is consistent
            sign = 1.0 if k % 10 == 0 else -1.0  # every joint one way, then the other
            u.data.qvel[:] += sign * np.abs(rng.normal(0.0, 8.0, u.model.nv))
        if task.env_id.startswith("dmc:reacher") and k % 10 == 0:
            # the target (a world geom) moved under the fingertip, so its sparse reward is paid
            u.model.geom_pos[u.model.geom("target").id, :2] = u.data.xpos[u.model.body("finger").id, :2]
        row = spec.extract(u.model, u.data).copy()
        a = env.action_space.sample()
        _, r, term, trunc, _ = env.step(a)
        prev.append(row)
        acts.append(a)
        nxt.append(spec.extract(u.model, u.data).copy())
        rews.append(r)
        if term or trunc:
            env.reset()
    env.close()
    return np.stack(prev), np.stack(acts).astype(np.float64), np.stack(nxt), np.asarray(rews)


@pytest.mark.parametrize("task_id", DMC_TASKS)
def test_the_baseline_program_is_the_suites_own_reward(task_id, suite):
    task = tasks.load(task_id)
    program = baseline_program(task)
    assert program is not None, "written over the state view, not natively"
    prev, acts, nxt, suite_rewards = _kicked_rollout(task)
    spec = task.spec
    mine, comps = compile_program(program)(spec.view(prev), acts, spec.view(nxt))
    np.testing.assert_allclose(mine, suite_rewards, rtol=0, atol=1e-6)
    # not a vacuous match: the suite's reward took more than one value on the rollout
    assert np.ptp(suite_rewards) > 0, f"{task_id}: reward constant at {suite_rewards[0]}"
    # the task score is the suite's episode return
    ep = Episode(states=np.concatenate([prev[:1], nxt]), actions=acts, env_rewards=suite_rewards,
                 rewards=mine, components=comps, terminated=False, spec=spec)
    assert task.fitness(ep) == pytest.approx(float(suite_rewards.sum()))


def test_the_adapter_is_seeded_and_ends_episodes_at_the_suites_length(suite):
    task = tasks.load("dmc-cartpole-swingup-v0")
    env = task.make_env()
    a, _ = env.reset(seed=3)
    b, _ = env.reset(seed=3)
    c, _ = env.reset(seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert env.observation_space.shape == a.shape and env.unwrapped.dt == pytest.approx(0.01)
    steps, done = 0, False
    while not done:
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        steps += 1
        done = term or trunc
    assert steps == 1000 and trunc and not term
    env.close()
    # the suite's model and data are what the state view reads
    short = tasks.Task(id="short-v0", env_id="dmc:cartpole/swingup", description="x",
                       fitness=None, baseline_reward="env", max_episode_steps=7)
    env = short.make_env()
    env.reset(seed=0)
    assert type(env.unwrapped.model).__name__ == "MjModel"
    for _ in range(7):
        _, _, term, trunc, _ = env.step(env.action_space.sample())
    assert trunc and not term
    env.close()


def test_an_adhoc_dmc_env_builds_a_task(suite):
    task = tasks.adhoc("dmc:finger/turn_hard", "spin the dial to the target",
                       "-np.sqrt(np.sum(np.square(tip_pos - target_pos), axis=-1))")
    assert task.env_id == "dmc:finger/turn_hard" and task.baseline_reward == "env"
    assert {"hinge_angle", "tip_pos", "target_pos", "com_vel"} <= set(task.spec.fields)
    assert "spin the dial to the target" in task.llm_context()
    assert tasks.from_origin(task.origin).spec.fields.keys() == task.spec.fields.keys()
    env = task.make_env()
    env.reset(seed=0)
    u = env.unwrapped
    rows = [task.spec.extract(u.model, u.data).copy()]
    acts = []
    for _ in range(5):
        acts.append(env.action_space.sample())
        env.step(acts[-1])
        rows.append(task.spec.extract(u.model, u.data).copy())
    env.close()
    ep = Episode(states=np.stack(rows), actions=np.stack(acts), env_rewards=np.zeros(5),
                 rewards=np.zeros(5), components={}, terminated=False, spec=task.spec)
    view = ep.next
    want = -np.mean(np.linalg.norm(view.tip_pos - view.target_pos, axis=-1))
    assert task.fitness(ep) == pytest.approx(want)


def test_an_unknown_suite_task_names_the_domains_tasks(suite):
    with pytest.raises(dmc.DmcError) as e:
        tasks.adhoc("dmc:finger/turn_hardd", "x", None)
    assert "finger/turn_hard" in (e.value.hint or "") and "finger/spin" in (e.value.hint or "")


def test_the_exported_baseline_gives_the_suites_reward_on_the_suite_env(suite, tmp_path):
    """The exported module (no rewardsmith in it) on the suite's env as shimmy makes it and on
    rewardsmith's adapter: its reward is the suite's own, step by step."""
    pytest.importorskip("shimmy", reason="the dmc extra (shimmy) is not installed")
    import importlib.util

    import gymnasium as gym

    from rewardsmith.export import render_module

    task = tasks.load("dmc-hopper-hop-v0")  # with task extras (body centres of mass)
    text = render_module(task, task.baseline_reward, meta={"run_id": "r", "candidate": "0-0"})
    assert "import rewardsmith" not in text and "from rewardsmith" not in text
    assert "ENV_ID = 'dm_control/hopper-hop-v0'" in text
    path = tmp_path / "hop_reward.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("hop_reward", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for env in (module.RewardWrapper(gym.make(module.ENV_ID)), module.RewardWrapper(task.make_env())):
        env.reset(seed=0)
        env.action_space.seed(0)
        base = env.unwrapped
        qvel = base.data.qvel if hasattr(base, "data") else base._env.physics.data.qvel
        mine, theirs = [], []
        for k in range(60):
            if k % 5 == 0:  # kicked forward, so that the hop term is reached
                qvel[0] += 3.0
            _, r, term, trunc, info = env.step(env.action_space.sample())
            mine.append(r)
            theirs.append(info["env_reward"])
        env.close()
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-6)
        assert np.ptp(theirs) > 0
    assert len(module.self_test(steps=5)) == 5


def test_the_quadrupeds_tendon_actuators_are_named_as_tendons(suite):
    """Its legs are driven through tendons: the prompt names them, not a site of the same id."""
    from rewardsmith.tasks.context import actuator_facts

    task = tasks.load("dmc-quadruped-walk-v0")
    env = task.make_env()
    try:
        names = [a.target for a in actuator_facts(env.unwrapped.model)]
    finally:
        env.close()
    assert names[:3] == ["yaw_front_left", "tendon lift_front_left", "tendon extend_front_left"]
    assert not any(n.startswith("site ") for n in names)


def test_run_manifests_name_the_suites_version(suite):
    """A dmc task's physics and reward code come from dm_control: a run records its version."""
    from importlib import metadata

    from rewardsmith.runs.rundir import versions

    v = versions()
    assert v["dm_control"] == metadata.version("dm_control")
    assert v["mujoco"] == metadata.version("mujoco")


def test_a_replayed_reacher_pose_shows_the_episodes_target(suite):
    """The suite moves reacher's target in the model at each reset, out of qpos: a replayed
    episode (videos, keyframes) puts it back from the recorded state rows."""
    import dataclasses

    from fakes import random_rollout

    from rewardsmith.feedback.video import replay_poses

    task = tasks.load("dmc-reacher-hard-v0")
    states, _, _ = random_rollout(task, seed=3, steps=20)
    recorded = task.spec.view(states).target_pos

    def drawn(t):
        def factory(model, width, height, cam):
            class Capture:
                def __call__(self, data):
                    return np.array(data.geom_xpos[model.geom("target").id])

                def close(self):
                    pass
            return Capture()
        return np.array(replay_poses(t, states, [0, 10, 20], 8, 8, renderer_factory=factory))

    np.testing.assert_allclose(drawn(task)[:, :2], recorded[[0, 10, 20], :2], atol=1e-9)
    # without it, the replay draws whatever target the fresh env was made with
    stale = drawn(dataclasses.replace(task, restore_scene=None))
    assert np.abs(stale[:, :2] - recorded[[0, 10, 20], :2]).max() > 1e-3
