"""Screening on recorded trajectories: a candidate's return on every recorded episode, computed
in the jailed dry run, and its rank agreement (Kendall's tau) with the episodes' task scores."""

from __future__ import annotations

import numpy as np
import pytest

from rewardsmith.critic.screening import agreement, kendall
from rewardsmith.sandbox.dryrun import check_program, write_episodes

FORWARD = '''
def compute_reward(state, action, next_state):
    forward = (next_state.rootx_pos - state.rootx_pos) / next_state.dt
    alive = np.ones_like(forward)
    return forward + alive, {"forward": forward, "alive": alive}
'''
BACKWARD = FORWARD.replace("forward = (", "forward = -(")
# passes the dry run's batches (64 rows and fewer) and gives NaN on a 777-step episode
BREAKS = '''
def compute_reward(state, action, next_state):
    r = np.where(action.shape[0] == 777, np.nan, 1.0) * np.ones(action.shape[0])
    return r, {}
'''


@pytest.fixture(scope="module")
def recorded(load_task, make_venv, random_actions):
    """Random-action hopper episodes with their task scores (distance travelled)."""
    task = load_task("hopper-forward-v0")
    venv = make_venv(task, n_envs=4, seed=3)
    rng = np.random.default_rng(0)
    venv.reset()
    while sum(len(v) for v in venv.episodes.values()) < 12:
        venv.step(random_actions(venv, rng))
    eps = [e for v in venv.episodes.values() for e in v][:12]
    venv.close()
    return task, eps, [float(task.fitness(e)) for e in eps]


