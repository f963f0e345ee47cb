"""The offline designer: sensible, different, valid programs for every task; improvement by rules."""

from __future__ import annotations

import numpy as np
import pytest

from rewardsmith import tasks
from rewardsmith.llm import CandidateFeedback, DesignContext, extract_code, make_llm
from rewardsmith.llm.offline import (
    MARKER,
    OfflineDesigner,
    Robot,
    component_constants,
    read_constants,
    read_intent,
)
from rewardsmith.llm.prompts import feedback_messages, initial_messages, reflection_message
from rewardsmith.reward.program import RewardProgram, compile_program
from rewardsmith.rules.static import check_source

DESIGNER = OfflineDesigner()


def _context(name: str, iteration: int = 0) -> DesignContext:
    return DesignContext.from_task(tasks.load(name), iteration)


_CTX: dict[str, DesignContext] = {}


def context(name: str) -> DesignContext:
    if name not in _CTX:
        _CTX[name] = _context(name)
    c = _CTX[name]
    return DesignContext(**{**c.__dict__, "others": []})


def run_program(task, source: str):
    assert not check_source(source), check_source(source)
    fn = compile_program(RewardProgram(source))
    rows = np.random.default_rng(0).normal(size=(8, task.spec.size))
    view = task.spec.view(rows)
    action = np.random.default_rng(1).uniform(-1, 1, size=(8, task.action_dim))
    reward, comps = fn(view, action, task.spec.view(rows[::-1].copy()))
    assert reward.shape == (8,) and np.all(np.isfinite(reward))
    assert comps and all(v.shape == (8,) and np.all(np.isfinite(v)) for v in comps.values())
    # zero states (the dry run uses them) stay finite too
    z = task.spec.view(np.zeros((8, task.spec.size)))
    reward, _ = fn(z, np.zeros((8, task.action_dim)), z)
    assert np.all(np.isfinite(reward))
    return reward, comps


def constant(source: str, name: str) -> float:
    return read_constants(source)[name][0]


def feedback(source: str, *, lengths, fitness, components=None, error=None) -> CandidateFeedback:
    comps = components or {k: [1.0 + 0.1 * i for i in range(10)] for k in component_constants(source)}
    return CandidateFeedback(source=source, fitness=fitness[-1] if fitness else None, success_rate=None,
                             components=comps, episode_lengths=list(lengths), fitness_curve=list(fitness),
                             error=error)


@pytest.mark.parametrize("name", tasks.names())
def test_every_task_gets_four_distinct_valid_programs(name, load_task):
    task = load_task(name)
    ctx = context(name)
    out = DESIGNER.complete(initial_messages(task), 4, 1.0, context=ctx)
    assert len(out.texts) == 4 and out.usage.cost_usd == 0.0
    sources = [extract_code(t) for t in out.texts]
    assert len(set(sources)) == 4
    for text, src in zip(out.texts, sources):
        assert "not an LLM" in text and MARKER in src
        run_program(task, src)
    # and an improvement round on the first one stays valid too
    ctx.iteration = 1
    ctx.best = feedback(sources[0], lengths=[30.0] * 10, fitness=[0.1] * 10)
    msgs = feedback_messages(task, reflection_message("0-0", sources[0], "(reflection)", ""))
    out2 = DESIGNER.complete(msgs, 3, 1.0, context=ctx)
    sources2 = [extract_code(t) for t in out2.texts]
    assert len(set(sources2)) == 3
    for src in sources2:
        run_program(task, src)


def test_deterministic_given_the_request():
    task = tasks.load("walker-forward-v0")
    a = DESIGNER.complete(initial_messages(task), 3, 1.0, context=context("walker-forward-v0"))
    b = DESIGNER.complete(initial_messages(task), 3, 1.0, context=context("walker-forward-v0"))
    assert a.texts == b.texts
    c = DESIGNER.complete(initial_messages(task), 3, 0.2, context=context("walker-forward-v0"))
    assert c.texts[0] == a.texts[0] and c.texts[1:] != a.texts[1:]  # sample 0 is the canonical design


def first_source(name: str) -> str:
    task = tasks.load(name)
    return extract_code(DESIGNER.complete(initial_messages(task), 1, 0.0, context=context(name)).texts[0])


