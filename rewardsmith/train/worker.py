"""A training worker: ``python -m rewardsmith.train.worker JOB_DIR PROGRESS_FD``.

Runs inside the jail (see ``rewardsmith.sandbox.jail``), in its job folder. Reads ``job.json``,
trains, writes ``train/result.json`` (and evaluation episodes, the policy), then ``DONE`` last.
A failure the user can act on goes to ``error.json``. Progress lines (JSON) go to the progress
fd; a background thread also beats every few seconds, with the count of env steps taken so
far (:mod:`rewardsmith.reward.liveness`), so the pool can tell a long evaluation from a hung
reward call.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path

HEARTBEAT_S = 5.0


class _Channel:
    def __init__(self, fd: int):
        self.fd = fd
        self.lock = threading.Lock()

    def send(self, obj: dict) -> None:
        line = (json.dumps(obj) + "\n").encode()
        with self.lock:
            try:
                os.write(self.fd, line)
            except OSError:
                pass


def main(argv: list[str]) -> int:
    job_dir = Path(argv[0])
    chan = _Channel(int(argv[1]))
    stop = threading.Event()

    def beat() -> None:
        from rewardsmith.reward import liveness

        while not stop.wait(HEARTBEAT_S):
            chan.send({"type": "heartbeat", "t": time.time(), "steps": liveness.steps()})

    threading.Thread(target=beat, daemon=True).start()
    try:
        while True:
            from rewardsmith.contracts import JobSpec

            job = JobSpec.from_json(json.loads((job_dir / "job.json").read_text()))
            result = run_job(job, job_dir, chan)
            if not job.continuable:
                chan.send({"type": "done", "fitness": result.fitness})
                return 0
            # one slice of a longer job: wait for the next slice (a line naming its folder,
            # inside the folder this worker may write) or for the end (EOF)
            chan.send({"type": "done", "fitness": result.fitness, "parked": True})
            line = sys.stdin.readline()
            if not line.strip():
                return 0
            job_dir = Path(json.loads(line)["job"])
            os.chdir(job_dir)
    except Exception as e:  # report every failure as data; the parent decides what it means
        from rewardsmith.errors import RewardsmithError
        from rewardsmith.runs.files import atomic_write_json

        user_error = isinstance(e, RewardsmithError)
        msg = str(e) if user_error else f"{type(e).__name__}: {e}"
        atomic_write_json(job_dir / "error.json", {
            "error": msg, "kind": type(e).__name__, "user_error": user_error,
            "traceback": "" if user_error else traceback.format_exc(),
        })
        chan.send({"type": "error", "error": msg})
        return 3
    finally:
        stop.set()


def run_job(job, job_dir: Path, chan: _Channel | None = None):
    """Train as ``job`` (a :class:`~rewardsmith.executors.job.JobSpec`) says; used by the worker
    process and, in tests, in-process."""
    from rewardsmith import tasks
    from rewardsmith.contracts import Budget
    from rewardsmith.reward.program import RewardProgram
    from rewardsmith.runs.files import atomic_write_text
    from rewardsmith.train import load as load_backend

    task = tasks.from_origin(job.task)
    backend = load_backend(job.backend)
    if hasattr(backend, "keep_live"):  # a slice whose next one this process may train
        backend.keep_live(job.continuable)
    budget = Budget(steps=job.steps, eval_episodes=job.eval_episodes)
    program = None if job.program is None else RewardProgram(job.program,
                                                             origin=job.label or "program")

    def progress(done: int, total: int, info: dict) -> None:
        if chan is not None:
            chan.send({"type": "progress", "done": done, "total": total, **info})

    if job.untrained:
        result = backend.evaluate_untrained(task, budget, job.seed, overrides=job.overrides)
    else:
        extra = {}  # one slice of a successively halved job (resumable backends)
        if job.planned_steps:
            extra["planned_steps"] = int(job.planned_steps)
        if job.resume_from:
            extra["resume_from"] = Path(job.resume_from)
        result = backend.train(task, program, budget, job.seed, progress=progress,
                               workdir=job_dir / "train", overrides=job.overrides, **extra)
    result.save(job_dir / "train")
    if not job.untrained:
        from rewardsmith.train import tblog

        if not tblog.has_events(job_dir / "train" / "tb"):  # a trainer that logs none itself
            tblog.write_curve(result.curve, job_dir / "train" / "tb")
    atomic_write_text(job_dir / "DONE", "")
    return result


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # Everything is written and closed (DONE last); tearing down torch and the simulator took
    # 1.5 s of every job, which the pool waits for before the next one starts.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
