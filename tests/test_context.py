"""The task context derived from the model and a random-action run: joint signs checked against
the simulator, the actuator table against the model, episode ends, typical values, objects and
the robot's own centre of mass, and the prompt's size."""

from __future__ import annotations

import re

import mujoco
import numpy as np
import pytest

from rewardsmith import tasks
from rewardsmith.llm import prompts
from rewardsmith.llm.offline.designer import context_from_messages
from rewardsmith.loop.design import estimate_tokens
from rewardsmith.tasks import context as context_mod

_AXIS = {"x": 0, "y": 1, "z": 2}


def _model(task):
    env = task.make_env()
    try:
        return env.unwrapped.model
    finally:
        env.close()


def _body_id(task, model, name: str) -> int:
    """The body whose state fields are ``name``_pos, ... (names may come from geoms)."""
    from rewardsmith.state.view import _body_names

    return _body_names(model).index(name)


def _moves(model, joint: str, body: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """How body ``body``'s centre of mass moves, and how its z axis turns, when the test itself
    moves ``joint`` by ``delta`` from the model's initial pose."""
    d = mujoco.MjData(model)
    mujoco.mj_kinematics(model, d)
    p0, z0 = d.xipos[body].copy(), d.xmat[body].reshape(3, 3)[:, 2].copy()
    j = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, joint)
    d.qpos[model.jnt_qposadr[j]] += delta
    mujoco.mj_kinematics(model, d)
    return d.xipos[body] - p0, d.xmat[body].reshape(3, 3)[:, 2] - z0


def _claimed(meaning: str) -> list[tuple[int, float]]:
    """The directions a joint line claims: ``+x -z`` -> [(0, +1), (2, -1)]."""
    part = meaning.rsplit("moves", 1)[-1]
    return [(_AXIS[a], 1.0 if s == "+" else -1.0) for s, a in re.findall(r"([+-])([xyz])\b", part)]


@pytest.mark.parametrize("task_id, joints", [
    ("hopper-forward-v0", ["thigh_joint", "leg_joint", "foot_joint"]),
    ("cheetah-run-v0", ["bthigh", "bshin", "fthigh", "fshin", "ffoot"]),
    ("ant-forward-v0", ["hip_1", "hip_2", "ankle_1", "ankle_4"]),
])
def test_hinge_words_agree_with_the_simulator(task_id, joints):
    task = tasks.load(task_id)
    model = _model(task)
    facts = {j.name: j for j in task.robot_context.joints}
    for name in joints:
        fact = facts[name]
        assert fact.kind == "hinge"
        body = _body_id(task, model, fact.body)
        move, _ = _moves(model, name, body, 0.05)
        claimed = _claimed(fact.meaning)
        assert claimed, fact.meaning
        for axis, sign in claimed:  # each named direction is where the body really goes
            assert np.sign(move[axis]) == sign, (name, fact.meaning, move)
        main = claimed[0][0]  # and the first one named is (close to) the largest
        assert abs(move[main]) >= 0.5 * np.abs(move).max(), (name, fact.meaning, move)


def test_hopper_joint_signs_in_words():
    task = tasks.load("hopper-forward-v0")
    model = _model(task)
    text = task.robot_context.render()
    # a positive thigh angle swings the foot forward: checked in the simulator here
    move, _ = _moves(model, "thigh_joint", _body_id(task, model, "foot"), 0.1)
    assert move[0] > 0 and abs(move[0]) > abs(move[2])
    assert re.search(r"thigh_joint +hinge -y: the far end \(foot\) moves \+x \(forward\)", text), text
    # rooty turns the whole robot: positive leans the torso's top forward (its z axis to +x)
    _, zturn = _moves(model, "rooty", _body_id(task, model, "torso"), 0.1)
    assert zturn[0] > 0
    assert re.search(r"rooty +hinge \+y: pitches the robot forward", text), text
    assert re.search(r"rootx +slide \+x: moves the robot \+x \(forward\)", text)
    assert "forward = +x" in text and "up = +z" in text


