"""The Ray executor keeps the executor contract as the local pool does: real jobs on a real
local Ray land in their folders with DONE; a hung reward, a dead Ray worker and an interrupt
end as they do locally (a failed outcome with a reason, or the interrupt raised again, with
nothing left running); a follow-up job continues a slice whose files travelled with it; a
finished job is reused. Also: the executor registry, and tasks that travel by content."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
from pathlib import Path

import pytest
from fakes import ALIVE, HANGS_LATER, wait_until, worker_pids

from rewardsmith import executors, tasks
from rewardsmith.contracts import JobSpec, TrainResult
from rewardsmith.errors import RewardsmithError, UnknownName
from rewardsmith.executors.job import Job
from rewardsmith.reward.program import RewardProgram
from rewardsmith.runs.files import read_json
from rewardsmith.sandbox import jail

TASK = "pendulum-balance-v0"
HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason="Ray is not installed (pip install 'rewardsmith[ray]')")



def _job(base: Path, name: str, source: str | None = ALIVE, steps: int = 1024, **extra) -> Job:
    task = tasks.load(TASK)
    program = None if source is None else RewardProgram(source, origin=name)
    spec = JobSpec.build(task, program, steps, 2, 0, "sb3", label=name).replace(**extra)
    return Job(base / name, spec, label=name)


def _left_running(needle: str) -> list[int]:
    """Training workers (or their bwrap) whose command line names ``needle``."""
    return worker_pids(needle)


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def shared(ray_cluster):
    from rewardsmith.executors.ray_executor import RayExecutor

    return RayExecutor()  # one for the module: its workers and progress actor stay warm


@pytest.fixture
def node(tmp_path_factory) -> Path:
    """The folder the 'node' unpacks jobs into: never the run directory's."""
    return tmp_path_factory.mktemp("node")


@pytest.fixture
def executor(shared, node):
    shared.scratch, shared.limits = str(node), None
    yield lambda **kw: _set(shared, **kw)
    shared.limits = None


def _set(ex, **kw):
    for k, v in kw.items():
        setattr(ex, k, v)
    return ex


# ------------------------------------------------------------------------- with Ray
@needs_ray
def test_two_jobs_land_in_their_folders_with_progress(executor, node, tmp_path):
    a, b = _job(tmp_path, "a"), _job(tmp_path, "b", None)
    seen: list[tuple[str, str]] = []
    out = executor().run([a, b], lambda job, ev: seen.append((job.label, ev["type"])))
    assert [o.ok for o in out] == [True, True], [o.error for o in out]
    for job, o in zip((a, b), out):
        d = job.dir
        assert (d / "DONE").exists() and (d / "worker.log").exists()
        for f in ("result.json", "policy.zip", "vecnormalize.pkl", "eval_episode_0.npz",
                  "eval_episode_1.npz"):
            assert (d / "train" / f).exists(), f
        assert o.result.steps >= 1024 and len(o.result.eval_fitness) == 2
        assert o.result.policy_path == str(d.resolve() / "train" / "policy.zip")
        assert TrainResult.from_json(read_json(d / "train" / "result.json")).fitness == o.result.fitness
        assert read_json(d / "job.json") == job.spec.to_json()  # the run directory keeps the job's own spec
        where = read_json(d / "ray.json")
        assert where["ok"] and where["remote_dir"].startswith(str(node.resolve()))
        kinds = [k for label, k in seen if label == job.label]
        assert kinds[0] == "started" and "progress" in kinds and kinds[-1] == "finished"
    assert list(node.iterdir()) == []  # the node cleaned up after itself


