"""Test doubles for the design loop: an executor that trains nothing, and a scripted LLM.

``FakeExecutor`` honours the executor contract (DONE jobs are reused, one outcome per job in job
order, ``started``/``finished``/``reused`` events whose answer may add follow-up jobs) and scores
a program by the number it assigns to ``W`` (times the share of its budget a slice has had), so a
test decides every candidate's fitness in the program text itself."""

from __future__ import annotations

import hashlib
import json
import re

from rewardsmith.contracts import CurvePoint, TrainResult
from rewardsmith.executors.job import Cancel, Job, Outcome, load_outcome
from rewardsmith.runs.files import atomic_write_text

# pendulum-balance-v0 programs for the executors' tests: one that trains, and one that passes the
# static checks (the dry run would catch it; these jobs go to the executor directly) but after
# 0.4 s of simulated time loops for minutes in a single call
ALIVE = '''
def compute_reward(state, action, next_state):
    alive = next_state.hinge_angle * 0.0 + 1.0
    return alive, {"alive": alive}
'''

HANGS_LATER = '''
def compute_reward(state, action, next_state):
    late = np.max(next_state.time) > 0.4
    total = 0.0
    for i in range(10**10 if late else 1):
        total = total + 1.0
    alive = next_state.hinge_angle * 0.0 + 1.0
    return alive, {"alive": alive}
'''