def test_task_terms_follow_the_description():
    assert "next_state.rootx_vel" in first_source("hopper-forward-v0")
    assert "-next_state.rootx_vel" in first_source("walker-backward-v0")
    assert "-next_state.rootx_vel" in first_source("cheetah-run-backward-v0")
    side = first_source("ant-sideways-v0")
    assert "torso_linvel[:, 1]" in side and "drift" in side and "turn" in side
    assert "torso_linvel[:, 0]" in first_source("ant-forward-v0")
    jump = first_source("hopper-jump-v0")
    assert "rest_height" in jump and "rootz_vel" in jump
    assert "pole_zaxis" in first_source("pendulum-balance-v0")
    dp = first_source("double-pendulum-balance-v0")
    assert "pole2_zaxis" in dp and "tip" in dp
    reach = first_source("reacher-reach-v0")
    assert "fingertip_pos" in reach and "target_pos" in reach and "np.exp" in reach
    swim = first_source("swimmer-forward-v0")
    assert "alive" not in swim  # a swimmer cannot fall


@pytest.mark.parametrize("env_id,description,expect", [
    ("Walker2d-v5", "walk backwards without falling", "-next_state.rootx_vel"),
    ("HalfCheetah-v5", "do a backflip", "-next_state.torso_angvel[:, 1]"),
    ("Ant-v5", "move to the right, towards -y", "-next_state.torso_linvel[:, 1]"),
    ("Hopper-v5", "stand still and stay upright", "alive"),
    ("Swimmer-v5", "swim towards +y as fast as possible", "[:, 1]"),
    ("Pusher-v5", "push the object to the goal", "helper_gap"),
    ("InvertedPendulum-v5", "keep the pole upright", "pole_zaxis"),
])
def test_adhoc_descriptions(env_id, description, expect):
    task = tasks.adhoc(env_id, description, None)
    ctx = DesignContext.from_task(task)
    out = DESIGNER.complete(initial_messages(task), 2, 1.0, context=ctx)
    sources = [extract_code(t) for t in out.texts]
    assert expect in sources[0]
    for src in sources:
        run_program(task, src)


def test_short_episodes_raise_the_alive_weight():
    name = "hopper-forward-v0"
    task = tasks.load(name)
    src = first_source(name)
    ctx = context(name)
    ctx.iteration = 1
    ctx.best = feedback(src, lengths=[20, 25, 22, 30, 28, 26, 31, 29, 27, 30],
                        fitness=[0.1, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.5, 0.55, 0.6],
                        components={"forward": [0.1 * i for i in range(10)], "alive": [25.0] * 10,
                                    "effort": [-0.2] * 10})
    out = DESIGNER.complete(feedback_messages(task, reflection_message("0-0", src, "...", "")), 4, 1.0, context=ctx)
    new = [extract_code(t) for t in out.texts]
    assert "episodes end early" in out.texts[0]
    assert constant(new[0], "alive_bonus") > constant(src, "alive_bonus")
    assert np.mean([constant(s, "alive_bonus") for s in new]) > constant(src, "alive_bonus")
    assert "posture" in new[0]  # a posture term comes in against tilting
    # every other sample stays with the best design and varies it, in case the rules misjudge
    # (its exploration, drawn from the request, may still try one term more or less)
    assert "keep the best design as it is" in out.texts[1]
    assert "episodes end early" not in out.texts[1]
    if "I also try" not in out.texts[1]:
        assert set(component_constants(new[1])) == set(component_constants(src))


def test_a_swamping_component_is_scaled_down_and_flat_fitness_raises_the_task():
    name = "ant-forward-v0"
    task = tasks.load(name)
    src = first_source(name)
    ctx = context(name)
    ctx.best = feedback(src, lengths=[1000] * 10, fitness=[0.05] * 10,
                        components={"forward": [0.5 + 0.01 * i for i in range(10)],
                                    "alive": [990.0 + i for i in range(10)],
                                    "effort": [-3.0 - 0.1 * i for i in range(10)]})
    out = DESIGNER.complete(feedback_messages(task, reflection_message("0-0", src, "...", "")), 1, 1.0, context=ctx)
    new = extract_code(out.texts[0])
    assert constant(new, "alive_bonus") < constant(src, "alive_bonus")
    assert constant(new, "forward_weight") > constant(src, "forward_weight")
    assert "swamps" in out.texts[0] and "did not improve" in out.texts[0]
    assert new.count("# plan:") == 1 and "posture=" in new  # a shaping term was added


