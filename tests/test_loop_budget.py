"""The money budget: a priced LLM stops the loop once --max-cost is spent, and the run says so.

The scripted answers are rejected by the static checks, so no policy is trained: the test is
about the budget, not about training."""

from __future__ import annotations

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
    # every candidate was rejected, with the reason kept for the LLM
    assert all(c["status"] == "rejected" for c in run.candidates())


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
