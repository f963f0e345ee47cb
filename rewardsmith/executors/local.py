"""The local executor: training jobs in parallel jailed worker processes, one per core by
default.

Each job lives in its own folder (``job.json`` in, ``train/result.json`` + ``DONE`` out). A job
whose folder already holds ``DONE`` is not run again: that is how a resumed run skips finished
candidates. Progress and heartbeats arrive on a pipe; a worker that stalls or runs over time is
killed with its whole process group and reported as failed, with the reason in words. A worker
that trained a slice of a successively halved job may wait, parked, to train the next one.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardsmith.contracts import TrainResult
from rewardsmith.executors.job import Batch, Event, Job, Outcome, needs_of, training_limits
from rewardsmith.runs.files import atomic_write_json, read_json
from rewardsmith.sandbox import jail


@dataclass
class _Running:
    job: Job
    proc: Any
    read_fd: int
    started: float
    last_beat: float
    steps: int = 0  # env steps the worker reported (0: it does not count them)
    last_step: float = 0.0  # when that count last moved
    limits: jail.Limits = field(default_factory=jail.Limits)
    gpu: str | None = None  # the GPU this worker was given (CUDA_VISIBLE_DEVICES)
    buf: bytes = b""
    log: Any = None
    events: list[dict] = field(default_factory=list)
    done: bool = False  # the worker said it is done: its exit is near
    parked: bool = False  # ... and waits, alive, to train the next slice of its job
    writable: Path | None = None  # the folder it may write in (all the slices of its job)


def run_jobs(jobs: Iterable[Job], workers: int, on_event: Event | None = None,
             limits: jail.Limits | None = None, in_process: bool = False,
             gpus: list[str] | None = None, gpu_share: int = 1) -> list[Outcome]:
    """Run ``jobs`` with at most ``workers`` at a time; return outcomes in the order the jobs
    were taken, follow-up jobs (see :data:`Event`) included.

    ``jobs`` may be a lazy iterable: the next job is taken only when a worker is free, so work
    that produces jobs (validating a candidate) overlaps the training of those before it.
    ``limits`` applies to every job as given; by default each job gets
    :func:`training_limits` for its budget. ``gpus``: the GPUs its JAX jobs may use (default:
    every visible one); ``gpu_share``: how many such batches share each of them at once (each
    job then takes that much less of its memory)."""
    batch = Batch(jobs, on_event)
    jobs, pending = batch.jobs, batch.pending

    if in_process:  # for debugging and tests: no isolation, one at a time
        from rewardsmith.train.worker import run_job

        while pending or batch.pull():
            if not pending:
                continue
            i = pending.pop(0)
            job = jobs[i]
            _write_job(job)
            try:
                o = Outcome(job, run_job(job.spec, job.dir))
            except Exception as e:  # noqa: BLE001 - reported as a failed job
                o = Outcome(job, None, f"{type(e).__name__}: {e}")
            batch.finish(i, o)
        return batch.results()

    sel = selectors.DefaultSelector()
    running: dict[int, _Running] = {}
    # workers that finished a slice and wait to train the next one: by the slice's train folder
    parked: dict[str, _Running] = {}
    keep_parked = 2 * max(1, workers) + 2  # beyond that the oldest ends (its memory back)
    queue = pending  # follow-up jobs join it as they are added
    only = gpus  # looked up at the first JAX job where not given
    gpus = None
    per_gpu = jobs_per_gpu()
    share = max(1, gpu_share)
    free_gpus: list[str] = []
    try:
        while queue or running or batch.more:
            while len(running) < max(1, workers) and (queue or batch.more):
                if not queue:
                    batch.pull()
                    continue
                env = None
                wants_gpu = needs_of(jobs[queue[0]].spec).gpu
                if wants_gpu and gpus is None:
                    gpus = list(only) if only is not None else visible_gpus()
                    free_gpus = [g for _ in range(per_gpu) for g in gpus]
                if gpus and wants_gpu:
                    if not free_gpus:
                        break  # JAX preallocates GPU memory: a fixed number of jobs per GPU
                    env = {"CUDA_VISIBLE_DEVICES": free_gpus.pop(0)}
                    if per_gpu * share > 1:  # a shared GPU: each job takes its part of the memory
                        env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{0.9 / (per_gpu * share):.3f}"
                i = queue.pop(0)
                r = _continue(jobs[i], parked, sel, i) if env is None else None
                running[i] = r or _start(jobs[i], limits or training_limits(jobs[i].spec), sel,
                                         i, env=env)
                if on_event:
                    on_event(jobs[i], {"type": "started"})
            # a worker that said "done" exits in a moment: look again soon, not in half a second
            wait = 0.02 if any(r.done for r in running.values()) else 0.5
            for key, _ in (sel.select(timeout=wait) if running else ()):
                i = key.data
                r = running.get(i)
                if r is None:  # a parked worker's heartbeat: read and let go
                    _drain(key.fd, parked, sel)
                    continue
                try:
                    chunk = os.read(r.read_fd, 65536)
                except OSError:
                    chunk = b""
                if chunk:
                    r.last_beat = time.monotonic()
                    r.buf += chunk
                    *lines, r.buf = r.buf.split(b"\n")
                    for line in lines:
                        try:
                            ev = json.loads(line)
                        except ValueError:
                            continue
                        if ev.get("type") in ("done", "error"):
                            r.done = True
                            r.parked = bool(ev.get("parked"))
                        if ev.get("type") == "heartbeat":
                            steps = int(ev.get("steps") or 0)
                            if steps != r.steps:
                                r.steps, r.last_step = steps, time.monotonic()
                        elif on_event:
                            on_event(r.job, ev)
            now = time.monotonic()
            for i in list(running):
                r = running[i]
                lim = r.limits
                reason = None
                if r.parked and r.proc.poll() is None:
                    # the slice is written (DONE before "done"); the worker waits for the next
                    del running[i]
                    _park(r, parked, keep_parked, sel)
                    batch.finish(i, _outcome(r.job))
                    continue
                cancelled = i in batch.cancelling
                if cancelled:
                    jail.kill_group(r.proc)
                elif r.proc.poll() is None:
                    if now - r.started > lim.wall_s:
                        reason = f"ran over its time limit of {lim.wall_s:.0f} s and was killed"
                    elif now - r.last_beat > lim.stall_s:
                        reason = f"stalled (no heartbeat for {lim.stall_s:.0f} s) and was killed"
                    elif r.steps and now - r.last_step > lim.stall_s:
                        reason = (f"took no env step for {lim.stall_s:.0f} s (after "
                                  f"{r.steps:,} steps) and was killed; a reward call that never "
                                  "returns (a long loop in a rarely taken branch?) looks like this")
                    else:
                        continue
                    jail.kill_group(r.proc)
                outcome = _finish(r, reason)
                sel.unregister(r.read_fd)
                os.close(r.read_fd)
                del running[i]
                if r.gpu is not None:
                    free_gpus.append(r.gpu)
                if cancelled:
                    batch.cancelled(i)
                else:
                    batch.finish(i, outcome)
    finally:
        for r in running.values():
            jail.kill_group(r.proc)
            if r.log:
                r.log.close()
        for r in parked.values():
            _release(r, sel)
    return batch.results()


def _park(r: _Running, parked: dict[str, _Running], keep: int, sel) -> None:
    parked[str((r.job.dir / "train").resolve())] = r
    while len(parked) > keep:  # the longest parked is the least likely to go on
        _release(parked.pop(next(iter(parked))), sel)


def _continue(job: Job, parked: dict[str, _Running], sel, key: int) -> _Running | None:
    """The worker that trained the slice ``job`` resumes from, told to train ``job`` next;
    None when there is none (a fresh worker then continues from the saved slice)."""
    src = job.spec.resume_from
    r = parked.pop(str(Path(src).resolve()), None) if src else None
    if r is None:
        return None
    target = Path(os.path.realpath(job.dir))
    inside = r.writable is not None and (target == r.writable or r.writable in target.parents)
    if not inside or r.proc.poll() is not None:
        _release(r, sel)
        return None
    _write_job(job)
    try:
        r.proc.stdin.write((json.dumps({"job": str(job.dir.resolve())}) + "\n").encode())
        r.proc.stdin.flush()
    except OSError:
        _release(r, sel)
        return None
    sel.modify(r.read_fd, selectors.EVENT_READ, key)
    now = time.monotonic()
    r.job, r.started, r.last_beat, r.last_step, r.steps = job, now, now, now, 0
    r.done = r.parked = False
    r.limits = training_limits(job.spec, r.limits)
    return r


def _release(r: _Running, sel) -> None:
    """End a parked worker: EOF on its stdin ends it; the kill makes sure."""
    try:
        r.proc.stdin.close()
    except OSError:
        pass
    jail.kill_group(r.proc)
    r.proc.wait()
    try:
        sel.unregister(r.read_fd)
    except (KeyError, ValueError):
        pass
    os.close(r.read_fd)
    if r.log:
        r.log.close()


def _drain(fd: int, parked: dict[str, _Running], sel) -> None:
    """Read what a parked worker wrote (heartbeats); at EOF it has ended: forget it."""
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        chunk = b""
    if not chunk:
        for k, r in list(parked.items()):
            if r.read_fd == fd:
                del parked[k]
                _release(r, sel)


def _outcome(job: Job) -> Outcome:
    """A finished job's outcome, from the result its worker wrote."""
    try:
        return Outcome(job, TrainResult.from_json(read_json(job.dir / "train" / "result.json")))
    except (OSError, ValueError, TypeError) as e:
        return Outcome(job, None, f"the worker's result could not be read: {e}")