def test_kendall_tau_on_fixed_numbers():
    assert kendall([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall([4, 3, 2, 1], [10, 20, 30, 40]) == pytest.approx(-1.0)
    assert kendall([1, 1, 1, 1], [1, 2, 3, 4]) is None  # a constant return tells nothing
    assert kendall([1, 2, 3], [1, 2, 3]) is None  # too few episodes
    a = agreement({"returns": [1, 2, 3, 4], "discounted": [1, 2, 3, 4],
                   "components": {"alive": [4, 3, 2, 1], "forward": [1, 2, 3, 4]}},
                  [0.1, 0.2, 0.3, 0.4], ["untrained"] * 4)
    assert a["tau"] == pytest.approx(1.0) and a["components"]["alive"] == pytest.approx(-1.0)
    assert "'alive' ranks them against the task score (tau -1.00)" in a["text"]
    assert "pays the 1 lowest-scoring episodes 4 on average and the 1 highest-scoring 1" in a["text"]
    # a small action cost that better policies pay more of cannot reorder them: not named
    small = agreement({"returns": [10, 20, 30, 40], "discounted": [10, 20, 30, 40],
                       "components": {"forward": [10.2, 20.4, 30.6, 40.8], "effort": [-0.2, -0.4, -0.6, -0.8]}},
                      [0.1, 0.2, 0.3, 0.4], ["untrained"] * 4)
    assert small["components"]["effort"] == pytest.approx(-1.0)
    assert "ranks them against" not in small["text"]


def test_returns_on_recorded_episodes_come_from_the_jailed_dry_run(recorded, tmp_path):
    task, eps, scores = recorded
    path = write_episodes(tmp_path / "episodes.npz", eps)
    good = check_program(FORWARD, task, workdir=tmp_path / "good", episodes=path, discount=0.9)
    assert good.accepted and good.screening is not None
    s = good.screening
    assert len(s["returns"]) == len(eps) and set(s["components"]) == {"alive", "forward"}
    # the returns are the program's own, summed over each episode (and discounted)
    for e, ret, disc, alive in zip(eps, s["returns"], s["discounted"], s["components"]["alive"]):
        x = e.field("rootx_pos")
        prev = e.prev.rootx_pos
        step = (x - prev) / e.field("dt") + 1.0
        assert ret == pytest.approx(step.sum()) and alive == pytest.approx(e.length)
        assert disc == pytest.approx((step * 0.9 ** np.arange(e.length)).sum())
    a = agreement(s, scores, ["random"] * len(eps))
    assert a["tau"] is not None and a["tau"] > 0.3  # forward progress ranks like distance
    bad = check_program(BACKWARD, task, workdir=tmp_path / "bad", episodes=path)
    assert agreement(bad.screening, scores, ["random"] * len(eps))["tau"] < -0.3
    assert "screening" in good.to_json()


def test_a_reward_that_fails_on_a_recorded_episode_is_rejected_with_the_reason(recorded, tmp_path):
    from rewardsmith.contracts import Episode

    task, eps, _ = recorded
    e = eps[0]
    reps = -(-777 // e.length)  # a long episode: the first one's steps over and over
    long = Episode(np.concatenate([e.states[:-1]] * reps)[:778], np.tile(e.actions, (reps, 1))[:777],
                   np.zeros(777), np.zeros(777), {}, False, e.spec)
    assert check_program(BREAKS, task, workdir=tmp_path / "plain").accepted  # the dry run alone
    path = write_episodes(tmp_path / "episodes.npz", [*eps, long])
    report = check_program(BREAKS, task, workdir=tmp_path / "c", episodes=path)
    assert not report.accepted and report.stage == "dry_run"
    assert any("recorded evaluation episode (777 steps)" in p for p in report.problems), report.problems


def test_screen_keeps_candidates_that_rank_episodes_wrongly_from_training(tmp_path, monkeypatch):
    """--screen T: a candidate whose agreement is below T is marked screened, is not trained,
    and the designer reads why; the others train as usual and carry their agreement."""
    from fakes import FakeExecutor, ScriptedLLM, answer, fitness_of

    from rewardsmith import tasks
    from rewardsmith.critic.screening import Screening
    from rewardsmith.loop.design import DesignConfig, DesignLoop
    from rewardsmith.runs.rundir import RunDir

    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache"))
    task = tasks.load("pendulum-balance-v0")
    run = RunDir.create(tmp_path / "run", {"task": task.id, "config": {}})
    config = DesignConfig(iterations=2, samples=3, steps=1000, seeds=1, workers=1, final_seeds=0,
                          screen=0.0)
    loop = DesignLoop(task, run, config, ScriptedLLM([[answer(3.0), answer(-1.0), answer(2.0)],
                                                      [answer(4.0), answer(1.0), answer(5.0)]]),
                      executor=FakeExecutor())

    def validate(source, d, screening=None):  # the sandbox's returns: tau follows the weight
        w = fitness_of(source)
        tau = max(-1.0, min(1.0, w / 4))
        assert screening is not None and screening.path.exists()
        agree = {"episodes": 8, "tau": tau, "tau_discounted": tau, "components": {},
                 "groups": ["untrained"], "text": f"tau {tau:+.2f} on 8 recorded episodes"}
        return {"accepted": True, "stage": "ok", "problems": [], "feedback": "", "agreement": agree}

    monkeypatch.setattr(loop, "_validate", validate)
    (tmp_path / "eps.npz").write_bytes(b"")  # the set itself is the sandbox's business here
    monkeypatch.setattr(loop, "_screening_set", lambda it: Screening(
        tmp_path / "eps.npz", [0.0] * 8, ["untrained"] * 8))
    summary = loop.run_loop()
    by_id = {c["id"]: c for c in run.candidates()}
    assert by_id["0-1"]["status"] == "screened" and "below --screen 0" in by_id["0-1"]["error"]
    assert by_id["0-0"]["status"] == "ok" and by_id["0-0"]["screening"]["tau"] == 0.75
    trained = [fitness_of(src) for src, _ in loop.executor.trained if src and "W =" in src]
    # not the screened one, and the best-looking first: iteration 1's taus are 1.0, 0.25, 1.0
    assert trained == [3.0, 2.0, 4.0, 5.0, 1.0]
    assert summary["candidates"]["screened"] == 1
    sent = run.iteration(0)["feedback"]
    assert "0-1: screened out before training: tau -0.25" in sent
    assert "before training, tau +0.75 on 8 recorded episodes" in sent
    # the report shows it beside the trained score, and the live view as each is checked
    from rewardsmith.cli.design import LiveView
    from rewardsmith.loop import events as E
    from rewardsmith.report import write_report

    html = write_report(run.path).read_text()
    assert "agreement (tau, before → after training)" in html and ">+0.75</span>" in html
    view = LiveView("t")
    view(E.CandidateValidated(id="2-0", extra={"accepted": True, "agreement": {"tau": 0.5}}))
    assert view.cands["2-0"]["error"] == "agreement before training: tau +0.50"


def _recorded_run(root, name, task, eps, scores, source=FORWARD):
    """A run folder holding one trained candidate (0-0) whose evaluation episodes are ``eps``."""
    from rewardsmith.runs.records import Candidate
    from rewardsmith.runs.rundir import RunDir

    run = RunDir.create(root / name, {"task": task.id, "config": {"seed": 0}})
    folder = run.candidate_dir(0, 0) / "seed-0" / "train"
    folder.mkdir(parents=True)
    for i, e in enumerate(eps):
        e.save(folder / f"eval_episode_{i}.npz")
    c = Candidate("0-0", 0, 0, "ok", source=source, fitness=float(np.mean(scores)),
                  train={"eval_fitness": list(scores)})
    run.write_candidate(c)
    return run, c


def test_agreement_after_training_and_on_earlier_runs(recorded, tmp_path, monkeypatch):
    """After its iteration trains, a candidate is screened again on episodes that hold its own
    (recorded, fed back); --screen-history adds the episodes of earlier runs of the task."""
    from fakes import FakeExecutor, ScriptedLLM

    from rewardsmith.critic.reflect import candidate_line
    from rewardsmith.loop.design import DesignConfig, DesignLoop

    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache"))
    task, eps, scores = recorded
    _recorded_run(tmp_path / "runs", "earlier", task, eps[:6], scores[:6])
    run, c = _recorded_run(tmp_path / "runs", "now", task, eps[6:], scores[6:])

    def loop_with(**kw):
        config = DesignConfig(iterations=1, samples=1, steps=1000, seeds=1, workers=1,
                              final_seeds=0, compare_baseline=False, **kw)
        return DesignLoop(task, run, config, ScriptedLLM([]), executor=FakeExecutor())

    assert loop_with()._screening_set(0) is None  # nothing trained before iteration 0
    s = loop_with(screen_history=True)._screening_set(0)
    assert s is not None and s.groups == ["earlier/0-0"] * 6 and s.discount == 0.99  # sb3's gamma
    # after the iteration: its own six episodes first, then the earlier run's
    loop = loop_with(screen_history=True)
    loop._screen_after(0, [c])
    after = run.candidate_record(0, 0).screening_after
    assert after["episodes"] == 12 and after["groups"] == ["0-0", "earlier/0-0"]
    assert after["tau"] > 0.3  # forward progress ranks the episodes like distance travelled
    assert (run.candidate_dir(0, 0) / "screening-after.json").exists()
    assert any(e["event"] == "agreement_after_training" for e in run.events())
    assert ("after training, with this iteration's episodes, on 12 recorded episodes (of 1 "
            "trained candidate and 1 candidate of earlier runs)") in candidate_line(task, c)
    # without history, the run's own six episodes
    c.screening_after = None
    loop_with()._screen_after(0, [c])
    assert run.candidate_record(0, 0).screening_after["episodes"] == 6


def test_episodes_recorded_with_another_state_view_are_skipped_not_mixed(recorded, tmp_path,
                                                                         monkeypatch):
    """Episodes recorded by another version of the state view (other fields) are never read as
    this one's: Episode.load refuses them, the screening set leaves them out, and the cached
    evaluations of the hand-written reward are keyed by the view's layout."""
    from dataclasses import replace

    from fakes import FakeExecutor, ScriptedLLM

    from rewardsmith.contracts import Episode
    from rewardsmith.loop.design import DesignConfig, DesignLoop

    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache"))
    task, eps, scores = recorded
    wider = [replace(e, states=np.pad(e.states, ((0, 0), (0, 3)))) for e in eps[:6]]
    _recorded_run(tmp_path / "runs", "older-view", task, wider, scores[:6])
    with pytest.raises(ValueError, match="recorded by another version of the view"):
        Episode.load(tmp_path / "runs" / "older-view" / "candidates" / "0-0" / "seed-0" / "train"
                     / "eval_episode_0.npz", task.spec)
    run, _ = _recorded_run(tmp_path / "runs", "now", task, eps[6:], scores[6:])
    config = DesignConfig(iterations=1, samples=1, steps=1000, seeds=1, workers=1, final_seeds=0,
                          compare_baseline=False, screen_history=True)
    s = DesignLoop(task, run, config, ScriptedLLM([]), executor=FakeExecutor())._screening_set(1)
    assert s is not None and s.groups == ["0-0"] * 6
    import copy

    other = copy.copy(task)  # the same task, its view one field shorter
    other.__dict__["spec"] = replace(task.spec, fields=dict(list(task.spec.fields.items())[:-1]))
    assert other.spec.layout != task.spec.layout and other.fingerprint != task.fingerprint


def test_recorded_episodes_are_written_end_to_end_with_their_lengths(tmp_path, load_task):
    from rewardsmith.contracts import Episode

    task = load_task("pendulum-balance-v0")
    rng = np.random.default_rng(0)
    eps = [Episode(rng.normal(size=(n + 1, task.spec.size)), rng.normal(size=(n, 1)), np.zeros(n),
                   np.zeros(n), {}, False, task.spec) for n in (5, 3, 7)]
    path = write_episodes(tmp_path / "s.npz", eps)
    with np.load(path) as z:
        assert z["prev"].shape == (15, task.spec.size) and list(z["lengths"]) == [5, 3, 7]
        assert np.array_equal(z["next"][5:8], eps[1].states[1:])
        assert np.array_equal(z["prev"][8:], eps[2].states[:-1])