def test_a_component_that_never_moves_is_dropped():
    name = "walker-forward-v0"
    task = tasks.load(name)
    ctx = context(name)
    # find a sample with an optional shaping term
    out = DESIGNER.complete(initial_messages(task), 8, 1.0, context=ctx)
    src = next(s for s in map(extract_code, out.texts) if "smooth=" in s or "posture=" in s)
    dead = "smooth" if "smooth=" in src else "posture"
    comps = {k: [float(i) for i in range(10)] for k in component_constants(src)}
    comps[dead] = [0.0] * 10
    ctx.best = feedback(src, lengths=[1000] * 10, fitness=[float(i) for i in range(10)], components=comps)
    text = DESIGNER.complete(feedback_messages(task, reflection_message("0-0", src, "...", "")), 1, 1.0, context=ctx).texts[0]
    assert f"`{dead}` never changed" in text and f'"{dead}"' not in extract_code(text)


def test_failed_best_falls_back_to_the_safe_template():
    name = "hopper-jump-v0"
    task = tasks.load(name)
    ctx = context(name)
    ctx.iteration = 2
    ctx.best = feedback("def compute_reward(state, action, next_state):\n    import os\n", lengths=[], fitness=[],
                        components={}, error="line 2: remove the import")
    out = DESIGNER.complete(feedback_messages(task, "error"), 2, 1.0, context=ctx)
    assert "safe template" in out.texts[0]
    assert extract_code(out.texts[0]) == first_source(name)


def test_a_program_written_by_someone_else_is_tuned_through_its_constants():
    name = "hopper-forward-v0"
    task = tasks.load(name)
    foreign = '''def healthy(z):
    return np.where(z > 0.8, 1.0, 0.0)


def compute_reward(state, action, next_state):
    speed_weight = 2.0
    healthy_reward = 1.0
    ctrl_cost_weight = 0.001
    r_speed = speed_weight * next_state.rootx_vel
    r_alive = healthy_reward * healthy(next_state.torso_pos[:, 2])
    ctrl = ctrl_cost_weight * np.sum(action ** 2, axis=-1)
    components = {"forward_velocity": r_speed, "alive_bonus": r_alive, "control_cost": -ctrl}
    return r_speed + r_alive - ctrl, components
'''
    assert component_constants(foreign) == {"forward_velocity": ["speed_weight"],
                                            "alive_bonus": ["healthy_reward"],
                                            "control_cost": ["ctrl_cost_weight"]}
    ctx = context(name)
    ctx.best = feedback(foreign, lengths=[40.0] * 10, fitness=[0.1 * i for i in range(10)],
                        components={"forward_velocity": [0.1 * i for i in range(10)],
                                    "alive_bonus": [40.0] * 10, "control_cost": [-0.1] * 10})
    out = DESIGNER.complete(feedback_messages(task, reflection_message("0-0", foreign, "...", "")), 3, 1.0, context=ctx)
    new = [extract_code(t) for t in out.texts]
    assert len(set(new)) == 3
    assert constant(new[0], "healthy_reward") > 1.0
    assert "def healthy(z)" in new[0] and "offline designer" in new[0]
    for src in new:
        run_program(task, src)


def test_human_text_is_read():
    name = "walker-forward-v0"
    task = tasks.load(name)
    src = first_source(name)
    ctx = context(name)
    ctx.best = feedback(src, lengths=[1000] * 10, fitness=[float(i) for i in range(10)])
    ctx.human_text = "it moves forward but the legs are jerky and it shakes a lot"
    out = DESIGNER.complete(feedback_messages(task, "human"), 1, 1.0, context=ctx)
    new = extract_code(out.texts[0])
    assert constant(new, "effort_weight") > constant(src, "effort_weight")
    assert "smooth=" in new and "the person said" in out.texts[0]


def test_without_a_context_it_reads_the_prompt():
    task = tasks.load("reacher-reach-v0")
    out = make_llm("offline", cache=False).complete(initial_messages(task), 2, 1.0)
    src = extract_code(out.texts[0])
    assert "fingertip_pos" in src
    run_program(task, src)


def test_intent_reading():
    robot = Robot.from_context(context("ant-forward-v0"))
    assert robot.free_root and robot.root == "torso"
    it = read_intent("Make the ant walk sideways, to its left (towards +y), without turning or "
                     "drifting forward or back, and without flipping over.", robot)
    assert (it.kind, it.axis, it.sign, it.drift, it.no_turn, it.avoid_fall) == ("locomotion", 1, 1.0, True, True, True)
    assert read_intent("run backwards", robot).sign == -1.0
    assert read_intent("jump as high as you can", robot).kind == "jump"
    assert read_intent("do a front flip", robot).sign == 1.0
    hopper = Robot.from_context(context("hopper-forward-v0"))
    assert not hopper.free_root and hopper.vertical == "rootz" and hopper.axis_slides == {0: "rootx"}


