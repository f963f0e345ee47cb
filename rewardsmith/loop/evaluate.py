"""``rewardsmith evaluate``: train one policy per seed on a reward and measure the task's fitness.

The untrained-policy floor and the baseline reward's results are cached per task definition,
backend, budget and seed (as finished job folders), so a comparison never retrains them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.contracts import TrainResult
from rewardsmith.errors import RewardsmithError
from rewardsmith.executors.job import Job, JobSpec, Outcome
from rewardsmith.executors.local import run_jobs
from rewardsmith.paths import cache_dir
from rewardsmith.reward.program import RewardProgram
from rewardsmith.runs.files import atomic_write_json
from rewardsmith.tasks.task import Task
from rewardsmith.train import budget_for


@dataclass
class RewardChoice:
    label: str  # what the user asked for: "baseline", "env", or a path
    program: RewardProgram | None  # None: the env's own reward
    cacheable: bool  # results may be reused across invocations
    # the seeds it was picked on, for a design run's best/reward.py: the design's seeds, which
    # flatter it (the verdict says so and gives the other seeds apart)
    picked_on: tuple[int, ...] = ()


def picked_on(path: Path) -> tuple[int, ...]:
    """The design seeds of the run whose ``best/reward.py`` ``path`` is, or ()."""
    path = Path(path)
    manifest = path.parent.parent / "manifest.json"
    if path.name != "reward.py" or path.parent.name != "best" or not manifest.is_file():
        return ()
    try:
        cfg = json.loads(manifest.read_text()).get("config") or {}
        first, n = int(cfg.get("seed", 0)), int(cfg.get("seeds", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return ()
    return tuple(range(first, first + n))


def resolve_reward(task: Task, spec: str) -> RewardChoice:
    if spec == "baseline":
        src = task.baseline_reward
        prog = None if src.strip() == "env" else RewardProgram(src, origin=f"{task.id} baseline")
        return RewardChoice("baseline", prog, True)
    if spec == "env":
        return RewardChoice("env", None, True)
    return RewardChoice(spec, RewardProgram.from_file(spec), False, picked_on(Path(spec)))


# Raised when a backend's results change for the same inputs, so that cached floors and baselines
# from before are not mixed with new results (2: the SB3 backend's environments are seeded in a
# block per training seed; they used to overlap between seeds).
CACHE_SCHEME = 2


def eval_cache_dir() -> Path:
    """Where cached floors and baselines live (``~/.cache/rewardsmith/eval-N``)."""
    return cache_dir() / f"eval-{CACHE_SCHEME}"


def cached_job(task: Task, kind: str, spec: JobSpec) -> Job:
    """A job whose result is kept across runs (the floor, the baseline): its folder is named by
    everything that shapes the result (task definition, backend, budget, seed, settings)."""
    import hashlib
    import json

    name = f"{kind}-{spec.steps}-seed{spec.seed}-ep{spec.eval_episodes}"
    if spec.overrides:
        blob = json.dumps(dict(spec.overrides), sort_keys=True, default=str).encode()
        name += "-" + hashlib.sha256(blob).hexdigest()[:10]
    d = eval_cache_dir() / f"{task.id}-{task.fingerprint}" / spec.backend / name
    return Job(d, spec, label=f"{kind} seed {spec.seed}")


def reference_jobs(task: Task, seeds: list[int], *, steps: int, eval_episodes: int,
                   backend: str, overrides: dict | None = None) -> dict[str, list[Job]]:
    """The hand-written reward's and the untrained policy's jobs on ``seeds``, trained and
    evaluated as a reward under test is (same backend, budget and settings) and cached across
    runs: the one builder ``evaluate`` and the design loop share."""
    base = resolve_reward(task, "baseline")
    jobs = {
        "baseline": [cached_job(task, "baseline",
                                JobSpec.build(task, base.program, steps, eval_episodes, s, backend,
                                         overrides=overrides, label="baseline"))
                     for s in seeds],
        "floor": [cached_job(task, "floor",
                             JobSpec.build(task, None, 0, eval_episodes, s, backend, untrained=True,
                                      overrides=overrides, label="untrained"))
                  for s in seeds],
    }
    return jobs


def reference_record(jobs: dict[str, list[Job]], outcomes: dict[Job, Outcome]) -> dict[str, Any]:
    """What the hand-written reward and the untrained policy scored, per seed (and, for the
    untrained policy, per evaluation episode: the verdict compares against those)."""
    res: dict[str, Any] = {}
    for kind, js in jobs.items():
        done = [outcomes[j].result for j in js if j in outcomes and outcomes[j].ok]
        fits = [r.fitness for r in done]  # type: ignore[union-attr]
        entry: dict[str, Any] = {
            "fitness_mean": float(np.mean(fits)) if fits else None, "per_seed": fits,
            "seeds": {str(r.seed): r.fitness for r in done},  # type: ignore[union-attr]
        }
        succ = {str(r.seed): r.success_rate for r in done  # type: ignore[union-attr]
                if r.success_rate is not None}  # type: ignore[union-attr]
        if succ:
            entry["success_seeds"] = succ
        if kind == "floor":
            entry["episodes"] = [float(x) for r in done for x in r.eval_fitness]  # type: ignore[union-attr]
        res[kind] = entry
    return res


def summarize(results: list[TrainResult]) -> dict[str, Any]:
    fits = [r.fitness for r in results]
    succ = [r.success_rate for r in results if r.success_rate is not None]
    steps = sum(r.steps for r in results)
    train_s = sum(r.timings.get("train_s", 0.0) for r in results)
    return {
        "fitness": {"mean": float(np.mean(fits)),
                    "std": float(np.std(fits, ddof=1)) if len(fits) > 1 else 0.0,
                    "per_seed": fits},
        "success_rate": float(np.mean(succ)) if succ else None,
        "env_steps_per_s": steps / train_s if train_s > 0 else None,
    }


def evaluate(task: Task, reward: RewardChoice, *, seeds: int, steps: int, backend: str = "sb3",
             first_seed: int = 0,
             workers: int = 1, compare: str | None = None, out_dir: Path,
             eval_episodes: int | None = None, overrides: dict | None = None,
             on_event: Callable[[Job, dict], None] | None = None,
             in_process: bool = False, executor=None) -> dict[str, Any]:
    """``seeds`` policies on seeds ``first_seed`` onwards. ``executor``: where the jobs run (see
    :mod:`rewardsmith.executors`); by default the local pool with ``workers`` processes."""
    t0 = time.perf_counter()
    eval_episodes = eval_episodes or budget_for(task, backend).eval_episodes
    seed_list = list(range(first_seed, first_seed + seeds))
    jobs: list[Job] = []
    for s in seed_list:
        spec = JobSpec.build(task, reward.program, steps, eval_episodes, s, backend,
                        overrides=overrides, label=reward.label)
        if reward.cacheable:
            jobs.append(cached_job(task, reward.label, spec))
        else:
            jobs.append(Job(out_dir / f"seed-{s}", spec, label=f"seed {s}"))
    extra: dict[str, list[Job]] = {}
    if compare:
        if compare != "baseline":
            raise RewardsmithError(f"--compare {compare!r} is not supported", "use --compare baseline")
        extra = reference_jobs(task, seed_list, steps=steps, eval_episodes=eval_episodes,
                               backend=backend, overrides=overrides)
        if reward.label == "baseline":  # comparing the baseline with itself: train it once
            extra["baseline"] = jobs
    all_jobs = jobs + [j for k in ("baseline", "floor") for j in extra.get(k, []) if j not in jobs]
    if executor is not None and not in_process:
        outcomes = executor.run(all_jobs, on_event)
    else:
        outcomes = run_jobs(all_jobs, workers, on_event=on_event, in_process=in_process)
    by_job = {o.job: o for o in outcomes}

    def results(js: list[Job]) -> list[TrainResult]:
        outs: list[Outcome] = [by_job[j] for j in js]
        failed = [o for o in outs if not o.ok]
        if failed:
            raise RewardsmithError(f"training failed ({failed[0].job.label}): {failed[0].error}")
        return [o.result for o in outs]  # type: ignore[misc]

    main = results(jobs)
    report: dict[str, Any] = {
        "task": task.id, "reward": reward.label, "backend": backend, "steps": steps,
        "seeds": seed_list, **summarize(main),
        "wall_s": time.perf_counter() - t0,
        "run_dir": str(out_dir),
        "policies": [r.policy_path for r in main],
        "fitness_doc": task.fitness.doc if task.fitness else None,
    }
    report["reused"] = sum(1 for j in jobs if by_job[j].reused)
    if compare:
        from rewardsmith.critic.verdict import verdict

        base_r, floor_r = results(extra["baseline"]), results(extra["floor"])
        ref = reference_record(extra, by_job)
        success = {str(r.seed): r.success_rate for r in main if r.success_rate is not None}
        report["compare"] = {
            "baseline": summarize(base_r),
            "floor": {"fitness": summarize(floor_r)["fitness"],
                      "episodes": ref["floor"]["episodes"]},
            # intervals over seeds, the tests behind "beats the baseline", the normalized score
            "verdict": verdict({str(r.seed): r.fitness for r in main}, ref["baseline"]["seeds"],
                               ref["floor"]["episodes"], reward_success=success or None,
                               baseline_success=ref["baseline"].get("success_seeds"),
                               selected_on=[s for s in reward.picked_on if s in seed_list],
                               name=reward.label),
            "cache": str(eval_cache_dir()),
        }
    atomic_write_json(Path(out_dir) / "evaluation.json", report)
    return report
