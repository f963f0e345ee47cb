"""Where training jobs run. The design loop and ``evaluate`` see only the :class:`Executor`
contract: jobs in, progress events and outcomes out.

    executor = make_executor("local", workers=2)   # jailed worker processes on this machine
    executor = make_executor("ray")                # the same jobs on a Ray cluster
    outcomes = executor.run(jobs, on_event)        # one Outcome per job, in job order

A job whose folder already holds ``DONE`` is not run again (``reused``), whatever the executor,
so a resumed run never redoes finished work. Tests pass a fake executor that trains nothing.

The parts: :mod:`~rewardsmith.executors.job` (the typed job, its outcome, and the bookkeeping
every executor shares), :mod:`~rewardsmith.executors.local` (jailed processes on this machine),
:mod:`~rewardsmith.executors.ray_executor` (a Ray cluster). To add an executor: a class with
``name`` and ``run(jobs, on_event) -> outcomes`` that uses :class:`Batch` as the other two do,
registered below with ``register(name, make, describe)``; tests/test_pool.py's contract tests
show what it must keep (reuse, follow-ups, cancels, failures as outcomes). Optionally,
``share(n) -> list[Executor]``: ``n`` executors for ``n`` callers at once that together keep to
this one's resources (a benchmark's ``--parallel-runs``); without it, the callers share the one
executor, whose ``run`` must then take calls from several threads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from rewardsmith.executors.job import Batch, Cancel, Event, Job, JobSpec, Outcome
from rewardsmith.executors.local import LocalExecutor
from rewardsmith.registry import Registry

__all__ = ["EXECUTORS", "Batch", "Cancel", "Event", "Executor", "Job", "JobSpec", "LocalExecutor",
           "Outcome", "describe", "make_executor", "names", "register"]


@runtime_checkable
class Executor(Protocol):
    """Runs training jobs. ``on_event(job, event)`` receives ``{"type": "started" | "reused" |
    "progress" | "finished", ...}``; a ``finished`` or ``reused`` event carries the job's
    ``outcome``, and what ``on_event`` returns for it may be follow-up jobs that join the batch
    (the next slice of a successively halved job). ``jobs`` may be lazy: the next job is taken
    when a slot is free. A job that crashes, stalls or runs over its limits is an
    :class:`Outcome` with an ``error``, never an exception and never a hang."""

    name: str

    def run(self, jobs: Iterable[Job], on_event: Event | None = None) -> list[Outcome]: ...


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _describe_local() -> dict[str, Any]:
    from rewardsmith.executors.local import visible_gpus
    from rewardsmith.sandbox import jail

    return {"name": "local", "installed": True, "cores": _cores(), "gpus": len(visible_gpus()),
            "nodes": 1, "isolation": jail.isolation().mode}


def _describe_ray(connect: bool = False) -> dict[str, Any]:
    from rewardsmith.executors.ray_executor import describe as ray_describe

    return ray_describe(connect=connect)


def _make_local(workers: int | None) -> Executor:
    return LocalExecutor(workers or _cores())


def _make_ray(workers: int | None) -> Executor:
    from rewardsmith.executors.ray_executor import RayExecutor

    return RayExecutor(workers=workers)  # None: as many jobs as the cluster runs at once


# name -> (make(workers), describe(connect)); ``workers`` None means the executor's default
# (every core here; as many as the cluster runs at once on Ray)
EXECUTORS: Registry[tuple[Callable[[int | None], Executor], Callable[..., dict]]] = Registry(
    "executor")
EXECUTORS.register("local", (_make_local, lambda connect=False: _describe_local()))
EXECUTORS.register("ray", (_make_ray, _describe_ray))


def register(name: str, make: Callable[[int | None], Executor],
             describe: Callable[..., dict] | None = None) -> None:
    EXECUTORS.register(name, (make, describe or (lambda connect=False: {"name": name})))


def names() -> list[str]:
    return EXECUTORS.names()


def make_executor(name: str, workers: int | None = None) -> Executor:
    """The executor called ``name`` (``local``, ``ray``); ``workers``: jobs at once (default:
    one per core here; on Ray, as many as the cluster can run). An unknown name is an error
    that lists the known ones; ``ray`` without Ray installed says how to install it."""
    make, _ = EXECUTORS.load(name)
    return make(workers)


def describe(name: str, connect: bool = False) -> dict[str, Any]:
    """What executor ``name`` would use: installed?, cores, GPUs, nodes. Nothing is started
    unless ``connect`` (for Ray: connect to ``$RAY_ADDRESS`` or start a local Ray)."""
    _, desc = EXECUTORS.load(name)
    return desc(connect=connect)
