"""The closing evaluation: after the last iteration, the best and the hand-written reward on the
same N fresh seeds (none the selection saw), the untrained policy on their episodes, and one
verdict; resumable like every other job, and off with ``final_seeds=0``."""

from __future__ import annotations

import pytest
from fakes import FakeExecutor, ScriptedLLM, answer

from rewardsmith import tasks
from rewardsmith.errors import RewardsmithError
from rewardsmith.loop.design import DesignConfig, DesignLoop
from rewardsmith.runs.rundir import RunDir

SCRIPT = [[answer(3.0), answer(2.0)]]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache"))


def make_loop(tmp_path, executor, final_seeds=5, run=None):
    task = tasks.load("pendulum-balance-v0")
    config = DesignConfig(iterations=1, samples=2, steps=1000, seeds=2, top_k=1, workers=1,
                          final_seeds=final_seeds, schedule="full")
    run = run or RunDir.create(tmp_path / "run", {"task": task.id, "config": {}})
    return DesignLoop(task, run, config, ScriptedLLM(SCRIPT), executor=executor), run


def test_the_closing_evaluation_trains_on_fresh_seeds_and_gives_one_verdict(tmp_path):
    ex = FakeExecutor()
    loop, run = make_loop(tmp_path, ex)
    summary = loop.run_loop()
    dirs = [str(j.dir) for j in ex.jobs]
    assert len(dirs) == len(set(dirs))  # nothing trained twice
    labels = [j.label for j in ex.jobs]
    # iteration 0: both candidates, the baseline and the floor on seeds 0-1, the best's seed 1;
    # then the closing evaluation on seeds 2-6, none of which the selection saw: the best, the
    # baseline and the floor on each
    fresh = (2, 3, 4, 5, 6)
    closing = labels[labels.index("0-0 seed 2"):]
    assert sorted(closing) == sorted([f"0-0 seed {s}" for s in fresh]
                                     + [f"{k} seed {s}" for k in ("baseline", "floor")
                                        for s in fresh])
    best = summary["best"]
    assert best["id"] == "0-0" and sorted(best["fitness_seeds"], key=int) == [
        "0", "1", "2", "3", "4", "5", "6"]
    assert best["closing_seeds"] == list(fresh)
    v = best["verdict"]
    # judged on the fresh seeds alone: nothing to flatter it
    assert v["seeds"] == ["2", "3", "4", "5", "6"] and v["selected_on"] == []
    assert v["held_out"] is None and not any("selected on" in d for d in v["details"])
    assert v["versus_baseline"]["wins"] == 5 and v["versus_baseline"]["direction"] == "better"
    assert v["line"].startswith("better than the hand-written reward on 5 of 5 seeds")
    assert run.closing()["verdict"] == v and run.verdict() == v
    assert run.best()["verdict"] == v
    # the candidate's own record carries the closing seeds too
    assert len(run.candidate_result(0, 0)["fitness_seeds"]) == 7
    kinds = [e["event"] for e in run.events()]
    assert kinds.index("closing_started") < kinds.index("closing_finished") < kinds.index("run_finished")


def test_a_verdict_over_seeds_that_held_the_selections_says_how_it_did_without_them():
    """A verdict from before fresh closing seeds (or from records) included the seeds the best
    was picked on: it says so, and what the other seeds alone gave."""
    from rewardsmith.critic.verdict import verdict

    v = verdict({0: 6.0, 1: 5.5, 2: 2.0, 3: 3.0, 4: 2.5}, {0: 3.0, 1: 3.0, 2: 3.0, 3: 2.0, 4: 4.0},
                [0.0] * 10, selected_on=[0, 1])
    assert v["held_out"] == {"seeds": ["2", "3", "4"], "reward": 2.5, "baseline": 3.0,
                             "difference": -0.5, "wins": 1, "losses": 2}
    assert ("on the 3 seed(s) it was not selected on (2, 3, 4): the best 2.5, hand-written 3, "
            "difference -0.5, better on 1 of 3") in v["details"]


def test_a_run_killed_in_its_closing_evaluation_resumes_without_retraining(tmp_path):
    # iteration 0 is 7 jobs (two candidates, baseline and floor on two seeds, the best's second
    # seed); the kill comes after four of the closing evaluation's fifteen
    first = FakeExecutor(interrupt_after=11)
    loop, run = make_loop(tmp_path, first)
    with pytest.raises(KeyboardInterrupt):
        loop.run_loop()
    assert run.closing() is None
    second = FakeExecutor()
    loop2, _ = make_loop(tmp_path, second, run=RunDir.open(run.path))
    summary = loop2.run_loop()
    again = {str(j.dir) for j in first.jobs} & {str(j.dir) for j in second.jobs}
    assert not again
    assert len(second.jobs) == 11  # only the closing jobs that had not finished
    assert summary["best"]["verdict"]["versus_baseline"]["n"] == 5


def test_final_seeds_zero_has_no_closing_evaluation_but_still_a_verdict(tmp_path):
    ex = FakeExecutor()
    loop, run = make_loop(tmp_path, ex, final_seeds=0)
    summary = loop.run_loop()
    assert run.closing() is None
    assert not any("seed 2" in j.label for j in ex.jobs)
    v = summary["best"]["verdict"]  # from the loop's own two seeds: it says they cannot settle it
    assert v["seeds"] == ["0", "1"] and v["line"].startswith("2 seeds cannot separate")
    assert run.verdict() == v


