"""Where the training budget goes: successive halving within an iteration (weak candidates stop
early, survivors continue from their checkpoint), and stopping the loop when nothing is left to
gain (solved, or --patience). On a fake executor: no training, every fitness set by the test."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fakes import FakeExecutor, ScriptedLLM, answer

from rewardsmith import tasks
from rewardsmith.loop.design import DesignConfig, DesignLoop
from rewardsmith.runs.files import read_json
from rewardsmith.runs.rundir import RunDir

BUDGET = 4000
CONFIG = DesignConfig(iterations=1, samples=4, steps=BUDGET, seeds=2, top_k=2, workers=1,
                      compare_baseline=False, schedule="halving")


def loop_for(tmp_path, script, executor, run=None, **config):
    task = tasks.load("pendulum-balance-v0")
    run = run or RunDir.create(tmp_path / "run", {"task": task.id, "config": {}})
    cfg = dataclasses.replace(CONFIG, **config)
    return DesignLoop(task, run, cfg, ScriptedLLM(script), executor=executor), run


def test_weak_candidates_stop_early_and_survivors_continue_from_their_slice(tmp_path):
    ex = FakeExecutor()
    loop, run = loop_for(tmp_path, [[answer(w) for w in (1.0, 3.0, 4.0, 2.0)]], ex)
    summary = loop.run_loop()
    by_id = {c["id"]: c for c in run.candidates()}
    # at a quarter of the budget the best half (0-2, 0-1) go on; at half, 0-2 alone
    assert by_id["0-2"]["status"] == "ok" and by_id["0-2"]["fitness"] == 4.0
    for cid, w, rung in (("0-0", 1.0, 0), ("0-3", 2.0, 0), ("0-1", 3.0, 1)):
        c = by_id[cid]
        part = (rung + 1) / 4  # a quarter, then half of the budget
        assert c["status"] == "stopped" and c["fitness"] == pytest.approx(w * part)
        assert c["train_dir"] == f"seed-0/rung-{rung}/train"
        assert (run.path / "candidates" / cid / c["train_dir"] / "result.json").exists()
        decision = read_json(run.path / "candidates" / cid / "seed-0" / f"rung-{rung}" / "decision.json")
        assert decision["continue"] is False and decision["cohort"] == (4 if rung == 0 else 2)
    # the survivor went on from its saved slice, not from scratch: 1000 -> 2000 -> 4000 steps
    slices = [j for j in ex.jobs if j.label == "0-2"]
    assert [j.spec.steps for j in slices] == [1000, 2000, 4000]
    assert slices[1].spec.resume_from.endswith("0-2/seed-0/rung-0/train")
    assert slices[2].spec.resume_from.endswith("0-2/seed-0/rung-1/train")
    assert slices[2].dir == run.path / "candidates" / "0-2" / "seed-0"
    # only the full-budget survivor is re-evaluated on the second seed, at its full budget:
    # its first half queued behind its last slice (one worker), then continued
    extra = [j for j in ex.jobs if j.spec.seed == 1]
    assert [(j.label, j.spec.steps) for j in extra] == [("0-2 seed 1", BUDGET // 2),
                                                        ("0-2 seed 1", BUDGET)]
    assert extra[1].spec.resume_from == str(extra[0].dir / "train")
    # env steps trained on the first seed: 4 x 1000, 2 x 1000 more, then 2000 for the survivor
    assert sum(_new_steps(j) for j in ex.jobs if j.spec.seed == 0) == 8000 < 4 * BUDGET
    assert summary["best"]["id"] == "0-2" and summary["candidates"]["stopped"] == 3


def _new_steps(job) -> int:
    """Env steps a job trains itself (a slice continues where the one before it ended)."""
    rung = job.spec.rung
    before = {None: 0, 0: 0, 1: 1000, 2: 2000}[rung]
    return job.spec.steps - before


def test_every_first_slice_reports_before_anyone_is_promoted(tmp_path):
    """Synchronous halving: no candidate runs ahead of the cohort because it reported first."""
    ex = FakeExecutor()
    loop, _ = loop_for(tmp_path, [[answer(w) for w in (4.0, 3.0, 2.0, 1.0, 0.5)]], ex, samples=5)
    loop.run_loop()
    rungs = [j.spec.rung for j in ex.jobs if j.spec.seed == 0]
    assert rungs == [0, 0, 0, 0, 0, 1, 1, 2]  # 5 // 2 = 2 go on, then the better one


def test_an_idle_worker_trains_the_finalists_second_seed_beside_its_last_slice(tmp_path):
    ex = FakeExecutor()
    loop, run = loop_for(tmp_path, [[answer(w) for w in (1.0, 3.0, 4.0, 2.0)]], ex, workers=2)
    summary = loop.run_loop()
    seed1 = [j for j in ex.jobs if j.spec.seed == 1]
    # the head of seed 1 (half the budget, as long as the last slice) starts with the last slice
    last = next(i for i, j in enumerate(ex.jobs) if j.label == "0-2" and j.spec.rung == 2)
    assert ex.jobs[last + 1] is seed1[0]
    assert seed1[0].spec.steps == BUDGET // 2
    assert seed1[0].dir == run.path / "candidates" / "0-2" / "seed-1" / "head"
    # 0-2 is the new best: its re-evaluation continues the head rather than starting afresh
    assert seed1[1].spec.steps == BUDGET
    assert seed1[1].spec.resume_from == str(seed1[0].dir / "train")
    assert seed1[1].dir == run.path / "candidates" / "0-2" / "seed-1"
    assert summary["best"]["id"] == "0-2"
    assert {c["id"]: c for c in run.candidates()}["0-2"]["fitness_seeds"] == {"0": 4.0, "1": 4.0}


def test_a_finalist_that_is_not_best_leaves_its_second_seed_unfinished(tmp_path):
    script = [[answer(5.0)], [answer(w) for w in (1.0, 3.0, 4.0, 2.0)]]
    ex = FakeExecutor()
    loop, run = loop_for(tmp_path, script, ex, workers=2, iterations=2)
    summary = loop.run_loop()
    assert summary["best"]["id"] == "0-0"
    # the head of its second seed waited behind the last slice: once that showed 1-2 is not
    # the best, it was cancelled (a running one would have been stopped), and nothing followed
    assert [j.label for j in ex.cancelled] == ["1-2 seed 1"]
    assert not [j for j in ex.jobs if j.label == "1-2 seed 1"]
    assert {c["id"]: c for c in run.candidates()}["1-2"]["fitness_seeds"] == {"0": 4.0}


def test_stopped_candidates_reach_the_next_prompt(tmp_path):
    script = [[answer(w) for w in (4.0, 3.0, 2.0, 1.0)], [answer(w) for w in (5.0, 0.5, 0.6, 0.7)]]
    loop, run = loop_for(tmp_path, script, FakeExecutor(), iterations=2)
    loop.run_loop()
    prompt = read_json(run.path / "llm" / "iteration-1.json")["messages"][-1]["content"]
    assert "- 0-2: stopped early" in prompt and "task score 0.5" in prompt


def test_full_schedule_trains_every_candidate_its_whole_budget(tmp_path):
    ex = FakeExecutor()
    loop, run = loop_for(tmp_path, [[answer(w) for w in (4.0, 3.0, 2.0, 1.0)]], ex,
                         schedule="full")
    loop.run_loop()
    assert {c["status"] for c in run.candidates()} == {"ok"}
    first = [j.spec.steps for j in ex.jobs if j.spec.seed == 0]
    assert first == [BUDGET] * 4
    assert len([j for j in ex.jobs if j.spec.seed == 1]) == 2  # the top two, as before


def test_a_kill_mid_halving_resumes_without_redoing_a_finished_slice(tmp_path):
    script = [[answer(w) for w in (4.0, 3.0, 2.0, 1.0)]]
    first = FakeExecutor(interrupt_after=5)  # after the four first slices and 0-0's second
    loop, run = loop_for(tmp_path, script, first, workers=2)
    with pytest.raises(KeyboardInterrupt):
        loop.run_loop()
    again = FakeExecutor()
    loop2, _ = loop_for(tmp_path, script, again, run=RunDir.open(run.path), workers=2)
    summary = loop2.run_loop()
    dirs = [j.dir for j in first.jobs + again.jobs]
    assert len(dirs) == len(set(dirs))  # no slice trained twice
    # 0-1's second slice, 0-0's last with the head of its seed 1 beside it, then seed 1's rest
    assert [(j.label, j.spec.steps) for j in again.jobs] == [
        ("0-1", 2000), ("0-0", 4000), ("0-0 seed 1", 2000), ("0-0 seed 1", 4000)]
    assert summary["best"]["id"] == "0-0"
    assert {c["id"]: c["status"] for c in run.candidates()} == {
        "0-0": "ok", "0-1": "stopped", "0-2": "stopped", "0-3": "stopped"}


def test_patience_stops_the_loop_after_iterations_without_improvement(tmp_path):
    script = [[answer(3.0)], [answer(1.0)], [answer(2.0)], [answer(9.0)]]
    loop, run = loop_for(tmp_path, script, FakeExecutor(), iterations=4, samples=1, seeds=1,
                         patience=2)
    summary = loop.run_loop()
    assert len(loop.llm.requests) == 3
    assert "no better reward in the last 2 iteration(s)" in summary["stopped_early"]
    assert run.manifest["summary"]["stopped_early"] == summary["stopped_early"]


def test_a_solved_task_stops_the_loop(tmp_path):
    # pendulum-balance's fitness is the number of steps up, at most 1000
    loop, run = loop_for(tmp_path, [[answer(1000.0)], [answer(5.0)]], FakeExecutor(),
                         iterations=2, samples=1)
    summary = loop.run_loop()
    assert len(loop.llm.requests) == 1
    assert summary["stopped_early"].startswith("solved: 0-0 reached the task's maximum fitness")
    assert [e["reason"] for e in run.events() if e["event"] == "loop_stopped"] == [summary["stopped_early"]]


@pytest.mark.parametrize("open_ended", [False, True])
def test_success_everywhere_solves_a_task_unless_it_is_open_ended(tmp_path, open_ended):
    """'Balance the pole' is solved when every episode succeeds; 'hop as far as possible' is
    not: its success is a bar on the way, and the search goes on."""
    task = tasks.load("pendulum-balance-v0")
    task = dataclasses.replace(task, fitness=dataclasses.replace(task.fitness, open_ended=open_ended))
    run = RunDir.create(tmp_path / "run", {"task": task.id, "config": {}})
    cfg = dataclasses.replace(CONFIG, iterations=2, samples=1, seeds=1)
    script = [[answer(5.0, "succeeds")], [answer(6.0, "succeeds")]]
    loop = DesignLoop(task, run, cfg, ScriptedLLM(script), executor=FakeExecutor())
    summary = loop.run_loop()
    if open_ended:
        assert len(loop.llm.requests) == 2 and not summary.get("stopped_early")
        assert summary["best"]["id"] == "1-0"
    else:
        assert len(loop.llm.requests) == 1
        assert summary["stopped_early"] == "solved: 0-0 succeeded on every evaluation episode of its 1 seed(s)"


def test_full_schedule_re_evaluates_challengers_only_and_beside_the_iteration(tmp_path):
    """Once there is a best, only candidates that beat it on their first seed get the extra
    seeds, and those start as soon as their first seed ends, in the iteration's own batch."""
    ex = FakeExecutor()
    batches: list[list[str]] = []
    run_batch = ex.run

    def counting(jobs, on_event=None):
        before = len(ex.jobs)
        out = run_batch(jobs, on_event)
        batches.append([j.label for j in ex.jobs[before:]])
        return out

    ex.run = counting
    script = [[answer(w) for w in (4.0, 3.0, 2.0, 1.0)],
              [answer(w) for w in (5.0, 1.5, 4.5, 6.0)],
              [answer(w) for w in (1.2, 2.2, 3.2, 0.7)]]  # no answer repeats an earlier one
    loop, run = loop_for(tmp_path, script, ex, schedule="full", iterations=3)
    summary = loop.run_loop()
    assert batches == [
        # iteration 0: no best yet, so the top two are re-evaluated after the four
        ["0-0", "0-1", "0-2", "0-3"], ["0-0 seed 1", "0-1 seed 1"],
        # iteration 1 (best 4.0): 1-0 and 1-2 beat it as they end and are re-evaluated in the
        # same batch; 1-3 (6.0) comes after the two allowed early ones, so it waits for the end
        ["1-0", "1-1", "1-2", "1-3", "1-0 seed 1", "1-2 seed 1"], ["1-3 seed 1"],
        # iteration 2: nothing beats 6.0 on its first seed, so nothing is re-evaluated
        ["2-0", "2-1", "2-2", "2-3"]]
    assert summary["best"]["id"] == "1-3" and summary["best"]["fitness_seeds"] == {"0": 6.0, "1": 6.0}
    by_id = {c["id"]: c for c in run.candidates()}
    assert by_id["1-0"]["fitness_seeds"] == {"0": 5.0, "1": 5.0}  # scored with its early seed
    # 1-2 (4.5) was re-evaluated early, as it ended before 1-3, but it is not among the top two
    # by first seed: it may not become best, whatever order the jobs ended in
    assert by_id["1-2"]["fitness_seeds"] == {"0": 4.5}
    assert by_id["2-2"]["fitness_seeds"] == {"0": 3.2}
    early = [e for e in run.events() if e["event"] == "reevaluating" and e.get("early")]
    assert [e["candidates"] for e in early] == [["1-0"], ["1-2"]]


