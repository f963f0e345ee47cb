"""Prompts stay bounded: the reflection request for Ant (the largest state view), with four
candidates' lines and two trajectory summaries, is under 6.5k tokens as the loop sends it (the
compact state table, with typical values of the fields the rewards read), and under 8.5k even with
the full table of the first request."""

from __future__ import annotations

import numpy as np
from fakes import random_rollout

from rewardsmith import tasks
from rewardsmith.contracts import CurvePoint, Episode, TrainResult
from rewardsmith.critic.reflect import iteration_account, reflect
from rewardsmith.llm import DesignContext, prompts
from rewardsmith.llm.extract import extract_code
from rewardsmith.llm.offline import OfflineDesigner
from rewardsmith.loop.design import Candidate, estimate_tokens
from rewardsmith.reward.program import fields_read


def _episode(task, seed: int, steps: int = 300) -> Episode:
    rows, actions, terminated = random_rollout(task, seed, steps)
    n = len(actions)
    comps = {k: np.random.default_rng(seed).normal(size=n) for k in ("forward", "alive", "effort", "posture")}
    return Episode(rows, actions, np.zeros(n), np.ones(n), comps, terminated, task.spec)


def test_the_ant_reflection_request_stays_bounded():
    task = tasks.load("ant-forward-v0")
    ctx = DesignContext.from_task(task)
    sources = [extract_code(t) for t in OfflineDesigner().complete(
        prompts.initial_messages(task), 4, 1.0, context=ctx).texts]
    episodes = [_episode(task, s) for s in range(5)]
    fits = [float(task.fitness(e)) for e in episodes]
    curve = [CurvePoint(step=15_000 * (i + 1), episodes=8, fitness=0.1 * i, success_rate=0.0,
                        episode_length=100.0 + 50 * i, env_return=10.0 * i, reward_return=20.0 * i,
                        components={"forward": 1.0 * i, "alive": 50.0 + i, "effort": -2.0,
                                    "posture": -0.5},
                        ended_early=0.9 - 0.05 * i, ended_by={"torso_pos[:, 2]": 0.9 - 0.05 * i})
             for i in range(10)]
    result = TrainResult(task=task.id, backend="sb3", seed=0, steps=150_000,
                         fitness=float(np.mean(fits)), fitness_std=float(np.std(fits)),
                         success_rate=0.0, eval_fitness=fits, curve=curve)
    cands = [Candidate(f"1-{k}", 1, k, "ok", source=src, fitness=fits[0], fitness_seeds={"0": fits[0]},
                       train=result.to_json()) for k, src in enumerate(sources)]
    best = cands[0]
    text = reflect(task, result, best.source, episodes)
    account = iteration_account(task, 1, cands, best, True, episodes={c.id: episodes for c in cands})
    feedback = {"role": "user", "content": prompts.reflection_message(best.id, best.source, text, account)}
    read = set().union(*(fields_read(c.source, task.spec.fields) or set() for c in cands))
    sent = estimate_tokens(prompts.initial_messages(task, compact=True, typical_for=read) + [feedback])
    full = estimate_tokens(prompts.initial_messages(task) + [feedback])
    assert "Trajectory of the best evaluation episode" in text and "- 1-3" in account
    assert "45% the torso's height (torso_pos[:, 2]) outside (0.2, 1)" in text
    print(f"Ant reflection request: ~{sent} tokens as sent, ~{full} with the full state table")
    assert 3000 < sent < 6500, sent
    assert sent < full < 8500, full
