"""A benchmark's plan and its runs: independent design runs per task, designer and repeat, each a
design run folder of its own (with its closing evaluation) under the benchmark's folder.

```
benchmarks/<id>/
  benchmark.json                      the plan: tasks (by content), designers, repeats, settings
  attempts.jsonl                      every attempt at a run: finished, failed (and why), interrupted
  runs/<task>/<designer>/r<k>/        one design run (see rewardsmith.runs.rundir)
  table.json, designers.csv, tasks.csv, runs.csv, report.html
```

Runs go in-process through the design loop's API, one after the other on one executor shared
by all of them (the local pool or Ray), or several at once, each in a thread with its share of
the executor (:func:`run_concurrently`, ``--parallel-runs``): training, the only part that can crash or hang the
machine, already runs in the executor's jailed workers, and a run's own failure (a designer that
cannot start, a dead server, a broken task) is an exception caught here, recorded in
``attempts.jsonl`` with its reason, and the next run starts. A run whose folder says it finished
is reused; one that stopped part way resumes as ``design --resume`` would (finished candidates
are not trained again, cached answers not asked again). Repeat k of every task and designer uses
the base seed ``seed + 1000 k``: designers are compared on the same seeds, and the hand-written
reward and the untrained policy train once per task and repeat (the evaluation cache).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rewardsmith.errors import RewardsmithError
from rewardsmith.runs.files import append_jsonl, atomic_write_json, read_json, read_jsonl

SEED_STRIDE = 1000  # repeat k's base seed is seed + SEED_STRIDE * k (a run uses < 1000 seeds)
PLAN = "benchmark.json"
ATTEMPTS = "attempts.jsonl"
# the design settings a benchmark passes on (DesignConfig's, less the designer and the seed,
# which each run sets)
FIXED = ("llm", "seed")


def slug(name: str) -> str:
    """A designer's name as a folder name (``openai:gpt-4o`` -> ``openai-gpt-4o``)."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name) or "designer"


@dataclass(frozen=True)
class RunKey:
    """One run of a benchmark: a task, a designer and a repeat."""

    task: str
    designer: str
    repeat: int

    @property
    def rel(self) -> str:
        return f"runs/{self.task}/{slug(self.designer)}/r{self.repeat}"

    def label(self) -> str:
        return f"{self.task} · {self.designer} · repeat {self.repeat + 1}"


@dataclass(frozen=True)
class Plan:
    """What a benchmark runs (``benchmark.json``): fixed when it starts, so a resumed benchmark
    runs exactly what was planned."""

    tasks: list[dict[str, Any]]  # each {"id": ..., "origin": ...} (tasks.recorded_origin)
    designers: list[str]
    repeats: int
    design: dict[str, Any]  # DesignConfig settings passed on to every run
    seed: int = 0
    created: str = ""
    id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.repeats < 1:
            raise RewardsmithError(f"--repeats must be at least 1, not {self.repeats}")
        if not self.designers:
            raise RewardsmithError("no designer given", "pass --llm offline (or --llm openai:MODEL), "
                                   "once per designer to compare")
        if len(set(self.designers)) != len(self.designers):
            raise RewardsmithError("a designer is named twice", "give each --llm once")
        if len({slug(d) for d in self.designers}) != len(self.designers):
            raise RewardsmithError("two designers have the same folder name",
                                   f"rename one of {', '.join(self.designers)}")
        bad = set(self.design) & set(FIXED)
        if bad:
            raise RewardsmithError(f"a benchmark sets {', '.join(sorted(bad))} for each run itself")
        self.config_for(self.designers[0], 0)  # the settings check themselves now

    @property
    def task_ids(self) -> list[str]:
        return [t["id"] for t in self.tasks]

    def keys(self) -> list[RunKey]:
        """Every run, repeat by repeat: after the first repeat every task and designer has one."""
        return [RunKey(t, d, k) for k in range(self.repeats) for t in self.task_ids
                for d in self.designers]

    def seed_of(self, repeat: int) -> int:
        return self.seed + SEED_STRIDE * repeat

    def config_for(self, designer: str, repeat: int):
        from rewardsmith.loop.design import DesignConfig

        return DesignConfig.from_dict({**self.design, "llm": designer,
                                       "seed": self.seed_of(repeat)})

    def task(self, task_id: str):
        from rewardsmith import tasks

        for t in self.tasks:
            if t["id"] == task_id:
                return tasks.from_origin(t["origin"])
        raise RewardsmithError(f"task {task_id} is not in this benchmark")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Plan:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def make(cls, tasks: list, designers: list[str], repeats: int, design: dict[str, Any],
             seed: int = 0) -> Plan:
        from rewardsmith import tasks as tasks_mod

        return cls(tasks=[{"id": t.id, "origin": tasks_mod.recorded_origin(t)} for t in tasks],
                   designers=list(designers), repeats=repeats, design=dict(design), seed=seed,
                   created=time.strftime("%Y-%m-%dT%H:%M:%S"))


