"""The Ray executor: the same training jobs, on the nodes of a Ray cluster.

    executor = RayExecutor()                   # $RAY_ADDRESS, or a local Ray on this machine
    outcomes = executor.run(jobs, on_event)    # the Executor contract, as LocalExecutor keeps it

Each job is one Ray task that asks for what its backend needs (a CPU for ``sb3``; a GPU for
``brax`` where the cluster has GPUs) and travels by content: its spec with the task as the
text of its file (:func:`rewardsmith.tasks.portable_origin`), the reward's source, budget and
seed, and for a later slice of a halved job the files of the slice it continues, packed. No
shared disk is assumed. On its node the task unpacks into a temporary job folder and runs it
with :func:`rewardsmith.executors.local.run_jobs`: the same jailed worker, heartbeats, stall and
time limits, and failure reasons as on one machine. It packs the job folder's results and
returns them; the driver unpacks them into the job's folder in the run directory, which stays
the source of truth, and writes ``DONE`` last. Progress events come back through a small actor
while the job runs.

A job that stalls, crashes or runs out of memory is a failed :class:`Outcome` with the reason
in words, as locally; so is a Ray worker or node that dies under it. Ray is never asked to
retry a job: the design loop decides what a failure means. An interrupt in the driver cancels
the run's Ray tasks (a watcher process on the node then ends the jailed worker too) and is
raised again.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tarfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from rewardsmith.contracts import TrainResult
from rewardsmith.errors import RewardsmithError
from rewardsmith.executors.job import (
    Batch,
    Event,
    Job,
    JobSpec,
    Outcome,
    needs_of,
    training_limits,
)
from rewardsmith.executors.local import jobs_per_gpu
from rewardsmith.runs.files import atomic_write_json, atomic_write_text, read_json
from rewardsmith.sandbox import jail

RAY_HINT = "pip install 'rewardsmith[ray]'"

# what of a finished job folder goes back to the driver: everything the worker wrote, but not
# the spec (the driver wrote its own), not DONE (the driver writes it last) and no scratch
_NOT_SHIPPED = ("job.json", "DONE", ".tmp")
_INCOMING = ".ray-incoming"  # where the driver unpacks a job's results before moving them in
GRACE_S = 120.0  # on top of a job's time limit before the driver gives up on its Ray task


def _import_ray():
    try:
        import ray
    except ImportError:
        raise RewardsmithError("the ray executor needs Ray", RAY_HINT) from None
    return ray


def _version_gap(res: Any) -> str:
    """Where a node's results cannot be read, the likely reason when it is one: "" unless the
    node ran another rewardsmith than this machine."""
    import rewardsmith

    theirs = res.get("version") if isinstance(res, dict) else None
    if theirs is None or theirs == rewardsmith.__version__:
        return ""
    return (f" (the node runs rewardsmith {theirs}, this machine {rewardsmith.__version__}: "
            "install the same version on every node)")


def ray_version() -> str | None:
    """The installed Ray's version, or None; Ray is not imported."""
    from importlib import metadata

    try:
        return metadata.version("ray")
    except metadata.PackageNotFoundError:
        return None


# ------------------------------------------------------------------------------ packing
def pack_dir(root: Path, skip: tuple[str, ...] = ()) -> bytes:
    """The regular files under ``root`` as an uncompressed tar (policies and episodes are
    compressed already); links and anything else are left out, as is every path whose first
    part is in ``skip``."""
    root = Path(root)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(root)
            if rel.parts[0] in skip or p.is_symlink() or not p.is_file():
                continue
            tar.add(p, arcname=rel.as_posix(), recursive=False)
    return buf.getvalue()