def test_a_walker_kept_high_walks_and_a_spinner_spins():
    """"Walk forward ... keeping its torso upright and high" is locomotion (the height is its
    posture), not a jump; "spin the body on the hinge joint ... negative hinge angle" rewards
    that joint's speed, negative, from 0 (turning it the other way costs nothing: else leaving
    it alone is the safe policy) to twice the speed asked for, with no smoothness term
    that would slow it; "its fingertip (the finger body)" reaches with the finger, not the hand."""
    pytest.importorskip("dm_control.suite", reason="the dmc extra is not installed")
    walk = read_intent(tasks.load("dmc-walker-walk-v0").description,
                       Robot.from_context(context("dmc-walker-walk-v0")))
    assert (walk.kind, walk.axis, walk.sign, walk.avoid_fall) == ("locomotion", 0, 1.0, True)
    assert read_intent("jump as high as you can", Robot.from_context(context("dmc-walker-walk-v0"))
                       ).kind == "jump"
    spin = read_intent(tasks.load("dmc-finger-spin-v0").description,
                       Robot.from_context(context("dmc-finger-spin-v0")))
    assert (spin.kind, spin.joint, spin.sign, spin.speed) == ("rotate", "hinge", -1.0, 15.0)
    task = tasks.load("dmc-finger-spin-v0")
    out = DESIGNER.complete(initial_messages(task), 4, 1.0, context=DesignContext.from_task(task))
    for src in map(extract_code, out.texts):
        assert "spin_speed = -next_state.hinge_angvel" in src and "smooth" not in src, src
        run_program(task, src)
    assert "np.clip(spin_speed, 0.0, spin_cap)" in extract_code(out.texts[0])
    assert "spin_cap = 30.0" in extract_code(out.texts[0])
    reach = first_source("dmc-reacher-hard-v0")
    assert "next_state.finger_pos - next_state.target_pos" in reach


def test_a_reach_that_must_touch_leads_with_the_bounded_bonus():
    """"touches the target" scores only being on it: the first design is the bounded bonus
    near the target (weight 1) without minus the distance, which pays for coming from far away;
    a reach that need not touch keeps minus the distance."""
    robot = Robot.from_context(context("reacher-reach-v0"))
    assert read_intent("Move the fingertip so that it touches the target.", robot).touch
    assert not read_intent("Move the fingertip to the target and keep it there.", robot).touch
    task = tasks.adhoc("Reacher-v5", "touch the target with the fingertip and stay on it", None)
    out = DESIGNER.complete(initial_messages(task), 4, 1.0, context=DesignContext.from_task(task))
    first = extract_code(out.texts[0])
    assert "near_weight = 1.0" in first and "np.exp(-tip_gap / near_temperature)" in first
    assert "distance" not in first, first
    for src in map(extract_code, out.texts):
        assert "near" in src
        run_program(task, src)
    far = first_source("reacher-reach-v0")
    assert "distance = -distance_weight * tip_gap" in far and "near_weight = 0.5" in far


@pytest.mark.parametrize("name", ["hopper-jump-v0", "ant-sideways-v0", "reacher-reach-v0",
                                  "double-pendulum-balance-v0"])
def test_programs_run_under_jax_jit(name):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    task = tasks.load(name)
    out = DESIGNER.complete(initial_messages(task), 3, 1.0, context=context(name))
    rows = jnp.asarray(np.random.default_rng(0).normal(size=(4, task.spec.size)))
    action = jnp.zeros((4, task.action_dim))
    for text in out.texts:
        fn = compile_program(RewardProgram(extract_code(text)), xp=jnp).fn
        reward, comps = jax.jit(lambda r, a, fn=fn: fn(task.spec.view(r), a, task.spec.view(r)))(rows, action)
        assert reward.shape == (4,) and bool(jnp.all(jnp.isfinite(reward)))


def test_never_returns_a_program_the_run_has_already_tried():
    from rewardsmith.reward.program import fingerprint

    name = "pendulum-balance-v0"
    task = tasks.load(name)
    ctx = context(name)
    first = [extract_code(t) for t in DESIGNER.complete(initial_messages(task), 4, 1.0, context=ctx).texts]
    # the same request again, now knowing what the run has tried: four new programs
    ctx.tried = sorted(fingerprint(s) for s in first)
    again = [extract_code(t) for t in DESIGNER.complete(initial_messages(task), 4, 1.0, context=ctx).texts]
    assert not {fingerprint(s) for s in again} & set(ctx.tried)
    assert len({fingerprint(s) for s in again}) == 4
    for src in again:
        run_program(task, src)
