"""The money budget: a priced LLM stops the loop once --max-cost is spent, and the run says so.

The scripted answers are rejected by the static checks, so no policy is trained: the test is
about the budget, not about training."""

from __future__ import annotations

import json

from rewardsmith import tasks
from rewardsmith.llm.base import Completion, Usage
from rewardsmith.loop.design import DesignConfig, DesignLoop
from rewardsmith.runs.rundir import RunDir

BAD = "```python\nimport os\ndef compute_reward(state, action, next_state):\n    return 0.0, {}\n```"


class PricedLLM:
    name = "scripted:priced"
    prices_known = True

    def __init__(self, cost_per_call: float):
        self.cost_per_call = cost_per_call
        self.calls = 0

    def complete(self, messages, n, temperature, context=None):
        self.calls += 1
        return Completion(texts=[BAD] * n, usage=Usage(1000, 500, self.cost_per_call),
                          model="priced-1")


def test_the_loop_stops_when_the_cost_limit_is_reached(tmp_path):
    task = tasks.load("pendulum-balance-v0")
    config = DesignConfig(iterations=5, samples=2, steps=1024, workers=1, max_cost=1.0,
                          compare_baseline=False)
    run = RunDir.create(tmp_path / "run", {"task": task.id, "config": {}})
    llm = PricedLLM(0.4)
    summary = DesignLoop(task, run, config, llm).run_loop()
    # 0.4 + 0.4 < 1.0 asks a third time; 1.2 >= 1.0 stops before the fourth
    assert llm.calls == 3
    assert abs(summary["cost_usd"] - 1.2) < 1e-9
    assert "cost limit of $1.00" in summary["stopped_early"]
    assert summary["tokens"] == {"prompt": 3000, "completion": 1500}
    events = [e["event"] for e in run.events()]
    assert events.count("llm_call") == 3 and "budget_exhausted" in events
    # the first answer was rejected, with the reason kept for the LLM; the same program sent
    # again is recognised as a repeat and carries that reason without being checked again
    cands = run.candidates()
    assert cands[0]["status"] == "rejected" and "import" in cands[0]["error"]
    assert all(c["status"] == "duplicate" and c["duplicate_of"] == cands[0]["id"]
               and c["error"] == cands[0]["error"] for c in cands[1:])


def test_spent_money_counts_after_a_resume(tmp_path):
    task = tasks.load("pendulum-balance-v0")
    config = DesignConfig(iterations=2, samples=1, steps=1024, workers=1, max_cost=1.0,
                          compare_baseline=False)
    run = RunDir.create(tmp_path / "run", {"task": task.id, "config": {}})
    DesignLoop(task, run, config, PricedLLM(0.6)).run_loop()
    # a later process continuing the same run knows what was spent, and asks nothing more
    more = DesignConfig(iterations=4, samples=1, steps=1024, workers=1, max_cost=1.0,
                        compare_baseline=False)
    llm = PricedLLM(0.6)
    summary = DesignLoop(task, RunDir.open(run.path), more, llm).run_loop()
    assert llm.calls == 0 and abs(summary["cost_usd"] - 1.2) < 1e-9


def test_a_call_paid_for_but_never_logged_is_counted_on_resume(tmp_path):
    """Killed after the answer reached the run's cache but before its llm_call event: the resumed
    run takes the answer from the cache (no second request) and still counts what it cost."""
    from rewardsmith.llm.cache import CachedLLM
    from rewardsmith.runs.files import read_jsonl

    task = tasks.load("pendulum-balance-v0")
    config = DesignConfig(iterations=1, samples=1, steps=1024, workers=1, compare_baseline=False)
    run = RunDir.create(tmp_path / "run", {"task": task.id, "config": {}})
    priced = PricedLLM(0.25)
    llm = CachedLLM(CachedLLM(priced, tmp_path / "shared"), run.path / "llm" / "cache",
                    report_paid=True)
    DesignLoop(task, run, config, llm).run_loop()
    assert priced.calls == 1
    # what a SIGKILL at the wrong moment leaves: no llm_call event, no iteration summary
    events = run.path / "events.jsonl"
    kept = [e for e in read_jsonl(events) if e["event"] != "llm_call"]
    events.write_text("".join(json.dumps(e) + "\n" for e in kept))
    (run.path / "iterations" / "0.json").unlink()

    again = PricedLLM(0.25)
    llm2 = CachedLLM(CachedLLM(again, tmp_path / "shared"), run.path / "llm" / "cache",
                     report_paid=True)
    summary = DesignLoop(task, RunDir.open(run.path), config, llm2).run_loop()
    assert again.calls == 0  # answered from the run's cache
    assert abs(summary["cost_usd"] - 0.25) < 1e-9 and summary["tokens"]["prompt"] == 1000
    calls = [e for e in RunDir.open(run.path).events() if e["event"] == "llm_call"]
    assert [c["recovered"] for c in calls] == [True]

    # a new run that repeats the request gets it from the shared cache and pays nothing
    run2 = RunDir.create(tmp_path / "run2", {"task": task.id, "config": {}})
    third = PricedLLM(0.25)
    llm3 = CachedLLM(CachedLLM(third, tmp_path / "shared"), run2.path / "llm" / "cache",
                     report_paid=True)
    s2 = DesignLoop(task, run2, config, llm3).run_loop()
    assert third.calls == 0 and s2["cost_usd"] == 0.0
