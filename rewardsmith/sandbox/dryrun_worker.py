"""The dry-run worker: ``python -m rewardsmith.sandbox.dryrun_worker CONFIG.json``.

Runs in the jail, in its own folder; imports numpy and the sandbox only (no gym, mujoco or
torch). Reads the program and the recorded transitions, runs every check, and writes
``result.json`` (``{"stage", "problems", "timings", "components"}``). It writes ``ready`` after
its imports and before the program runs, so the parent can tell a broken installation from a
program that ended the process.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import sys
import time
import traceback
from typing import Any

import numpy as np

from rewardsmith.rules.namespace import make_namespace
from rewardsmith.rules.static import check_source
from rewardsmith.state.view import Field, StateSpec

FILENAME = "<reward program>"
MAX_PROBLEMS = 6
MAX_COMPONENTS = 50

GROUP_WORDS = {
    "ordinary": "ordinary states (random-policy steps of the real env)",
    "zero": "all-zero states (every state field 0 except dt, zero action)",
    "extreme": "extreme states (every state field far outside its usual range, actions at "
               "their bounds)",
    "terminal": "terminal states (the last step of an episode, e.g. after a fall)",
    "single": "a batch of one state (B = 1)",
}


WHERE = "\x00WHERE\x00"  # stands for the kind of states a problem was seen on


def _merge(problems: list[tuple[str, str | None]]) -> list[str]:
    """One line per distinct problem, naming every kind of state it was seen on."""
    order: list[str] = []  # keys: the message with its counts and magnitudes masked
    text: dict[str, str] = {}
    groups: dict[str, list[str]] = {}
    for msg, g in problems:
        key = _NUMBER.sub("#", msg)
        if key not in groups:
            order.append(key)
            text[key] = msg
            groups[key] = []
        if g is not None and g not in groups[key]:
            groups[key].append(g)
    out = []
    for key in order:
        msg, gs = text[key], groups[key]
        if not gs:
            where = "the states tried"
        elif len(gs) == 1:
            where = GROUP_WORDS[gs[0]]
        else:
            where = (GROUP_WORDS[gs[0]] + " (also on "
                     + ", ".join(SHORT_WORDS[g] for g in gs[1:]) + ")")
        out.append(msg.replace(WHERE, where))
    return out


_NUMBER = re.compile(r"(?<!line )(?<![\w.])-?\d[\d.]*(e[+-]?\d+)?")

SHORT_WORDS = {"ordinary": "ordinary states", "zero": "all-zero states",
               "extreme": "extreme states", "terminal": "terminal states",
               "single": "a batch of one"}


class CallTimeout(BaseException):
    """One call ran over its time limit (raised by SIGALRM between bytecodes)."""


class Rejected(Exception):
    pass


def _on_alarm(signum, frame):
    raise CallTimeout()


def _spec(layout: dict[str, Any]) -> StateSpec:
    fields = {name: Field(name, int(off), tuple(shape), "", "")
              for name, off, shape in layout["fields"]}
    return StateSpec(fields=fields, size=int(layout["size"]), dt=float(layout["dt"]))


def _describe(value: Any) -> str:
    """Say what a value is without calling anything of the program's (no repr of big lists)."""
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of length {len(value)}"
    if isinstance(value, (str, bytes)):
        r = repr(value[:60])
        return f"a {type(value).__name__} ({r}{'...' if len(value) > 60 else ''})"
    if isinstance(value, (bool, int, float, np.generic)):
        return f"a {type(value).__name__} ({str(value)[:40]})"
    return f"a {type(value).__name__}"


def _program_line(tb, lines: list[str]) -> str:
    """`line N: <code>` of the innermost frame in the program, or ''."""
    found = ""
    for frame in traceback.extract_tb(tb):
        if frame.filename == FILENAME and frame.lineno:
            code = lines[frame.lineno - 1].strip() if 0 < frame.lineno <= len(lines) else ""
            found = f"line {frame.lineno}: `{code[:80]}`" if code else f"line {frame.lineno}"
    return found


