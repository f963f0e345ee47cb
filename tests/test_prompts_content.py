"""What the prompts of a design run say, read from the requests of a scripted 3-iteration run on
Ant (the largest registered robot) whose jobs record real evaluation episodes: the score and
the success test in words, every candidate's component statistics, the earlier iterations, the
episodes' events, the robot's geometry, the compact state table, and each request's size."""

from __future__ import annotations

import json
import re

import mujoco
import numpy as np
import pytest
from prompt_run import IDEAS, run_prompts, sizes

from rewardsmith import tasks
from rewardsmith.contracts import Episode
from rewardsmith.critic.digest import history
from rewardsmith.critic.episode_facts import flights
from rewardsmith.runs.records import Candidate

ITERATIONS, SAMPLES = 3, 2


@pytest.fixture(scope="module")
def ant_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("prompts")
    mp = pytest.MonkeyPatch()
    mp.setenv("REWARDSMITH_CACHE", str(root / "cache"))
    try:
        requests, run = run_prompts("ant-forward-v0", root, ITERATIONS, SAMPLES, episodes=2,
                                    steps=150)
    finally:
        mp.undo()
    return tasks.load("ant-forward-v0"), requests, run


def _user(messages) -> str:
    return "\n".join(m["content"] for m in messages if m["role"] == "user")


def test_the_score_and_the_success_test_are_said_in_words(ant_run):
    task, requests, run = ant_run
    doc, success = task.fitness.doc, task.fitness.success_doc
    first = _user(requests[0])
    assert doc in first and success in first
    for messages in requests[1:]:
        feedback = messages[-1]["content"]
        assert f"Task score ({doc}; higher is better):" in feedback
        assert f"pass the success test: {success})" in feedback
        # said once: the reflection on the best comes first, so the account has no legend
        assert feedback.count(doc) == 1 and "(Task score = " not in feedback
    assert json.loads((run / "manifest.json").read_text())["config"]["hide_fitness"] is False
    # a definition of several sentences is named by its first: the first message says the rest
    from rewardsmith.critic.reflect import first_sentence

    reacher = tasks.load("dmc-reacher-hard-v0").fitness.doc
    assert first_sentence(reacher).endswith("over the 1000-step episode (1000 at best)")
    assert "Each step's reward" in reacher and "Each step's reward" not in first_sentence(reacher)
    assert first_sentence(doc) == doc.rstrip(".")


def test_hide_fitness_keeps_the_definitions_out_and_the_run_records_it(tmp_path, monkeypatch):
    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache"))
    task = tasks.load("pendulum-balance-v0")
    requests, run = run_prompts(task.id, tmp_path, 2, 1, episodes=1, steps=20, hide_fitness=True,
                                compare_baseline=True)
    text = "\n".join(_user(m) for m in requests)
    assert task.fitness.doc not in text and task.fitness.success_doc not in text
    assert "definition is not shown" in text and "Task score (higher is better):" in text
    assert "For scale: " not in _user(requests[0])  # no score is said before the feedback
    assert json.loads((run / "manifest.json").read_text())["config"]["hide_fitness"] is True


def _ideas(it: int, k: int) -> tuple[str, ...]:
    return IDEAS[(it * SAMPLES + k) % len(IDEAS)]


def test_every_candidate_of_the_last_iteration_gets_its_component_statistics(ant_run):
    _, requests, run = ant_run
    feedback = requests[-1][-1]["content"]
    account = feedback[feedback.index(f"All {SAMPLES} candidates of iteration 1"):]
    for k in range(SAMPLES):
        line = re.search(rf"^- 1-{k}\b.*\n    per step \(share, trend\): (.*)$", account, re.M)
        assert line, f"1-{k} has no statistics"
        stats = line.group(1)
        for name in _ideas(1, k):  # each component with its share and trend
            assert re.search(rf"\b{name} -?[0-9.e+-]+ \(\d+%, (rising|falling|flat)[^)]*\)", stats), name
        record = json.loads((run / "candidates" / f"1-{k}" / "result.json").read_text())
        fits = record["train"]["eval_fitness"]
        from rewardsmith.critic.reflect import _fmt

        assert (f"its best evaluation episode scored {_fmt(max(fits))}, its worst "
                f"{_fmt(min(fits))}") in stats


