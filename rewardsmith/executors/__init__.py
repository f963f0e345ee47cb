"""Where training jobs run. The design loop and ``evaluate`` see only the :class:`Executor`
contract: jobs in, progress events and outcomes out.

    executor = LocalExecutor(workers=2)        # jailed worker processes on this machine
    outcomes = executor.run(jobs, on_event)    # one Outcome per job, in job order

A job whose folder already holds ``DONE`` is not run again (``reused``), whatever the executor,
so a resumed run never redoes finished work. Tests pass a fake executor that trains nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from rewardsmith.train.pool import Job, Outcome

Event = Callable[[Job, dict], None]

__all__ = ["Event", "Executor", "Job", "LocalExecutor", "Outcome"]


@runtime_checkable
class Executor(Protocol):
    """Runs training jobs. ``on_event(job, event)`` receives ``{"type": "started" | "reused" |
    "progress" | "finished", ...}``; a ``finished`` event carries the job's ``outcome``. A job
    that crashes, stalls or runs over its limits is an :class:`Outcome` with an ``error``, never
    an exception and never a hang."""

    name: str

    def run(self, jobs: Sequence[Job], on_event: Event | None = None) -> list[Outcome]: ...


class LocalExecutor:
    """This machine: one jailed worker process per job, at most ``workers`` at a time, with
    heartbeats, stall and time limits (see :mod:`rewardsmith.train.pool`)."""

    name = "local"

    def __init__(self, workers: int = 1):
        self.workers = max(1, int(workers))

    def run(self, jobs: Sequence[Job], on_event: Event | None = None) -> list[Outcome]:
        from rewardsmith.train.pool import run_jobs

        return run_jobs(jobs, self.workers, on_event=on_event)

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers})"
