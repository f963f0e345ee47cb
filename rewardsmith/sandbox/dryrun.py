"""Layer 3: the dry run, and :func:`check_program`, the one gate every candidate passes.

``check_program(program, task)`` runs the static checks here, then the dry run in a separate,
jailed process (:mod:`rewardsmith.sandbox.dryrun_worker`) on recorded transitions of the task:

* ordinary: steps of the real env under a random policy;
* zero: every state field 0 (``dt`` kept), zero action;
* extreme: every field far outside its usual range, actions at their bounds;
* terminal: the last transition of episodes (falls, time limits);
* a batch of one.

It checks the reward's shape ``(B,)``, float dtype, finiteness and magnitude; components as a
dict of ``(B,)`` float arrays with the same keys on every call; the same output twice for the
same input; inputs left unchanged; the time per call. A rejection says which stage rejected the
program and what to change, in words that go back to the LLM as they are.

The transitions are recorded once per task (and versions of the simulator) and cached in a small
``.npz`` (``$REWARDSMITH_CACHE`` or ``~/.cache/rewardsmith``), so the worker never imports gym,
mujoco or torch: a check costs a Python + numpy start in the jail.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.errors import RewardsmithError
from rewardsmith.rules.static import check_source
from rewardsmith.sandbox import jail

FORMAT_VERSION = 1
GROUPS = ("ordinary", "zero", "extreme", "terminal")
STAGES = ("static", "compile", "dry_run", "ok")
WORKER_MODULE = "rewardsmith.sandbox.dryrun_worker"


class SandboxError(RewardsmithError):
    """The sandbox itself cannot run (not the candidate's fault): stop and fix the set-up."""


@dataclass
class CheckReport:
    """What :func:`check_program` found. ``problems`` go back to the LLM verbatim."""

    accepted: bool
    stage: str  # "static" | "compile" | "dry_run" (where it was rejected) | "ok"
    problems: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    components: list[str] = field(default_factory=list)  # component names (accepted programs)
    # the program's return on each recorded episode it was screened on (see check_program's
    # ``episodes``): {"returns", "discounted", "components": {name: [...]}}
    screening: dict[str, Any] | None = None
    # on the ordinary (random-policy) transitions: {"steps": n, "zero": {name: share of steps
    # the term was exactly 0}, "pays": [the terms above 0 somewhere, any group]} (accepted
    # programs)
    zero_steps: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"accepted": self.accepted, "stage": self.stage, "problems": list(self.problems),
               "timings": {k: round(float(v), 6) for k, v in self.timings.items()}}
        if self.screening is not None:
            out["screening"] = self.screening
        if self.zero_steps is not None:
            out["zero_steps"] = self.zero_steps
        return out

    def feedback(self) -> str:
        """The rejection as text for the LLM (empty when accepted)."""
        if self.accepted:
            return ""
        where = {"static": "the static checks", "compile": "defining its functions",
                 "dry_run": "the dry run on recorded states"}.get(self.stage, self.stage)
        return f"The reward program was rejected by {where}:\n" + "\n".join(
            f"- {p}" for p in self.problems)


@dataclass(frozen=True)
class DryRunSettings:
    max_abs: float = 1e6  # |reward| and |component| bound
    max_call_s: float = 0.1  # one call on the ordinary batch (the faster of two)
    call_timeout_s: float = 2.0  # one call is interrupted past this (Python-level code)
    wall_s: float = 20.0  # the whole worker is killed past this (C-level code too)
    n: int = 64  # ordinary transitions
    limits: jail.Limits = field(default_factory=lambda: jail.Limits(
        cpu_s=30, address_space=1 * jail.GiB, file_size=4 * jail.MiB, open_files=64,
        wall_s=20.0, stall_s=20.0, network=False, gpu=False))
    # also run the program under jax.numpy, jit and vmap (the brax backend's env step)
    jax: bool = False

    @classmethod
    def for_training(cls, jax: bool = False) -> DryRunSettings:
        """The dry run for candidates that will train on a backend that runs them under JAX
        (``jax``: its :class:`~rewardsmith.contracts.BackendNeeds`) or numpy. Under JAX the
        worker also imports JAX and compiles the program: more address space and time."""
        base = cls()
        if not jax:
            return base
        wall = 90.0
        limits = dataclasses.replace(base.limits, cpu_s=180, address_space=16 * jail.GiB,
                                     open_files=256, wall_s=wall, stall_s=wall)
        return dataclasses.replace(base, jax=True, wall_s=wall, limits=limits)