def unpack_dir(data: bytes, dest: Path) -> list[Path]:
    """Unpack a :func:`pack_dir` tar into ``dest``; only regular files with plain relative
    names are taken (the files come from a worker that ran untrusted code). Returns them."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for m in tar:
            rel = PurePosixPath(m.name)
            if (not m.isreg() or rel.is_absolute() or not rel.parts
                    or any(part in ("..", ".", "") for part in rel.parts)):
                continue
            target = dest.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(m)
            if src is None:
                continue
            with open(target, "wb") as f:
                shutil.copyfileobj(src, f)
            out.append(target)
    return out


# -------------------------------------------------------------------------- on the node
# Started by the Ray task, detached from it (Ray ends the direct children of a worker it stops,
# and this must outlive the worker): it waits until the task closes its stdin, or until the Ray
# worker dies (a forced cancel, a crash, the OOM killer), and then ends any training worker that
# still runs from the task's folder and removes the folder. Without it a crashed Ray worker
# would leave its jailed worker running outside bubblewrap (whose workers die with their
# parent), and a cancelled one its folder behind.
_WATCHER = r"""
import os, shutil, signal, sys
if os.fork():
    os._exit(0)
os.setsid()
root = sys.argv[1]
try:
    sys.stdin.buffer.read()
except BaseException:
    pass
me, needle = os.getpid(), root.encode()
for d in os.listdir("/proc"):
    if not d.isdigit() or int(d) == me:
        continue
    try:
        with open("/proc/%s/cmdline" % d, "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        continue
    if b"rewardsmith.train.worker" in argv and any(a.startswith(needle) for a in argv):
        try:
            os.killpg(os.getpgid(int(d)), signal.SIGKILL)
        except OSError:
            pass
shutil.rmtree(root, ignore_errors=True)
"""


def _start_watcher(root: Path):
    """The watcher for ``root``; close the returned pipe (the task's end) to let it finish."""
    import subprocess
    import sys

    try:
        proc = subprocess.Popen([sys.executable, "-S", "-c", _WATCHER, str(root)],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, close_fds=True)
        proc.wait(timeout=30)  # the first process forks the watcher and ends
        return proc.stdin
    except (OSError, subprocess.SubprocessError):
        return None


def _stop_watcher(pipe) -> None:
    if pipe is not None:
        try:
            pipe.close()
        except OSError:
            pass


def run_on_node(payload: dict[str, Any], events: Any = None, key: int = 0) -> dict[str, Any]:
    """The body of a job's Ray task (a plain function, so it can be tested without Ray): unpack
    the job into a fresh folder on this node, run it jailed with ``run_jobs`` and return its
    results packed. Progress events go to ``events.put.remote(key, event)`` (an actor)."""
    import socket
    import tempfile

    import rewardsmith
    from rewardsmith.executors.local import run_jobs

    started = time.time()
    scratch = payload.get("scratch")
    if scratch:
        Path(scratch).mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="rewardsmith-ray-", dir=scratch or None)).resolve()
    watcher = _start_watcher(root)
    try:
        spec = JobSpec.from_json(payload["spec"])
        if payload.get("resume") is not None:
            resume = root / "resume"
            unpack_dir(payload["resume"], resume)
            spec = spec.replace(resume_from=str(resume))
        if payload.get("jobs_per_gpu"):
            os.environ["REWARDSMITH_JOBS_PER_GPU"] = str(payload["jobs_per_gpu"])
        job = Job(root / "job", spec, label=payload.get("label", ""))

        def forward(_job: Job, event: dict) -> None:
            if events is not None and event.get("type") not in ("finished", "reused"):
                try:
                    events.put.remote(key, event)
                except Exception:  # noqa: BLE001 - progress is a courtesy
                    pass

        out = run_jobs([job], 1, on_event=forward, limits=payload.get("limits"))[0]
        files = pack_dir(job.dir, skip=_NOT_SHIPPED) if job.dir.exists() else b""
        if events is not None:  # actor calls run in order: the events sent above are in
            try:
                import ray

                ray.get(events.put.remote(key, None), timeout=30)
            except Exception:  # noqa: BLE001
                pass
        try:
            import ray

            ip = ray.util.get_node_ip_address()
        except Exception:  # noqa: BLE001 - not in a Ray worker (tests)
            ip = None
        return {"ok": out.ok, "error": out.error, "files": files,
                "remote_dir": str(job.dir), "resume_from": spec.resume_from,
                "node": socket.gethostname(), "ip": ip, "version": rewardsmith.__version__,
                "started": started, "ended": time.time()}
    finally:
        shutil.rmtree(root, ignore_errors=True)
        _stop_watcher(watcher)


