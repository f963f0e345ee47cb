"""The typed training job every executor runs, and the bookkeeping they share.

A :class:`~rewardsmith.contracts.JobSpec` says everything a job needs, by content (the task's
origin, the reward's source, budget, seed, backend and how it continues an earlier slice); it
is built in one place (:meth:`JobSpec.build`) and never edited after (:meth:`JobSpec.replace`
makes a new one). It travels to a worker process or a Ray node as ``job.json``. A :class:`Job` is a spec with the
folder its results land in; an :class:`Outcome` is what came of it. :class:`Batch` is the
bookkeeping the local pool (:mod:`rewardsmith.executors.local`) and the Ray executor
(:mod:`rewardsmith.executors.ray_executor`) share: jobs taken lazily, reused when their folder
holds ``DONE``, follow-up jobs and cancellations from the caller's events, outcomes in order.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardsmith.contracts import JobSpec, TrainResult
from rewardsmith.runs.files import read_json
from rewardsmith.sandbox import jail


@dataclass(frozen=True, eq=False)
class Job:
    """A spec and the folder its results land in (``job.json`` in; ``train/`` and ``DONE``
    out). Jobs are told apart by identity."""

    dir: Path
    spec: JobSpec
    label: str = ""

    def moved(self, dir: Path) -> Job:
        return Job(dir, self.spec, self.label)

    def with_spec(self, **changes: Any) -> Job:
        return Job(self.dir, self.spec.replace(**changes), self.label)


@dataclass
class Outcome:
    job: Job
    result: TrainResult | None
    error: str | None = None
    reused: bool = False  # finished earlier (DONE existed): not run again
    cancelled: bool = False  # stopped unfinished because its event said it is not needed

    @property
    def ok(self) -> bool:
        return self.result is not None


@dataclass(frozen=True)
class Cancel:
    """An answer to an event (with or instead of follow-up jobs): ``job`` is no longer needed;
    it is stopped if it runs, dropped if it waits, and its outcome says so."""

    job: Job

    @property
    def outcome(self) -> Outcome:
        return Outcome(self.job, None, "cancelled: no longer needed", cancelled=True)


# on_event(job, event) -> follow-up jobs or None. A "finished" or "reused" event may answer with
# jobs that continue this one (the next slice under successive halving): they join the batch;
# and with Cancel(job) for a job of the batch that is no longer needed.
Event = Callable[[Job, dict], "Sequence[Job | Cancel] | None"]


def load_outcome(job: Job) -> Outcome | None:
    """The outcome of a job that already ran to its end, or None."""
    done = job.dir / "DONE"
    if done.exists():
        try:
            return Outcome(job, TrainResult.from_json(read_json(job.dir / "train" / "result.json")),
                           reused=True)
        except (OSError, ValueError, TypeError):
            return None  # a torn folder: run it again
    return None


# The slowest training a worker may show before its time limit ends it (env steps per second,
# with every core busy), and the fixed time on top for set-up, compiling and evaluation.
MIN_STEPS_PER_S = 100.0
OVERHEAD_S = 900.0


def training_limits(spec: JobSpec, base: jail.Limits | None = None) -> jail.Limits:
    """The jail's limits for one training job: wall and CPU time grow with its budget (an hour
    at least), so a long evaluation is not cut short and a runaway one still ends. The JAX
    path runs without an address-space limit (see ``jail.Limits.address_space``) and with CPU
    time for every core XLA uses."""
    base = base or jail.Limits()
    steps = spec.steps
    if spec.continuable:  # its process may train the job's later slices too
        steps = max(steps, int(spec.planned_steps or 0))
    wall = max(base.wall_s, OVERHEAD_S + steps / MIN_STEPS_PER_S)
    n = needs_of(spec)
    cores = (os.cpu_count() or 1) if n.all_cores else 2
    return dataclasses.replace(base, wall_s=wall, cpu_s=max(base.cpu_s, int(cores * wall)),
                               address_space=base.address_space if n.address_space_limit else None)


def needs_of(spec: JobSpec):
    """What the job's backend needs (GPU share, memory limit, cores), as it declares it."""
    from rewardsmith.train import needs

    return needs(spec.backend)


class Batch:
    """The bookkeeping every executor shares: jobs taken lazily from a source, reused when
    their folder holds DONE, follow-up jobs added from a finished or reused job's event, and
    outcomes kept in the order the jobs were taken. ``pending`` holds the indices (into
    ``jobs``) still to run."""

    def __init__(self, source: Iterable[Job], on_event: Event | None = None):
        self.source = iter(source)
        self.on_event = on_event
        self.jobs: list[Job] = []
        self.outcomes: dict[int, Outcome] = {}
        self.pending: list[int] = []
        self.more = True  # the source may still hold jobs
        self.cancelling: set[int] = set()  # running jobs to stop (the executor stops them)
        self._cancel_on_add: set[int] = set()  # id() of jobs cancelled before they were taken

    def add(self, job: Job) -> None:
        self.jobs.append(job)
        index = len(self.jobs) - 1
        if id(job) in self._cancel_on_add:
            self._cancel_on_add.discard(id(job))
            self.cancelled(index)
            return
        prior = load_outcome(job)
        if prior is None:
            self.pending.append(index)
            return
        self.outcomes[index] = prior
        self._follow(job, {"type": "reused", "fitness": prior.result.fitness, "outcome": prior})

    def pull(self) -> bool:
        """Take the next job from the source (it may finish at once, as reused); False, and
        ``more`` False, when there is none left."""
        job = next(self.source, None)
        if job is None:
            self.more = False
            return False
        self.add(job)
        return True

    def finish(self, index: int, outcome: Outcome) -> None:
        self.outcomes[index] = outcome
        self._follow(outcome.job, {"type": "finished", "ok": outcome.ok, "error": outcome.error,
                                   "fitness": outcome.result.fitness if outcome.result else None,
                                   "outcome": outcome})

    def _follow(self, job: Job, event: dict) -> None:
        if self.on_event:
            for nxt in self.on_event(job, event) or ():
                if isinstance(nxt, Cancel):
                    self.cancel(nxt)
                else:
                    self.add(nxt)

    def cancel(self, c: Cancel) -> None:
        """A waiting job is dropped (its outcome: cancelled); a running one is marked for the
        executor to stop; a finished one stays as it is."""
        i = next((k for k, j in enumerate(self.jobs) if j is c.job), None)
        if i is None:  # not taken from the source yet: dropped when it is
            self._cancel_on_add.add(id(c.job))
            return
        if i in self.outcomes:
            return
        if i in self.pending:
            self.pending.remove(i)
            self.cancelled(i)
            return
        self.cancelling.add(i)

    def cancelled(self, index: int) -> None:
        """Job ``index`` stopped (or never started) because it was cancelled."""
        self.cancelling.discard(index)
        self.outcomes[index] = Cancel(self.jobs[index]).outcome
        if self.on_event:
            self.on_event(self.jobs[index], {"type": "cancelled"})

    def results(self) -> list[Outcome]:
        return [self.outcomes[i] for i in range(len(self.jobs))]