def test_the_history_keeps_every_earlier_iteration_a_line_a_candidate(ant_run):
    _, requests, _ = ant_run
    feedback = requests[-1][-1]["content"]
    assert "Earlier iterations" in feedback
    earlier = feedback[feedback.index("Earlier iterations"):]
    for k in range(SAMPLES):  # iteration 0, two iterations back, is still there
        names = ", ".join(_ideas(0, k))
        assert re.search(rf"^  - 0-{k} \[{names}\]: -?[0-9.]+", earlier, re.M), f"0-{k}"


def test_the_history_stays_within_its_bound_and_keeps_the_newest_whole():
    cands = [Candidate(f"{it}-{k}", it, k, "ok", source="def compute_reward(state, action, "
                       "next_state):\n    return 0.0, {'forward_velocity_term': 0.0, "
                       "'upright_posture_bonus': 0.0}\n", fitness=float(it + k))
             for it in range(30) for k in range(8)]
    text = history(cands, best_id="29-7", max_chars=2400)
    assert len(text) <= 2400
    assert "  - 29-7 [forward_velocity_term, upright_posture_bonus]: 36.0 (the best so far)" in text
    assert "older lines left out" in text and text.count("\n  - 29-") == 8
    roomy = history(cands[:24], best_id="2-7", max_chars=1200)  # three iterations: the oldest short
    assert roomy.startswith("iteration 0: 8 candidates; its best 0-7 [forward_velocity_term, "
                            "upright_posture_bonus]: 7\niteration 1:") and len(roomy) <= 1200


def test_every_evaluation_episode_has_its_peak_and_its_flights(ant_run):
    task, requests, run = ant_run
    feedback = requests[-1][-1]["content"]
    assert "Every evaluation episode" in feedback
    lines = re.findall(r"^  episode (\d+) \(score (-?[0-9.e+-]+), (\d+) steps.*$", feedback, re.M)
    assert [int(i) for i, *_ in lines] == [0, 1]
    for line in re.findall(r"^  episode \d+ .*$", feedback, re.M):
        steps = int(re.search(r"score -?[0-9.e+-]+, (\d+) steps", line).group(1))
        peak = re.search(r"score so far peaked at -?[0-9.e+-]+ at t=([0-9.]+) s", line)
        if peak:  # said only where it peaked before the end
            assert float(peak.group(1)) < steps * task.spec.dt - 1e-9, line
        assert re.search(r"no flight|\d+ flight\(s\)", line), line
        for fl in re.findall(r"\(([0-9.]+) s, ([0-9.]+) s, ([0-9.]+) m, ([^)]*)\)", line):
            assert float(fl[1]) >= 0.04 and 0.0 < float(fl[2]) < 3.0
            assert fl[3].endswith("deg") or fl[3] == "in the air at the end"


def _hopper_released(lift: float = 0.0, up: float = 0.0, steps: int = 60) -> tuple[Episode, object]:
    """A hopper episode of zero actions from its reset pose lifted by ``lift`` m and thrown up
    at ``up`` m/s."""
    task = tasks.load("hopper-forward-v0")
    env = task.make_env()
    try:
        env.reset(seed=0)
        u = env.unwrapped
        qpos, qvel = u.data.qpos.copy(), u.data.qvel.copy()
        qpos[1] += lift
        qvel[1] = up
        u.set_state(qpos, qvel)
        rows, actions = [task.spec.extract(u.model, u.data)], []
        for _ in range(steps):
            a = np.zeros(task.action_dim)
            env.step(a)
            rows.append(task.spec.extract(u.model, u.data))
            actions.append(a)
    finally:
        env.close()
    n = len(actions)
    ep = Episode(np.asarray(rows), np.asarray(actions), np.zeros(n), np.zeros(n), {}, False,
                 task.spec)
    return ep, task


