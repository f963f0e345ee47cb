"""The design loop's events are types in one module: each has one kind, the log keeps the JSON
readers of older runs know, and the live view dispatches on the type."""

from __future__ import annotations

import inspect
import re

from rewardsmith.loop import events as E


def _event_types() -> list[type[E.Event]]:
    return [c for _, c in inspect.getmembers(E, inspect.isclass)
            if issubclass(c, E.Event) and c is not E.Event]


def test_every_event_has_its_own_kind():
    kinds = [c.KIND for c in _event_types()]
    assert all(kinds) and len(kinds) == len(set(kinds)), kinds


def test_the_json_is_the_flat_record_the_log_always_had():
    assert E.Reevaluating(candidates=["0-1"], seeds=[1]).data() == {"candidates": ["0-1"], "seeds": [1]}
    assert E.Reevaluating(candidates=["0-1"], seeds=[1], early=True).data()["early"] is True
    v = E.CandidateValidated(id="0-0", extra={"accepted": True, "stage": "ok"})
    assert v.data() == {"id": "0-0", "accepted": True, "stage": "ok"} and v.accepted
    assert not E.Progress(id="x").LOGGED and E.NewBest(id="x", score=1.0).LOGGED


def test_a_design_run_logs_only_known_kinds(tmp_path, monkeypatch):
    from fakes import FakeExecutor, ScriptedLLM, answer

    from rewardsmith import tasks
    from rewardsmith.loop.design import DesignConfig, DesignLoop
    from rewardsmith.runs.rundir import RunDir

    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache"))
    task = tasks.load("pendulum-balance-v0")
    run = RunDir.create(tmp_path / "run", {"task": task.id, "config": {}})
    seen: list[E.Event] = []
    config = DesignConfig(iterations=1, samples=2, steps=1000, seeds=2, workers=1, final_seeds=3)
    DesignLoop(task, run, config, ScriptedLLM([[answer(2.0), answer(1.0)]]),
               executor=FakeExecutor(), observer=seen.append).run_loop()
    known = {c.KIND for c in _event_types()} | {"run_created"}
    logged = [e["event"] for e in run.events()]
    assert set(logged) <= known, set(logged) - known
    # the observer got the typed events, the screen-only ones included
    assert [type(e) for e in seen if e.LOGGED] == [
        next(c for c in _event_types() if c.KIND == k) for k in logged if k != "run_created"]
    assert any(isinstance(e, E.JobFinished) for e in seen)


def test_the_live_view_dispatches_on_the_event_type():
    from rewardsmith.cli.design import LiveView

    view = LiveView("t")
    view(E.IterationStarted(iteration=1))
    view(E.CandidateValidating(id="1-0"))
    view(E.TrainingStarted(id="1-0", job="/x"))
    view(E.Progress(id="1-0", done=50, total=100, fitness=2.5))
    assert view.iteration == 1 and view.cands["1-0"] == {
        "state": "training", "fitness": 2.5, "done": 50, "total": 100}
    view(E.CandidateFinished(id="1-0", status="ok", stage="train", error=None, fitness=3.0,
                             success_rate=None, duplicate_of=None))
    view(E.NewBest(id="1-0", score=3.0))
    view(E.Baseline(extra={"baseline": {"fitness_mean": 1.5}}))
    view(E.ClosingFinished(candidate="1-0", line="better on 5 of 5 seeds", warnings=[],
                           failed_seeds=[]))
    assert view.cands["1-0"]["state"] == "ok" and view.best == ("1-0", 3.0)
    assert view.baseline == 1.5 and view.note == "verdict: better on 5 of 5 seeds"
    view(E.LoopStarted(iterations=1, samples=1, steps=1))  # shown by nothing: no change, no error
    assert view.render() is not None
    # the closing evaluation's figures replace the design seeds' for both, said so in the head
    view(E.ClosingFinished(candidate="1-0", line="...", warnings=[], failed_seeds=[], score=2.8,
                           baseline=1.2, seeds=5))
    assert view.best == ("1-0", 2.8) and view.baseline == 1.2

    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(view.render())
    text = console.export_text()
    assert "best 1-0: 2.8  |  baseline 1.2 (both over 5 closing seeds)" in text
    # a candidate's row gives the same figure, and says it is a mean and over how many seeds
    assert re.search(r"1-0 +ok +\S+ +2\.8 +mean of 5", text), text
    view(E.CandidateScored(id="1-1", score=4.0, fitness_seeds={"0": 5.0, "1": 3.0}))
    view(E.CandidateScored(id="1-2", score=6.0, fitness_seeds={"0": 6.0}))
    assert view.cands["1-1"]["seeds"] == 2
    console = Console(record=True, width=200)
    console.print(view.render())
    text = console.export_text()
    assert re.search(r"1-1 +4 +mean of 2", text) and re.search(r"1-2 +6 +│", text), text