def _error_message(e: BaseException, where: str, lines: list[str]) -> str:
    at = _program_line(e.__traceback__, lines)
    text = str(e)[:300]
    name = type(e).__name__
    if isinstance(e, ValueError) and "read-only" in text:
        return (f"compute_reward tried to change its inputs in place on {where}"
                f"{' (' + at + ')' if at else ''}: the state and the action are read-only; "
                "compute new arrays instead (x = x + 1, or np.clip(x, a, b) without out=)")
    if isinstance(e, RecursionError):
        return (f"compute_reward called itself without end on {where}"
                f"{' (' + at + ')' if at else ''}: remove the recursion")
    if isinstance(e, MemoryError):
        return (f"compute_reward ran out of memory on {where}{' (' + at + ')' if at else ''}: "
                "keep arrays small (about the batch size)")
    if isinstance(e, OSError) and e.errno == errno.EFBIG:
        return (f"compute_reward wrote too much output on {where}: reward programs must not "
                "print or write anything")
    if isinstance(e, (SystemExit, KeyboardInterrupt, GeneratorExit)):
        return (f"compute_reward tried to end the process ({name}) on {where}: it must simply "
                "return (reward, components)")
    hint = ""
    if isinstance(e, ZeroDivisionError):
        hint = "; divide arrays with np.maximum(x, 1e-8) in the denominator"
    elif isinstance(e, (IndexError,)):
        hint = "; check the shapes: fields are (B, ...) arrays, index the last axis ([:, i])"
    elif isinstance(e, NameError):
        hint = "; define every name you use"
    return (f"compute_reward raised {name} on {where}{' (' + at + ')' if at else ''}: {text}"
            f"{hint}; every branch must work for every state")


def _check_array(value: Any, what: str, B: int, where: str) -> np.ndarray:
    """A (B,) real float array, or Rejected with what to change."""
    if value is None:
        raise Rejected(f"{what} is None on {where}; every path through compute_reward must "
                       "return (reward, {name: value}) with arrays of shape (B,)")
    if isinstance(value, (bool, int, float, np.generic)) and not isinstance(value, np.ndarray):
        raise Rejected(f"{what} is a single number ({_describe(value)}) on {where}; return one "
                       "value per batch row, e.g. np.full_like(next_state.time, value) or "
                       "value + 0.0 * next_state.time")
    if isinstance(value, (list, tuple)):
        raise Rejected(f"{what} is a {type(value).__name__} on {where}; make it an array of "
                       "shape (B,) with np functions (np.stack, np.sum(..., axis=-1))")
    if isinstance(value, (str, bytes, dict)):
        raise Rejected(f"{what} is {_describe(value)} on {where}; it must be a float array "
                       "of shape (B,)")
    if not isinstance(value, np.ndarray):
        raise Rejected(f"{what} is {_describe(value)} on {where}; it must be a numpy float "
                       "array of shape (B,)")
    dt = value.dtype
    if dt.kind == "O":
        raise Rejected(f"{what} has dtype object on {where}; compute it with np math on the "
                       "state fields so it is a float array")
    if dt.kind == "c":
        raise Rejected(f"{what} is complex on {where}; rewards must be real floats")
    if dt.kind in "biu":
        raise Rejected(f"{what} has dtype {dt} on {where}; rewards must be floats: use 1.0 and "
                       "0.0 in np.where, or .astype(float)")
    if dt.kind != "f":
        raise Rejected(f"{what} has dtype {dt} on {where}; it must be a float array")
    if value.shape != (B,):
        hint = ("; take [:, 0]" if value.shape == (B, 1) else
                "; reduce over the last axis with np.sum(..., axis=-1) or np.linalg.norm(..., "
                "axis=-1)" if value.ndim >= 2 and value.shape[0] == B else
                "; compute it from the state fields so it has one value per row")
        raise Rejected(f"{what} has shape {value.shape} on {where}; it must be ({B},), one "
                       f"value per batch row{hint}")
    return value


def _check_values(value: np.ndarray, what: str, where: str, max_abs: float) -> str | None:
    finite = np.isfinite(value)
    if not finite.all():
        bad = value[~finite]
        kinds = sorted({"NaN" if np.isnan(v) else ("inf" if v > 0 else "-inf") for v in bad})
        return (f"{what} is {'/'.join(kinds)} for {int((~finite).sum())} of {value.size} rows on "
                f"{where}; keep every term finite: guard divisions with np.maximum(x, 1e-8), "
                "clip the arguments of np.exp and np.log, and avoid 0/0")
    m = float(np.max(np.abs(value))) if value.size else 0.0
    if m > max_abs:
        return (f"{what} reaches {m:.3g} on {where}, above the bound of {max_abs:g}; scale the "
                "terms down and bound them (np.clip, np.tanh, np.exp(-x) with x >= 0)")
    return None