FLIGHT = r"\(([0-9.]+) s, ([0-9.]+) s, ([0-9.]+) m, ([-+][0-9.]+) m/s, (\d+) deg\)"


def test_a_dropped_hopper_makes_one_flight_with_its_height_and_landing():
    ep, task = _hopper_released(lift=0.3)  # lifted 0.3 m: it falls, lands and stands
    listed, count = flights(ep, task)
    assert count == 1, listed
    start, duration, peak, takeoff, landing = re.fullmatch(FLIGHT, listed[0]).groups()
    assert float(start) < 0.02 and 0.15 < float(duration) < 0.35  # sqrt(2 * 0.3 / g) = 0.25 s
    assert abs(float(peak) - (1.25 + 0.3)) < 0.05 and int(landing) < 10
    assert abs(float(takeoff)) < 0.2  # dropped from rest


def test_a_flight_says_the_upward_speed_it_took_off_with():
    ep, task = _hopper_released(up=2.0, steps=80)  # thrown up at 2 m/s: it rises v^2 / 2g = 0.2 m
    listed, _ = flights(ep, task)
    _, _, peak, takeoff, _ = re.fullmatch(FLIGHT, listed[0]).groups()
    assert 1.8 < float(takeoff) <= 2.0  # a step of gravity after the throw
    assert abs(float(peak) - (1.25 + 2.0 ** 2 / (2 * 9.81))) < 0.05


def test_the_geometry_is_in_the_first_request(ant_run):
    _, requests, _ = ant_run
    first = _user(requests[0])
    assert "Geometry at reset (before its noise): torso (the root body) at height 0.75 m" in first
    assert re.search(r"with zero action it settles with torso at 0\.[45]\d* m", first)
    assert re.search(r"left_ankle \(aux_1; capsule [0-9.]+ m, r 0.08; [0-9.]+ kg\): unnamed in the model "
                     r"\(named after its geom\), segment 3 of limb front_left_leg, its origin at "
                     r"joint ankle_1; far end: left_ankle_tip_pos", first)
    assert re.search(r"torso \(world; sphere r 0.25; [0-9.]+ kg\)", first)


@pytest.mark.parametrize("task_id, tip, body", [("ant-forward-v0", "left_ankle_tip_pos", 4),
                                                 ("hopper-forward-v0", "foot_tip_pos", 4)])
def test_a_limb_tip_field_is_the_far_end_of_its_geom(task_id, tip, body):
    task = tasks.load(task_id)
    env = task.make_env()
    try:
        env.reset(seed=1)
        for _ in range(5):
            env.step(env.action_space.sample())
        u = env.unwrapped
        value = task.spec.view(task.spec.extract(u.model, u.data)[None])[tip][0]
        m, d = u.model, u.data
        mujoco.mj_kinematics(m, d)
        g = m.body_geomadr[body]
        axis = d.geom_xmat[g].reshape(3, 3)[:, 2]
        half = m.geom_size[g][1] + m.geom_size[g][0]
        ends = [d.geom_xpos[g] + half * axis, d.geom_xpos[g] - half * axis]
        root = d.xpos[m.body_rootid[body]]
    finally:
        env.close()
    # one of the capsule's two ends: the one away from the robot's root (the toe, not the heel)
    assert min(np.abs(value - e).max() for e in ends) < 1e-8
    assert np.linalg.norm(value - root) >= max(np.linalg.norm(e - root) for e in ends) - 0.2
    assert tip in task.spec.fields and task.spec.fields[tip].unit == "m"


