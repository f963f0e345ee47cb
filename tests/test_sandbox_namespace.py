"""Layer 2, the namespace: minimal builtins and an ``np`` of array math only."""

from __future__ import annotations

import types

import numpy as np
import pytest

from rewardsmith.reward.program import RewardProgram, RewardProgramError, compile_program
from rewardsmith.rules.namespace import (
    LINALG_ALLOWED,
    NP_ALLOWED,
    make_namespace,
    numpy_proxy,
    safe_builtins,
)


def test_proxy_gives_array_math():
    p = numpy_proxy(np)
    assert p.where is np.where and p.pi == np.pi and p.linalg.norm is np.linalg.norm
    x = p.clip(p.array([-2.0, 0.5, 3.0]), -1.0, 1.0)
    assert x.tolist() == [-1.0, 0.5, 1.0]
    assert numpy_proxy(np) is p  # built once


@pytest.mark.parametrize("name", [
    "random", "lib", "ctypeslib", "memmap", "fromfile", "save", "savez", "load", "loadtxt",
    "genfromtxt", "frompyfunc", "vectorize", "apply_along_axis", "piecewise", "empty",
    "seterr", "errstate", "ndarray", "core", "testing", "f2py", "distutils", "char", "rec",
    "set_printoptions", "show_config", "fft", "polynomial", "ma", "emath",
])
def test_proxy_hides_everything_else(name):
    with pytest.raises(AttributeError, match=rf"np\.{name} is not available in reward programs"):
        getattr(numpy_proxy(np), name)


def test_linalg_is_restricted():
    la = numpy_proxy(np).linalg
    assert set(dir(la)) <= LINALG_ALLOWED
    with pytest.raises(AttributeError, match="np.linalg.lapack_lite is not available"):
        _ = la.lapack_lite


def test_proxy_is_read_only_and_holds_no_module():
    p = numpy_proxy(np)
    with pytest.raises(AttributeError, match="read-only"):
        p.exp = np.sin
    with pytest.raises(AttributeError, match="read-only"):
        del p.exp
    values = object.__getattribute__(p, "_values")
    assert not any(isinstance(v, types.ModuleType) for v in values.values())
    assert set(values) <= NP_ALLOWED
    with pytest.raises(TypeError):
        values["random"] = np.random  # a read-only mapping


def test_builtins_are_minimal():
    b = safe_builtins()
    for name in ("open", "eval", "exec", "getattr", "globals", "vars", "print",
                 "compile", "input", "breakpoint", "type", "object", "chr", "format"):
        assert name not in b
    assert b["abs"] is abs and b["range"] is range
    # numpy's C code imports its helpers through the caller's builtins: numpy only
    assert b["__import__"]("numpy._core._methods") is not None
    for mod in ("os", "sys", "importlib", "socket", "builtins"):
        with pytest.raises(ImportError, match="not available in reward programs"):
            b["__import__"](mod)
    ns = make_namespace(np)
    assert set(ns) == {"__builtins__", "np", "__name__"}
    assert make_namespace(np)["__builtins__"] is not ns["__builtins__"]  # fresh per program


def test_array_methods_work_in_a_fresh_process(tmp_path):
    """ndarray.sum() imports numpy._core._methods lazily through the program's builtins."""
    import subprocess
    import sys

    code = ("import numpy as np\nfrom rewardsmith.rules.namespace import make_namespace\n"
            "ns = make_namespace(np)\n"
            "exec('def f(a):\\n    return np.stack([a, a], axis=-1).sum(axis=-1).mean()', ns)\n"
            "print(ns['f'](np.ones(3)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2.0"


def test_imports_fail_at_run_time_even_unchecked():
    prog = RewardProgram("import os\ndef compute_reward(state, action, next_state):\n"
                         "    return 0.0, {}\n")
    with pytest.raises(RewardProgramError, match="__import__ not found|ImportError"):
        compile_program(prog, checked=False)


def test_open_is_missing_at_run_time_even_unchecked():
    prog = RewardProgram("def compute_reward(state, action, next_state):\n"
                         "    return open('x'), {}\n")
    fn = compile_program(prog, checked=False).fn
    with pytest.raises(NameError, match="open"):
        fn(None, None, None)


def test_compiled_baseline_runs_on_recorded_states():
    from rewardsmith import tasks
    from rewardsmith.sandbox.dryrun import record_transitions

    task = tasks.load("hopper-forward-v0")
    tr = record_transitions(task)
    s, a, n = tr.groups["ordinary"]
    comp = compile_program(RewardProgram(task.baseline_reward))
    r, comps = comp(task.spec.view(s), a, task.spec.view(n))
    assert r.shape == (s.shape[0],) and np.isfinite(r).all()
    assert set(comps) == {"forward", "alive", "ctrl_cost"}