@pytest.mark.parametrize("task_id", ["hopper-forward-v0", "walker-forward-v0"])
def test_termination_text_matches_the_healthy_ranges(task_id):
    task = tasks.load(task_id)
    env = task.make_env()
    try:
        u = env.unwrapped
        text = task.robot_context.termination()
        assert text == context_mod.termination(u, task.robot_context.bounds)
        # each bound on the field it reads (qpos 1 and 2 of a planar robot)
        assert f"the torso's height (rootz_pos) leaves {tuple(u._healthy_z_range)} m" in text
        assert f"its pitch angle (rooty_angle) leaves {tuple(u._healthy_angle_range)} rad" in text
    finally:
        env.close()
    assert text in prompts.initial_messages(task)[1]["content"]


def test_unknown_envs_get_their_episode_ends_from_random_episodes(monkeypatch):
    monkeypatch.setattr(context_mod, "termination", lambda u, found=(): "")  # as if unknown
    task = tasks.load("hopper-forward-v0")
    ctx = context_mod.robot_context(task)
    assert ctx.episode_lengths and all(0 < n < context_mod.STEPS for n in ctx.episode_lengths)
    lo, hi = min(ctx.episode_lengths), max(ctx.episode_lengths)
    assert f"ended after {lo}-{hi} steps" in ctx.termination()
    never = context_mod.RobotContext({}, [], [], [], [], 3, 300)
    assert never.termination() == "Episodes of random actions never ended early within 300 steps."


def test_hopper_actuator_table_comes_from_the_model():
    task = tasks.load("hopper-forward-v0")
    model = _model(task)
    acts = task.robot_context.actuators
    assert len(acts) == model.nu == 3
    for i, a in enumerate(acts):
        joint = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, model.actuator_trnid[i, 0])
        assert (a.index, a.target) == (i, joint)
        assert a.gear == pytest.approx(model.actuator_gear[i, 0])
        assert a.ctrl == tuple(model.actuator_ctrlrange[i])
    text = task.llm_context()
    gear = f"{model.actuator_gear[0, 0]:g}"
    assert re.search(rf"action\[0\] -> thigh_joint, +gear {gear}", text)
    assert "action[2] -> foot_joint" in text and "each in [-1, 1]" in text


def test_typical_values_hopper():
    task = tasks.load("hopper-forward-v0")
    ctx = task.robot_context
    assert ctx.typical["torso_pos"].reset[2] == pytest.approx(1.25, abs=0.01)
    low, high = ctx.typical["torso_pos"].low[2], ctx.typical["torso_pos"].high[2]
    assert 0.7 < low <= high <= 1.3
    text = task.llm_context()
    line = next(ln for ln in text.splitlines() if ln.startswith("torso_pos "))
    assert "[reset (0, 0, 1.25);" in line
    assert "[= 0.008]" in next(ln for ln in text.splitlines() if ln.startswith("dt "))
    # deterministic: the same text from a fresh computation
    again = context_mod.robot_context(task)
    assert again.render() == ctx.render() and again.notes == ctx.notes
    # the offline designer reads the reset values back from the prompt text
    read = context_from_messages(prompts.initial_messages(task))
    assert read.initial["torso_pos"][2] == pytest.approx(1.25) and read.episode_limit == 1000


def test_pusher_objects_and_the_robot_centre_of_mass():
    task = tasks.adhoc("Pusher-v5", "push the object to the goal", None)
    spec = task.spec
    assert {"object_pos", "goal_pos", "robot_com_pos", "robot_com_vel"} <= set(spec.fields)
    text = task.llm_context()
    assert re.search(r"Objects \(not the robot.*\): object \(.*\); goal \(", text)
    env = task.make_env()
    try:
        env.reset(seed=1)
        u = env.unwrapped
        m, d = u.model, u.data
        for _ in range(5):
            env.step(env.action_space.sample())
        state = spec.view(spec.extract(m, d)[None])
        names = [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, b) for b in range(m.nbody)]
        robot = [b for b in range(1, m.nbody)
                 if names[m.body_rootid[b]] not in ("object", "goal")]
        assert names.index("object") not in robot and names.index("goal") not in robot
        mass = m.body_mass[robot]
        want = (mass[:, None] * d.xipos[robot]).sum(0) / mass.sum()
        np.testing.assert_allclose(state.robot_com_pos[0], want, atol=1e-12)
        with_all = (m.body_mass[1:, None] * d.xipos[1:]).sum(0) / m.body_mass[1:].sum()
        np.testing.assert_allclose(state.com_pos[0], with_all, atol=1e-12)
        mujoco.mj_subtreeVel(m, d)  # the robot is one subtree: its com velocity is MuJoCo's
        root = names.index("r_shoulder_pan_link")
        np.testing.assert_allclose(state.robot_com_vel[0], d.subtree_linvel[root], atol=1e-10)
        np.testing.assert_allclose(state.object_pos[0], d.xpos[names.index("object")])
    finally:
        env.close()