# ================================================================================ the folder
@dataclass
class RunState:
    """Where one run stands: ``finished``, ``failed`` (with ``error``), ``unfinished`` (its folder
    exists, it did not end: resumed next time), ``pending`` (not started)."""

    key: RunKey
    status: str
    error: str | None = None
    wall_s: float = 0.0  # over every attempt
    attempts: int = 0


class Benchmark:
    """A benchmark folder: its plan, its runs' states, its attempts."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def create(cls, path: Path, plan: Plan) -> Benchmark:
        path = Path(path)
        if (path / PLAN).exists():
            raise RewardsmithError(f"{path} already holds a benchmark",
                                   f"continue it with --resume {path}, or pick another --out")
        if path.exists() and any(path.iterdir()):
            raise RewardsmithError(f"{path} is not empty", "pick a new folder with --out")
        path.mkdir(parents=True, exist_ok=True)
        from dataclasses import replace

        atomic_write_json(path / PLAN, replace(plan, id=path.name).to_json())
        return cls(path)

    @classmethod
    def open(cls, path: Path) -> Benchmark:
        path = Path(path)
        if not (path / PLAN).exists():
            raise RewardsmithError(f"{path} is not a benchmark folder (no {PLAN})",
                                   "start one with `rewardsmith benchmark --tasks ... --out FOLDER`")
        return cls(path)

    @staticmethod
    def is_benchmark(path: Path) -> bool:
        return (Path(path) / PLAN).is_file()

    @property
    def plan(self) -> Plan:
        try:
            return Plan.from_json(read_json(self.path / PLAN))
        except (OSError, ValueError, TypeError) as e:
            raise RewardsmithError(f"{self.path / PLAN} cannot be read: {e}") from None

    def run_path(self, key: RunKey) -> Path:
        return self.path / key.rel

    def record(self, key: RunKey, status: str, wall_s: float, error: str | None = None) -> None:
        append_jsonl(self.path / ATTEMPTS, {"t": time.time(), "run": key.rel, "task": key.task,
                                            "designer": key.designer, "repeat": key.repeat,
                                            "status": status, "wall_s": wall_s, "error": error})

    def states(self) -> list[RunState]:
        """Every planned run's state, in the plan's order."""
        attempts: dict[str, list[dict[str, Any]]] = {}
        for a in read_jsonl(self.path / ATTEMPTS):
            attempts.setdefault(a.get("run", ""), []).append(a)
        out = []
        for key in self.plan.keys():
            mine = attempts.get(key.rel, [])
            wall = sum(float(a.get("wall_s") or 0.0) for a in mine)
            path = self.run_path(key)
            status, error = "pending", None
            if _finished(path):
                status = "finished"
            elif mine and mine[-1].get("status") == "failed":
                status, error = "failed", mine[-1].get("error")
            elif path.exists() or mine:
                status = "unfinished"
            out.append(RunState(key, status, error, wall, len(mine)))
        return out


def time_left(plan: Plan, states: list[RunState], parallel: int = 1) -> tuple[float, int] | None:
    """``(seconds, runs)``: the runs still to go (pending or unfinished) and how long they take at
    the pace of the finished ones, each run weighed by its steps per candidate (the task's budget,
    or the plan's ``steps``), since training is what takes the time. None before a run has
    finished. A rough figure: tasks differ in speed per step (a 3D ant against a pendulum).
    With ``parallel`` runs at once, each taking about as long as one alone did, the rest takes
    that much less (at most as many at once as there are runs left)."""
    from rewardsmith.train import budget_for

    weight: dict[str, float] = {}

    def steps(task_id: str) -> float:
        if task_id not in weight:
            fixed = plan.design.get("steps")
            weight[task_id] = float(fixed or budget_for(plan.task(task_id),
                                                        plan.design.get("backend", "sb3")).steps)
        return weight[task_id]

    done = [s for s in states if s.status == "finished" and s.wall_s > 0]
    todo = [s for s in states if s.status in ("pending", "unfinished")]
    if not done:
        return None
    pace = sum(s.wall_s for s in done) / sum(steps(s.key.task) for s in done)
    at_once = max(1, min(parallel, len(todo)))
    return pace * sum(steps(s.key.task) for s in todo) / at_once, len(todo)


def _finished(path: Path) -> bool:
    try:
        return read_json(path / "manifest.json").get("status") == "finished"
    except (OSError, ValueError):
        return False


# =============================================================================== running
LlmFactory = Callable[[str, Path], Any]  # (designer, run folder) -> LLM
Observer = Callable[[RunKey, Any], None]  # (run, design-loop event or RunState)


def run_benchmark(bench: Benchmark, executor, make_llm: LlmFactory,
                  observer: Observer | None = None, overrides: dict[str, Any] | None = None,
                  parallel: int = 1, stop=None) -> list[RunState]:
    """Run every planned run that has not finished on ``executor``: a finished run is reused,
    an unfinished one resumed, a failed one tried again. A run that fails is recorded (with its
    reason) and the next one starts; Ctrl-C stops the benchmark with the runs in progress marked
    interrupted (``--resume`` continues them). ``overrides`` change where runs train
    (``executor``, ``workers``) without changing what they compute. ``parallel``: runs at once
    (see :func:`run_concurrently`). ``stop``: a :class:`threading.Event` that, once set, stops
    the benchmark as Ctrl-C does (from another thread: a user interface, a test); the runs in
    progress raise KeyboardInterrupt at their next event. Returns every run's state."""
    import threading

    from rewardsmith.runs.lock import exclusive

    with exclusive(bench.path, "benchmark",
                   resume=f"rewardsmith benchmark --resume {bench.path}"):
        return _run_all(bench, executor, make_llm, observer, overrides, parallel,
                        stop or threading.Event())


def _run_all(bench: Benchmark, executor, make_llm: LlmFactory, observer: Observer | None,
             overrides: dict[str, Any] | None, parallel: int, stop) -> list[RunState]:
    given = observer or (lambda key, event: None)

    def observe(key: RunKey, event: Any) -> None:
        if stop.is_set() and not isinstance(event, RunState):
            raise KeyboardInterrupt  # at a point the design loop has logged
        given(key, event)

    plan = bench.plan
    todo = []
    for state in bench.states():
        if state.status == "finished":
            observe(state.key, state)
        else:
            todo.append(state.key)
    if parallel > 1 and len(todo) > 1:
        run_concurrently(bench, plan, todo, executor, make_llm, observe, overrides,
                         min(parallel, len(todo)), stop)
        return bench.states()
    for key in todo:
        if stop.is_set():
            raise KeyboardInterrupt
        observe(key, run_one(bench, plan, key, executor, make_llm,
                             lambda e, k=key: observe(k, e), overrides))
    return bench.states()


STOP_GRACE_S = 10.0  # after Ctrl-C, how long runs get to stop at their next event


def run_concurrently(bench: Benchmark, plan: Plan, keys: list[RunKey], executor,
                     make_llm: LlmFactory, observe: Observer,
                     overrides: dict[str, Any] | None, parallel: int, stop) -> None:
    """``parallel`` runs at once, each in a thread of its own with its share of ``executor``
    (``executor.share(n)`` where it has one: the local pool's workers and GPUs split, a Ray
    cluster's slots split; else the one executor, which must then take calls from several
    threads). A run waits while another with its task and repeat runs: they train the
    hand-written reward on the same seeds, which the evaluation cache then gives the second.
    Runs start in the plan's order otherwise, and their results are what they would be one
    after the other: each run's seeds, designer and cache are its own.

    Ctrl-C (or a stop signal, or an interrupt inside a run) sets ``stop``, which stops every
    run in progress: ``observe`` raises KeyboardInterrupt at its next event (training reports
    progress every few seconds), the run is recorded as interrupted, and the interrupt is
    raised here once they have stopped."""
    import queue
    import threading

    share = getattr(executor, "share", None)
    slots = list(share(parallel)) if callable(share) else [executor] * parallel
    free = list(range(parallel))
    waiting = list(keys)
    running: dict[RunKey, tuple[threading.Thread, int]] = {}
    done: queue.Queue = queue.Queue()

    def work(key: RunKey, slot: int) -> None:
        try:
            result: Any = run_one(bench, plan, key, slots[slot], make_llm,
                                  lambda e: observe(key, e), overrides)
        except BaseException as e:  # noqa: BLE001 - KeyboardInterrupt: the run recorded it
            stop.set()  # the others stop at once, not when this is landed
            result = e
        done.put((key, result))

    def start_next() -> bool:
        busy = {(k.task, k.repeat) for k in running}
        key = next((k for k in waiting if (k.task, k.repeat) not in busy), None)
        if key is None or not free:
            return False
        waiting.remove(key)
        slot = free.pop(0)
        t = threading.Thread(target=work, args=(key, slot), daemon=True,
                             name=f"benchmark {key.rel}")
        running[key] = (t, slot)
        t.start()
        return True

    def land(key: RunKey, result: Any) -> None:
        t, slot = running.pop(key)
        t.join()
        free.append(slot)
        if isinstance(result, BaseException):  # an interrupt inside the run (its own is recorded)
            raise result
        observe(key, result)

    try:
        while waiting or running:
            if stop.is_set():
                raise KeyboardInterrupt
            while start_next():
                pass
            try:
                land(*done.get(timeout=0.5))
            except queue.Empty:
                continue
    except BaseException:
        stop.set()
        deadline = time.monotonic() + STOP_GRACE_S
        while running and time.monotonic() < deadline:
            try:
                key, result = done.get(timeout=0.2)
            except queue.Empty:
                continue
            running.pop(key)[0].join()
            if isinstance(result, RunState):  # it ended before it saw the stop
                observe(key, result)
        for t, _ in running.values():  # waiting on a server: it stops when the call returns
            _raise_in(t, KeyboardInterrupt)
        for t, _ in list(running.values()):
            t.join(timeout=30)
        raise


def _raise_in(thread, exc: type[BaseException]) -> None:
    """Raise ``exc`` in ``thread`` at its next Python instruction (a run blocked in a call to
    a server gets it when the call returns)."""
    import ctypes

    if thread.ident is not None and thread.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                                   ctypes.py_object(exc))


