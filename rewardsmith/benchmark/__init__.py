"""``rewardsmith benchmark``: independent design runs per task, designer and repeat, and the
table papers report (the fraction of tasks where the generated reward beats the hand-written one,
the normalized score with intervals, success, tokens, cost, wall time).

- :mod:`~rewardsmith.benchmark.suites`: named groups of the registered tasks, folders of task files;
- :mod:`~rewardsmith.benchmark.runner`: the plan, the folder and running (resuming) its runs;
- :mod:`~rewardsmith.benchmark.table`: the table, from the runs' verdicts;
- :mod:`~rewardsmith.benchmark.page`: the HTML page with its plots.
"""

from rewardsmith.benchmark.runner import (
    Benchmark,
    Plan,
    RunKey,
    RunState,
    run_benchmark,
    time_left,
)
from rewardsmith.benchmark.table import build_table, write_table

__all__ = ["Benchmark", "Plan", "RunKey", "RunState", "build_table", "run_benchmark", "time_left",
           "write_table"]
