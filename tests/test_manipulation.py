"""Manipulation: the state view on Pusher (fingertips, object, goal, the robot's own centre of
mass), the arm tasks (load, baseline, fitness, success), the offline designer's push / hold /
joint-range programs, and gymnasium-robotics env ids (when the extra is installed)."""

from __future__ import annotations

import sys

import mujoco
import numpy as np
import pytest

from rewardsmith import tasks
from rewardsmith.contracts import Episode
from rewardsmith.critic.episode_facts import _cut
from rewardsmith.errors import RewardsmithError
from rewardsmith.llm import DesignContext, extract_code
from rewardsmith.llm.offline import OfflineDesigner, Robot, read_intent
from rewardsmith.llm.prompts import initial_messages
from rewardsmith.reward.program import RewardProgram, compile_program
from rewardsmith.rules.static import check_source
from rewardsmith.sandbox.dryrun import check_program
from rewardsmith.train.sb3 import baseline_program

NEW = ("pusher-push-v0", "pusher-push-hold-v0", "reacher-reach-elbow-v0")
ARM = ("r_shoulder_pan_joint", "r_shoulder_lift_joint", "r_upper_arm_roll_joint",
       "r_elbow_flex_joint", "r_forearm_roll_joint", "r_wrist_flex_joint", "r_wrist_roll_joint")


def episodes(task, n=2, seed=0, policy=None, setup=None):
    """``n`` whole episodes (to their natural end) with random actions, or ``policy(step)``;
    ``setup(model, data)`` runs after each reset."""
    env = task.make_env()
    env.action_space.seed(seed)
    u = env.unwrapped
    spec = task.spec
    out = []
    for k in range(n):
        env.reset(seed=seed + k)
        if setup is not None:
            setup(u.model, u.data)
        rows, acts, rews = [spec.extract(u.model, u.data)], [], []
        done = False
        while not done:
            a = env.action_space.sample() if policy is None else policy(len(acts))
            _, r, term, trunc, _ = env.step(a)
            rows.append(spec.extract(u.model, u.data))
            acts.append(np.asarray(a, dtype=float))
            rews.append(r)
            done = term or trunc
        out.append(Episode(states=np.stack(rows), actions=np.stack(acts), env_rewards=np.asarray(rews),
                           rewards=np.asarray(rews), components={}, terminated=bool(term), spec=spec))
    env.close()
    return out


# ------------------------------------------------------------------------------ state view
@pytest.fixture(scope="module")
def pusher():
    return tasks.adhoc("Pusher-v5", "push the object to the goal", None)


def test_pusher_view_has_fingertips_object_goal_and_robot_com(pusher):
    f = pusher.spec.fields
    for name in ("tips_arm_pos", "object_pos", "goal_pos", "object_linvel", "robot_com_pos",
                 "robot_com_vel", "com_pos", "obj_slidex_pos", *(f"{j}_angvel" for j in ARM)):
        assert name in f, name
    env = pusher.make_env()
    env.reset(seed=1)
    u = env.unwrapped
    v = pusher.spec.view(pusher.spec.extract(u.model, u.data)[None])
    np.testing.assert_allclose(v.object_pos[0], u.data.body("object").xpos)
    np.testing.assert_allclose(v.goal_pos[0], u.data.body("goal").xpos)
    np.testing.assert_allclose(v.tips_arm_pos[0], u.get_body_com("tips_arm"))
    env.close()


def test_pusher_robot_com_excludes_object_and_goal(pusher):
    env = pusher.make_env()
    env.reset(seed=2)
    m, d = env.unwrapped.model, env.unwrapped.data
    obj, goal = m.body("object").id, m.body("goal").id
    # make the object and the goal heavy: the whole com follows them, the robot's does not
    m.body_mass[obj] = 50.0
    m.body_mass[goal] = 50.0
    mujoco.mj_forward(m, d)
    spec = pusher.spec
    v = spec.view(spec.extract(m, d)[None])
    robot = [b for b in range(1, m.nbody) if b not in (obj, goal)]
    mass = m.body_mass[robot]
    expect = (d.xipos[robot] * mass[:, None]).sum(0) / mass.sum()
    np.testing.assert_allclose(v.robot_com_pos[0], expect, atol=1e-9)
    assert np.linalg.norm(v.com_pos[0] - expect) > 0.1  # objects included: pulled towards them
    # the robot's com velocity: its com moves with the arm, not with the object
    env.step(np.ones(7))
    rows = [spec.extract(m, d)]
    env.step(np.ones(7))
    rows.append(spec.extract(m, d))
    vv = spec.view(np.stack(rows))
    fd = (vv.robot_com_pos[1] - vv.robot_com_pos[0]) / spec.dt
    np.testing.assert_allclose(vv.robot_com_vel[1], fd, atol=0.2 * np.abs(fd).max() + 1e-3)
    env.close()


