"""Tests generated from the task registry: every task resets, steps, and is well described."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from rewardsmith import tasks
from rewardsmith.contracts import Episode
from rewardsmith.errors import UnknownName
from rewardsmith.reward.program import SIGNATURE, compile_program
from rewardsmith.train.sb3 import baseline_program

TASKS = tasks.names()
STEPS = 50
REQUIRED = {"pendulum-balance-v0", "hopper-forward-v0", "cheetah-run-v0", "ant-forward-v0",
            "walker-forward-v0", "reacher-reach-v0", "cheetah-run-backward-v0", "hopper-jump-v0"}


def _rollout(task, steps=STEPS, seed=0):
    """``steps`` random transitions, resetting at episode ends: (prev rows, actions, next rows,
    env rewards, episode_ends)."""
    env = task.make_env()
    env.reset(seed=seed)
    env.action_space.seed(seed)
    model, data, spec = env.unwrapped.model, env.unwrapped.data, task.spec
    prev, acts, nxt, rews, ends = [], [], [], [], []
    row = spec.extract(model, data)
    for _ in range(steps):
        a = env.action_space.sample()
        _, r, term, trunc, _ = env.step(a)
        new = spec.extract(model, data)
        prev.append(row)
        acts.append(a)
        nxt.append(new)
        rews.append(r)
        ends.append(term or trunc)
        row = new
        if term or trunc:
            env.reset()
            row = spec.extract(model, data)
    env.close()
    return (np.stack(prev), np.stack(acts).astype(np.float64), np.stack(nxt), np.asarray(rews),
            np.asarray(ends))


@pytest.fixture(scope="module", params=TASKS)
def rollout(request, load_task):
    task = load_task(request.param)
    return task, _rollout(task)


def test_registry_has_the_required_tasks():
    assert REQUIRED <= set(TASKS)
    assert len(TASKS) >= 10
    assert tasks.broken_files() == {}


def test_every_task_resets_and_steps_with_finite_state(rollout):
    task, (prev, acts, nxt, rews, _) = rollout
    assert prev.shape == nxt.shape == (STEPS, task.spec.size)
    assert np.all(np.isfinite(prev)) and np.all(np.isfinite(nxt)) and np.all(np.isfinite(rews))
    assert acts.shape == (STEPS, task.action_dim)
    # time moves by dt across a transition that did not reset
    np.testing.assert_allclose(task.spec.view(nxt).time - task.spec.view(prev).time, task.spec.dt)


def test_every_task_has_fitness_description_budget(rollout):
    task, (prev, acts, nxt, rews, ends) = rollout
    assert task.description.strip() and task.robot.strip()
    assert task.fitness is not None and task.fitness.doc.strip()
    assert task.budget("sb3").steps > 0 and task.budget("sb3").eval_episodes > 0
    assert task.baseline_doc.strip()
    # the fitness (and success) evaluate to a finite number on a real (first) episode
    n = int(np.argmax(ends)) + 1 if ends.any() else STEPS
    ep = Episode(states=np.concatenate([prev[:1], nxt[:n]]), actions=acts[:n],
                 env_rewards=rews[:n], rewards=rews[:n], components={},
                 terminated=bool(ends[:n].any()), spec=task.spec)
    assert np.isfinite(task.fitness(ep))
    if task.fitness.success is not None:
        assert isinstance(bool(task.fitness.success(ep)), bool)
        assert task.fitness.success_doc.strip()


def test_every_baseline_compiles_and_gives_finite_batched_rewards(rollout):
    task, (prev, acts, nxt, _, _) = rollout
    program = baseline_program(task)
    if program is None:
        assert task.baseline_reward.strip() == "env"
        return
    reward = compile_program(program)
    spec = task.spec
    r, comps = reward(spec.view(prev), acts, spec.view(nxt))
    assert r.shape == (STEPS,) and np.all(np.isfinite(r))
    assert comps, "a baseline names its components"
    for k, v in comps.items():
        assert v.shape == (STEPS,) and np.all(np.isfinite(v)), k
    # batch of one, as the JAX path calls it
    r1, _ = reward(spec.view(prev[:1]), acts[:1], spec.view(nxt[:1]))
    np.testing.assert_allclose(r1, r[:1])


@pytest.mark.parametrize("task_id", TASKS)
def test_every_task_trains_through_the_reward_vecenv(task_id, make_venv, random_actions, load_task):
    task = load_task(task_id)
    venv = make_venv(task, "baseline", n_envs=2, keep_episodes=False)
    obs = venv.reset()
    rng = np.random.default_rng(0)
    for _ in range(10):
        obs, rew, done, _ = venv.step(random_actions(venv, rng))
        assert rew.shape == (2,) and np.all(np.isfinite(rew)) and np.all(np.isfinite(obs))
    venv.close()


@pytest.mark.parametrize("task_id", TASKS)
def test_llm_context_shows_description_schema_signature_not_fitness(task_id, load_task):
    task = load_task(task_id)
    ctx = task.llm_context()
    assert task.description in ctx
    # the schema, each field's line with its typical values appended
    assert task.spec.render(task.robot_context.notes) in ctx
    assert all(name in ctx for name in task.spec.fields)
    assert SIGNATURE in ctx
    assert task.fitness.doc not in ctx
    if task.fitness.success_doc:
        assert task.fitness.success_doc not in ctx


def test_unknown_task_lists_close_names():
    with pytest.raises(UnknownName) as e:
        tasks.load("hopper-fowrard-v0")
    assert "hopper-forward-v0" in str(e.value)


BROKEN_SCRIPT = """
import json
from rewardsmith import tasks
print(json.dumps({"names": tasks.names(), "broken": tasks.broken_files(),
                  "extra": tasks.load("my-pendulum-v0").description}))