@needs_ray
def test_shares_run_jobs_from_two_threads_each_with_its_own_events(executor, node, tmp_path):
    """A benchmark's runs at once: each share has its part of the slots and its own progress
    actor, so neither drops the other's events."""
    import threading

    shares = executor().share(2)
    assert [s.workers for s in shares] == [1, 1]  # the 2 CPUs of this cluster, split
    seen: dict[str, list[str]] = {"a": [], "b": []}
    outs: dict[str, list] = {}

    def go(ex, name):
        outs[name] = ex.run([_job(tmp_path, name)], lambda job, ev: seen[name].append(ev["type"]))

    threads = [threading.Thread(target=go, args=(ex, n)) for ex, n in zip(shares, "ab")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for name in "ab":
        assert [o.ok for o in outs[name]] == [True], [o.error for o in outs[name]]
        assert seen[name][0] == "started" and "progress" in seen[name], seen[name]
        assert seen[name][-1] == "finished"
    for ex in shares:
        ex.shutdown()  # its progress actor; the connection is the module's


@needs_ray
@pytest.mark.slow  # ~15 s of stall timer; the local executor's (test_pool) stays in the fast suite
def test_a_reward_that_hangs_is_a_failed_job_and_the_other_finishes(executor, node, tmp_path):
    hang, ok = _job(tmp_path, "hangs", HANGS_LATER, steps=2048), _job(tmp_path, "ok")
    out = executor(limits=jail.Limits(stall_s=10.0)).run([hang, ok])
    assert not out[0].ok and "took no env step for 10 s" in out[0].error, out[0].error
    assert "reward call that never returns" in out[0].error
    assert not (hang.dir / "DONE").exists() and (hang.dir / "worker.log").exists()
    assert read_json(hang.dir / "ray.json")["ok"] is False
    assert out[1].ok and (ok.dir / "DONE").exists()


@needs_ray
def test_a_follow_up_continues_a_slice_whose_files_travelled_with_it(executor, node, tmp_path):
    first = _job(tmp_path, "rung-0", steps=1024, planned_steps=2048)
    moved = tmp_path / "rung-0-moved"

    def on_event(job, ev):
        if job is first and ev["type"] == "finished" and ev["ok"]:
            nxt = _job(tmp_path, "rung-1", steps=2048, planned_steps=2048,
                       resume_from=str(first.dir / "train"))
            on_event.nxt = nxt
            return [nxt]
        if job is getattr(on_event, "nxt", None) and ev["type"] == "started":
            # the node has its own copy by now: the driver's may go away
            (first.dir / "train").rename(moved)
        return None

    out = executor().run([first], on_event)
    assert len(out) == 2 and all(o.ok for o in out), [o.error for o in out]
    assert moved.is_dir()  # the slice was away while the follow-up trained
    second = out[1]
    assert second.result.steps >= 2048 > out[0].result.steps
    # the curve goes on from the first slice's
    assert len(second.result.curve) > len(out[0].result.curve)
    assert second.result.curve[: len(out[0].result.curve)] == out[0].result.curve
    where = read_json(on_event.nxt.dir / "ray.json")
    assert where["resume_from"].startswith(str(node.resolve()))
    assert read_json(on_event.nxt.dir / "job.json")["resume_from"] == str(first.dir / "train")


@needs_ray
def test_a_finished_job_is_reused_not_run(executor, node, tmp_path):
    job = _job(tmp_path, "done")
    (job.dir / "train").mkdir(parents=True)
    result = TrainResult(task=TASK, backend="sb3", seed=0, steps=1024, fitness=12.0,
                         fitness_std=0.0, success_rate=0.0, eval_fitness=[12.0], curve=[])
    result.save(job.dir / "train")
    (job.dir / "DONE").write_text("")
    seen = []
    out = executor().run([job], lambda j, ev: seen.append(ev["type"]))
    assert out[0].reused and out[0].ok and out[0].result.fitness == 12.0
    assert seen == ["reused"]
    assert not (job.dir / "ray.json").exists()


@needs_ray
@pytest.mark.slow  # ~16 s: a job trained until the other one is done
def test_a_ray_worker_that_dies_is_a_failed_job_with_the_reason(executor, node, tmp_path):
    doomed, ok = _job(tmp_path, "doomed", steps=200_000), _job(tmp_path, "ok")
    killed, finished = [], []

    def on_event(job, ev):
        if ev["type"] == "finished":
            finished.append(job)
        # once the other job is done, only the doomed one's worker runs from the node's folder
        if job is doomed and ev["type"] == "progress" and ok in finished and not killed:
            pids = _left_running(str(node.resolve()))
            parents = {int((Path("/proc") / str(p) / "stat").read_text().rsplit(")", 1)[1].split()[1])
                       for p in pids} - set(pids)
            for ppid in parents:  # the Ray worker that runs the job
                os.kill(ppid, signal.SIGKILL)
                killed.append(ppid)

    out = executor().run([doomed, ok], on_event)
    assert killed
    assert not out[0].ok and "Ray worker running it died" in out[0].error, out[0].error
    assert out[1].ok
    assert wait_until(lambda: not _left_running(str(node.resolve())))
    assert wait_until(lambda: list(node.iterdir()) == [])


@needs_ray
def test_an_interrupt_cancels_the_ray_tasks_and_is_raised_again(executor, node, tmp_path):
    jobs = [_job(tmp_path, f"long-{i}", steps=200_000) for i in range(2)]

    def on_event(job, ev):
        if ev["type"] == "started":  # the jailed worker runs on the node
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        executor().run(jobs, on_event)
    assert wait_until(lambda: not _left_running(str(node.resolve())))
    assert wait_until(lambda: list(node.iterdir()) == [])
    assert not any((j.dir / "DONE").exists() for j in jobs)


@needs_ray
def test_describe_the_cluster(ray_cluster):
    d = executors.describe("ray")  # a Ray runs in this process: its figures are given
    assert d["installed"] and d["cores"] == 2 and d["nodes"] == 1 and d["gpus"] == 0


# ----------------------------------------------------------------------- without Ray
def test_the_ray_executor_without_ray_says_how_to_install_it(monkeypatch):
    from rewardsmith.executors.ray_executor import RayExecutor

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    with pytest.raises(RewardsmithError, match="needs Ray") as e:
        RayExecutor()
    assert e.value.hint == "pip install 'rewardsmith[ray]'"


def test_results_that_cannot_be_read_name_a_node_on_another_version():
    import rewardsmith
    from rewardsmith.executors.ray_executor import _version_gap

    assert _version_gap({"version": rewardsmith.__version__}) == ""
    assert _version_gap({"version": "0.0.1"}) == (
        f" (the node runs rewardsmith 0.0.1, this machine {rewardsmith.__version__}: install the "
        "same version on every node)")
    assert _version_gap(None) == "" and _version_gap({}) == ""


def test_the_executor_registry():
    assert executors.names() == ["local", "ray"]
    local = executors.make_executor("local", 3)
    assert isinstance(local, executors.Executor) and local.workers == 3
    with pytest.raises(UnknownName, match="Known: local, ray"):
        executors.make_executor("rya")
    d = executors.describe("local")
    assert d["installed"] and d["cores"] >= 1 and d["nodes"] == 1
    assert "installed" in executors.describe("ray")


def test_packing_keeps_only_plain_files(tmp_path):
    import io
    import tarfile

    from rewardsmith.executors.ray_executor import pack_dir, unpack_dir

    src = tmp_path / "src"
    (src / "train").mkdir(parents=True)
    (src / "train" / "result.json").write_text("{}")
    (src / "job.json").write_text("{}")
    (src / "secret-link").symlink_to("/etc/passwd")
    got = unpack_dir(pack_dir(src, skip=("job.json",)), tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in got] == ["train/result.json"]
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        for name in ("../escape.txt", "/abs.txt", "ok.txt"):
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    got = unpack_dir(evil.getvalue(), tmp_path / "in")
    assert [p.name for p in got] == ["ok.txt"] and not (tmp_path / "escape.txt").exists()


def test_a_task_travels_as_the_text_of_its_file(tmp_path):
    task = tasks.load(TASK)
    origin = tasks.portable_origin(dict(task.origin))
    assert origin["kind"] == "text" and "TASK = Task(" in origin["text"]
    again = tasks.from_origin(origin)
    assert again.id == task.id and again.fingerprint == task.fingerprint
    # a task file outside the registry (a REWARDSMITH_TASKS folder, a path) travels the same way
    own = tmp_path / "my_task.py"
    own.write_text(Path(task.source_file).read_text().replace(TASK, "my-task-v0"))
    moved = tasks.portable_origin(dict(tasks.load(str(own)).origin))
    own.unlink()  # the other machine has no such file
    assert tasks.from_origin(moved).id == "my-task-v0"
    adhoc = {"kind": "adhoc", "env_id": "InvertedPendulum-v5", "description": "x"}
    assert tasks.portable_origin(adhoc) == adhoc