# ------------------------------------------------------------------------------------ tasks
@pytest.mark.parametrize("task_id", NEW)
def test_task_loads_and_its_baseline_fitness_and_success_run(task_id):
    assert task_id in tasks.names()
    task = tasks.load(task_id)
    assert task.budget("sb3").steps <= 500_000  # about 2-3 minutes on 2 cores
    eps = episodes(task, n=2)
    program = baseline_program(task)
    for ep in eps:
        assert np.isfinite(task.fitness(ep))
        assert task.fitness(ep) <= task.fitness.maximum
        assert isinstance(task.fitness.success(ep), bool)
        if program is not None:
            fn = compile_program(program)
            r, comps = fn(ep.prev, ep.actions, ep.next)
            assert r.shape == (ep.length,) and np.all(np.isfinite(r))
            assert all(np.all(np.isfinite(c)) for c in comps.values())
    if program is not None:
        report = check_program(program, task)
        assert report.accepted, report


def _object_on_goal(model, data):
    """The object on the goal: its slide joints at 0 (the goal's place in pusher.xml)."""
    for j in ("obj_slidex", "obj_slidey"):
        data.joint(j).qpos[:] = 0.0
        data.joint(j).qvel[:] = 0.0
    data.qvel[:7] = 0.0
    mujoco.mj_forward(model, data)