def test_a_kill_after_an_early_re_evaluation_resumes_without_training_it_again(tmp_path):
    script = [[answer(w) for w in (4.0, 3.0, 2.0, 1.0)],
              [answer(w) for w in (5.0, 1.5, 4.5, 6.0)]]
    first = FakeExecutor(interrupt_after=11)  # iteration 0 (6 jobs), then 1-0..1-3 and 1-0 seed 1
    loop, run = loop_for(tmp_path, script, first, schedule="full", iterations=2)
    with pytest.raises(KeyboardInterrupt):
        loop.run_loop()
    assert [j.label for j in first.jobs][-1] == "1-0 seed 1"
    again = FakeExecutor()
    loop2, _ = loop_for(tmp_path, script, again, run=RunDir.open(run.path), schedule="full",
                        iterations=2)
    summary = loop2.run_loop()
    assert [j.label for j in again.jobs] == ["1-2 seed 1", "1-3 seed 1"]
    assert summary["best"]["id"] == "1-3"
    # 1-2's early seed trained, but only the top two by first seed may become best
    assert {c["id"]: len(c["fitness_seeds"]) for c in run.candidates() if c["iteration"] == 1} == {
        "1-0": 2, "1-1": 1, "1-2": 1, "1-3": 2}


def test_top_k_re_evaluation_keeps_the_earlier_way(tmp_path):
    """--reevaluate top-k: the top two of every iteration, after it, beat the best or not."""
    ex = FakeExecutor()
    script = [[answer(w) for w in (4.0, 3.0, 2.0, 1.0)], [answer(w) for w in (1.2, 2.2, 3.2, 0.7)]]
    loop, _ = loop_for(tmp_path, script, ex, schedule="full", iterations=2, reevaluate="top-k")
    loop.run_loop()
    assert [j.label for j in ex.jobs if j.spec.seed == 1] == [
        "0-0 seed 1", "0-1 seed 1", "1-2 seed 1", "1-1 seed 1"]
    assert ex.jobs[-1].label == "1-1 seed 1" and ex.jobs[-3].label == "1-3"


