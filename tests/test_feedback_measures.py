"""What the feedback says beyond the score: each task measure through every evaluation episode
(how close it came, when, where it ended), a reward's scores on its several training seeds up
front with the other seeds' episodes, and the seed noise of an iteration."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest
from fakes import random_rollout

from rewardsmith import tasks
from rewardsmith.contracts import Episode, TrainResult
from rewardsmith.critic.episode_facts import episode_lines, measure_facts
from rewardsmith.critic.reflect import Seeds, iteration_account, reflect, seed_noise
from rewardsmith.runs.records import Candidate
from rewardsmith.tasks import Measure, TaskError, distance_between


def _episode(task, seed: int = 0, steps: int = 50) -> Episode:
    rows, actions, terminated = random_rollout(task, seed, steps)
    n = len(actions)
    return Episode(rows, actions, np.zeros(n), np.zeros(n), {}, terminated, task.spec)


@pytest.fixture(scope="module")
def reacher():
    return tasks.load("reacher-reach-v0")


def _shaped(n: int) -> np.ndarray:
    """0.5 at the first step, down to 0.05 at step 20, back up to 0.3 at the end."""
    down = np.linspace(0.5, 0.05, 20)
    return np.concatenate([down, np.linspace(0.05, 0.3, n - 20 + 1)[1:]])


def test_a_measure_says_its_first_value_its_best_and_when_its_end_and_its_bar(reacher):
    ep = _episode(reacher)
    assert ep.length == 50  # Reacher-v5's episodes last 50 steps
    task = replace(reacher, measures=(Measure("gap", lambda e: _shaped(e.length), "m", bar=0.1),))
    v, t = _shaped(50), np.asarray(ep.next.time)
    n = int(np.sum(v <= 0.1))
    first = int(np.argmax(v <= 0.1))
    (text,) = measure_facts(ep, task)
    assert text == (f"gap (m; lower is better): 0.5 at t={t[0]:.2f} s, best 0.05 at t={t[19]:.2f} s, "
                    f"0.3 at the end; at or below 0.1 on {n} of 50 steps ({n / 50:.0%}), "
                    f"first at t={t[first]:.2f} s, then beyond it again on {50 - first - n} of "
                    f"the {49 - first} later steps ({(50 - first - n) / (49 - first):.0%}), "
                    f"the worst of them 0.3 at t={t[49]:.2f} s, last at it at t={t[first + n - 1]:.2f} s "
                    f"(its longest unbroken stay: {n} steps, {n * (t[1] - t[0]):.2f} s, from "
                    f"t={t[first]:.2f} s)")
    # higher is better: the best is the peak, the bar counts from above
    up = replace(reacher, measures=(Measure("lift", lambda e: -_shaped(e.length), better="higher",
                                            bar=0.0),))
    (text,) = measure_facts(ep, up)
    assert text == (f"lift (higher is better): -0.5 at t={t[0]:.2f} s, best -0.05 at t={t[19]:.2f} s, "
                    "-0.3 at the end; at or above 0 on 0 of 50 steps")


def test_each_evaluation_episode_line_carries_the_measures(reacher):
    eps = [_episode(reacher, s) for s in range(2)]
    lines = episode_lines(reacher, eps, [reacher.fitness(e) for e in eps])
    for ep, line in zip(eps, lines):
        d = np.linalg.norm(ep.field("fingertip_pos")[:, :2] - ep.field("target_pos")[:, :2], axis=-1)
        assert (f"fingertip-to-target distance (m; lower is better): "
                f"{d[0]:.3g} at t=0.02 s, best {d.min():.3g} at t=") in line, line
        assert "at or below 0.02 on" in line


def test_a_measure_that_cannot_be_read_is_left_out_and_a_wrong_one_is_a_clear_error(reacher):
    ep = _episode(reacher)
    broken = replace(reacher, measures=(Measure("nothing", distance_between("no_such_pos", "target_pos")),
                                        Measure("whole", lambda e: np.zeros(e.length + 1))))
    assert measure_facts(ep, broken) == []
    with pytest.raises(TaskError, match=r"one value per state s_1..s_T, \(50,\)"):
        broken.measures[1].values(ep)
    with pytest.raises(TaskError, match="better must be 'lower' or 'higher'"):
        Measure("x", lambda e: e.field("time"), better="up")


def test_the_measures_of_the_registered_tasks_read_their_episodes():
    with_measures = [t for t in map(tasks.load, tasks.names()) if t.measures]
    assert {"reacher-reach-v0", "pusher-push-v0", "dmc-reacher-hard-v0",
            "dmc-cartpole-swingup-v0"} <= {t.id for t in with_measures}
    for task in with_measures:
        if task.env_id.startswith("dmc:"):
            pytest.importorskip("dm_control.suite", reason="the dmc extra is not installed")
        ep = _episode(task, steps=30)
        for m in task.measures:
            v = m.values(ep)
            assert v.shape == (ep.length,) and np.all(np.isfinite(v)), (task.id, m.name)
        assert len(measure_facts(ep, task)) == len(task.measures), task.id


def test_a_measure_is_not_part_of_the_task_fingerprint(reacher):
    # a measure only describes episodes: cached trainings stay valid when one is added
    assert replace(reacher, measures=()).fingerprint == reacher.fingerprint


def _result(task, fits, seed=0) -> TrainResult:
    return TrainResult(task=task.id, backend="sb3", seed=seed, steps=1000, fitness=float(np.mean(fits)),
                       fitness_std=float(np.std(fits)), success_rate=None, eval_fitness=list(fits), curve=[])


def test_the_scores_on_every_seed_come_first_and_the_other_seeds_episodes_follow(reacher):
    first = [_episode(reacher, s) for s in (0, 1)]
    other = [_episode(reacher, s) for s in (5, 6)]
    fits0 = [reacher.fitness(e) for e in first]
    fits1 = [reacher.fitness(e) for e in other]
    seeds = Seeds({"1": float(np.mean(fits0)), "0": float(np.mean(fits1))}, {"0": other}, {"0": fits1})
    text = reflect(reacher, _result(reacher, fits0, seed=1), "", first, seeds=seeds)
    lines = text.splitlines()
    assert lines[1].startswith("It was trained on 2 seeds, the same reward each time")
    assert "seed 1: " in lines[1] and lines[1].index("seed 1: ") < lines[1].index("seed 0: ")
    assert lines[1].endswith("The details below are seed 1's, then each evaluation episode of the "
                             "other seeds.")
    k = lines.index(f"Seed 0's evaluation episodes (task score {np.mean(fits1):.3g}):")
    assert lines[k + 1].startswith(f"  episode 0 (score {fits1[0]:.3g}, ")
    assert lines[k + 2].startswith(f"  episode 1 (score {fits1[1]:.3g}, ")
    # one seed: nothing about seeds; nor where the score is hidden (a preference oracle ranks)
    assert "trained on" not in reflect(reacher, _result(reacher, fits0), "", first)
    hidden = reflect(reacher, _result(reacher, fits0), "", first, seeds=seeds, show_score=False)
    assert "trained on 2 seeds" not in hidden and "Seed 0's" not in hidden


def test_the_seed_noise_of_an_iteration_is_measured_on_its_multi_seed_candidates(reacher):
    cands = [Candidate("1-0", 1, 0, "ok", fitness_seeds={"0": 1.0, "1": 3.0}),
             Candidate("1-1", 1, 1, "ok", fitness_seeds={"0": 5.0, "1": 6.0}),
             Candidate("1-2", 1, 2, "ok", fitness_seeds={"0": 9.0}),
             Candidate("1-3", 1, 3, "failed")]
    assert seed_noise(cands) == ("Seed noise: the 2 candidate(s) trained on more than one seed "
                                 "scored 1.5 apart between their seeds on average (at most 2); two "
                                 "candidates whose scores differ by less may differ by the luck of "
                                 "the seed, not by their rewards.")
    assert seed_noise(cands[2:]) == ""
    # the best of an earlier iteration counts too
    best = Candidate("0-0", 0, 0, "ok", fitness_seeds={"0": 10.0, "1": 14.0})
    account = iteration_account(reacher, 1, cands[2:], best, False)
    assert "the 1 candidate(s) trained on more than one seed scored 4 apart" in account


def test_a_design_run_tells_the_designer_each_seed_and_the_measures(tmp_path, monkeypatch):
    from prompt_run import run_prompts

    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache"))
    requests, run = run_prompts("reacher-reach-v0", tmp_path, iterations=2, samples=2, episodes=2,
                                steps=50, seeds=2)
    feedback = requests[-1][-1]["content"]
    assert "It was trained on 2 seeds, the same reward each time" in feedback
    assert "The details below are seed 0's" in feedback
    k = feedback.index("Seed 1's evaluation episodes (task score ")
    assert "\n  episode 0 (score " in feedback[k:] and "\n  episode 1 (score " in feedback[k:]
    rest = feedback[k:feedback.index("\n\nAll 2 candidates")]
    assert rest.count("fingertip-to-target distance (m; lower is better)") == 2
    assert "Seed noise: the " in feedback
    # a fixed arm's trajectory shows what its measures read, not its unmoving base
    traj = feedback[feedback.index("Trajectory of the best"):feedback.index("Trajectory of the worst")]
    assert "fingertip_pos=(" in traj and "target_pos=(" in traj and "body0_pos" not in traj


def test_a_gap_between_the_stochastic_training_and_the_deterministic_evaluation_is_noted():
    from rewardsmith.contracts import CurvePoint
    from rewardsmith.critic.reflect import exploration_gap

    def result(train_scores, evaluation):
        curve = [CurvePoint(step=1000 * (i + 1), episodes=4, fitness=f, success_rate=None,
                            episode_length=1000.0, env_return=0.0, reward_return=0.0,
                            components={}) for i, f in enumerate(train_scores)]
        return TrainResult(task="t", backend="sb3", seed=0, steps=1000, fitness=evaluation,
                           fitness_std=0.0, success_rate=None, eval_fitness=[evaluation],
                           curve=curve)

    note = exploration_gap(result([38.7, 109.0, 333.2, 185.2], 0.8))
    assert note.startswith("Note: in the last training window the task score was 185.2 (the "
                           "exploring, stochastic policy); in the evaluation it was 0.8")
    assert note.endswith("with the noise it scored higher, so the evaluated policy is worse than "
                         "the one that trained.")
    assert exploration_gap(result([0.0, 50.0, 100.0], 800.0)).endswith(
        "so the evaluated policy is better than training showed (the noise held it back).")
    assert exploration_gap(result([10.0, 100.0, 190.0, 200.0], 180.0)) == ""  # close enough
    assert exploration_gap(result([-0.30, -0.20, -0.16], -0.15)) == ""
    assert exploration_gap(result([], 5.0)) == ""


def test_an_early_end_says_the_last_state_and_what_the_reward_paid_just_before_it():
    from rewardsmith.critic.reflect import events

    task = tasks.load("hopper-forward-v0")
    rows, actions, terminated = random_rollout(task, 0, 1000)
    n = len(actions)
    assert terminated and n >= 10  # random actions topple the hopper
    rewards = np.ones(n)
    rewards[-(n // 5):] = 3.0  # paid more as it falls
    fall = np.where(np.arange(n) >= n - n // 5, 2.0, 0.0)
    ep = Episode(rows, actions, np.zeros(n), rewards, {"fall": fall, "alive": np.ones(n)},
                 True, task.spec)
    lines = events(ep, task)
    z = ep.field("torso_pos")[-1, 2]
    pitch = ep.field("rooty_angle")[-1]
    assert abs(pitch) >= 0.2  # the pitch bound ended it: said, and the height beside it
    assert lines[0].endswith(f"(it fell or left its safe range); it ended as its pitch angle "
                             f"(rooty_angle) reached {pitch:+.4g} rad, outside (-0.2, 0.2); in "
                             f"its last state, torso height {z:.3g} m")
    k = min(20, n // 5)
    paid = next(x for x in lines if x.startswith(f"over its last {k} steps"))
    assert f"the reward averaged 3 per step, against {rewards.mean():.3g}" in paid
    assert "('fall' paid" in paid


def test_a_penalty_says_which_way_its_size_went():
    from rewardsmith.critic.reflect import _trend

    assert _trend([-1.0, -3.0, -9.0]) == "falling: a larger penalty"
    assert _trend([-9.0, -3.0, -1.0]) == "rising: a smaller penalty"
    assert _trend([1.0, 3.0, 9.0]) == "rising" and _trend([-1.0, 0.5, 2.0]) == "rising"
    assert _trend([-1.0, -1.0]) == "flat"


def test_a_candidate_line_lists_its_named_constants():
    from rewardsmith.critic.reflect import candidate_line, constants_text

    src = ("def compute_reward(state, action, next_state):\n"
           "    forward_weight = 1.5\n    effort_weight = -0.01\n    scale = 2\n"
           "    r = forward_weight * next_state.rootx_vel * scale\n"
           "    return r, {'forward': r}\n")
    assert constants_text(src) == "constants forward_weight 1.5, effort_weight -0.01, scale 2"
    many = "def compute_reward(state, action, next_state):\n" + "".join(
        f"    w{i} = {i}.5\n" for i in range(12)) + "    return w0, {}\n"
    assert constants_text(many).endswith("w9 9.5 and 2 more")
    assert constants_text("def compute_reward(s, a, n):\n    return 1.0, {}\n") == ""
    c = Candidate("1-0", 1, 0, "ok", source=src, fitness=2.0, fitness_seeds={"0": 2.0},
                  train={"curve": [{"components": {"forward": 3.0}}]})
    line = candidate_line(tasks.load("hopper-forward-v0"), c)
    assert line.startswith("- 1-0: components forward; constants forward_weight 1.5, "
                           "effort_weight -0.01, scale 2; task score 2")


def test_the_score_so_far_is_said_only_where_it_peaked_before_the_end(reacher):
    from rewardsmith.tasks import Fitness

    ep = _episode(reacher)
    up_down = np.concatenate([np.ones(30), -np.ones(20)])  # cumulative: peaks at step 30
    task = replace(reacher, fitness=Fitness(fn=lambda e: float(up_down[:e.length].sum()), doc="x"),
                   measures=())
    (line,) = episode_lines(task, [ep], [task.fitness(ep)])
    t = np.asarray(ep.next.time)
    assert line.endswith(f"ran to the limit): score so far peaked at 30.0 at t={t[29]:.2f} s")
    rising = replace(task, fitness=Fitness(fn=lambda e: float(e.length), doc="x"))
    (line,) = episode_lines(rising, [ep], [50.0])
    assert "score so far" not in line
    # a score that never moved (0 throughout: a sparse score never reached) has no peak to tell
    flat = replace(task, fitness=Fitness(fn=lambda e: 0.0, doc="x"))
    (line,) = episode_lines(flat, [ep], [0.0])
    assert "score so far" not in line
    # a fitness undefined on the shortest cuts (a mean over steps after the first) still tells
    # its peak, without numpy's warning about the empty mean
    late = replace(task, fitness=Fitness(fn=lambda e: float(np.mean(up_down[1:e.length])),
                                         doc="x"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (line,) = episode_lines(late, [ep], [late.fitness(ep)])
    assert line.endswith(f"ran to the limit): score so far peaked at 1 at t={t[1]:.2f} s"), line


def test_a_candidate_from_one_seed_is_marked_where_others_have_more_and_success_spans_seeds(reacher):
    from rewardsmith.critic.reflect import candidate_line

    one = Candidate("1-0", 1, 0, "ok", fitness=2.0, fitness_seeds={"0": 2.0}, success_rate=1.0,
                    success_seeds={"0": 1.0})
    two = Candidate("1-1", 1, 1, "ok", fitness=3.0, fitness_seeds={"0": 3.0, "1": 1.0},
                    success_rate=1.0, success_seeds={"0": 1.0, "1": 0.9})
    assert "task score 2 (one seed); success 100%" in candidate_line(reacher, one, mark_single=True)
    assert "(one seed)" not in candidate_line(reacher, one)
    assert "task score 2 (seeds: 3, 1); success 95% (seeds: 100%, 90%)" in candidate_line(reacher, two)
    account = iteration_account(reacher, 1, [one, two], two, True)
    assert "(one seed)" in account


def test_after_first_reaching_its_bar_a_measure_says_whether_it_stayed(reacher):
    ep = _episode(reacher)
    t = np.asarray(ep.next.time)
    settle = np.concatenate([np.linspace(0.5, 0.05, 20), np.full(30, 0.05)])
    (text,) = measure_facts(ep, replace(reacher, measures=(Measure("gap", lambda e: settle, bar=0.1),)))
    first = int(np.argmax(settle <= 0.1))
    assert text.endswith(f"first at t={t[first]:.2f} s, and stayed there")
    # an overshoot: through the bar, out to 0.2, back at the end
    over = np.concatenate([np.linspace(0.5, 0.05, 20), np.linspace(0.05, 0.2, 15), np.linspace(0.2, 0.05, 15)])
    (text,) = measure_facts(ep, replace(reacher, measures=(Measure("gap", lambda e: over, bar=0.1),)))
    away = int(np.sum(over[first:] > 0.1))
    assert f", then beyond it again on {away} of the {49 - first} later steps" in text
    assert f"the worst of them 0.2 at t={t[34]:.2f} s, back at it at the end (its longest unbroken stay: " in text


def test_the_best_and_worst_episodes_say_how_often_the_actions_sat_at_their_limits(reacher):
    from rewardsmith.critic.episode_facts import action_facts

    ep = _episode(reacher)
    bang = np.where(np.arange(ep.length)[:, None] % 2 == 0, 1.0, -1.0) * np.ones((1, 2))
    bang[:, 1] = 0.5 * bang[:, 1]  # the elbow at half its limit
    text = action_facts(replace(ep, actions=bang), reacher)
    assert text == ("actions at a limit of their range (within 2% of it) on 50% of the entries; "
                    "mean size 0.75 of the limit; most at a limit: action[0] (joint0) 100%")
    calm = action_facts(replace(ep, actions=np.zeros_like(bang)), reacher)
    assert calm.startswith("actions at a limit of their range (within 2% of it) on none of the "
                           "entries; mean size 0.00 of the limit") and "most at a limit" not in calm
    out = reflect(reacher, _result(reacher, [reacher.fitness(ep)]), "", [replace(ep, actions=bang)])
    assert "  - actions at a limit of their range (within 2% of it) on 50% of the entries" in out


def test_the_best_and_worst_episodes_give_the_score_so_far_at_each_quarter():
    from rewardsmith.critic.episode_facts import score_by_quarter

    task = tasks.load("cheetah-run-v0")
    ep = _episode(task, steps=100)
    t = np.asarray(ep.next.time)
    text = score_by_quarter(ep, task)
    assert text.startswith("the score so far at each quarter of the episode: ")
    cuts = [25, 50, 75, 100]
    x = ep.field("rootx_vel") * ep.field("dt")
    want = ", ".join(f"{float(np.sum(x[:c])):.3g} (t={t[c - 1]:.2f} s)" for c in cuts)
    assert text.endswith(want) or text == "the score so far at each quarter of the episode: " + want
    # hidden where the score is (a preference oracle ranks by it)
    hidden = reflect(task, _result(task, [task.fitness(ep)]), "", [ep], show_score=False)
    assert "the score so far at each quarter" not in hidden
    assert "the score so far at each quarter" in reflect(task, _result(task, [task.fitness(ep)]), "", [ep])


def test_alike_episodes_are_told_once(reacher):
    ep = _episode(reacher)
    again = replace(ep)  # the same figures: alike
    other = _episode(reacher, seed=3)
    fits = [reacher.fitness(ep), reacher.fitness(again) * 1.01, reacher.fitness(other)]
    lines = episode_lines(reacher, [ep, other, again], [fits[0], fits[2], fits[1]])
    assert len(lines) == 3
    assert lines[0].startswith(f"  episode 0 (score {fits[0]:.3g}, ")
    assert lines[1] == (f"  episode(s) 2 (score(s) {fits[1]:.3g}): like episode 0, not told again "
                        "(the same length and end; score and measures within 2% of its)")
    assert lines[2].startswith(f"  episode 1 (score {fits[2]:.3g}, ")
    # a score or a measure apart by more than 2%: told
    far = episode_lines(reacher, [ep, again], [fits[0], fits[0] * 1.05])
    assert len(far) == 2 and far[1].startswith("  episode 1 (score ")
    moved = replace(reacher, measures=(Measure("m", lambda e: np.full(e.length, float(e.actions[0, 0]))),))
    shifted = replace(ep, actions=ep.actions + 1.0)
    assert len(episode_lines(moved, [ep, shifted], [1.0, 1.0])) == 2


def test_the_hand_written_rewards_scores_on_the_design_seeds_are_given_for_scale(reacher):
    from rewardsmith.critic.reflect import reference_text

    record = {"baseline": {"fitness_mean": 210.5, "seeds": {"0": 233.0, "1": 188.0}},
              "floor": {"fitness_mean": 0.02}}
    text = reference_text(record)
    assert text == ("For scale: the task's hand-written reward, trained the same way on the same "
                    "seeds, scored 210.5 (seed 0: 233.0, seed 1: 188.0); the untrained policy "
                    "0.02 (on so few seeds its mean can sit far from its mean over more: judge a "
                    "candidate against it seed by seed). Its code is not shown; the run ends by "
                    "comparing the best with it on more seeds.")
    three = {"baseline": {"fitness_mean": 1.0, "seeds": {"0": 1.0, "1": 1.0, "2": 1.0}}}
    assert "so few seeds" not in reference_text(three)
    assert reference_text(None) == "" and reference_text({"baseline": {"seeds": {}}}) == ""
    ep = _episode(reacher)
    lines = reflect(reacher, _result(reacher, [reacher.fitness(ep)]), "", [ep],
                    reference=text).splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.startswith("Task score ("))
    assert lines[k + 1] == text  # right after the score
    assert text not in reflect(reacher, _result(reacher, [reacher.fitness(ep)]), "", [ep],
                               reference=text, show_score=False)


def test_without_screening_a_candidates_agreement_is_told_only_where_it_says_something(reacher):
    from rewardsmith.critic.reflect import candidate_line

    def cand(tau, text=""):
        c = Candidate("1-0", 1, 0, "ok", source="", fitness=1.0, fitness_seeds={"0": 1.0})
        c.screening = {"tau": 0.6, "text": "tau +0.60 on 8 recorded episodes"}
        c.screening_after = {"tau": tau, "text": text or f"on 12 recorded episodes its return "
                                                         f"ranks them with tau {tau:+.2f}"}
        return c

    plain = cand(0.5)
    assert "Kendall tau +0.60" in candidate_line(reacher, plain)  # every figure (with --screen)
    assert "recorded episodes" not in candidate_line(reacher, plain, all_agreement=False)
    low = candidate_line(reacher, cand(0.1), all_agreement=False)
    assert "after training, with this iteration's episodes, on 12 recorded episodes" in low
    against = cand(0.5, "tau +0.50 on 12; 'drift' ranks them against the task score (tau -0.40)")
    assert "'drift' ranks them against" in candidate_line(reacher, against, all_agreement=False)


def test_a_term_that_paid_nothing_on_the_dry_runs_random_steps_is_named(reacher, tmp_path):
    from rewardsmith.critic.reflect import candidate_line, silent_terms
    from rewardsmith.reward.program import RewardProgram
    from rewardsmith.sandbox.dryrun import check_program

    task = tasks.load("hopper-jump-v0")
    src = ("def compute_reward(state, action, next_state):\n"
           "    apex = np.maximum(next_state.torso_pos[:, 2] - 1.3, 0.0)  # a dead zone below 1.3 m\n"
           "    fall = np.where(next_state.torso_pos[:, 2] < 0.5, -10.0, 0.0)  # 0 until a fall\n"
           "    alive = np.ones_like(apex)\n"
           "    return apex + alive + fall, {'apex': apex, 'alive': alive, 'fall': fall}\n")
    report = check_program(RewardProgram(src), task, workdir=tmp_path)
    assert report.accepted and report.zero_steps["zero"] == {"apex": 1.0, "alive": 0.0, "fall": 1.0}
    assert report.zero_steps["pays"] == ["alive", "apex"]  # the fall penalty never pays
    silent = silent_terms(report.zero_steps)
    assert silent == {"steps": report.zero_steps["steps"], "zero": {"apex": 1.0}}
    assert silent_terms({"steps": 64, "zero": {"alive": 0.0, "near": 0.5}}) is None
    c = Candidate("0-0", 0, 0, "ok", source=src, fitness=1.25, silent=silent)
    line = candidate_line(task, c)
    assert (f"before training, on {silent['steps']} steps of random actions, 'apex' paid exactly "
            "0 (on every step unless a share is given)") in line
    c.silent = {"steps": 64, "zero": {"apex": 0.97}}
    assert "'apex' (97%) paid exactly 0" in candidate_line(task, c)
    assert Candidate.from_json(c.to_json()).silent == c.silent  # kept in the record


def test_the_prompt_says_how_many_policy_updates_the_budget_makes_and_a_trajectory_shows_pitch():
    from rewardsmith.critic.reflect import MAX_TRAJECTORY_FIELDS, _key_fields
    from rewardsmith.train import sb3

    task = tasks.load("walker-forward-v0")
    text = sb3.training_summary(task, 100_000)
    assert ("Each PPO update gathers 256 steps from each environment (2,048 in all) and makes 5 "
            "passes over them in minibatches of 256: about 48 updates over the whole budget") in text
    # a reward reading many fields still leaves room for a planar robot's pitch
    many = "".join(f"    x{i} = next_state.{f}\n" for i, f in enumerate(
        ["torso_pos", "torso_linvel", "foot_pos", "foot_left_pos", "foot_linvel", "foot_left_linvel",
         "thigh_pos"]))
    src = "def compute_reward(state, action, next_state):\n" + many + "    return 0.0, {}\n"
    keys = _key_fields(task, src)
    assert len(keys) == MAX_TRAJECTORY_FIELDS and "rooty_angle" in keys


def test_the_best_and_worst_episodes_say_which_bodies_touched_something_and_how():
    from rewardsmith.critic.episode_facts import contact_facts

    task = tasks.load("cheetah-run-v0")
    ep = _episode(task, steps=100)
    spec, rows = task.spec, np.array(ep.states, dtype=float)
    contact = [n for n in spec.fields if n.endswith("_contact")]
    for n in contact:
        rows[:, spec.fields[n].offset] = 0.0
    step = np.arange(len(rows)) - 1  # row k + 1 is the state after step k
    # the back foot down for 10 steps in every 20; the torso once, for 5 steps at the end
    rows[:, spec.fields["bfoot_body_contact"].offset] = (step >= 0) & (step % 20 < 10)
    rows[96:, spec.fields["torso_contact"].offset] = 1.0
    ep = replace(ep, states=rows)
    text = contact_facts(ep, task)
    assert text == ("contact fields (share of steps at 1, touches, mean touch): "
                    f"bfoot_body_contact 50%, 5, {10 * spec.dt:.2f} s; "
                    f"torso_contact 5%, 1, {5 * spec.dt:.2f} s; the other contact fields stayed at 0")
    assert f"  - {text}" in reflect(task, _result(task, [task.fitness(ep)]), "", [ep])
    # nothing touched anything (a swimmer, an arm in the air): no line
    rows[:, [spec.fields[n].offset for n in contact]] = 0.0
    assert contact_facts(replace(ep, states=rows), task) == ""


def test_a_reward_below_zero_where_episodes_can_end_early_is_warned_of():
    """Summed below 0 per episode, a reward pays a policy to end the episode sooner: said where
    the env can end it early (a hopper), not where it cannot (a reacher's fixed 50 steps)."""
    from rewardsmith.contracts import CurvePoint

    def result(task, ret, length):
        curve = [CurvePoint(step=1000, episodes=4, fitness=1.0, success_rate=None,
                            episode_length=length, env_return=0.0, reward_return=ret,
                            components={"alive": ret})]
        return TrainResult(task=task.id, backend="sb3", seed=0, steps=1000, fitness=1.0,
                           fitness_std=0.0, success_rate=None, eval_fitness=[1.0], curve=curve)

    hopper, reacher = tasks.load("hopper-forward-v0"), tasks.load("reacher-reach-v0")
    ep = _episode(hopper)
    text = reflect(hopper, result(hopper, -40.0, 80.0), "", [ep])
    assert ("Warning: in the last training window the reward summed to -40.0 per episode (-0.5 a "
            "step): below 0, where the env can end an episode early, ending it sooner loses less"
            in text)
    assert "summed to" not in reflect(hopper, result(hopper, 40.0, 80.0), "", [ep])
    assert "summed to" not in reflect(reacher, result(reacher, -40.0, 50.0), "", [_episode(reacher)])


def test_the_exploration_gap_gives_both_episode_lengths_where_they_differ():
    from rewardsmith.contracts import CurvePoint
    from rewardsmith.critic.reflect import exploration_gap

    curve = [CurvePoint(step=1000, episodes=4, fitness=f, success_rate=None, episode_length=100.0,
                        env_return=0.0, reward_return=0.0, components={}) for f in (0.1, 0.65)]
    result = TrainResult(task="t", backend="sb3", seed=0, steps=1000, fitness=5.0, fitness_std=0.0,
                         success_rate=None, eval_fitness=[5.0], curve=curve)
    note = exploration_gap(result, [1000, 1000])
    assert ("(the exploring, stochastic policy, over episodes of 100 steps on average); in the "
            "evaluation it was 5 (the same policy's deterministic actions, over episodes of 1000 "
            "steps)") in note
    assert "over episodes" not in exploration_gap(result, [110, 120])  # alike: not said


def test_an_episode_that_ended_early_says_which_of_the_envs_bounds_it_crossed():
    from rewardsmith.critic.reflect import crossed

    hopper = tasks.load("hopper-forward-v0")
    ep = _episode(hopper, steps=300)
    assert ep.terminated
    z, pitch = float(ep.field("rootz_pos")[-1]), float(ep.field("rooty_angle")[-1])
    want, brief = [], []
    if z <= 0.7:
        want.append(f"the torso's height (rootz_pos) reached {z:+.4g} m, outside (0.7, inf)")
        brief.append(f"rootz_pos {z:+.4g} m, outside (0.7, inf)")
    if abs(pitch) >= 0.2:
        want.append(f"its pitch angle (rooty_angle) reached {pitch:+.4g} rad, outside (-0.2, 0.2)")
        brief.append(f"rooty_angle {pitch:+.4g} rad, outside (-0.2, 0.2)")
    assert want and crossed(ep, hopper) == " and ".join(want)
    # an episode's line, one of many, names the field alone
    (line,) = episode_lines(hopper, [ep], [hopper.fitness(ep)])
    assert f"steps, ended early: {' and '.join(brief)})" in line
    assert crossed(replace(ep, terminated=False), hopper) == ""
    # an env without known bounds (a reacher never ends early) says nothing more
    reacher = tasks.load("reacher-reach-v0")
    assert crossed(replace(_episode(reacher), terminated=True), reacher) == ""


def test_the_kendall_tau_legend_is_said_once_an_iteration(reacher):
    from rewardsmith.critic.screening import TAU_LEGEND

    cands = []
    for k in range(3):
        c = Candidate(f"1-{k}", 1, k, "ok", source="", fitness=1.0, fitness_seeds={"0": 1.0})
        c.screening = {"tau": 0.6, "text": f"on 8 recorded episodes its return ranks them like "
                                           f"the task score with Kendall tau +0.60{TAU_LEGEND}"}
        cands.append(c)
    text = iteration_account(reacher, 1, cands, cands[0], True)
    assert text.count(TAU_LEGEND) == 1 and text.count("Kendall tau +0.60") == 3
    assert text.index(TAU_LEGEND) < text.index("- 1-1")  # on the first line that has a tau


def test_the_training_curve_says_how_often_episodes_ended_early_and_past_which_bound():
    from rewardsmith.contracts import OTHER_END, CurvePoint

    def result(task, shares):
        curve = [CurvePoint(step=1000 * (i + 1), episodes=10, fitness=1.0, success_rate=None,
                            episode_length=50.0, env_return=0.0, reward_return=5.0,
                            components={}, ended_early=e, ended_by=by)
                 for i, (e, by) in enumerate(shares)]
        return TrainResult(task=task.id, backend="sb3", seed=0, steps=2000, fitness=1.0,
                           fitness_std=0.0, success_rate=None, eval_fitness=[1.0], curve=curve)

    hopper = tasks.load("hopper-forward-v0")
    text = reflect(hopper, result(hopper, [(1.0, {"rooty_angle": 1.0}),
                                           (0.6, {"rootz_pos": 0.4, OTHER_END: 0.2})]), "")
    assert "  share ended early (not by the time limit): [1, 0.6] (falling)" in text
    assert ("  last window, why its 60% ended early (at the last state): 40% the torso's height "
            "(rootz_pos) outside (0.7, inf); 20% another of the env's rules") in text
    # the likeliest cause first; one episode can cross two bounds at once
    text = reflect(hopper, result(hopper, [(1.0, {"rooty_angle": 0.15, "rootz_pos": 0.94})]), "")
    assert ("why its 100% ended early (at the last state): 94% the torso's height (rootz_pos) "
            "outside (0.7, inf); 15% its pitch angle (rooty_angle) outside (-0.2, 0.2); an "
            "episode past two counts in both") in text
    # none ended early, or a backend that does not tell: not said
    for shares in ([(0.0, {}), (0.0, {})], [(None, {}), (None, {})]):
        assert "ended early" not in reflect(hopper, result(hopper, shares), "")
