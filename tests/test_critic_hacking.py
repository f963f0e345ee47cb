"""Reward-hacking signals: reward and task score that diverge are flagged, and the flag reaches
the candidate's record, the next prompt and `show`."""

from __future__ import annotations

import dataclasses

import pytest
from fakes import FakeExecutor, ScriptedLLM, answer

from rewardsmith import tasks
from rewardsmith.critic.hacking import correlation, signals
from rewardsmith.loop.design import DesignConfig, DesignLoop
from rewardsmith.runs.files import read_json
from rewardsmith.runs.rundir import RunDir


def curve(rewards, scores, comps=None):
    return {"curve": [{"reward_return": r, "fitness": f, "components": comps or {"a": 1.0, "b": 1.0}}
                      for r, f in zip(rewards, scores)]}


def test_reward_up_and_score_flat_is_flagged():
    s = signals(curve([1, 5, 10, 20, 40, 80], [0.3, 0.31, 0.29, 0.3, 0.3, 0.28]))
    assert [f["kind"] for f in s["flags"]] == ["diverging"]
    assert "rose" in s["flags"][0]["text"] and "stayed flat" in s["flags"][0]["text"]


def test_reward_and_score_rising_together_is_not_flagged():
    s = signals(curve([1, 5, 10, 20, 40, 80], [0.1, 0.3, 0.5, 0.9, 1.4, 2.0]),
                episode_rewards=[10, 20, 30, 40, 50], episode_scores=[1, 2, 3, 4, 5])
    assert s["flags"] == [] and s["train_correlation"] > 0.9 and s["eval_correlation"] > 0.99


def test_episodes_with_more_reward_and_less_score_are_flagged():
    s = signals(curve([1, 2, 3, 4], [1, 2, 3, 4]), episode_rewards=[50, 40, 30, 20, 10],
                episode_scores=[1.0, 2.0, 3.0, 4.0, 5.0])
    assert [f["kind"] for f in s["flags"]] == ["anticorrelated"] and s["eval_correlation"] < -0.99


def test_one_outlier_episode_makes_no_evaluation_warning():
    # one episode touched the target, the rest scored 0: the correlation is that one episode's
    s = signals(curve([1, 2, 3, 4], [1, 2, 3, 4]), episode_rewards=[50, 10, 40, 30, 20],
                episode_scores=[0.0, 4.0, 0.0, 0.0, 0.0])
    assert s["eval_correlation"] < -0.3 and s["flags"] == []


def test_one_component_swamping_the_rest_is_flagged():
    s = signals(curve([1, 2, 3, 4], [1, 2, 3, 4], comps={"alive": 990.0, "forward": 5.0}))
    assert s["dominant"]["component"] == "alive" and [f["kind"] for f in s["flags"]] == ["dominant"]


def test_correlation_needs_enough_finite_points():
    assert correlation([1, 2, 3], [1, 2, 3]) is None
    assert correlation([1, 2, None, 3, float("nan"), 4], [1, 2, 5, 3, 1, 4]) == 1.0
    assert correlation([1, 1, 1, 1], [1, 2, 3, 4]) is None


def test_a_hacked_reward_is_flagged_in_the_record_the_prompt_and_show(tmp_path):
    from typer.testing import CliRunner

    from rewardsmith.cli.main import app

    task = tasks.load("pendulum-balance-v0")
    run = RunDir.create(tmp_path / "run", {"task": task.id, "config": {}})
    config = DesignConfig(iterations=2, samples=2, steps=1000, seeds=1, workers=1,
                          compare_baseline=False, schedule="full")
    script = [[answer(3.0, "hack"), answer(2.0)], [answer(1.0)] * 2]
    DesignLoop(task, run, dataclasses.replace(config), ScriptedLLM(script),
               executor=FakeExecutor()).run_loop()
    c = {c["id"]: c for c in run.candidates()}
    assert "diverging" in [f["kind"] for f in c["0-0"]["signals"]["flags"]]
    assert not [f for f in c["0-1"]["signals"]["flags"] if f["kind"] == "diverging"]
    prompt = read_json(run.path / "llm" / "iteration-1.json")["messages"][-1]["content"]
    assert "Warning: its reward rose during training" in prompt  # the best's reflection
    assert "- 0-0: components" in prompt and "warning: its reward rose" in prompt
    out = CliRunner().invoke(app, ["show", str(run.path), "--no-feedback"])
    assert out.exit_code == 0 and "warning: its reward rose" in out.output