# --------------------------------------------------------------------------- transitions
@dataclass(frozen=True)
class Transitions:
    """Recorded transitions of one task: ``groups[name] = (states, actions, next_states)``."""

    path: Path
    task_id: str
    layout: dict[str, Any]  # {"size": D, "dt": dt, "fields": [[name, offset, shape], ...]}
    groups: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    action_low: np.ndarray
    action_high: np.ndarray


_MEMO: dict[str, Transitions] = {}
_MEMO_LOCK = threading.Lock()


def cache_dir() -> Path:
    from rewardsmith.paths import cache_dir as root

    return root("transitions")


@functools.lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    from rewardsmith.versions import package_versions

    return {k: v or "?" for k, v in package_versions(("mujoco", "gymnasium")).items()}


@functools.lru_cache(maxsize=1)
def _layout_code() -> str:
    """The state view's code: a change to the layout must not reuse old recordings."""
    from rewardsmith.state import view

    try:
        return hashlib.sha256(Path(view.__file__).read_bytes()).hexdigest()[:16]
    except OSError:
        return "?"


_KEYS: dict[tuple[int, int, int], tuple[Any, str]] = {}


def _task_key(task, n: int, seed: int) -> str:
    hit = _KEYS.get((id(task), n, seed))
    if hit is not None and hit[0] is task:
        return hit[1]
    key = _compute_key(task, n, seed)
    _KEYS[(id(task), n, seed)] = (task, key)
    return key


def _compute_key(task, n: int, seed: int) -> str:
    src = ""
    if getattr(task, "source_file", ""):
        try:
            src = hashlib.sha256(Path(task.source_file).read_bytes()).hexdigest()
        except OSError:
            src = task.source_file
    desc = {
        "format": FORMAT_VERSION, "id": task.id, "env_id": task.env_id,
        "env_kwargs": repr(sorted(dict(task.env_kwargs).items())),
        "max_episode_steps": task.max_episode_steps,
        "extras": [(e.name, list(e.shape)) for e in task.extras], "source": src,
        "versions": _versions(), "layout_code": _layout_code(), "n": n, "seed": seed,
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:16]


def record_transitions(task, n: int = 64, *, seed: int = 0, cache: Path | None = None,
                       refresh: bool = False) -> Transitions:
    """Transitions of ``task`` for the dry run, from the cache or recorded now (about a second).

    Ordinary: ``n`` random-policy steps of the real env; zero, extreme and terminal groups as in
    the module docstring. Cached in ``cache`` (default :func:`cache_dir`) as one ``.npz``.
    """
    key = _task_key(task, n, seed)
    folder = Path(cache) if cache is not None else cache_dir()
    path = folder / f"{task.id}-{key}.npz"
    memo_key = f"{path}"
    with _MEMO_LOCK:
        if not refresh and memo_key in _MEMO and path.exists():
            return _MEMO[memo_key]
    if not refresh and path.exists():
        try:
            tr = load_transitions(path)
            with _MEMO_LOCK:
                _MEMO[memo_key] = tr
            return tr
        except (OSError, ValueError, KeyError):
            pass  # torn or old: record again
    arrays = _record(task, n, seed)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{task.id}-", suffix=".npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    tr = load_transitions(path)
    with _MEMO_LOCK:
        _MEMO[memo_key] = tr
    return tr


def load_transitions(path: Path) -> Transitions:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta_json"]))
        layout = json.loads(str(z["layout_json"]))
        groups = {g: (z[f"{g}.state"], z[f"{g}.action"], z[f"{g}.next_state"]) for g in GROUPS}
        return Transitions(Path(path), meta["task"], layout, groups, z["action_low"],
                           z["action_high"])


def spec_layout(spec) -> dict[str, Any]:
    """A light description of a :class:`StateSpec`: enough to rebuild views in the worker."""
    return {"size": int(spec.size), "dt": float(spec.dt),
            "fields": [[f.name, int(f.offset), list(f.shape)] for f in spec.fields.values()]}