def test_old_runs_keep_no_closing_evaluation_and_settings_check_themselves():
    assert DesignConfig.from_dict({"iterations": 2}).final_seeds == 0
    assert DesignConfig().final_seeds == 5
    with pytest.raises(RewardsmithError, match="final_seeds"):
        DesignConfig(final_seeds=-1)
    with pytest.raises(RewardsmithError, match="samples"):
        DesignConfig(samples=0)


def test_a_wrong_choice_is_refused_by_the_settings_themselves():
    with pytest.raises(RewardsmithError, match="unknown --schedule 'fast'") as e:
        DesignConfig(schedule="fast")
    assert "halving or full" in e.value.hint
    with pytest.raises(RewardsmithError, match="unknown --feedback 'robot'"):
        DesignConfig(feedback="robot")
    with pytest.raises(RewardsmithError, match="unknown --reevaluate"):
        DesignConfig(reevaluate="all")


def test_the_summary_gives_the_closing_seeds_mean_first():
    """The best's score over every seed it trained on holds the design seeds that picked it;
    the summary's figure is the closing seeds' mean, the verdict's."""
    from rich.console import Console

    from rewardsmith.cli.design import _print_summary
    from rewardsmith.critic.verdict import verdict

    v = verdict({2: 3.0, 3: 2.0}, {2: 2.5, 3: 2.5}, [0.0] * 10)
    best = {"id": "0-0", "score": 4.0, "fitness_seeds": {"0": 6.0, "1": 7.0, "2": 3.0, "3": 2.0},
            "closing_seeds": [2, 3], "verdict": v, "reward_path": "best/reward.py",
            "baseline_fitness": 2.5, "normalized_score": None}
    console = Console(record=True, width=300)
    _print_summary({"best": best, "run_dir": "r", "candidates": {}, "tokens": {}, "cost_usd": 0.0,
                    "task": "t"}, console)
    text = console.export_text()
    assert ("fitness 2.5 over the 2 closing seeds (4 over all 4 it trained on); hand-written "
            "baseline 2.5") in text
    # the suggested evaluation is on seeds the run has not used
    assert "rewardsmith evaluate --task t --reward best/reward.py --compare baseline --seed 4 " in text


def test_a_candidate_whose_score_is_not_a_number_fails_and_never_becomes_the_best(tmp_path):
    """Every comparison with a NaN is false: ranked first, it would have become the best and
    stayed so. It fails, saying why, and a NaN on an extra seed is a failed re-evaluation."""
    import math

    from rewardsmith.loop.design import NOT_A_NUMBER

    class Broken(FakeExecutor):
        def score(self, spec):
            w = super().score(spec)
            return math.nan if w == 3.0 or (w == 2.0 and spec.seed == 1) else w

    task = tasks.load("pendulum-balance-v0")
    config = DesignConfig(iterations=1, samples=2, steps=1000, seeds=2, top_k=2, workers=1,
                          final_seeds=0, schedule="full", reevaluate="top-k")
    run = RunDir.create(tmp_path / "run", {"task": task.id, "config": {}})
    seen = []
    summary = DesignLoop(task, run, config, ScriptedLLM(SCRIPT), executor=Broken(),
                         observer=seen.append).run_loop()
    bad = run.candidate_result(0, 0)
    assert bad["status"] == "failed" and bad["error"] == NOT_A_NUMBER
    best = summary["best"]
    assert best["id"] == "0-1" and best["fitness_seeds"] == {"0": 2.0}  # seed 1 broke: left out
    failed = [e for e in seen if type(e).__name__ == "ReevaluationFailed"]
    assert [(e.id, e.seed, e.error) for e in failed] == [("0-1", 1, NOT_A_NUMBER)]


def test_evaluating_a_design_runs_best_says_which_seeds_picked_it(tmp_path):
    """`rewardsmith evaluate --reward runs/<id>/best/reward.py --compare baseline` trains seeds
    0-4, and the design picked that reward on seeds 0-1: the verdict names them and gives the
    other seeds apart."""
    import json

    from fakes import program

    from rewardsmith.loop.evaluate import evaluate, resolve_reward

    task = tasks.load("pendulum-balance-v0")
    run = tmp_path / "run"
    (run / "best").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"config": {"seed": 0, "seeds": 2}}))
    (run / "best" / "reward.py").write_text(program(3.0))
    choice = resolve_reward(task, str(run / "best" / "reward.py"))
    assert choice.picked_on == (0, 1)
    report = evaluate(task, choice, seeds=5, steps=1000, compare="baseline",
                      out_dir=tmp_path / "eval", executor=FakeExecutor())
    v = report["compare"]["verdict"]
    assert v["selected_on"] == ["0", "1"] and v["held_out"]["seeds"] == ["2", "3", "4"]
    # on seeds after the design's (--seed 7): nothing to set apart
    report = evaluate(task, choice, seeds=5, first_seed=7, steps=1000, compare="baseline",
                      out_dir=tmp_path / "eval7", executor=FakeExecutor())
    v = report["compare"]["verdict"]
    assert report["seeds"] == [7, 8, 9, 10, 11] and v["selected_on"] == [] and v["held_out"] is None
    # any other file: nothing to say
    (tmp_path / "mine.py").write_text(program(3.0))
    assert resolve_reward(task, str(tmp_path / "mine.py")).picked_on == ()
