"""Every registered training backend keeps the same contract (rewardsmith.train.TrainingBackend):
the loop, the executors, video and the critic call them without special cases."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from rewardsmith import tasks
from rewardsmith.contracts import Budget, RuntimeStats, TrainResult
from rewardsmith.errors import RewardsmithError
from rewardsmith.train import BACKENDS, TrainingBackend, load, needs

TASK = "pendulum-balance-v0"
# the JAX path compiles for minutes on a CPU: its real runs are in the slow suite
RUN_MARKS = {"brax": [pytest.mark.slow]}


def _backend(name: str):
    try:
        return load(name)
    except RewardsmithError as e:  # its extra is not installed here
        pytest.skip(str(e))


@pytest.mark.parametrize("name", BACKENDS.names())
def test_the_backend_module_keeps_the_contract(name):
    b = _backend(name)
    assert isinstance(b, TrainingBackend), [a for a in ("NAME", "RESUMABLE", "train",
                                                        "evaluate_untrained", "describe",
                                                        "load_policy") if not hasattr(b, a)]
    assert b.NAME == name
    assert b.RESUMABLE == needs(name).resumable  # what it declares to the loop is what it does
    params = set(inspect.signature(b.train).parameters)
    assert {"task", "program", "budget", "seed", "progress", "workdir", "overrides"} <= params
    if b.RESUMABLE:
        assert {"resume_from", "planned_steps"} <= params
    assert {"task", "budget", "seed", "overrides"} <= set(inspect.signature(b.evaluate_untrained).parameters)
    assert {"task", "train_dir", "overrides"} <= set(inspect.signature(b.load_policy).parameters)
    d = b.describe()
    assert d["devices"] and d["versions"]


@pytest.mark.parametrize("name", [pytest.param(n, marks=RUN_MARKS.get(n, [])) for n in BACKENDS.names()])
def test_the_backend_trains_evaluates_and_runs_its_saved_policy(name, tmp_path):
    b = _backend(name)
    task = tasks.load(TASK)
    steps = b.default_budget(task).steps // 8 if hasattr(b, "default_budget") and name != "sb3" else 2048
    floor = b.evaluate_untrained(task, Budget(0, 2), seed=0)
    assert isinstance(floor, TrainResult) and len(floor.eval_fitness) == 2
    result = b.train(task, None, Budget(steps, 2), seed=0, workdir=tmp_path / "train")
    assert isinstance(result, TrainResult) and result.backend == name and math.isfinite(result.fitness)
    assert isinstance(result.stats, RuntimeStats) and result.stats.nonfinite_steps == 0
    assert len(result.eval_episodes) == 2 and result.curve
    act = b.load_policy(task, tmp_path / "train")
    env = task.make_env()
    try:
        obs, _ = env.reset(seed=0)
        a = np.asarray(act(obs))
        assert a.shape == env.action_space.shape and env.action_space.contains(a.astype(env.action_space.dtype))
    finally:
        env.close()


def test_no_code_outside_a_backend_names_one():
    """Executors, the sandbox and the loop read a backend's declared needs (GPU share, JAX,
    memory limit, cores, resumable), never its name: a new backend changes only its own module
    and its registry line."""
    import ast
    from pathlib import Path

    pkg = Path(__file__).resolve().parents[1] / "rewardsmith"
    own = {f"train/{n}" for n in ("brax_backend.py", "brax_env.py", "sb3.py", "jax_compat.py",
                                  "__init__.py")}
    bad = []
    for path in pkg.rglob("*.py"):
        rel = path.relative_to(pkg).as_posix()
        if rel in own:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                names = [c.value for c in [node.left, *node.comparators]
                         if isinstance(c, ast.Constant) and isinstance(c.value, str)]
                if any(n in BACKENDS.names() and n != "sb3" for n in names):
                    bad.append(f"{rel}:{node.lineno}")
    assert not bad, f"compares a backend's name instead of reading its needs: {bad}"


def test_needs_are_read_without_importing_the_backend():
    import subprocess
    import sys

    code = ("import sys; from rewardsmith.train import needs; n = needs('brax'); "
            "assert n.jax and n.gpu and not n.resumable; "
            "assert not {'jax', 'torch', 'stable_baselines3'} & set(sys.modules), sys.modules.keys()")
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(RewardsmithError, match="sb3"):
        needs("nope")


def test_the_jax_path_imports_neither_torch_nor_stable_baselines3():
    import subprocess
    import sys

    code = ("import sys; import rewardsmith.train.brax_backend, rewardsmith.train.brax_env, "
            "rewardsmith.train.worker, rewardsmith.executors.local, rewardsmith.errors; "
            "bad = {'torch', 'stable_baselines3'} & set(sys.modules); assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if "No module named 'jax'" in r.stderr:
        pytest.skip("the jax extra is not installed")
    assert r.returncode == 0, r.stderr[-2000:]
