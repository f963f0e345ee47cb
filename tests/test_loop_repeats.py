"""An iteration that does not improve must not make the next one repeat it: the next prompt says
what was tried, the LLM is asked again (not the cache), and no program is trained twice."""

from __future__ import annotations

import pytest
from fakes import FakeExecutor, ScriptedLLM, answer, fitness_of

from rewardsmith import tasks
from rewardsmith.llm.cache import CachedLLM
from rewardsmith.loop.design import DesignConfig, DesignLoop
from rewardsmith.reward.program import fingerprint
from rewardsmith.runs.files import read_json
from rewardsmith.runs.rundir import RunDir

SCRIPT = [
    [answer(1.0), answer(2.0), answer(3.0)],            # iteration 0: 0-2 is best (3.0)
    [answer(0.5), answer(0.6), answer(3.0, "again")],   # iteration 1: nothing better; 1-2 repeats 0-2
    [answer(5.0), answer(1.0, "a comment"), answer(0.7)],  # iteration 2: 2-1 repeats 0-0
]


def make_loop(tmp_path, llm, executor, run=None):
    task = tasks.load("pendulum-balance-v0")
    config = DesignConfig(iterations=3, samples=3, steps=1024, seeds=1, top_k=1, workers=1,
                          compare_baseline=False, schedule="full")
    run = run or RunDir.create(tmp_path / "run", {"task": task.id, "config": {}})
    # the CLI's arrangement: the run's own cache in front of a shared one
    cached = CachedLLM(CachedLLM(llm, tmp_path / "shared"), run.path / "llm" / "cache",
                       report_paid=True)
    return DesignLoop(task, run, config, cached, executor=executor), run


def trained_twice(executor: FakeExecutor) -> list:
    keys = [(fingerprint(src), seed) for src, seed in executor.trained if src is not None]
    return [k for k in set(keys) if keys.count(k) > 1]


def test_an_iteration_without_improvement_is_followed_by_a_new_question(tmp_path):
    llm, ex = ScriptedLLM(SCRIPT), FakeExecutor()
    loop, run = make_loop(tmp_path, llm, ex)
    summary = loop.run_loop()

    # asked every iteration, never answered from a cache
    assert len(llm.requests) == 3
    calls = [e for e in run.events() if e["event"] == "llm_call"]
    assert [c["cached"] for c in calls] == [False, False, False]
    # every request's size is recorded (estimated where the LLM reports none)
    assert all(0 < c["prompt_tokens_estimate"] < 8000 for c in calls)
    # iteration 2's prompt differs from iteration 1's and says what iteration 1 tried
    p1, p2 = (read_json(run.path / "llm" / f"iteration-{i}.json")["messages"] for i in (1, 2))
    assert p1 != p2
    last = p2[-1]["content"]
    assert "None of them beat the best so far, 0-2" in last
    for cid in ("1-0", "1-1", "1-2"):
        assert f"- {cid}" in last
    assert "1-2: the same program as 0-2" in last and "not trained again" in last
    # the best program's code appears once in the request, not also as an assistant turn
    assert [m["role"] for m in p2] == ["system", "user", "user"]
    assert last.count("W = 3.0") == 1

    # no program was trained twice; the repeats were recognised and scored from the original
    assert not trained_twice(ex)
    assert len(ex.trained) == 7  # 9 answers, 2 of them repeats
    by_id = {c["id"]: c for c in run.candidates()}
    assert by_id["1-2"]["status"] == "duplicate" and by_id["1-2"]["duplicate_of"] == "0-2"
    assert by_id["2-1"]["status"] == "duplicate" and by_id["2-1"]["duplicate_of"] == "0-0"
    assert by_id["2-1"]["fitness"] == 1.0 and by_id["1-2"]["score"] == 3.0
    assert summary["best"]["id"] == "2-0" and summary["best"]["score"] == 5.0
    assert summary["candidates"]["duplicate"] == 2


def test_a_repeat_within_one_answer_is_trained_once(tmp_path):
    llm = ScriptedLLM([[answer(2.0), answer(2.0, "same"), answer(1.0)]])
    ex = FakeExecutor()
    loop, run = make_loop(tmp_path, llm, ex)
    loop.config = DesignConfig(**{**loop.config.__dict__, "iterations": 1})
    loop.run_loop()
    assert [fitness_of(s) for s, _ in ex.trained] == [2.0, 1.0]
    c = {c["id"]: c for c in run.candidates()}["0-1"]
    assert c["status"] == "duplicate" and c["duplicate_of"] == "0-0" and c["fitness"] == 2.0


def test_resume_after_a_kill_asks_nothing_twice_and_trains_nothing_twice(tmp_path):
    llm, ex = ScriptedLLM(SCRIPT), FakeExecutor(interrupt_after=4)  # dies in iteration 1, after 1-0
    loop, run = make_loop(tmp_path, llm, ex)
    with pytest.raises(KeyboardInterrupt):
        loop.run_loop()
    asked = len(llm.requests)
    assert asked == 2

    # a new process: same LLM behaviour, a fresh executor
    llm2 = ScriptedLLM(SCRIPT[asked:])
    ex2 = FakeExecutor()
    loop2, _ = make_loop(tmp_path, llm2, ex2, run=RunDir.open(run.path))
    summary = loop2.run_loop()
    assert len(llm2.requests) == 1  # iteration 1 from the run's cache, iteration 2 asked
    calls = [e for e in run.events() if e["event"] == "llm_call"]
    assert [c["iteration"] for c in calls if not c["cached"]] == [0, 1, 2]
    both = FakeExecutor()
    both.trained = ex.trained + ex2.trained
    assert not trained_twice(both)
    assert summary["best"]["id"] == "2-0"


def test_the_cache_never_answers_a_later_iteration_with_an_earlier_ones_answer(tmp_path):
    from rewardsmith.llm.base import DesignContext

    llm = ScriptedLLM([[answer(1.0)], [answer(1.0)]])
    cached = CachedLLM(llm, tmp_path / "cache")
    msgs = [{"role": "user", "content": "same text"}]
    ctx = DesignContext.from_task(tasks.load("pendulum-balance-v0"), iteration=1)
    assert not cached.complete(msgs, 1, 1.0, context=ctx).cached
    ctx.iteration = 2
    assert not cached.complete(msgs, 1, 1.0, context=ctx).cached  # asked again
    assert len(llm.requests) == 2
    # a repeated run (same iteration, same request) is answered from the cache
    ctx.iteration = 1
    assert cached.complete(msgs, 1, 1.0, context=ctx).cached and len(llm.requests) == 2