def test_sites_are_state_fields_and_export_as_source():
    from rewardsmith.export import render_state_code

    task = tasks.load("double-pendulum-balance-v0")
    spec = task.spec
    assert spec.fields["tip_pos"].group == "site tip"
    env = task.make_env()
    try:
        env.reset(seed=0)
        u = env.unwrapped
        m, d = u.model, u.data
        for _ in range(3):
            env.step(env.action_space.sample())
        row = spec.extract(m, d)
        np.testing.assert_allclose(spec.view(row[None]).tip_pos[0], d.site_xpos[0])
        code = render_state_code(spec, m, "numpy")
        assert "def _extra_tip_pos(model, data):\n    return data.site_xpos[0]" in code
        ns = {"np": np, "mujoco": mujoco, "difflib": __import__("difflib"), "math": __import__("math"),
              "ENV_ID": "test", "DT": spec.dt}
        exec(compile(code, "<state code>", "exec"), ns)
        np.testing.assert_array_equal(ns["extract_state"](m, d, dt=spec.dt), row)
    finally:
        env.close()


def test_pusher_robot_com_exports_as_source():
    from rewardsmith.export import render_state_code

    task = tasks.adhoc("Pusher-v5", "push the object to the goal", None)
    env = task.make_env()
    try:
        env.reset(seed=0)
        u = env.unwrapped
        for _ in range(3):
            env.step(env.action_space.sample())
        code = render_state_code(task.spec, u.model, "numpy")
        ns = {"np": np, "mujoco": mujoco, "difflib": __import__("difflib"), "math": __import__("math"),
              "ENV_ID": "test", "DT": task.spec.dt}
        exec(compile(code, "<state code>", "exec"), ns)
        np.testing.assert_allclose(ns["extract_state"](u.model, u.data, dt=task.spec.dt),
                                   task.spec.extract(u.model, u.data), atol=1e-12)
    finally:
        env.close()


def test_ant_initial_prompt_stays_under_5k_tokens():
    task = tasks.load("ant-forward-v0")
    messages = prompts.initial_messages(task)
    size = estimate_tokens(messages)
    user = messages[1]["content"]
    assert "action[0] -> hip_4" in user and "hip_1    hinge +z" in user
    assert size < 5000, size  # with the scoring and geometry sections (4k before them)


def test_joint_limits_masses_and_what_the_policy_observes_come_from_the_model():
    task = tasks.load("hopper-forward-v0")
    model = _model(task)
    text = task.robot_context.render()
    j = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, "thigh_joint")
    lo, hi = model.jnt_range[j]
    assert lo < hi and model.jnt_limited[j]
    assert re.search(rf"thigh_joint .*; limited to \[{lo:.3g}, {hi:.3g}\] rad", text), text
    # the root's pitch is not limited and not wrapped: a flip counts on
    assert re.search(r"rooty .*; no limit \(the angle is not wrapped", text), text
    assert not re.search(r"rootx .*limit", text)  # an unlimited slide: nothing to say
    foot = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "foot")
    assert re.search(rf"\n  foot \(leg; [^)]*; {model.body_mass[foot]:.3g} kg\)", text), text
    assert f"its mass {float(sum(model.body_mass[1:])):.3g} kg" in text, text
    # the policy sees gymnasium's observation (that it leaves out x is said with the episode's
    # facts, once)
    env = task.make_env()
    n = env.observation_space.shape[0]
    env.close()
    obs = task.robot_context.observation
    assert obs == (f"{n} numbers, the env's own observation. Not the state fields below: a "
                   "reward may read any of them.")
    assert f"Observation (what the policy sees): {obs}" in task.llm_context()
    first = prompts.initial_messages(task)[1]["content"]
    assert first.count("x position") == 1 and "but not the robot's x position" in first