def _record(task, n: int, seed: int) -> dict[str, np.ndarray]:
    spec = task.spec
    env = task.make_env()
    try:
        u = env.unwrapped
        space = env.action_space
        space.seed(seed)
        low = np.asarray(space.low, dtype=np.float64).ravel()
        high = np.asarray(space.high, dtype=np.float64).ravel()
        env.reset(seed=seed)
        prev = spec.extract(u.model, u.data).copy()
        S, A, N, ends = [], [], [], []
        max_steps, episodes = 2500, 0
        for _ in range(max_steps):
            a = np.asarray(space.sample(), dtype=np.float64)
            _, _, term, trunc, _ = env.step(a)
            nxt = spec.extract(u.model, u.data).copy()
            S.append(prev)
            A.append(a.ravel())
            N.append(nxt)
            if term or trunc:
                ends.append((len(S) - 1, bool(term)))
                episodes += 1
                env.reset(seed=seed + episodes)
                prev = spec.extract(u.model, u.data).copy()
                if episodes >= 3 and len(S) >= 4 * n:
                    break
            else:
                prev = nxt
    finally:
        env.close()
    S, A, N = np.asarray(S), np.asarray(A), np.asarray(N)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(S), size=min(n, len(S)), replace=False))
    dt_cols = [spec.fields[k].offset for k in ("dt",) if k in spec.fields]

    groups: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    groups["ordinary"] = (S[pick], A[pick], N[pick])

    zs = np.zeros((2, spec.size))
    zs[:, dt_cols] = spec.dt
    groups["zero"] = (zs.copy(), np.zeros((2, A.shape[1])), zs.copy())

    both = np.concatenate([S, N])
    lo, hi = both.min(axis=0), both.max(axis=0)
    span = np.maximum(hi - lo, 1.0)
    big = np.clip(np.maximum(np.abs(lo), np.abs(hi)) + 2.0 * span, 1.0, 1e3)
    alt = np.where(np.arange(spec.size) % 2 == 0, 1.0, -1.0)
    d = N[pick[:3]] - S[pick[:3]]
    es = np.stack([big, -big, alt * big, S[pick[0]], S[pick[-1]]])
    en = es.copy()
    en[:3] += d[: 3] if len(d) == 3 else d[0]
    en[3], en[4] = N[pick[0]], N[pick[-1]]
    low_b = np.where(np.isfinite(low), low, -1e3)
    high_b = np.where(np.isfinite(high), high, 1e3)
    alt_a = np.where(np.arange(len(low)) % 2 == 0, high_b, low_b)
    ea = np.stack([high_b, low_b, alt_a, high_b, low_b])
    es[:, dt_cols] = spec.dt
    en[:, dt_cols] = spec.dt
    groups["extreme"] = (es, ea, en)

    terminal = [i for i, t in ends if t][:4] or [i for i, _ in ends][:4] or [len(S) - 1]
    groups["terminal"] = (S[terminal], A[terminal], N[terminal])

    arrays: dict[str, np.ndarray] = {
        "meta_json": np.array(json.dumps({"task": task.id, "n": n, "seed": seed,
                                          "format": FORMAT_VERSION})),
        "layout_json": np.array(json.dumps(spec_layout(spec))),
        "action_low": low, "action_high": high,
    }
    for g, (s, a, nx) in groups.items():
        arrays[f"{g}.state"] = np.ascontiguousarray(s, dtype=np.float64)
        arrays[f"{g}.action"] = np.ascontiguousarray(a, dtype=np.float64)
        arrays[f"{g}.next_state"] = np.ascontiguousarray(nx, dtype=np.float64)
    return arrays