def wait_until(cond, timeout: float = 15.0) -> bool:
    """Whether ``cond()`` holds within ``timeout`` seconds (the kernel ends a killed bwrap
    worker's pid namespace a moment after the bwrap process itself is reaped)."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


def worker_pids(needle: str) -> list[int]:
    """Training workers (or the bwrap around one) whose command line names ``needle`` (a job
    folder, or a folder above it)."""
    from pathlib import Path

    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"rewardsmith.train.worker" in argv and any(needle.encode() in a for a in argv):
            out.append(int(d.name))
    return out


def program(w: float, comment: str = "") -> str:
    """A valid reward program whose fake fitness is ``w``."""
    return ("def compute_reward(state, action, next_state):\n"
            + (f"    # {comment}\n" if comment else "")
            + f"    W = {w}\n"
            "    effort = -0.01 * np.sum(action ** 2, axis=-1)\n"
            "    keep = W + 0.0 * effort\n"
            "    return keep + effort, {\"keep\": keep, \"effort\": effort}\n")


def answer(w: float, comment: str = "") -> str:
    return f"Here is a reward.\n\n```python\n{program(w, comment)}```\n"


def fitness_of(source: str | None) -> float:
    if source is None:
        return 0.0
    m = re.search(r"^\s*W = ([-0-9.e]+)", source, re.MULTILINE)
    return float(m.group(1)) if m else 0.0


class FakeExecutor:
    name = "fake"

    def __init__(self, interrupt_after: int | None = None):
        self.trained: list[tuple[str | None, int]] = []  # (program source, seed) per job run
        self.jobs: list[Job] = []  # every job run, in order
        self.interrupt_after = interrupt_after  # raise KeyboardInterrupt after this many jobs
        self.cancelled: list[Job] = []  # jobs cancelled before they ran

    def run(self, jobs, on_event=None):
        queue, out = list(jobs), []

        def follow(job, event):
            for nxt in (on_event(job, event) or []) if on_event else []:
                if isinstance(nxt, Cancel):  # dropped if it waits (nothing runs beside here)
                    if nxt.job in queue:
                        queue.remove(nxt.job)
                        self.cancelled.append(nxt.job)
                        out.append(nxt.outcome)
                else:
                    queue.append(nxt)

        while queue:
            job = queue.pop(0)
            prior = load_outcome(job)
            if prior is not None:
                out.append(prior)
                follow(job, {"type": "reused", "fitness": prior.result.fitness, "outcome": prior})
                continue
            if self.interrupt_after is not None and len(self.trained) >= self.interrupt_after:
                raise KeyboardInterrupt  # what a kill in the middle of training leaves behind
            if on_event:
                on_event(job, {"type": "started"})
            outcome = self._train(job)
            out.append(outcome)
            follow(job, {"type": "finished", "ok": True, "error": None,
                         "fitness": outcome.result.fitness, "outcome": outcome})
        return out

    def score(self, spec) -> float:
        """The fitness a job reaches (a subclass may score the reference jobs too)."""
        return fitness_of(spec.program)

    def _train(self, job: Job) -> Outcome:
        spec = job.spec
        src, seed = spec.program, spec.seed
        self.trained.append((src, seed))
        self.jobs.append(job)
        steps = spec.steps
        # a slice of a halved job has learnt its share of the way
        w = self.score(spec) * steps / max(spec.planned_steps or steps, 1)
        # five windows of training: the score climbs to w and the reward with it, unless the
        # program says "hack" (the reward climbs, the score stays where it started)
        hack = "hack" in (src or "")
        curve = [CurvePoint(step=steps * (i + 1) // 5, episodes=4,
                            fitness=w * (0.2 if hack else (i + 1) / 5), success_rate=None,
                            episode_length=100.0, env_return=w, reward_return=10.0 * (i + 1),
                            components={"keep": 100.0 * w, "effort": -1.0})
                 for i in range(5)]
        # a program that says "succeeds" succeeds on every evaluation episode
        success = 1.0 if "succeeds" in (src or "") else None
        result = TrainResult(task=spec.task.get("id", "task"), backend=spec.backend,
                             seed=seed, steps=steps, fitness=w, fitness_std=0.0,
                             success_rate=success, eval_fitness=[w], curve=curve)
        job.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(job.dir / "job.json", json.dumps(spec.to_json()))
        result.save(job.dir / "train")
        atomic_write_text(job.dir / "DONE", "")
        return Outcome(job, result)


class ScriptedLLM:
    """Answers identical requests identically (as a model at temperature 0 would); a request it
    has not seen gets the next batch of ``script``."""

    name = "scripted"
    prices_known = True

    def __init__(self, script: list[list[str]]):
        self.script = list(script)
        self.seen: dict[str, list[str]] = {}
        self.requests: list[list[dict]] = []

    def complete(self, messages, n, temperature, context=None):
        from rewardsmith.llm.base import Completion, Usage, canonical_json

        self.requests.append(messages)
        key = hashlib.sha256(canonical_json(messages).encode()).hexdigest()
        if key not in self.seen:
            self.seen[key] = self.script.pop(0)
        return Completion(texts=self.seen[key][:n], usage=Usage(100, 50, 0.01), model="scripted-1")


def random_rollout(task, seed: int, steps: int):
    """One episode of seeded random actions in ``task``'s real env, at most ``steps`` steps:
    (state rows, the first after reset; actions; whether the env ended it)."""
    import numpy as np

    env = task.make_env()
    try:
        env.reset(seed=seed)
        env.action_space.seed(seed)
        u = env.unwrapped
        rows, actions, terminated = [task.spec.extract(u.model, u.data)], [], False
        for _ in range(steps):
            a = env.action_space.sample()
            _, _, terminated, truncated, _ = env.step(a)
            rows.append(task.spec.extract(u.model, u.data))
            actions.append(a)
            if terminated or truncated:
                break
    finally:
        env.close()
    return np.asarray(rows), np.asarray(actions), bool(terminated)


class EpisodeExecutor(FakeExecutor):
    """A :class:`FakeExecutor` whose jobs also record evaluation episodes of the real env: a
    seeded random-action policy for at most ``steps`` steps, each episode scored by the task's
    own fitness, while the job's score stays the program's ``W`` (the feedback then has real
    trajectories, events and episode scores to speak of)."""

    def __init__(self, task, episodes: int = 2, steps: int = 200):
        super().__init__()
        self.task, self.n, self.steps = task, episodes, steps

    def _rollout(self, seed: int):
        import numpy as np

        from rewardsmith.contracts import Episode

        rows, actions, terminated = random_rollout(self.task, seed, self.steps)
        n = len(actions)
        comps = {"keep": np.ones(n), "effort": -0.01 * np.sum(np.square(actions), axis=-1)}
        return Episode(rows, actions, np.zeros(n), comps["keep"] + comps["effort"], comps,
                       terminated, self.task.spec)

    def _train(self, job: Job) -> Outcome:
        import numpy as np

        from rewardsmith.contracts import score_episodes
        from rewardsmith.critic.digest import component_names

        outcome = super()._train(job)
        r = outcome.result
        # the program's own components over training: the first rises, the second falls, the
        # rest stay flat, each a different size
        names = component_names(job.spec.program) or ["keep"]
        trends = [lambda i: 1 + i, lambda i: 5 - i] + [lambda i: 2.0] * len(names)
        for i, point in enumerate(r.curve):
            point.components = {n: (-1) ** k * 10.0 ** (1 - k) * trends[k](i) * point.episode_length
                                / 10 for k, n in enumerate(names)}
        # each program its own episodes (the seed from its text), as trained policies differ
        base = int(hashlib.sha256((job.spec.program or "").encode()).hexdigest()[:6], 16)
        eps = [self._rollout(base + 100 * r.seed + i) for i in range(self.n)]
        fits, success = score_episodes(self.task, eps)
        r.eval_fitness, r.eval_episodes, r.fitness_std = fits, eps, float(np.std(fits))
        r.success_rate = success if r.success_rate is None else r.success_rate
        r.save(job.dir / "train")
        return Outcome(job, r)