def test_a_control_suite_task_names_the_parts_of_its_observation():
    pytest.importorskip("dm_control.suite", reason="the dmc extra is not installed")
    task = tasks.load("dmc-cartpole-swingup-v0")
    ctx = task.robot_context
    assert ctx.observation.startswith("5 numbers, the env's own observation (position 3, velocity 2)")
    assert re.search(r"slider +slide \+x: .*; limited to \[-1\.8, 1\.8\] m", ctx.render())


def test_a_field_random_actions_never_move_is_said_to_stay_put_not_to_be_constant():
    """A spinner the random finger never reaches: its speed is 0 at every reset and random
    step, which says where shaping must lead, not that the field is dead; dt is a constant."""
    task = tasks.load("hopper-forward-v0")
    spec, zero, one = task.spec, np.zeros(1), np.ones(1)
    assert context_mod.annotate(spec, "dt", context_mod.Typical(one * 0.008, one * 0.008,
                                                                 one * 0.008)) == "[= 0.008]"
    still = context_mod.Typical(zero, zero, zero)
    assert context_mod.annotate(spec, "rootx_vel", still) == f"[= 0 {context_mod.STILL}]"
    z3 = np.zeros(3)
    assert context_mod.annotate(spec, "torso_linvel", context_mod.Typical(z3, z3, z3)) \
        == f"[= 0 {context_mod.STILL}]"
    moving = context_mod.Typical(z3, z3, z3, norm_high=2.0)
    assert context_mod.annotate(spec, "torso_linvel", moving) == "[|v| 95% 2]"
    # the offline designer still reads the value back
    from rewardsmith.llm.offline.designer import _typical_reset

    assert _typical_reset(f"foo [= 0 {context_mod.STILL}]") == 0.0
    assert _typical_reset("dt [= 0.008]") == 0.008


PUSHER_LIKE = """
<mujoco>
  <option gravity="0 0 0" timestep="0.01"/>
  <worldbody>
    <geom name="table" type="plane" pos="0 0 -0.325" size="2 2 0.1"/>
    <body name="arm" pos="0 0 0">
      <joint name="shoulder" type="hinge" axis="0 0 1" damping="1"/>
      <joint name="elbow" type="hinge" axis="0 1 0" damping="0.1" frictionloss="0.2"/>
      <geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.02" mass="2"/>
    </body>
    <body name="puck" pos="0.4 0 -0.3">
      <joint name="puck_x" type="slide" axis="1 0 0" damping="0.5"/>
      <joint name="puck_y" type="slide" axis="0 1 0" damping="0.5"/>
      <geom type="cylinder" size="0.05 0.02" mass="0.1"/>
    </body>
  </worldbody>
  <actuator><motor joint="shoulder"/><motor joint="elbow"/></actuator>
</mujoco>
"""


def test_the_physics_line_says_gravity_the_fluid_and_the_joints_damping():
    """What links a force to the motion: no gravity (a pusher), joint damping and dry friction,
    a plane below z = 0, and an object's joints, size and mass."""
    from rewardsmith.tasks.geometry import _ground

    model = mujoco.MjModel.from_xml_string(PUSHER_LIKE)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    assert context_mod.physics_facts(model) == (
        "Physics: no gravity (0 in this model: nothing falls or rests under its weight); joint "
        "damping (force per unit of joint speed): 1 on shoulder; 0.1 on elbow; joint dry "
        "friction: 0.2 on elbow.")
    assert _ground(model, data) == " (the ground (plane 'table') is z = -0.33)"
    assert context_mod.object_facts(model) == [
        "puck (slide joint puck_x (damping 0.5), slide joint puck_y (damping 0.5); cylinder "
        "0.04 m, r 0.05; 0.1 kg)"]
    # a swimmer's fluid, ordinary gravity, no damping: nothing about joints
    model.opt.gravity[:] = (0, 0, -9.81)
    model.opt.viscosity, model.opt.density = 0.1, 4000.0
    model.dof_damping[:] = 0.0
    model.dof_frictionloss[:] = 0.0
    assert context_mod.physics_facts(model) == (
        "Physics: gravity 9.81 m/s^2 down; a fluid (viscosity 0.1, density 4000) that drags "
        "every body.")