def test_a_one_second_flip_in_a_fifty_second_episode_is_in_the_summary():
    import numpy as np

    from rewardsmith.contracts import Episode
    from rewardsmith.critic.reflect import events

    task = tasks.load("cheetah-run-v0")  # dt 0.05 s: 1000 steps are 50 s
    spec, T = task.spec, 1000
    states = np.zeros((T + 1, max(f.offset + f.size for f in spec.fields.values())))

    def put(name, values):
        f = spec.fields[name]
        states[:, f.offset:f.offset + f.size] = np.asarray(values).reshape(T + 1, -1)

    put("time", np.arange(T + 1) * spec.dt)
    turn = np.zeros(T + 1)
    turn[400:420] = np.linspace(0, -2 * np.pi, 20)  # one second, from t=20 s
    turn[420:] = -2 * np.pi
    put("rooty_angle", turn)
    put("torso_zaxis", np.tile([0.0, 0.0, 1.0], (T + 1, 1)))
    contact = np.ones(T + 1)
    contact[395:425] = 0.0
    for name in [n for n in spec.fields if n.endswith("_contact")]:
        put(name, contact)
    ep = Episode(states, np.zeros((T, 6)), np.zeros(T), np.zeros(T), {}, False, spec)
    text = "\n".join(events(ep, task))
    assert "1 full turn(s) about its pitch axis" in text and "t=20." in text
    assert "airborne (no body touching anything) 1 time(s)" in text and "1.50 s" in text


def test_an_arm_fixed_to_the_world_is_not_said_to_tilt_or_fly():
    """The reacher never touches the ground and its base turns about z: "airborne for 20 s" and
    "tilted at most 0 degrees" would mislead; a floating robot still gets both lines."""
    import numpy as np
    from fakes import random_rollout

    from rewardsmith.contracts import Episode
    from rewardsmith.critic.reflect import events

    def lines(name):
        task = tasks.load(name)
        states, actions, term = random_rollout(task, seed=0, steps=40)
        T = len(actions)
        ep = Episode(states, np.asarray(actions), np.zeros(T), np.zeros(T), {}, term, task.spec)
        return "\n".join(events(ep, task))

    arm = lines("reacher-reach-v0")
    assert "tilted" not in arm and "airborne" not in arm and "touched the ground" not in arm
    hopper = lines("hopper-forward-v0")
    assert "tilted at most" in hopper or "upside down" in hopper
    assert "airborne" in hopper or "never left the ground" in hopper


def test_an_evaluation_correlation_that_few_episodes_show_by_chance_is_not_warned_of():
    from scipy import stats

    from rewardsmith.critic.hacking import negative_p

    rewards, scores = [1.0, 2.0, 3.0, 4.0, 5.0], [2.2, 2.6, 0.8, 1.9, 0.6]
    r, p = stats.pearsonr(rewards, scores, alternative="less")
    assert negative_p(r, 5) == pytest.approx(p)
    assert -0.9 < r < -0.6 and p > 0.05  # a correlation five episodes can show by chance
    s = signals(curve([1, 2, 3, 4], [1, 2, 3, 4]), episode_rewards=rewards, episode_scores=scores)
    assert s["eval_correlation"] == pytest.approx(r) and s["flags"] == []
    # the same size over 20 episodes is not chance
    s = signals(curve([1, 2, 3, 4], [1, 2, 3, 4]), episode_rewards=rewards * 4,
                episode_scores=scores * 4)
    (flag,) = s["flags"]
    assert flag["text"].startswith("over the 20 evaluation episodes, the episodes with more reward "
                                   f"had lower task scores (correlation {r:.2f}, p = ")
