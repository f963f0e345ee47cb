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
from rewardsmith.train import BACKENDS, TrainingBackend, load

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