def _run(cfg: dict[str, Any], result: dict[str, Any]) -> None:
    timings = result["timings"]
    t0 = time.perf_counter()
    with open(cfg["program"]) as f:
        source = f.read()
    lines = source.splitlines()
    with np.load(cfg["transitions"], allow_pickle=False) as z:
        layout = json.loads(str(z["layout_json"]))
        groups = {g: (z[f"{g}.state"], z[f"{g}.action"], z[f"{g}.next_state"])
                  for g in ("ordinary", "zero", "extreme", "terminal")}
    o = groups["ordinary"]
    groups["single"] = (o[0][:1], o[1][:1], o[2][:1])
    spec = _spec(layout)
    max_abs = float(cfg["max_abs"])
    timeout = float(cfg["call_timeout_s"])
    np.seterr(all="ignore")
    signal.signal(signal.SIGALRM, _on_alarm)
    timings["load_s"] = time.perf_counter() - t0

    with open(cfg["ready"], "w") as f:  # from here on, the program's code runs
        f.write("ready\n")

    if not cfg.get("skip_static"):
        problems = check_source(source, free_names=())
        if problems:
            result.update(stage="static", problems=problems)
            return

    # --- compile: define the functions (top-level code runs here)
    t1 = time.perf_counter()
    ns = make_namespace(np)
    try:
        code = compile(source, FILENAME, "exec")
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            exec(code, ns)  # noqa: S102 - checked program, minimal namespace, jailed process
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except CallTimeout:
        result.update(stage="compile", problems=[
            f"defining the program took more than {timeout:g} s; top-level code may only "
            "define functions and small constants"])
        return
    except BaseException as e:  # noqa: BLE001 - the program's own error, reported
        at = _program_line(e.__traceback__, lines)
        result.update(stage="compile", problems=[
            f"defining the program failed{' at ' + at if at else ''}: {type(e).__name__}: "
            f"{str(e)[:300]}"])
        return
    fn = ns.get("compute_reward")
    if not callable(fn):
        result.update(stage="compile", problems=[
            "the program does not define a function compute_reward(state, action, next_state)"])
        return
    timings["compile_s"] = time.perf_counter() - t1

    # --- dry run
    problems: list[tuple[str, str | None]] = []  # (message with WHERE in it, group)
    keys: list[str] | None = None
    call_times: list[float] = []

    def call(g: str) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
        nonlocal keys
        s, a, nx = groups[g]
        pristine = (s.copy(), a.copy(), nx.copy())
        s_in, a_in, n_in = s.copy(), a.copy(), nx.copy()
        for arr in (s_in, a_in, n_in):
            arr.flags.writeable = False
        where = WHERE
        B = s.shape[0]

        def problem(msg: str) -> None:
            problems.append((msg, g))

        t = time.perf_counter()
        try:
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                out = fn(spec.view(s_in), a_in, spec.view(n_in))
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except CallTimeout:
            problem(f"one call of compute_reward on {where} took more than {timeout:g} s; "
                    "use vectorised numpy on the whole batch instead of long loops")
            raise
        except BaseException as e:  # noqa: BLE001 - the program's own error, reported
            problem(_error_message(e, where, lines))
            return None
        elapsed = time.perf_counter() - t
        if g == "ordinary":
            call_times.append(elapsed)
        for before, arr in zip(pristine, (s_in, a_in, n_in)):
            if not np.array_equal(before, arr, equal_nan=True):
                problem(f"compute_reward changed its inputs on {where}; compute new "
                        "arrays instead of writing into state, next_state or action")
                return None
        try:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise Rejected(f"compute_reward must return a tuple (reward, components); on "
                               f"{where} it returned {_describe(out)}")
            reward, comps = out
            reward = _check_array(reward, "the reward", B, where)
            if not isinstance(comps, dict):
                raise Rejected(f"the components must be a dict {{name: (B,) array}}; on {where} "
                               f"they are {_describe(comps)} (return reward, {{}} if there are "
                               "none)")
            if len(comps) > MAX_COMPONENTS:
                raise Rejected(f"compute_reward returned {len(comps)} components; return at most "
                               f"{MAX_COMPONENTS}, one per meaningful term")
            checked = {}
            for k, v in comps.items():
                if not isinstance(k, str) or not k or len(k) > 64:
                    raise Rejected("component names must be non-empty strings of at most 64 "
                                   f"characters; got {_describe(k)}")
                checked[k] = _check_array(v, f"component {k!r}", B, where)
        except Rejected as e:
            problem(str(e))
            return None
        msg = _check_values(reward, "the reward", where, max_abs)
        if msg:
            problem(msg)
        for k, v in checked.items():
            msg = _check_values(v, f"component {k!r}", where, max_abs)
            if msg:
                problem(msg)
        ks = sorted(checked)
        if keys is None:
            keys = ks
        elif ks != keys:
            problem(f"the component names differ between calls ({', '.join(keys) or 'none'}"
                    f" vs {', '.join(ks) or 'none'} on {where}); return the same "
                    "components on every call, with 0.0 where a term does not apply")
        # copies: a program could hand out an array it changes on its next call
        return reward.copy(), {k: v.copy() for k, v in checked.items()}

    t2 = time.perf_counter()
    try:
        first = call("ordinary")
        others = [call(g) for g in ("zero", "extreme", "terminal", "single")]
        second = call("ordinary")
    except CallTimeout:
        first = second = None
        others = []
    timings["calls_s"] = time.perf_counter() - t2
    if first is not None and second is not None:
        same = np.array_equal(first[0], second[0], equal_nan=True) and all(
            np.array_equal(first[1][k], second[1].get(k), equal_nan=True) for k in first[1])
        if not same:
            problems.append((
                "compute_reward gave different results for the same input on two calls; it must "
                "be a pure function: no randomness and no state kept between calls (no lists "
                "or dicts at top level or as default arguments that are changed)", None))
    if call_times:
        fastest = min(call_times)
        timings["call_s"] = fastest
        if fastest > float(cfg["max_call_s"]):
            B = groups["ordinary"][0].shape[0]
            problems.append((
                f"one call of compute_reward on {B} ordinary states takes {fastest:.3f} s, above "
                f"the bound of {float(cfg['max_call_s']):g} s (training calls it every step); "
                "use vectorised numpy on the whole batch instead of Python loops over rows", None))
    merged = _merge(problems)
    if not merged and cfg.get("jax"):
        # the JAX path: the same text under jax.numpy, jitted and vmapped as in the env step
        t3 = time.perf_counter()
        from rewardsmith.reward.traceable import check_traceable

        merged = check_traceable(source, groups, spec=spec)
        timings["jax_s"] = time.perf_counter() - t3
    if not merged and cfg.get("episodes"):
        # screening: the program's return on every recorded episode of the run
        t4 = time.perf_counter()
        try:
            result["screening"] = _screen(fn, spec, cfg, timeout, max_abs, lines)
        except Rejected as e:
            merged = [str(e)]
        except CallTimeout:
            merged = [f"one call of compute_reward on a recorded episode took more than "
                      f"{timeout:g} s; use vectorised numpy on the whole batch"]
        timings["screening_s"] = time.perf_counter() - t4
    result["problems"] = merged[:MAX_PROBLEMS]
    result["stage"] = "dry_run" if merged else "ok"
    result["components"] = keys or []
    if not merged and first is not None:
        # each term's share of the random-policy steps it was exactly 0 on: a term that pays
        # nothing there gives the learner nothing to follow until the robot gets somewhere
        # and, over every group, whether it ever paid more than 0: one that only ever takes
        # (a fall penalty) is meant to be 0 until then
        n = int(first[0].shape[0])
        result["zero_steps"] = {"steps": n, "zero": {
            k: float(np.mean(np.asarray(v) == 0.0)) for k, v in first[1].items()},
            "pays": sorted(k for k in first[1] if any(
                np.any(np.asarray(out[1][k]) > 0) for out in (first, *others) if k in out[1]))}