def test_a_joint_that_resets_outside_its_limits_says_so():
    """The ant's ankles reset at 0, below their 0.52 rad limit: the limit pushes them in."""
    from dataclasses import replace

    ctx = tasks.load("hopper-forward-v0").robot_context
    joint = context_mod.JointFact("ankle", "hinge", (0.0, 1.0, 0.0), "", "foot", (0.0, 0.0, 0.0),
                                  range=(0.524, 1.22))
    one = np.ones(1)

    def at(v):
        return replace(ctx, typical={"ankle_angle": context_mod.Typical(v * one, v * one, v * one)})

    assert at(0.04)._reset_outside(joint) == \
        " (resets at 0.04: the limit pushes it in)"
    assert at(0.8)._reset_outside(joint) == ""
    assert at(0.52)._reset_outside(joint) == ""  # on its edge
    assert at(0.04)._reset_outside(replace(joint, range=None)) == ""


def test_a_field_equal_to_another_at_every_step_says_which():
    """Bodies fixed together at one origin (the ant's legs at its torso) give the same field
    twice; said, and only where the field moves (zeros and flags coincide by chance)."""
    task = tasks.load("hopper-forward-v0")
    spec = task.spec
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(50, spec.size))
    for name in ("thigh_pos", "thigh_linvel"):  # a copy of the torso's
        rows[:, spec.fields[name].offset: spec.fields[name].offset + 3] = \
            rows[:, spec.fields[name.replace("thigh", "torso")].offset:][:, :3]
    for name in ("leg_linvel", "foot_linvel"):  # two fields at 0 throughout: not the same body
        rows[:, spec.fields[name].offset: spec.fields[name].offset + 3] = 0.0
    for name in ("leg_contact", "foot_contact"):  # two flags alike: not said
        rows[:, spec.fields[name].offset] = rows[:, spec.fields["torso_contact"].offset]
    same = context_mod.same_as(spec, rows)
    assert same == {"thigh_pos": "torso_pos", "thigh_linvel": "torso_linvel"}
    # the prompt of a robot that has such fields (the ant's four legs) says it on their lines
    ant = tasks.load("ant-forward-v0").llm_context()
    line = next(ln for ln in ant.splitlines() if ln.startswith("front_left_leg_pos "))
    assert line.endswith("[same as torso_pos]")


def test_a_field_drawn_at_random_each_reset_says_so():
    """A Control Suite walker starts at a random pitch: its reset is a range, not a value;
    gymnasium's reset noise of a few thousandths stays a value."""
    spec = tasks.load("hopper-forward-v0").spec
    one = np.ones(1)
    drawn = context_mod.Typical(0.6 * one, -2.7 * one, 2.5 * one, reset_low=-2.7 * one,
                                reset_high=2.49 * one)
    assert context_mod.annotate(spec, "rooty_angle", drawn) == "[reset random -2.7..2.49; -2.7..2.5]"
    noise = context_mod.Typical(0.0 * one, -0.2 * one, 0.02 * one, reset_low=-0.005 * one,
                                reset_high=0.005 * one)
    assert context_mod.annotate(spec, "rooty_angle", noise) == "[reset 0; -0.2..0.02]"


def test_a_position_that_never_moves_is_said_to_be_fixed():
    spec = tasks.load("hopper-forward-v0").spec
    at = np.array([0.0, 0.0, 0.4])
    fixed = context_mod.Typical(at, at, at)
    assert context_mod.annotate(spec, "torso_pos", fixed) == \
        "[fixed at (0, 0, 0.4) over every reset and random step]"
    from rewardsmith.llm.offline.designer import _typical_reset

    assert _typical_reset("torso_pos [fixed at (0, 0, 0.4) over every reset and random step]") \
        == [0.0, 0.0, 0.4]