def test_a_challenger_is_one_that_beats_the_best_mean_or_its_score_on_the_same_seed():
    """Paired on the first seed as well as against the mean: a best lifted by one lucky second
    seed does not hide a challenger that beat it where both trained alike."""
    from types import SimpleNamespace

    from rewardsmith.loop.design import Candidate, DesignLoop

    best = Candidate("0-2", 0, 2, "ok", fitness=137.5, fitness_seeds={"0": 137.5, "1": 164.5})
    assert best.score == 151.0
    loop = SimpleNamespace(best=best, config=SimpleNamespace(seed=0))
    may = DesignLoop._may_be_best
    assert may(loop, 152.0)  # beats the mean
    assert may(loop, 150.0)  # beats the best's 137.5 on seed 0, not its mean
    assert not may(loop, 137.5) and not may(loop, 120.0) and not may(loop, None)
    assert may(SimpleNamespace(best=None, config=loop.config), 1.0)  # no best yet
    loop.config.seed = 7  # the best has no score on that seed: the mean decides
    assert not may(loop, 150.0)


def test_the_best_does_not_depend_on_the_order_jobs_end_in(tmp_path):
    """A candidate re-evaluated early because it ended first (here 1-2, whose extra seed scores
    9) may not become best unless it is among the top by first seed: with its jobs ending in
    another order it would not have been re-evaluated at all, and the same results must pick
    the same best with any number of workers."""

    class Lucky(FakeExecutor):
        def score(self, spec):
            if spec.label == "1-2 seed 1":
                return 9.0  # a lucky second seed
            return super().score(spec)

    script = [[answer(w) for w in (4.0, 3.0, 2.0, 1.0)],
              [answer(w) for w in (5.0, 1.5, 4.5, 6.0)]]
    in_order, _ = loop_for(tmp_path / "a", script, Lucky(), schedule="full", iterations=2)
    first = in_order.run_loop()["best"]

    class Reordered(Lucky):  # 1-3 and 1-0 end first and take both early re-evaluations
        def run(self, jobs, on_event=None):
            jobs = list(jobs)
            if [j.label for j in jobs] == ["1-0", "1-1", "1-2", "1-3"]:
                jobs = [jobs[3], jobs[0], jobs[1], jobs[2]]
            return super().run(jobs, on_event)

    reordered, run = loop_for(tmp_path / "b", script, Reordered(), schedule="full", iterations=2)
    second = reordered.run_loop()["best"]
    assert first["id"] == second["id"] == "1-3"
    assert first["fitness_seeds"] == second["fitness_seeds"] == {"0": 6.0, "1": 6.0}


def test_the_finalists_second_seed_is_trained_the_same_way_on_any_worker_count(tmp_path):
    """Its head and continuation, not one go with one worker and two parts with two: a continued
    slice starts new episodes, so the two ways score differently."""
    script = [[answer(5.0)], [answer(w) for w in (1.0, 3.0, 6.0, 2.0)]]
    seen = {}
    for workers in (1, 2, 4):
        ex = FakeExecutor()
        loop, run = loop_for(tmp_path / f"w{workers}", script, ex, workers=workers, iterations=2)
        summary = loop.run_loop()
        seen[workers] = (summary["best"]["id"],
                         [(str(j.dir.relative_to(run.path)), j.spec.steps,
                           j.spec.resume_from and str(Path(j.spec.resume_from).relative_to(run.path)))
                          for j in ex.jobs if j.spec.seed == 1])
    assert seen[1] == seen[2] == seen[4]
    best, seed1 = seen[1]
    assert best == "1-2"
    assert (("candidates/1-2/seed-1", BUDGET, "candidates/1-2/seed-1/head/train")
            in seed1)