def _write_job(job: Job) -> None:
    job.dir.mkdir(parents=True, exist_ok=True)
    for stale in ("error.json",):
        (job.dir / stale).unlink(missing_ok=True)
    atomic_write_json(job.dir / "job.json", job.spec.to_json())


def jobs_per_gpu() -> int:
    """JAX training jobs that share one GPU (``REWARDSMITH_JOBS_PER_GPU``, default 1). Several
    small jobs on a large GPU compile on separate CPU cores and fill the device together."""
    raw = os.environ.get("REWARDSMITH_JOBS_PER_GPU", "1")
    try:
        n = int(raw)
    except ValueError:
        from rewardsmith.errors import RewardsmithError

        raise RewardsmithError(f"REWARDSMITH_JOBS_PER_GPU={raw!r} is not a whole number",
                               "set it to 1 or more") from None
    return max(1, n)


def visible_gpus() -> list[str]:
    """The NVIDIA GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` entries, found without
    importing JAX (the parent of jailed workers should not start JAX's threads)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    devs = sorted(int(p.name[6:]) for p in Path("/dev").glob("nvidia[0-9]*")
                  if p.name[6:].isdigit())
    return [str(d) for d in devs]


def _start(job: Job, limits: jail.Limits, sel, key: int,
           env: dict[str, str] | None = None) -> _Running:
    _write_job(job)
    r_fd, w_fd = os.pipe()
    os.set_blocking(r_fd, False)
    log = open(job.dir / "worker.log", "wb")
    # a slice that may be continued: its worker may write in the folder of all the job's
    # slices and waits on its stdin for the next one
    continuable = job.spec.continuable
    writable = Path(os.path.realpath(job.dir.parent)) if continuable else None
    proc = jail.spawn(
        jail.python_argv("rewardsmith.train.worker", str(job.dir.resolve()), str(w_fd)),
        cwd=job.dir, limits=limits, stdout=log, stderr=log, pass_fds=(w_fd,), env=env,
        # a later slice of a halved job reads the slice before it (read-only)
        readable=[Path(job.spec.resume_from)] if job.spec.resume_from else (),
        stdin=subprocess.PIPE if continuable else None, writable=writable,
    )
    os.close(w_fd)
    sel.register(r_fd, selectors.EVENT_READ, key)
    now = time.monotonic()
    gpu = (env or {}).get("CUDA_VISIBLE_DEVICES")
    return _Running(job, proc, r_fd, now, now, last_step=now, limits=limits, log=log, gpu=gpu,
                    writable=writable)


def _finish(r: _Running, killed_reason: str | None) -> Outcome:
    r.proc.wait()
    if r.log:
        r.log.close()
    job = r.job
    if killed_reason is None and (job.dir / "DONE").exists():
        return _outcome(job)
    if killed_reason is not None:
        return Outcome(job, None, f"the training worker {killed_reason}")
    err = job.dir / "error.json"
    if err.exists():
        try:
            return Outcome(job, None, read_json(err)["error"])
        except (OSError, ValueError, KeyError):
            pass
    tail = ""
    try:
        tail = (job.dir / "worker.log").read_text(errors="replace")[-600:].strip()
    except OSError:
        pass
    why = jail.describe_exit(r.proc.returncode)
    return Outcome(job, None, f"the training worker {why}" + (f"; last output: {tail}" if tail else ""))


class LocalExecutor:
    """This machine: one jailed worker process per job, at most ``workers`` at a time, with
    heartbeats, stall and time limits (see :func:`run_jobs` above)."""

    name = "local"

    def __init__(self, workers: int = 1, limits=None, gpus: list[str] | None = None,
                 gpu_share: int = 1):
        self.workers = max(1, int(workers))
        self.limits = limits  # jail.Limits for every job (default: per job, by its budget)
        self.gpus = gpus  # the GPUs its JAX jobs may use (default: every visible one)
        self.gpu_share = gpu_share  # executors that use each of those GPUs at once

    def run(self, jobs: Iterable[Job], on_event: Event | None = None) -> list[Outcome]:
        return run_jobs(jobs, self.workers, on_event=on_event, limits=self.limits,
                        gpus=self.gpus, gpu_share=self.gpu_share)

    def share(self, n: int) -> list[LocalExecutor]:
        """``n`` executors for ``n`` callers at once (a benchmark's concurrent runs) that
        together keep to this one's workers: each gets its part of them, and its part of the
        GPUs (where there are fewer GPUs than executors, they share them, each job with its
        part of the memory). Fewer workers than ``n`` is an error."""
        from rewardsmith.errors import RewardsmithError

        if n > self.workers:
            raise RewardsmithError(
                f"{n} runs at once cannot share {self.workers} local worker(s)",
                f"give at most {self.workers} runs at once, or more --workers")
        gpus = self.gpus if self.gpus is not None else visible_gpus()
        out = []
        for i in range(n):
            if len(gpus) >= n or not gpus:  # GPUs of its own (or none)
                mine, share = gpus[i::n], 1
            else:  # GPU i % len(gpus), with the other executors given it round the circle
                mine, share = [gpus[i % len(gpus)]], len(range(i % len(gpus), n, len(gpus)))
            out.append(LocalExecutor(self.workers // n + (1 if i < self.workers % n else 0),
                                     self.limits, gpus=mine, gpu_share=share * self.gpu_share))
        return out

    def describe(self) -> dict[str, Any]:
        from rewardsmith.executors import _describe_local

        return {**_describe_local(), "workers": self.workers}

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers})"