# ------------------------------------------------------------------------------- checking
def write_episodes(path: Path, episodes: list) -> Path:
    """Recorded episodes (:class:`~rewardsmith.contracts.Episode`, every field filled) in the
    form the dry-run worker screens a program on: their transitions end to end and each one's
    length."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, prev=np.concatenate([e.states[:-1] for e in episodes]),
             next=np.concatenate([e.states[1:] for e in episodes]),
             actions=np.concatenate([e.actions for e in episodes]),
             lengths=np.asarray([e.length for e in episodes], dtype=np.int64))
    os.replace(tmp, path)
    return path


def _source(program) -> tuple[str, str]:
    if isinstance(program, str):
        return program, "<text>"
    return program.source, getattr(program, "origin", "<text>")


def check_program(program, task, *, workdir: Path | None = None,
                  settings: DryRunSettings | None = None, jax: bool = False,
                  episodes: Path | None = None, discount: float = 0.99) -> CheckReport:
    """Every layer a candidate passes before training: static checks, then the jailed dry run.

    ``program``: a :class:`~rewardsmith.reward.program.RewardProgram` (or its source text);
    ``task``: a :class:`~rewardsmith.tasks.Task`; ``workdir``: the candidate's folder (the dry
    run works in ``workdir/dryrun``; a temporary folder when None). Never raises for anything the
    program does; raises :class:`SandboxError` only when the sandbox itself cannot run.
    ``jax``: the candidate will train under JAX (its backend's ``needs().jax``): the dry run
    adds the JAX checks (jit, vmap, agreement with numpy). ``settings`` wins when given.
    ``episodes``: recorded evaluation episodes (see :func:`write_episodes`): an accepted
    program's return on each (and ``discount``-ed) is computed in the same jailed worker, for
    screening; a program that fails on them is rejected like any other.
    """
    settings = settings or DryRunSettings.for_training(jax)
    t0 = time.perf_counter()
    source, _ = _source(program)
    problems = check_source(source, free_names=())
    t1 = time.perf_counter()
    if problems:
        return CheckReport(False, "static", problems, {"static_s": t1 - t0, "total_s": t1 - t0})
    report = dry_run(program, task, workdir=workdir, settings=settings, episodes=episodes,
                     discount=discount)
    report.timings = {"static_s": t1 - t0, **report.timings,
                      "total_s": time.perf_counter() - t0}
    return report


def dry_run(program, task, *, workdir: Path | None = None, settings: DryRunSettings | None = None,
            transitions: Transitions | None = None, episodes: Path | None = None,
            discount: float = 0.99, _unsafe_skip_static: bool = False) -> CheckReport:
    """Run the program on recorded transitions in a jailed worker (layer 3 + the jail).

    ``_unsafe_skip_static`` is for tests only: the worker then skips its own static checks, to
    show what the namespace layer and the jail contain on their own.
    """
    settings = settings or DryRunSettings()
    source, origin = _source(program)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    tr = transitions or record_transitions(task, settings.n)
    timings["transitions_s"] = time.perf_counter() - t0

    own_tmp = workdir is None
    base = Path(tempfile.mkdtemp(prefix="rewardsmith-check-")) if own_tmp else Path(workdir)
    folder = base / "dryrun" if not own_tmp else base
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in ("result.json", "ready", "worker.log", "program.py", "config.json"):
            (folder / stale).unlink(missing_ok=True)
        (folder / "program.py").write_text(source)
        cfg = {"program": "program.py", "origin": origin, "transitions": str(tr.path),
               "result": "result.json", "ready": "ready", "max_abs": settings.max_abs,
               "max_call_s": settings.max_call_s, "call_timeout_s": settings.call_timeout_s,
               "skip_static": bool(_unsafe_skip_static), "jax": bool(settings.jax)}
        if episodes is not None:
            cfg.update(episodes=str(Path(episodes).resolve()), discount=float(discount))
        (folder / "config.json").write_text(json.dumps(cfg))
        t1 = time.perf_counter()
        with open(folder / "worker.log", "wb") as log:
            try:
                readable = [tr.path] + ([Path(episodes).resolve()] if episodes is not None else [])
                proc = jail.spawn(jail.python_argv(WORKER_MODULE, "config.json"), folder,
                                  settings.limits, stdout=log, stderr=log, readable=readable)
            except OSError as e:
                raise SandboxError(f"cannot start the dry-run worker: {e}") from None
            out = jail.run_watched(proc, wall_s=settings.wall_s)
        timings["dry_run_s"] = time.perf_counter() - t1
        return _report(folder, out, settings, timings)
    finally:
        if own_tmp:
            shutil.rmtree(base, ignore_errors=True)


def _report(folder: Path, out: jail.RunOutcome, settings: DryRunSettings,
            timings: dict[str, float]) -> CheckReport:
    result = None
    rpath = folder / "result.json"
    if not out.killed and rpath.is_file() and rpath.stat().st_size < 1 * jail.MiB:
        try:
            result = json.loads(rpath.read_text())
        except (OSError, ValueError):
            result = None
    if isinstance(result, dict) and result.get("stage") in STAGES:
        problems = [str(p) for p in result.get("problems", [])][:12]
        stage = result["stage"]
        for k, v in (result.get("timings") or {}).items():
            if isinstance(v, (int, float)):
                timings[f"worker_{k}"] = float(v)
        accepted = stage == "ok" and not problems and out.returncode == 0
        if stage == "ok" and not accepted:
            stage, problems = "dry_run", problems or [f"the dry-run worker {out.reason}"]
        comps = [str(c) for c in result.get("components", [])] if accepted else []
        screening = result.get("screening") if accepted else None
        return CheckReport(accepted, stage, problems, timings, comps, _screening(screening),
                           _zero_steps(result.get("zero_steps")) if accepted else None)
    if not (folder / "ready").exists() and not out.killed:
        tail = _tail(folder / "worker.log")
        raise SandboxError(f"the dry-run worker failed before running the program "
                           f"({out.reason}): {tail}",
                           "check the installation (python -m rewardsmith.sandbox.dryrun_worker)")
    return CheckReport(False, "dry_run", [_death(out, settings, folder)], timings)


def _numbers(x: Any, n: int | None = None) -> list[float] | None:
    """``x`` as a list of finite floats (of length ``n`` where given), or None."""
    if not isinstance(x, list) or (n is not None and len(x) != n) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in x):
        return None
    return [float(v) for v in x]


def _screening(raw: Any) -> dict[str, Any] | None:
    """The worker's returns on the recorded episodes, kept only as they should be (equal-length
    lists of finite numbers): the file was written next to the candidate's code."""
    if not isinstance(raw, dict):
        return None
    rets = _numbers(raw.get("returns"))
    if rets is None:
        return None
    disc = _numbers(raw.get("discounted"), len(rets))
    comps = raw.get("components")
    if disc is None or not isinstance(comps, dict):
        return None
    kept = {str(k)[:80]: v for k, v in ((k, _numbers(v, len(rets))) for k, v in comps.items())
            if v is not None}
    return {"returns": rets, "discounted": disc, "components": kept}