def test_push_fitness_and_success_agree_with_the_object_on_the_goal():
    push, hold = tasks.load("pusher-push-v0"), tasks.load("pusher-push-hold-v0")
    still = lambda t: np.zeros(7)  # noqa: E731
    shake = lambda t: np.full(7, 2.0 if (t // 3) % 2 else -2.0)  # noqa: E731
    on_goal = episodes(push, 1, policy=still, setup=_object_on_goal)[0]
    assert push.fitness.success(on_goal) and push.fitness(on_goal) > -0.01
    random = episodes(push, 2, seed=5)
    assert not any(push.fitness.success(ep) for ep in random)
    assert all(push.fitness(ep) < -0.15 for ep in random)
    # hold: on the goal and still succeeds; on the goal with the arm shaking does not
    calm = episodes(hold, 1, policy=still, setup=_object_on_goal)[0]
    assert hold.fitness.success(calm)
    shaking = episodes(hold, 1, policy=shake, setup=_object_on_goal)[0]
    if np.linalg.norm(shaking.field("object_pos")[-1, :2] - shaking.field("goal_pos")[-1, :2]) < 0.08:
        assert not hold.fitness.success(shaking)
    assert hold.fitness(calm) > hold.fitness(shaking)


def test_elbow_fitness_counts_steps_outside_the_range():
    task = tasks.load("reacher-reach-elbow-v0")
    inside = episodes(task, 1, policy=lambda t: np.array([0.0, 1.0]))[0]    # elbow bends +
    outside = episodes(task, 1, policy=lambda t: np.array([0.0, -1.0]))[0]  # elbow bends -
    assert np.mean(inside.field("joint1_angle")[1:] >= 0.0) > 0.9
    assert np.mean(outside.field("joint1_angle")[1:] < 0.0) > 0.9
    base = tasks.load("reacher-reach-v0")
    # the same distance term; the constraint costs 0.2 for a whole episode below 0
    gap_in = task.fitness(inside) - base.fitness(inside)
    gap_out = task.fitness(outside) - base.fitness(outside)
    assert gap_in == pytest.approx(0.0, abs=0.03) and gap_out == pytest.approx(-0.2, abs=0.03)
    assert not task.fitness.success(outside)
    # every step counts, the first among them: an episode cut after one step (the feedback's
    # score so far) has a score
    one = _cut(inside, 1)
    assert np.isfinite(task.fitness(one)) and task.fitness(one) == pytest.approx(
        base.fitness(one) - 0.2 * float(one.field("joint1_angle")[0] < 0.0))


# ------------------------------------------------------------------------- offline designer
def _designs(task_id, n=3):
    task = tasks.load(task_id)
    out = OfflineDesigner().complete(initial_messages(task), n, 1.0,
                                     context=DesignContext.from_task(task, 0))
    return task, [extract_code(t) for t in out.texts]


@pytest.mark.parametrize("task_id,must", [
    ("pusher-push-v0", ["next_state.tips_arm_pos - next_state.object_pos",
                        "next_state.object_pos[:, :2] - next_state.goal_pos[:, :2]"]),
    ("pusher-push-hold-v0", ["next_state.object_pos[:, :2] - next_state.goal_pos[:, :2]",
                             "hold_radius", "r_elbow_flex_joint_angvel", "hold_there"]),
    ("reacher-reach-elbow-v0", ["next_state.fingertip_pos - next_state.target_pos",
                                "joint1_min = 0.0", "next_state.joint1_angle"]),
])
def test_offline_programs_for_the_arm_tasks(task_id, must):
    task, sources = _designs(task_id)
    assert len(set(sources)) == len(sources)
    for s in must:
        assert s in sources[0], (s, sources[0])
    for src in sources:
        assert not check_source(src)
    report = check_program(RewardProgram(sources[0]), task)
    assert report.accepted, report
    for src in sources[1:]:
        fn = compile_program(RewardProgram(src))
        ep = episodes(task, 1)[0]
        r, comps = fn(ep.prev, ep.actions, ep.next)
        assert np.all(np.isfinite(r)) and comps


def test_hold_is_staged_zero_until_the_object_is_on_the_goal():
    task, sources = _designs("pusher-push-hold-v0", 1)
    fn = compile_program(RewardProgram(sources[0]))
    away = episodes(task, 1, seed=3)[0]
    there = episodes(task, 1, seed=3, setup=_object_on_goal)[0]
    _, c_away = fn(away.prev, away.actions, away.next)
    _, c_there = fn(there.prev, there.actions, there.next)
    gap = np.linalg.norm(away.next.object_pos[:, :2] - away.next.goal_pos[:, :2], axis=-1)
    assert np.all(c_away["hold"][gap > 0.09] == 0.0)
    assert np.any(c_there["hold"] < 0.0)


def test_joint_ranges_read_from_descriptions():
    robot = Robot.from_context(DesignContext.from_task(tasks.load("pusher-push-v0"), 0))
    it = read_intent("Reach the object with the fingertips and keep the elbow below 90 degrees.", robot)
    assert it.limits == (("r_elbow_flex_joint", None, pytest.approx(np.pi / 2, abs=1e-3)),)
    it = read_intent("push the object to the goal. Keep r_wrist_flex_joint between -0.5 and 0 rad.", robot)
    assert it.helper and it.limits == (("r_wrist_flex_joint", -0.5, 0.0),)
    assert read_intent("push the object to the goal and keep it there", robot).hold is False
    assert read_intent("push the object to the goal, then hold the arm still", robot).hold is True
    reacher = Robot.from_context(DesignContext.from_task(tasks.load("reacher-reach-v0"), 0))
    it = read_intent("touch the target; joint1 must stay positive", reacher)
    assert it.limits == (("joint1", 0.0, None),)


# ------------------------------------------------------------------------ gymnasium-robotics
def test_robotics_id_without_the_package_says_how_to_install(monkeypatch):
    from rewardsmith.tasks import robotics

    monkeypatch.setitem(sys.modules, "gymnasium_robotics", None)  # import fails
    with pytest.raises(RewardsmithError) as e:
        tasks.adhoc("AdroitHandDoor-v1", "open the door", None)
    assert "gymnasium-robotics" in str(e.value) and "rewardsmith[robotics]" in (e.value.hint or "")
    assert robotics.looks_like_robotics("FetchReach-v4") and not robotics.looks_like_robotics("Hopper-v5")


def test_adroit_state_view():
    pytest.importorskip("gymnasium_robotics")
    task = tasks.adhoc("AdroitHandDoor-v1", "open the door", None)
    f = task.spec.fields
    # the handle and the grasp point (sites), the palm (a body), the door's hinge (a joint)
    for name in ("S_handle_pos", "S_grasp_pos", "palm_pos", "door_pos", "door_hinge_angle"):
        assert name in f, name
    env = task.make_env()
    env.reset(seed=0)
    u = env.unwrapped
    v = task.spec.view(task.spec.extract(u.model, u.data)[None])
    np.testing.assert_allclose(v.S_handle_pos[0], u.data.site("S_handle").xpos)
    np.testing.assert_allclose(v.S_grasp_pos[0], u.data.site("S_grasp").xpos)
    assert task.spec.dt == pytest.approx(u.dt)
    env.close()
    assert "door_hinge" in task.llm_context()


def test_fetch_runs_on_this_mujoco_with_its_goal_in_the_view():
    pytest.importorskip("gymnasium_robotics")
    task = tasks.adhoc("FetchReach-v4", "move the gripper to the target", None)
    env = task.make_env()
    obs, _ = env.reset(seed=3)
    assert obs.ndim == 1  # the dict observation, flattened for training
    u = env.unwrapped
    for _ in range(2):
        v = task.spec.view(task.spec.extract(u.model, u.data)[None])
        np.testing.assert_allclose(v.target0_pos[0], u.goal, atol=1e-9)
        env.step(env.action_space.sample())
    env.close()
    with pytest.raises(RewardsmithError, match="mujoco_py") as e:
        tasks.adhoc("FetchReach-v1", "reach", None)
    assert "FetchReach-v4" in (e.value.hint or "")


def test_tasks_show_takes_an_adhoc_env():
    from typer.testing import CliRunner

    from rewardsmith.cli.main import app

    out = CliRunner().invoke(app, ["tasks", "show", "--env", "Pusher-v5", "--description",
                                   "push the object to the goal"])
    assert out.exit_code == 0, out.output
    assert "Task: push the object to the goal" in out.output and "robot_com_pos" in out.output
    out = CliRunner().invoke(app, ["tasks", "show", "pusher-push-hold-v0", "--hidden"])
    assert out.exit_code == 0 and "hold_still" in out.output