def test_reflections_carry_the_state_table_compactly_and_fit_in_8k_tokens(ant_run):
    _, requests, _ = ant_run
    first, later = requests[0][1]["content"], [m[1]["content"] for m in requests[1:]]
    assert "[reset" in first and "body position (world frame, z up)" in first
    for text in later:  # these rewards read no field: no typical value is kept either
        assert "[reset" not in text and "for each body B of torso, front_left_leg" in text
        assert "hip_1_angle, ankle_1_angle" in text and " () rad\n" in text
        assert len(text) < 0.6 * len(first)
    # where they read some, the typical values of those stay, and only those
    task = tasks.load("ant-forward-v0")
    text = task.llm_context(compact=True, typical_for={"torso_pos", "hip_1_angle", "nonsense"})
    table, _, rest = text.partition("Typical values of the fields the rewards so far read")
    assert "[reset" not in table
    typical = rest.split("\n\nSignature")[0].splitlines()[1:]
    assert [line.split()[0] for line in typical] == ["hip_1_angle", "torso_pos"]
    assert all("[reset" in line for line in typical)
    for s in sizes(requests):
        assert s["tokens"] < 8000, s


def test_the_score_line_names_the_fields_the_score_reads():
    """'Metres travelled' of which point? The fields the fitness reads, probed, not written by
    hand; none for a score summed from the suite's own rewards."""
    from rewardsmith.llm import prompts

    hopper, pusher = tasks.load("hopper-forward-v0"), tasks.load("pusher-push-v0")
    assert hopper.score_fields == ("rootx_vel",)
    assert "before the episode ends (falling ends it), computed from the field rootx_vel." \
        in prompts.scoring_text(hopper)
    assert "computed from the fields object_pos, goal_pos." in prompts.scoring_text(pusher)
    assert "computed from" not in prompts.scoring_text(hopper, show=False)


def test_the_advice_fits_the_robot_and_the_score():
    """A robot that can fall is told to stay up; an arm on a fixed base that never ends an
    episode early is told it needs no bonus for staying alive; a sparse score asks for a dense
    term that leads towards it (not said when the score is hidden)."""
    from rewardsmith.llm import prompts

    hopper, pendulum = tasks.load("hopper-forward-v0"), tasks.load("pendulum-balance-v0")
    reacher = tasks.load("dmc-reacher-hard-v0")
    for task in (hopper, pendulum):  # a floating base; a cart-pole whose episodes end at a tilt
        text = prompts.design_advice(task)
        assert "staying healthy or upright where the robot can fall" in text
        assert "no bonus for staying alive" not in text and "sparse" not in text
    text = prompts.design_advice(reacher)
    assert "cannot fall over and no episode ends early, so no bonus for staying alive" in text
    assert "staying healthy" not in text
    assert "This task's score is sparse" in text and "dense term" in text
    assert "sparse" not in prompts.design_advice(reacher, show_fitness=False)
    # the score's episodes: how many, and that they are the deterministic policy's
    assert "evaluated on 5 episodes of its deterministic actions" in prompts.initial_messages(hopper)[1]["content"]
    assert "evaluated on 8 episodes of" in prompts.initial_messages(hopper, eval_episodes=8)[1]["content"]
    first = prompts.initial_messages(reacher)[1]["content"]
    assert "This task's score is sparse" in first and first.rstrip().endswith("functions it calls.")
    assert "sparse" not in prompts.initial_messages(reacher, show_fitness=False)[1]["content"].split(
        "How candidates are compared")[1]


def test_later_requests_repeat_a_short_state_table_whole():
    """The compact table pays only where the full one is long: an ant's or a pusher's (about
    10k characters more), not a hopper's or an arm's (designers missed the typical values)."""
    from rewardsmith.llm.prompts import FULL_TABLE_EXTRA_CHARS, compact_pays

    for name, compact in (("ant-forward-v0", True), ("pusher-push-v0", True),
                          ("hopper-jump-v0", False), ("dmc-reacher-hard-v0", False)):
        task = tasks.load(name)
        extra = len(task.llm_context()) - len(task.llm_context(compact=True))
        assert compact_pays(task) is compact and (extra > FULL_TABLE_EXTRA_CHARS) is compact