"""


def test_broken_task_file_is_reported_and_others_load(tmp_path):
    (tmp_path / "syntax_error.py").write_text("TASK = (\n")
    (tmp_path / "raises.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "no_task.py").write_text("X = 1\n")
    (tmp_path / "zz_duplicate.py").write_text(textwrap.dedent("""
        from rewardsmith.tasks import Task
        TASK = Task(id="my-pendulum-v0", env_id="InvertedPendulum-v5", description="again",
                    fitness=None, baseline_reward="env")
    """))
    (tmp_path / "mine.py").write_text(textwrap.dedent("""
        from rewardsmith.tasks import Task
        TASK = Task(id="my-pendulum-v0", env_id="InvertedPendulum-v5", description="mine",
                    fitness=None, baseline_reward="env")
    """))
    env = {**os.environ, "REWARDSMITH_TASKS": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", BROKEN_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(TASKS) | {"my-pendulum-v0"} == set(got["names"])
    assert got["extra"] == "mine"
    broken = {os.path.basename(k): v for k, v in got["broken"].items()}
    assert set(broken) == {"syntax_error.py", "raises.py", "no_task.py", "zz_duplicate.py"}
    assert "SyntaxError" in broken["syntax_error.py"]
    assert "boom" in broken["raises.py"]
    assert "TASK" in broken["no_task.py"]
    assert "my-pendulum-v0" in broken["zz_duplicate.py"] and "mine.py" in broken["zz_duplicate.py"]


def test_adhoc_task_from_expression():
    task = tasks.adhoc("Walker2d-v5", "walk backwards", "-rootx_vel")
    assert task.id.startswith("adhoc-") and "walk-backwards" in task.id
    assert task.description == "walk backwards" and task.baseline_reward == "env"
    assert "-rootx_vel" in task.fitness.doc
    assert task.budget("sb3").steps > 0
    prev, acts, nxt, rews, _ = _rollout(task, steps=10)
    ep = Episode(states=np.concatenate([prev[:1], nxt]), actions=acts, env_rewards=rews,
                 rewards=rews, components={}, terminated=False, spec=task.spec)
    np.testing.assert_allclose(task.fitness(ep), -np.mean(task.spec.view(nxt).rootx_vel))
    assert "walk backwards" in task.llm_context()


def test_adhoc_unknown_field_is_a_clear_error():
    with pytest.raises(tasks.TaskError) as e:
        tasks.adhoc("Walker2d-v5", "walk backwards", "-rootx_velocity")
    msg = str(e.value)
    assert "'rootx_velocity'" in msg and "rootx_vel" in msg and "\n" not in msg.split("Fields:")[0]


def test_adhoc_bad_env_is_a_clear_error():
    with pytest.raises(tasks.TaskError, match="NoSuchEnv-v0"):
        tasks.adhoc("NoSuchEnv-v0", "anything", "rootx_vel")


FINGERPRINTED = '''
import numpy as np
from rewardsmith.tasks import Fitness, Task

GOAL = {goal}
WEIGHTS = (1.0, {w})


def height(ep):
    return ep.field("pole_pos")[:, 2] * WEIGHTS[1]


def score(ep):
    return -float(np.abs(height(ep)[-1] - GOAL))


TASK = Task(id="fp-pendulum-v0", env_id="InvertedPendulum-v5", description="hold",
            fitness=Fitness(fn=score, doc="d", success=lambda ep: score(ep) > -GOAL),
            baseline_reward="env")
'''


def test_fingerprint_follows_the_constants_and_helpers_a_fitness_reads(tmp_path):
    """Editing a goal radius, a weight or a helper of a task file changes the task's
    fingerprint, so no cached floor or baseline score of the old definition is reused; the same
    text loaded from a file or as text (another machine) keeps it."""
    from rewardsmith.tasks import load_task_file, load_task_text

    def fp(goal="0.1", w="2.0", text=FINGERPRINTED):
        return load_task_text(text.format(goal=goal, w=w)).fingerprint

    base = fp()
    assert fp() == base
    assert fp(goal="0.2") != base  # a constant the fitness and success read
    assert fp(w="3.0") != base  # a container constant read by a helper
    assert fp(text=FINGERPRINTED.replace("[:, 2] *", "[:, 1] *")) != base  # the helper's code
    path = tmp_path / "fp_task.py"
    path.write_text(FINGERPRINTED.format(goal="0.1", w="2.0"))
    assert load_task_file(path).fingerprint == base
