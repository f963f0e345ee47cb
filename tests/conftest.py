"""Shared fixtures: tasks, vector envs with random actions, and a quiet MuJoCo."""

from __future__ import annotations

import warnings

import mujoco
import numpy as np
import pytest


def _mujoco_warning(message: str) -> None:
    # mujoco 4 warns about `settotalmass` in gymnasium's own XMLs on every model load, on stderr
    # and into MUJOCO_LOG.TXT in the working directory. Drop that one; keep the others visible.
    if "settotalmass" not in message:
        warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=1)


mujoco.set_mju_user_warning(_mujoco_warning)


def _load_task(name):
    """A task by id or file; a Control Suite task (``dmc:`` env) is skipped where its extra,
    dm_control, is not installed."""
    from rewardsmith import tasks
    from rewardsmith.tasks import dmc

    task = tasks.load(name)
    if dmc.is_dmc_id(task.env_id):
        pytest.importorskip("dm_control", reason="the dmc extra (dm_control) is not installed")
    return task


@pytest.fixture(scope="session")
def load_task():
    return _load_task


def _random_actions(venv, rng: np.random.Generator) -> np.ndarray:
    low, high = venv.action_space.low, venv.action_space.high
    return rng.uniform(low, high, size=(venv.num_envs, *venv.action_space.shape))


def _make_venv(task, program="baseline", n_envs: int = 2, seed: int = 0, keep_episodes: bool = True,
               partial: bool = False):
    """A ``RewardVecEnv`` on ``task``: ``program`` is "baseline", None (env reward), text or a
    ``CompiledReward``."""
    from rewardsmith.reward.program import CompiledReward, RewardProgram, compile_program
    from rewardsmith.reward.vecenv import RewardVecEnv
    from rewardsmith.train.sb3 import baseline_program

    if isinstance(program, str) and program == "baseline":
        program = baseline_program(task)
    elif isinstance(program, str):
        program = RewardProgram.from_text(program)
    reward = program if isinstance(program, CompiledReward) or program is None else compile_program(program)
    fit = task.fitness
    venv = RewardVecEnv([task.make_env for _ in range(n_envs)], task.spec, reward,
                        fitness=fit.fn if fit else None, success=fit.success if fit else None,
                        keep_episodes=keep_episodes, partial=partial)
    venv.seed(seed)
    venv.action_space.seed(seed)
    return venv


@pytest.fixture(scope="session")
def make_venv():
    return _make_venv


@pytest.fixture(scope="session")
def random_actions():
    return _random_actions