def run_one(bench: Benchmark, plan: Plan, key: RunKey, executor, make_llm: LlmFactory,
            observer: Callable[[Any], None], overrides: dict[str, Any] | None = None) -> RunState:
    """One design run of the benchmark, new or resumed; its failure is returned, not raised."""
    from contextlib import ExitStack

    from rewardsmith.loop.design import DesignConfig, DesignLoop, create_run
    from rewardsmith.runs.lock import exclusive
    from rewardsmith.runs.rundir import RunDir

    path = bench.run_path(key)
    start = time.monotonic()
    run = None
    held = ExitStack()
    try:  # another process on this run's folder: the run is left as it is
        held.enter_context(exclusive(path, "run",
                                     resume=f"rewardsmith benchmark --resume {bench.path}"))
    except RewardsmithError as e:
        bench.record(key, "failed", 0.0, str(e))
        prior = next(s for s in bench.states() if s.key == key)
        return RunState(key, "failed", str(e), prior.wall_s, prior.attempts)
    with held:
        try:
            task = plan.task(key.task)
            if (path / "manifest.json").exists():
                run = RunDir.open(path)
                config = DesignConfig.from_dict({**run.manifest["config"], **(overrides or {})})
                llm = make_llm(key.designer, path)
                run.update_manifest(status="running")
                run.event("resumed")
            else:
                config = plan.config_for(key.designer, key.repeat)
                if overrides:
                    config = DesignConfig.from_dict({**asdict(config), **overrides})
                llm = make_llm(key.designer, path)  # a designer that cannot start fails here
                run = create_run(path, task, config, llm.name)
            DesignLoop(task, run, config, llm, observer=observer, executor=executor).run_loop()
        except KeyboardInterrupt:
            wall = time.monotonic() - start
            if run is not None:
                run.update_manifest(status="interrupted")
                run.event("interrupted")
            bench.record(key, "interrupted", wall)
            raise
        except Exception as e:  # noqa: BLE001 - one run's failure must not end the others
            wall = time.monotonic() - start
            reason = str(e) if isinstance(e, RewardsmithError) else f"{type(e).__name__}: {e}"
            if run is not None:
                run.update_manifest(status="failed", error=reason)
                run.event("run_failed", error=reason)
            bench.record(key, "failed", wall, reason)
            prior = next(s for s in bench.states() if s.key == key)
            return RunState(key, "failed", reason, prior.wall_s, prior.attempts)
        wall = time.monotonic() - start
        bench.record(key, "finished", wall)
        return next(s for s in bench.states() if s.key == key)
