"""The same training jobs through the local executor and the Ray executor, side by side.

    python scripts/bench_executors.py [--task hopper-forward-v0] [--jobs 4] [--steps 20000]
                                      [--workers N] [--repeat 1] [--json out.json]

Both run the baseline reward's jobs with the same jailed workers (the Ray executor runs each
job through the local pool on its node: here a local Ray on this machine with N CPUs). For each
pass: wall time, and the per-job overhead, i.e. the time a job held a slot beyond its training
and evaluation (worker start, imports, env set-up and, on Ray, dispatch and moving the job's
files): (wall x slots - sum of the jobs' own wall time) / jobs. Ray's start-up (``ray.init``
and warming a worker per slot) is one-off and shown apart. Passes alternate (local, ray, local, ray...) so neither gets a warmer machine.
Target on 2 cores: the Ray pass within 10% of the local one. On a busy machine the wall times
vary more than that from pass to pass; Ray's own time per job (to the node and back, from the
times each job's ``ray.json`` records) is the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from rewardsmith import tasks
from rewardsmith.contracts import JobSpec
from rewardsmith.executors import LocalExecutor
from rewardsmith.executors.job import Job
from rewardsmith.loop.evaluate import resolve_reward


def one_pass(executor, task, prog, root: Path, n: int, steps: int, slots: int) -> dict:
    jobs = [Job(root / f"c{k}", JobSpec.build(task, prog, steps, 2, seed=k, backend="sb3"),
                label=f"c{k}") for k in range(n)]
    t0 = time.perf_counter()
    outs = executor.run(jobs)
    wall = time.perf_counter() - t0
    failed = [o.error for o in outs if not o.ok]
    if failed:
        raise SystemExit(f"{executor.name}: a job failed: {failed[0]}")
    inner = [o.result.timings.get("wall_s", 0.0) for o in outs]
    moved = sum(f.stat().st_size for j in jobs for f in j.dir.rglob("*") if f.is_file())
    extra = {}
    if executor.name == "ray":  # Ray's own part of each job, from the times in ray.json
        where = [json.loads((j.dir / "ray.json").read_text()) for j in jobs]
        extra = {"ray_to_node_s": statistics.mean(w["started"] - w["submitted"] for w in where),
                 "ray_back_s": statistics.mean(w["landed"] - w["ended"] for w in where),
                 "node_s": statistics.mean(w["ended"] - w["started"] for w in where)}
    return {**extra, "wall_s": wall, "job_wall_s": statistics.mean(inner),
            "job_train_s": statistics.mean(o.result.timings.get("train_s", 0.0) for o in outs),
            "overhead_per_job_s": (wall * slots - sum(inner)) / n,
            "fitness": [o.result.fitness for o in outs], "bytes_per_job": moved / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="hopper-forward-v0")
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--repeat", type=int, default=1, help="passes of each executor")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    import ray

    from rewardsmith.executors.ray_executor import RayExecutor

    task = tasks.load(args.task)
    prog = resolve_reward(task, "baseline").program
    t0 = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False,
             logging_level="warning")
    executors = {"local": LocalExecutor(args.workers), "ray": RayExecutor()}
    executors["ray"].ready()  # Ray's workers up and warm: part of its one-off start-up
    ray_init = time.perf_counter() - t0
    runs: dict[str, list[dict]] = {"local": [], "ray": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            for name in (("local", "ray") if r % 2 == 0 else ("ray", "local")):
                res = one_pass(executors[name], task, prog, Path(tmp) / f"{name}-{r}",
                               args.jobs, args.steps, args.workers)
                runs[name].append(res)
                print(f"{name:>6} pass {r + 1}: {res['wall_s']:6.1f} s wall, "
                      f"{res['job_wall_s']:5.1f} s per job inside the worker, "
                      f"{res['overhead_per_job_s']:5.1f} s overhead per job, "
                      f"{res['bytes_per_job'] / 1e6:.2f} MB per job"
                      + (f"; on Ray: {res['ray_to_node_s']:.2f} s to the node (queue included), "
                         f"{res['ray_back_s']:.2f} s back" if name == "ray" else ""), flush=True)
    executors["ray"].shutdown()
    ray.shutdown()

    def med(name: str, key: str) -> float:
        return statistics.median(x[key] for x in runs[name])

    lw, rw = med("local", "wall_s"), med("ray", "wall_s")
    lo, ro = med("local", "overhead_per_job_s"), med("ray", "overhead_per_job_s")
    print(f"\n{args.jobs} jobs x {args.steps:,} steps of {args.task} (baseline reward) on "
          f"{args.workers} slots, {os.cpu_count()} cores; medians of {args.repeat} pass(es)")
    print(f"  local: {lw:6.1f} s wall, {lo:5.1f} s overhead per job")
    print(f"  ray  : {rw:6.1f} s wall, {ro:5.1f} s overhead per job "
          f"(+{ray_init:.1f} s to start Ray and warm its workers, once)")
    print(f"  ray / local wall: {rw / lw:.3f} (target <= 1.10); extra overhead per job on Ray: "
          f"{ro - lo:+.2f} s")
    print(f"  Ray's own time per job (sending it to the node, the results back): "
          f"{med('ray', 'ray_to_node_s'):.2f} s + {med('ray', 'ray_back_s'):.2f} s, against "
          f"{med('ray', 'node_s'):.1f} s on the node")
    same = [a["fitness"] == b["fitness"] for a, b in zip(runs["local"], runs["ray"])]
    print(f"  same fitness per job on both: {all(same)}")
    if args.json:
        args.json.write_text(json.dumps({
            "task": args.task, "jobs": args.jobs, "steps": args.steps, "slots": args.workers,
            "cores": os.cpu_count(), "ray_init_s": ray_init, "runs": runs,
            "ratio_wall": rw / lw, "ray_version": ray.__version__}, indent=2))


if __name__ == "__main__":
    main()