def _warm_node() -> str:
    """Run once by each Ray worker before its first job: what every job imports and probes."""
    import rewardsmith.executors.local  # noqa: F401
    from rewardsmith.sandbox import jail as node_jail

    return node_jail.isolation().mode


class _Events:
    """An actor that holds progress events from the nodes until the driver takes them."""

    def __init__(self):
        self.items: list = []

    def put(self, key: int, event: dict | None) -> None:
        if event is not None:
            self.items.append((key, event))

    def drain(self) -> list:
        out, self.items = self.items, []
        return out


# ------------------------------------------------------------------------- the driver
@dataclass
class _Flight:
    index: int  # in the order jobs were taken
    key: int  # in the progress actor
    job: Job
    ref: Any
    wall_s: float  # the job's time limit; the driver allows GRACE_S on top
    submitted: float
    started: float | None = None  # when the node said it started (queued until then)
    gpu: bool = False
    submitted_wall: float = field(default_factory=time.time)


def failure_words(e: BaseException) -> str:
    """Why a job's Ray task failed, in words, from the exception ``ray.get`` raised."""
    from ray import exceptions as rx

    first = (str(e).strip().splitlines() or [""])[0][:300]
    if isinstance(e, rx.TaskCancelledError):
        return "its Ray task was cancelled"
    if isinstance(e, rx.OutOfMemoryError):
        return ("Ray's memory monitor killed the Ray worker running it: the node ran low on "
                "memory (fewer jobs per node, or nodes with more memory)")
    if isinstance(e, rx.NodeDiedError):
        return f"the Ray node it ran on died or left the cluster ({first})"
    if isinstance(e, rx.WorkerCrashedError):
        return ("the Ray worker running it died (it crashed, or the operating system's "
                "out-of-memory killer ended it)")
    if isinstance(e, rx.RayTaskError):
        cause = getattr(e, "cause", None)
        what = f"{type(cause).__name__}: {cause}" if cause is not None else first
        msg = f"its Ray task failed on the node: {what}"
        if isinstance(cause, ImportError):
            msg += f" (every node needs rewardsmith installed: {RAY_HINT})"
        return msg
    if isinstance(e, rx.RuntimeEnvSetupError):
        return f"Ray could not set up the job's environment on the node: {first}"
    return f"Ray failed to run it: {type(e).__name__}: {first}"