def _screen(fn, spec: StateSpec, cfg: dict[str, Any], timeout: float, max_abs: float,
            lines: list[str]) -> dict[str, Any]:
    """The program's return, discounted return and component sums on each recorded episode
    (one call per episode, its steps as the batch)."""
    with np.load(cfg["episodes"], allow_pickle=False) as z:
        prev, nxt, act, lengths = z["prev"], z["next"], z["actions"], z["lengths"]
    gamma = float(cfg.get("discount", 0.99))
    rets: list[float] = []
    disc: list[float] = []
    comps: dict[str, list[float]] = {}
    start = 0
    for T in (int(t) for t in lengths):
        s, a, n = prev[start:start + T].copy(), act[start:start + T].copy(), nxt[start:start + T].copy()
        start += T
        for arr in (s, a, n):
            arr.flags.writeable = False
        where = f"a recorded evaluation episode ({T} steps)"
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            out = fn(spec.view(s), a, spec.view(n))
        except CallTimeout:
            raise
        except BaseException as e:  # noqa: BLE001 - the program's own error, reported
            raise Rejected(_error_message(e, where, lines)) from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
            raise Rejected(f"compute_reward must return (reward, components); on {where} it "
                           f"returned {_describe(out)}")
        reward = _check_array(out[0], "the reward", T, where)
        msg = _check_values(reward, "the reward", where, max_abs)
        if msg:
            raise Rejected(msg)
        rets.append(float(reward.sum()))
        disc.append(float((reward * gamma ** np.arange(T)).sum()))
        for k, v in out[1].items():
            comps.setdefault(str(k), []).append(float(_check_array(v, f"component {k!r}", T, where).sum()))
    return {"returns": rets, "discounted": disc, "components": comps}


def main(argv: list[str]) -> int:
    with open(argv[0]) as f:
        cfg = json.load(f)
    result: dict[str, Any] = {"stage": "dry_run", "problems": [], "timings": {},
                              "components": []}
    try:
        _run(cfg, result)
    except CallTimeout:
        result.update(stage="dry_run", problems=result.get("problems") or [
            "compute_reward ran over its time limit"])
    tmp = cfg["result"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, cfg["result"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