def _zero_steps(raw: Any) -> dict[str, Any] | None:
    """The worker's per-term share of zero steps, kept only as it should be (a step count, and
    names with shares in [0, 1]): the file was written next to the candidate's code."""
    if not isinstance(raw, dict) or not isinstance(raw.get("steps"), int) or raw["steps"] < 1:
        return None
    zero = raw.get("zero")
    if not isinstance(zero, dict):
        return None
    kept = {str(k)[:80]: float(v) for k, v in zero.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0}
    pays = raw.get("pays")
    pays = [str(k)[:80] for k in pays if isinstance(k, str)] if isinstance(pays, list) else None
    return {"steps": raw["steps"], "zero": kept, **({"pays": pays} if pays is not None else {})}


def _tail(path: Path, n: int = 400) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - n))
            return f.read().decode(errors="replace").strip()
    except OSError:
        return ""


def _death(out: jail.RunOutcome, settings: DryRunSettings, folder: Path) -> str:
    """Why the worker died, and what the program should do instead."""
    r = out.reason
    if out.killed:
        return (f"the dry run {r}: compute_reward (or the code that defines it) ran far too "
                "long; avoid huge loops and huge integers (write 10.0 ** x, not 10 ** x) and "
                "keep each call fast and vectorised")
    rc = out.returncode if out.returncode is not None else 0
    if "SIGXCPU" in r:
        return (f"the dry run {r}: compute_reward used too much CPU time; avoid huge loops and "
                "huge integers and keep each call vectorised")
    if "SIGXFSZ" in r:
        return (f"the dry run {r}: the program wrote too much output; reward programs must "
                "not print or write anything")
    if "SIGKILL" in r:
        return (f"the dry run {r}: keep arrays small (about the batch size); do not build huge "
                "arrays or lists")
    if "SIGSEGV" in r or "SIGBUS" in r or "SIGABRT" in r:
        return (f"the dry run {r} while running the program; use plain array math on the "
                "state fields")
    log = _tail(folder / "worker.log", 300)
    if "MemoryError" in log:
        return ("the dry run ran out of memory: keep arrays small (about the batch size); do "
                "not build huge arrays or lists")
    return (f"the program ended the dry-run worker early ({r}) before the checks finished; "
            f"do not exit, raise SystemExit or end the process" if rc != 0 else
            "the program ended the dry-run worker before the checks finished; compute_reward "
            "must simply return (reward, components)")


def self_test() -> CheckReport:
    """Check a trivial program on the first task: is the sandbox working on this machine?"""
    from rewardsmith import tasks

    task = tasks.load(tasks.names()[0])
    src = ("def compute_reward(state, action, next_state):\n"
           "    r = -np.sum(np.square(action), axis=-1)\n"
           "    return r, {\"ctrl\": r}\n")
    return check_program(src, task)
