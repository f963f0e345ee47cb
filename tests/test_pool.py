"""The training pool: a worker that hangs in its reward or dies is killed and reported as a
failed job with a reason, and the other jobs finish; time limits grow with the budget."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from fakes import ALIVE, HANGS_LATER, wait_until, worker_pids

from rewardsmith import tasks
from rewardsmith.contracts import JobSpec
from rewardsmith.executors import local as pool
from rewardsmith.executors.job import Job, training_limits
from rewardsmith.executors.local import run_jobs
from rewardsmith.reward.program import RewardProgram
from rewardsmith.sandbox import jail

TASK = "pendulum-balance-v0"



def _job(tmp_path: Path, name: str, source: str, steps: int = 2048) -> Job:
    task = tasks.load(TASK)
    spec = JobSpec.build(task, RewardProgram(source, origin=name), steps, 2, 0, "sb3", label=name)
    return Job(tmp_path / name, spec, label=name)


def _pid_of(job: Job) -> int | None:
    """The worker process of ``job`` (its argv names the job folder)."""
    return next(iter(worker_pids(str(job.dir.resolve()))), None)


def test_a_reward_that_hangs_mid_training_is_killed_and_the_other_job_finishes(tmp_path):
    hang, ok = _job(tmp_path, "hangs", HANGS_LATER), _job(tmp_path, "ok", ALIVE)
    limits = jail.Limits(stall_s=12.0)
    out = run_jobs([hang, ok], workers=2, limits=limits)
    # killed on the stall (the message says so), not at the hour-long time limit
    assert not out[0].ok and "took no env step for 12 s" in out[0].error, out[0].error
    assert "reward call that never returns" in out[0].error
    assert out[1].ok and out[1].result.steps >= 2048
    assert not (hang.dir / "DONE").exists()


def test_a_worker_that_crashes_becomes_a_failed_job_with_the_signal_named(tmp_path):
    doomed, ok = _job(tmp_path, "segv", ALIVE, steps=200_000), _job(tmp_path, "ok", ALIVE)
    killed = []

    def on_event(job, ev):
        if job is doomed and ev.get("type") == "progress" and not killed:
            pid = _pid_of(doomed)
            if pid is not None:
                os.kill(pid, signal.SIGSEGV)
                killed.append(pid)

    out = run_jobs([doomed, ok], workers=2, on_event=on_event)
    assert killed, "the worker was never seen"
    assert not out[0].ok and "SIGSEGV" in out[0].error, out[0].error
    assert out[1].ok


def test_time_limits_grow_with_the_budget():
    from rewardsmith.executors.job import JobSpec

    def spec(steps, backend="sb3"):
        return JobSpec(task={"kind": "registry", "id": "x"}, program=None, steps=steps,
                       eval_episodes=2, seed=0, backend=backend)

    small = training_limits(spec(20_000))
    big = training_limits(spec(5_000_000))
    assert small.wall_s == jail.Limits().wall_s  # an hour at least
    assert big.wall_s > 5_000_000 / 100 and big.cpu_s >= 2 * big.wall_s - 1
    assert big.stall_s == jail.Limits().stall_s
    # what the backend declares: the JAX path has no address-space limit and counts every core
    jax = training_limits(spec(5_000_000, "brax"))
    assert jax.address_space is None and big.address_space == jail.Limits().address_space
    assert jax.cpu_s >= (os.cpu_count() or 1) * jax.wall_s - 1


def _fake_gpu_pool(tmp_path, monkeypatch, n_jobs: int):
    """Run ``n_jobs`` brax jobs through the pool with each worker replaced by a short sleep;
    returns (label, env, jobs running then) for each start."""
    import selectors
    import subprocess
    import sys

    live: dict[str, dict] = {}
    seen: list[tuple[str, dict, int]] = []

    def fake_start(job, limits, sel, key, env=None):
        env = dict(env or {})
        live[job.label] = env
        seen.append((job.label, env, len(live)))
        r_fd, w_fd = os.pipe()
        os.set_blocking(r_fd, False)
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.4)"])
        os.close(w_fd)
        sel.register(r_fd, selectors.EVENT_READ, key)
        now = time.monotonic()
        return pool._Running(job, proc, r_fd, now, now, last_step=now, limits=limits,
                             gpu=env.get("CUDA_VISIBLE_DEVICES"))

    def on_event(job, ev):
        if ev.get("type") == "finished":
            live.pop(job.label, None)

    monkeypatch.setattr(pool, "_start", fake_start)
    jobs = []
    for k in range(n_jobs):
        j = _job(tmp_path, f"jax-{k}", ALIVE)
        jobs.append(j.with_spec(backend="brax"))
    out = run_jobs(jobs, workers=8, on_event=on_event)
    assert len(out) == n_jobs and len(seen) == n_jobs
    return seen


def test_jax_jobs_get_one_gpu_each_and_wait_for_a_free_one(tmp_path, monkeypatch):
    """With two GPUs visible, four brax jobs run two at a time, each with its own
    CUDA_VISIBLE_DEVICES."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    monkeypatch.delenv("REWARDSMITH_JOBS_PER_GPU", raising=False)
    assert pool.visible_gpus() == ["3", "5"]
    seen = _fake_gpu_pool(tmp_path, monkeypatch, 4)
    assert {env["CUDA_VISIBLE_DEVICES"] for _, env, _ in seen} == {"3", "5"}
    assert max(n for _, _, n in seen) == 2  # never more jobs than GPUs
    assert all("XLA_PYTHON_CLIENT_MEM_FRACTION" not in env for _, env, _ in seen)