class RayExecutor:
    """Training jobs on a Ray cluster, one Ray task per job, at most as many at once as the
    cluster can run (or ``workers``, when given).

    ``address``: the cluster (``ray://host:10001`` or ``host:6379``); by default
    ``$RAY_ADDRESS``; without either, a local Ray is started with every core of this machine.
    ``limits``: the jail's limits for every job (default: :func:`training_limits` per job, on
    the node). ``scratch``: the folder on each node where jobs unpack (default: its temp
    folder). ``gpus``: ask for a GPU for each ``brax`` job (default: when the cluster has
    GPUs). ``prestart``: warm a Ray worker per slot at once (see :meth:`prestart`)."""

    name = "ray"

    def __init__(self, address: str | None = None, *, workers: int | None = None,
                 limits: jail.Limits | None = None, scratch: str | None = None,
                 gpus: bool | None = None, poll_s: float = 0.5, prestart: bool = True,
                 init_kwargs: dict[str, Any] | None = None):
        ray = _import_ray()
        self._ray = ray
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.workers = int(workers) if workers else None
        self.limits = limits
        self.scratch = scratch
        self.gpus = gpus
        self.poll_s = poll_s
        self.started_ray = False
        if not ray.is_initialized():
            kw: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING,
                                  **(init_kwargs or {})}
            try:
                if self.address:
                    ray.init(address=self.address, **kw)
                else:
                    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, **kw)
            except (ConnectionError, RuntimeError, ValueError) as e:
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray"
                raise RewardsmithError(
                    f"cannot start or reach {where}: {e}",
                    "start the head node with `ray start --head` and set RAY_ADDRESS, or unset "
                    "RAY_ADDRESS to run a local Ray") from None
            self.started_ray = True
        self._remote = None
        self._events = None  # the actor that carries progress events, kept across runs
        self._next_key = 0  # jobs are told apart in it by a key unique to this executor
        self._capacity: tuple[float, int, float] | None = None  # (when, cpus, gpus)
        self._warming: list = []
        if prestart:
            self.prestart()

    def prestart(self) -> None:
        """Start the progress actor and warm a Ray worker per slot (imports, the jail's probe)
        without waiting: a cold worker costs a second or more on the first job it runs."""
        self._events_actor()
        warm = self._ray.remote(_warm_node).options(num_cpus=1, max_retries=0)
        self._warming = [warm.remote() for _ in range(self.slots(False))]

    def ready(self, timeout: float = 120.0) -> bool:
        """Wait until the workers :meth:`prestart` warmed are up; False if they are not."""
        refs, self._warming = self._warming, []
        try:
            self._ray.get(refs, timeout=timeout)
            return True
        except Exception:  # noqa: BLE001 - a cold worker only costs time
            return False

    # ------------------------------------------------------------------ the cluster
    def resources(self, refresh: bool = False) -> tuple[int, float]:
        """CPUs and GPUs of the cluster (looked up again every 10 s: nodes come and go)."""
        now = time.monotonic()
        if refresh or self._capacity is None or now - self._capacity[0] > 10.0:
            res = self._ray.cluster_resources()
            self._capacity = (now, int(res.get("CPU", 0)), float(res.get("GPU", 0)))
        return self._capacity[1], self._capacity[2]

    def describe(self) -> dict[str, Any]:
        ray = self._ray
        cpus, gpus = self.resources(refresh=True)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        return {"name": self.name, "installed": True, "version": ray.__version__,
                "address": self.address or "local", "cores": cpus,
                "gpus": int(gpus) if float(gpus).is_integer() else gpus,
                "nodes": len(nodes), "workers": self.slots(False)}

    def _use_gpu(self, job: Job) -> bool:
        if not needs_of(job.spec).gpu:
            return False
        if self.gpus is not None:
            return self.gpus
        return self.resources()[1] > 0

    def slots(self, gpu: bool) -> int:
        """Jobs this cluster runs at once: a CPU each, and for a GPU job its share of a GPU."""
        cpus, gpus = self.resources()
        n = max(1, cpus)
        if gpu:
            n = min(n, max(1, int(gpus * jobs_per_gpu())))
        return min(n, self.workers) if self.workers else n

    # ---------------------------------------------------------------------- a job
    def _task(self):
        if self._remote is None:
            self._remote = self._ray.remote(run_on_node)
        return self._remote

    def _events_actor(self):
        """The progress actor (no CPU of its own), started at the first job; None where it
        cannot be (the jobs still run, without progress)."""
        if self._events is None:
            try:
                self._events = self._ray.remote(_Events).options(
                    num_cpus=0, max_restarts=0).remote()
            except Exception:  # noqa: BLE001
                return None
        return self._events

    def _submit(self, index: int, job: Job, events, key: int) -> _Flight:
        from rewardsmith import tasks

        spec = job.spec.to_json()
        payload: dict[str, Any] = {"label": job.label, "limits": self.limits,
                                   "scratch": self.scratch}
        resume = spec.pop("resume_from", None)
        if resume:
            rdir = Path(resume)
            if not (rdir / "result.json").is_file():
                raise RewardsmithError(f"the slice this job continues ({rdir}) is missing or "
                                       "unfinished")
            payload["resume"] = pack_dir(rdir)
        spec["task"] = tasks.portable_origin(dict(spec["task"]))
        payload["spec"] = spec
        gpu = self._use_gpu(job)
        if gpu and self.resources()[1] <= 0:
            raise RewardsmithError("the job asks for a GPU and the Ray cluster has none",
                                   "add GPU nodes, or run it without gpus=True")
        opts: dict[str, Any] = {"num_cpus": 1, "max_retries": 0, "retry_exceptions": False}
        if gpu:
            per = jobs_per_gpu()
            opts["num_gpus"] = 1.0 / per
            payload["jobs_per_gpu"] = per
        # the run directory keeps the job's own spec; its results replace any torn ones
        job.dir.mkdir(parents=True, exist_ok=True)
        for stale in ("error.json", "DONE"):
            (job.dir / stale).unlink(missing_ok=True)
        atomic_write_json(job.dir / "job.json", job.spec.to_json())
        ref = self._task().options(**opts).remote(payload, events, key)
        wall = (self.limits or training_limits(job.spec)).wall_s
        return _Flight(index, key, job, ref, wall, time.monotonic(), gpu=gpu)

    def _land(self, job: Job, res: dict[str, Any], submitted: float | None = None) -> Outcome:
        """Put a job's results from the node into its folder; DONE last, when it succeeded.
        ``ray.json`` says where and when it ran (``submitted``, ``started`` and ``ended`` on
        the node, ``landed`` here: wall-clock seconds)."""
        incoming = job.dir / _INCOMING
        shutil.rmtree(incoming, ignore_errors=True)
        try:
            for f in unpack_dir(res.get("files") or b"", incoming):
                dest = job.dir / f.relative_to(incoming)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(f, dest)
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
        atomic_write_json(job.dir / "ray.json", {
            **{k: res.get(k) for k in ("ok", "error", "node", "ip", "remote_dir", "resume_from",
                                       "version", "started", "ended")},
            "submitted": submitted, "landed": time.time(),
            "bytes": len(res.get("files") or b"")})
        if not res.get("ok"):
            return Outcome(job, None, res.get("error") or "the job failed on its Ray node")
        path = job.dir / "train" / "result.json"
        d = read_json(path)
        # paths in the result named the node's folder: they name the run directory's now
        remote, here = str(res.get("remote_dir") or ""), str(job.dir.resolve())
        pp = d.get("policy_path")
        if remote and isinstance(pp, str) and pp.startswith(remote + os.sep):
            d["policy_path"] = here + pp[len(remote):]
            atomic_write_json(path, d)
        result = TrainResult.from_json(d)
        atomic_write_text(job.dir / "DONE", "")
        return Outcome(job, result)

    # ------------------------------------------------------------------------ run
    def run(self, jobs: Iterable[Job], on_event: Event | None = None) -> list[Outcome]:
        """The :class:`~rewardsmith.executors.Executor` contract, as ``run_jobs`` keeps it:
        ``jobs`` may be lazy (the next is taken when a slot is free); a finished or reused
        event's answer may add follow-up jobs; outcomes come back in the order jobs were
        taken."""
        ray = self._ray
        batch = Batch(jobs, on_event)
        taken, pending, finish = batch.jobs, batch.pending, batch.finish

        flights: dict[Any, _Flight] = {}  # by ObjectRef
        by_key: dict[int, _Flight] = {}
        events = None
        events_broken = False

        def drain() -> None:
            nonlocal events_broken
            if events is None or events_broken:
                return
            try:
                items = ray.get(events.drain.remote(), timeout=30)
            except Exception:  # noqa: BLE001 - progress is lost; results still come back
                events_broken = True
                self._events = None  # a later run starts another
                return
            for key, ev in items:
                fl = by_key.get(key)
                if fl is None:  # a job already finished, or cancelled by an earlier run
                    continue
                if ev.get("type") == "started" and fl.started is None:
                    fl.started = time.monotonic()
                if on_event:
                    on_event(fl.job, ev)

        def has_slot(job: Job) -> bool:
            if len(flights) >= self.slots(False):
                return False
            if self._use_gpu(job):
                return sum(f.gpu for f in flights.values()) < self.slots(True)
            return True

        try:
            while pending or flights or batch.more:
                while pending or batch.more:
                    if not pending:
                        batch.pull()
                        continue
                    if not has_slot(taken[pending[0]]):
                        break
                    i = pending.pop(0)
                    if events is None:
                        events = self._events_actor()
                        events_broken = events is None
                    key, self._next_key = self._next_key, self._next_key + 1
                    try:
                        fl = self._submit(i, taken[i], events, key)
                    except (OSError, ValueError, RewardsmithError) as e:
                        finish(i, Outcome(taken[i], None, f"it could not be sent to Ray: {e}"))
                        continue
                    flights[fl.ref] = fl
                    by_key[key] = fl
                if not flights:
                    continue
                ready, _ = ray.wait(list(flights), num_returns=1, timeout=self.poll_s)
                if ready:  # take every job that is done by now
                    ready, _ = ray.wait(list(flights), num_returns=len(flights), timeout=0)
                drain()
                now = time.monotonic()
                for ref in list(flights):
                    fl = flights[ref]
                    if fl.index in batch.cancelling and ref not in ready:
                        _cancel(ray, ref)
                        del flights[ref]
                        by_key.pop(fl.key, None)
                        batch.cancelled(fl.index)
                        continue
                    if ref in ready:
                        try:
                            res = ray.get(ref)
                        except Exception as e:  # noqa: BLE001 - every Ray failure is an outcome
                            outcome = Outcome(fl.job, None, failure_words(e))
                        else:
                            try:
                                outcome = self._land(fl.job, res, fl.submitted_wall)
                            except (OSError, ValueError, TypeError, KeyError) as e:
                                outcome = Outcome(fl.job, None, "its results from the Ray node "
                                                  f"could not be stored: {e}"
                                                  + _version_gap(res))
                    elif now - (fl.started or (fl.submitted if events_broken else now)) > (
                            fl.wall_s + GRACE_S):
                        # the node's own limit should have ended it: the node is lost to us
                        _cancel(ray, ref)
                        outcome = Outcome(fl.job, None, (
                            f"its Ray task ran over the time limit of {fl.wall_s:.0f} s (and "
                            f"{GRACE_S:.0f} s of grace) and was cancelled"))
                    else:
                        continue
                    del flights[ref]
                    by_key.pop(fl.key, None)
                    finish(fl.index, outcome)
        except BaseException:
            for ref in flights:  # an interrupt (or a failing caller): stop what runs for us
                _cancel(ray, ref)
            raise
        return batch.results()

    def share(self, n: int) -> list[RayExecutor]:
        """``n`` executors on this one's connection for ``n`` callers at once (a benchmark's
        concurrent runs): each with its own progress actor and its part of the cluster's slots
        (of ``workers`` where given), so no caller crowds out the others."""
        total = self.workers or self.slots(False)
        return [RayExecutor(self.address, workers=max(1, total // n + (1 if i < total % n else 0)),
                            limits=self.limits, scratch=self.scratch, gpus=self.gpus,
                            poll_s=self.poll_s, prestart=False) for i in range(n)]

    def shutdown(self) -> None:
        """Disconnect; a local Ray this executor started stops with it."""
        if self._events is not None:
            try:
                self._ray.kill(self._events)
            except Exception:  # noqa: BLE001
                pass
            self._events = None
        if self.started_ray:
            self._ray.shutdown()
            self.started_ray = False

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address or 'local'!r}, workers={self.workers})"


def _cancel(ray, ref) -> None:
    try:
        ray.cancel(ref, force=True)
    except Exception:  # noqa: BLE001 - already finished, or the node is gone
        pass


def describe(connect: bool = False) -> dict[str, Any]:
    """What the Ray executor would use, without starting Ray unless ``connect``: whether Ray
    is installed, and with a connection (or a Ray this process runs already), the cluster's
    cores, GPUs and nodes."""
    version = ray_version()
    out: dict[str, Any] = {"name": "ray", "installed": version is not None, "version": version,
                           "address": os.environ.get("RAY_ADDRESS") or "local"}
    if version is None:
        out["hint"] = RAY_HINT
        return out
    if connect or _ray_running():
        return {**out, **RayExecutor(prestart=False).describe()}
    if out["address"] == "local":
        out.update(cores=os.cpu_count(), nodes=1,
                   note="a local Ray on this machine would be started")
    return out


def _ray_running() -> bool:
    import sys

    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())


__all__ = ["RayExecutor", "describe", "failure_words", "pack_dir", "ray_version", "run_on_node",
           "unpack_dir"]