def test_several_jax_jobs_can_share_a_gpu(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setenv("REWARDSMITH_JOBS_PER_GPU", "3")
    seen = _fake_gpu_pool(tmp_path, monkeypatch, 5)
    assert max(n for _, _, n in seen) == 3
    assert all(env == {"CUDA_VISIBLE_DEVICES": "0", "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.300"}
               for _, env, _ in seen)


def test_no_gpu_means_no_device_assignment(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    seen = _fake_gpu_pool(tmp_path, monkeypatch, 3)
    assert all(env == {} for _, env, _ in seen) and max(n for _, _, n in seen) == 3


def test_jobs_are_taken_lazily_and_follow_up_jobs_join_the_batch(tmp_path):
    """A lazy job source is read only when a worker is free (so checking the next candidate
    overlaps training), and a finished job's event may add a job that continues it."""
    log: list[str] = []

    def source():
        for name in ("a", "b"):
            log.append(f"take {name}")
            yield _job(tmp_path, name, ALIVE, steps=512)

    def on_event(job, ev):
        if ev["type"] in ("started", "finished"):
            log.append(f"{ev['type']} {job.label}")
        if ev["type"] == "finished" and job.label == "a":
            return [_job(tmp_path, "a2", ALIVE, steps=512)]
        return None

    outs = run_jobs(source(), workers=1, on_event=on_event)
    assert [o.job.label for o in outs] == ["a", "a2", "b"] and all(o.ok for o in outs)
    # one worker: a job that continues another goes first; "b" is taken when a worker is free
    assert log == ["take a", "started a", "finished a", "started a2", "finished a2", "take b",
                   "started b", "finished b"]


def _slices(tmp_path: Path, continuable: bool, last_dir: Path | None = None):
    """A first slice of 1024 steps and, once it is done, its continuation to 2048."""
    first = _job(tmp_path / "seed-0", "rung-0", ALIVE, steps=1024).with_spec(
        planned_steps=2048, continuable=continuable)
    nxt: list[Job] = []

    def on_event(job, ev):
        if job is first and ev.get("type") == "finished":
            j = _job(tmp_path, "seed-0" if last_dir is None else last_dir.name, ALIVE,
                     steps=2048).with_spec(planned_steps=2048, resume_from=str(first.dir / "train"))
            nxt.append(j)
            return [j]
    return first, nxt, on_event


def test_a_continuable_slice_is_continued_by_the_same_worker_in_memory(tmp_path, monkeypatch):
    spawned = []
    real = jail.spawn
    monkeypatch.setattr(jail, "spawn", lambda *a, **k: spawned.append(k) or real(*a, **k))
    first, nxt, on_event = _slices(tmp_path, continuable=True)
    out = run_jobs([first], workers=1, on_event=on_event)
    assert [o.ok for o in out] == [True, True] and out[1].job is nxt[0]
    assert [o.result.steps for o in out] == [1024, 2048]
    assert len(spawned) == 1  # one process trained both slices
    assert spawned[0]["writable"] == (tmp_path / "seed-0").resolve()  # both slices' folders
    # both slices are on disk, the second with the whole curve, as a fresh worker would write
    assert (first.dir / "DONE").exists() and (nxt[0].dir / "DONE").exists()
    assert out[1].result.curve[-1].step == 2048
    assert wait_until(lambda: worker_pids(str(first.dir.resolve())) == [])  # none left behind


def test_a_continuation_outside_the_workers_folder_gets_a_fresh_worker(tmp_path, monkeypatch):
    spawned = []
    real = jail.spawn
    monkeypatch.setattr(jail, "spawn", lambda *a, **k: spawned.append(k) or real(*a, **k))
    first, nxt, on_event = _slices(tmp_path, continuable=True, last_dir=tmp_path / "elsewhere")
    out = run_jobs([first], workers=1, on_event=on_event)
    assert [o.ok for o in out] == [True, True] and [o.result.steps for o in out] == [1024, 2048]
    assert len(spawned) == 2  # the parked worker may not write there: it was let go
    assert wait_until(lambda: worker_pids(str(first.dir.resolve())) == [])


def test_the_jail_keeps_the_start_folder_inside_the_writable_one(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="not inside the writable folder"):
        jail.spawn(["true"], cwd=tmp_path / "a", limits=jail.Limits(), writable=tmp_path / "b")


def test_a_cancelled_job_is_stopped_while_it_runs_and_one_waiting_never_starts(tmp_path):
    from rewardsmith.executors.job import Cancel

    long = _job(tmp_path, "long", ALIVE, steps=500_000)
    short = _job(tmp_path, "short", ALIVE, steps=1024)
    waiting = _job(tmp_path, "waiting", ALIVE, steps=1024)
    events = []

    def on_event(job, ev):
        events.append((job.label, ev.get("type")))
        if job is short and ev.get("type") == "finished":
            return [Cancel(long), Cancel(waiting)]

    out = run_jobs([long, short, waiting], workers=2, on_event=on_event)
    assert not (long.dir / "DONE").exists()  # stopped, not left to train its 500k steps
    assert out[0].cancelled and not out[0].ok and "no longer needed" in out[0].error
    assert out[1].ok
    assert out[2].cancelled and not (waiting.dir / "job.json").exists()
    assert ("long", "cancelled") in events and ("waiting", "cancelled") in events
    assert wait_until(lambda: worker_pids(str(long.dir.resolve())) == [])
