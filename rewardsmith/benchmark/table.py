"""The benchmark's table, read from its folder: one row per run, per task and designer (the
spread over repeats), and per designer (over tasks and repeats). Every number comes from the
runs' closing verdicts (:meth:`RunDir.verdict`) and every statistic from
:mod:`rewardsmith.critic.verdict`.

What the columns mean:

- **beats the hand-written reward, beyond noise** (a task): the paired test of the verdict
  (exact sign-flip, one-sided, 95%) on every closing seed of every repeat of the task pooled
  (the best of repeat k against the hand-written reward on repeat k's seeds). **by mean**: the
  mean of those paired differences is above zero. A designer's **win rate** is the fraction of
  its tasks (with at least one run that ended with a verdict) where that holds; **runs beyond
  noise** counts runs whose own verdict says better. **held out**: the same test without the
  seeds the bests were picked on, for runs whose closing evaluation reused them (before it
  trained fresh seeds): those seeds flatter the best.
- **normalized score** ``(F - F_untrained) / |F_hand-written - F_untrained|``, per run as the
  verdict defines it (only where the hand-written reward beats the untrained policy beyond
  noise; other runs are counted as undefined). Per task: mean, spread and interval over
  repeats; per designer: mean and IQM over every run of every task, with stratified bootstrap
  intervals (repeats resampled within each task, rliable's practice).
- **success**: the share of evaluation episodes the best (and the hand-written reward) succeed
  on, over the closing seeds, where the task defines success.
- tokens, cost (USD) and wall time (seconds, over every attempt) per run.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.benchmark.runner import Benchmark, RunState
from rewardsmith.critic import verdict as V
from rewardsmith.errors import RewardsmithError
from rewardsmith.runs.files import atomic_write_json, atomic_write_text
from rewardsmith.runs.rundir import RunDir

TABLE = "table.json"
MARKDOWN = "table.md"


# =================================================================================== runs
def run_row(bench: Benchmark, state: RunState) -> dict[str, Any]:
    """What one run says: its status, its verdict's numbers, tokens, cost and wall time."""
    key = state.key
    plan = bench.plan
    row: dict[str, Any] = {"task": key.task, "designer": key.designer, "repeat": key.repeat,
                           "seed": plan.seed_of(key.repeat), "run": key.rel,
                           "status": state.status, "error": state.error,
                           "attempts": state.attempts, "wall_s": state.wall_s or None,
                           "verdict": None}
    path = bench.run_path(key)
    if not (path / "manifest.json").exists():
        return row
    run = RunDir(path)
    try:
        m = run.manifest
    except (OSError, ValueError):
        return row
    s = m.get("summary") or {}
    row["tokens"] = sum((s.get("tokens") or {}).values()) if s else None
    row["cost_usd"] = s.get("cost_usd")
    row["best"] = (s.get("best") or {}).get("id")
    if not row["wall_s"]:  # a run made outside the benchmark: its own events' span
        ts = [e["t"] for e in run.events() if isinstance(e.get("t"), int | float)]
        row["wall_s"] = (max(ts) - min(ts)) if len(ts) > 1 else None
    if state.status != "finished":
        return row
    v = run.verdict()
    if not v:
        row["note"] = ("no reward trained successfully" if not row["best"]
                       else "no verdict (the run had no closing evaluation nor reference results)")
        return row
    vs, norm, succ = v["versus_baseline"], v["normalized"], v.get("success") or {}
    row.update(
        score=v["reward"]["mean"], baseline=v["baseline"]["mean"], floor=v["floor"]["mean"],
        difference=vs["difference"], p_better=vs["p_better"], p_worse=vs.get("p_worse"),
        direction=vs["direction"],
        beats_beyond_noise=vs["direction"] == "better",
        beats_by_mean=vs["difference"] is not None and vs["difference"] > 0,
        normalized=norm["value"] if norm["defined"] else None,
        normalized_why=None if norm["defined"] else norm.get("why"),
        success=succ.get("reward"), baseline_success=succ.get("baseline"),
        verdict=v["line"],
        # the paired scores, for the pooled test of a task
        seeds=v["seeds"], reward_values=v["reward"]["values"],
        baseline_values=v["baseline"]["values"],
        # the seeds its best was picked on, where the closing evaluation reused them (runs from
        # before fresh closing seeds): they flatter it, so the pooled test is also made without
        selected_on=v.get("selected_on") or [],
    )
    return row


# ============================================================================= aggregates
def _mean(xs: list[Any]) -> float | None:
    xs = [float(x) for x in xs if x is not None]
    return float(np.mean(xs)) if xs else None


def _sum(xs: list[Any]) -> float | None:
    xs = [float(x) for x in xs if x is not None]
    return float(np.sum(xs)) if xs else None


def _describe(xs: list[Any]) -> dict[str, Any] | None:
    xs = [x for x in xs if x is not None]
    return V.describe(xs) if xs else None


def _usage(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"tokens": _sum([r.get("tokens") for r in rows]),
            "tokens_per_run": _mean([r.get("tokens") for r in rows]),
            "cost_usd": _sum([r.get("cost_usd") for r in rows]),
            "cost_per_run_usd": _mean([r.get("cost_usd") for r in rows]),
            "wall_s": _sum([r.get("wall_s") for r in rows]),  # time spent, the unfinished too
            # a run's time: finished ones only (one in progress has spent part of its own)
            "wall_per_run_s": _mean([r.get("wall_s") for r in rows if r["status"] == "finished"])}


def _counts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    judged = [r for r in rows if r.get("verdict")]
    return {"runs": len(rows),
            "finished": sum(r["status"] == "finished" for r in rows),
            "failed": sum(r["status"] == "failed" for r in rows),
            "unfinished": sum(r["status"] in ("unfinished", "pending") for r in rows),
            "judged": len(judged),
            "runs_beyond_noise": sum(bool(r.get("beats_beyond_noise")) for r in judged),
            "runs_by_mean": sum(bool(r.get("beats_by_mean")) for r in judged),
            "normalized_undefined": sum(r.get("normalized") is None for r in judged),
            "errors": sorted({r["error"] for r in rows if r.get("error")})}


def task_row(task: str, designer: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One task and designer over its repeats: the pooled paired test, the normalized score's
    spread and interval, success, usage."""
    judged = [r for r in rows if r.get("verdict")]
    reward: dict[str, float] = {}
    base: dict[str, float] = {}
    picked: set[str] = set()
    for r in judged:  # repeats have different seeds, so the pooled pairs never collide
        for s, x, y in zip(r["seeds"], r["reward_values"], r["baseline_values"]):
            reward[f"{s}"], base[f"{s}"] = x, y
        picked |= {f"{s}" for s in r.get("selected_on") or []}
    pooled = V.paired(reward, base) if reward else None
    fresh = [s for s in reward if s not in picked]
    held_out = (V.paired({s: reward[s] for s in fresh}, {s: base[s] for s in fresh})
                if picked and fresh else None)
    out: dict[str, Any] = {
        "task": task, "designer": designer, **_counts(rows),
        "beats_beyond_noise": bool(pooled and pooled["direction"] == "better") if judged else None,
        "beats_by_mean": (bool(pooled["difference"] is not None and pooled["difference"] > 0)
                          if pooled and pooled["n"] else None) if judged else None,
        "pooled": None if pooled is None else
        {k: pooled[k] for k in ("n", "wins", "losses", "difference", "low", "high", "p_better",
                                "p_worse", "direction", "settles")},
        # the same test without the seeds the bests were picked on (None: none was among them)
        "held_out": None if held_out is None else
        {k: held_out[k] for k in ("n", "wins", "losses", "difference", "low", "high", "p_better",
                                  "p_worse", "direction", "settles")},
        "beats_held_out": None if held_out is None else held_out["direction"] == "better",
        "score": _describe([r.get("score") for r in judged]),
        "baseline": _describe([r.get("baseline") for r in judged]),
        "normalized": _describe([r.get("normalized") for r in judged]),
        "normalized_why": next((r["normalized_why"] for r in judged if r.get("normalized_why")), None),
        "success": _mean([r.get("success") for r in judged]),
        "baseline_success": _mean([r.get("baseline_success") for r in judged]),
        **_usage(rows),
    }
    return out


def _stratified(values_by_task: list[list[float]]) -> dict[str, Any]:
    """Mean and IQM over every run of every task, each with a bootstrap interval that resamples
    the repeats within each task; the IQM from :data:`~rewardsmith.critic.verdict.IQM_FROM_SEEDS`
    runs, intervals from :data:`~rewardsmith.critic.verdict.MIN_INTERVAL_SEEDS`. No interval while
    a task has a single run (``why`` says so): resampled, it would always give back that run, so
    with one repeat of every task the interval would shrink to the mean itself, claiming a
    certainty no run measured (a benchmark part way through its first repeat)."""
    from scipy import stats

    strata = [np.asarray(v, dtype=float) for v in values_by_task if v]
    flat = np.concatenate(strata) if strata else np.zeros(0)
    out: dict[str, Any] = {"n": int(flat.size), "tasks": len(strata), "mean": None, "low": None,
                           "high": None, "iqm": None, "iqm_low": None, "iqm_high": None,
                           "level": V.LEVEL, "why": None}
    if not flat.size:
        return out
    out["mean"] = float(flat.mean())
    if flat.size >= V.IQM_FROM_SEEDS:
        out["iqm"] = V.iqm(flat)
    single = sum(len(v) == 1 for v in strata)
    if single:
        out["why"] = (f"no interval: {single} of {len(strata)} task(s) have one run, and the "
                      f"interval resamples the runs of each task (it needs 2 or more of every task)")
        return out
    if flat.size >= V.MIN_INTERVAL_SEEDS:
        ci = V.bootstrap(strata, lambda *d: np.concatenate(d, axis=1).mean(axis=1))
        if ci:
            out["low"], out["high"] = ci
    if flat.size >= V.IQM_FROM_SEEDS:
        ci = V.bootstrap(strata, lambda *d: stats.trim_mean(np.concatenate(d, axis=1), 0.25, axis=1))
        if ci:
            out["iqm_low"], out["iqm_high"] = ci
    return out


def designer_row(designer: str, tasks: list[dict[str, Any]], rows: list[dict[str, Any]]
                 ) -> dict[str, Any]:
    """One designer over every task and repeat."""
    judged_tasks = [t for t in tasks if t["judged"]]
    n = len(judged_tasks)
    by_task = [[r["normalized"] for r in rows if r["task"] == t["task"] and r.get("verdict")
                and r.get("normalized") is not None] for t in tasks]
    return {
        "designer": designer, **_counts(rows), "tasks": len(tasks), "tasks_judged": n,
        "win_rate_beyond_noise": (sum(t["beats_beyond_noise"] for t in judged_tasks) / n) if n else None,
        "win_rate_by_mean": (sum(bool(t["beats_by_mean"]) for t in judged_tasks) / n) if n else None,
        "tasks_beyond_noise": [t["task"] for t in judged_tasks if t["beats_beyond_noise"]],
        # without the seeds the bests were picked on, where some runs' verdicts held them
        "win_rate_held_out": (sum(bool(t.get("beats_held_out")) for t in judged_tasks) / n)
        if n and any(t.get("beats_held_out") is not None for t in judged_tasks) else None,
        "tasks_held_out": [t["task"] for t in judged_tasks if t.get("beats_held_out")],
        "normalized": _stratified(by_task),
        "success": _mean([r.get("success") for r in rows if r.get("verdict")]),
        "baseline_success": _mean([r.get("baseline_success") for r in rows if r.get("verdict")]),
        **_usage(rows),
    }


def build_table(bench: Benchmark) -> dict[str, Any]:
    plan = bench.plan
    runs = [run_row(bench, s) for s in bench.states()]
    return aggregate({"benchmark": str(bench.path), "id": plan.id or bench.path.name,
                      "created": plan.created, "tasks": plan.task_ids,
                      "designers": plan.designers, "repeats": plan.repeats,
                      "design": plan.design, "seed": plan.seed}, runs)


def aggregate(head: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The table of ``runs`` (rows as :func:`run_row` makes them): per task and designer, per
    designer; ``head`` says what benchmark they are (its tasks, designers, settings)."""
    tasks = [task_row(t, d, [r for r in runs if r["task"] == t and r["designer"] == d])
             for t in head["tasks"] for d in head["designers"]]
    designers = [designer_row(d, [t for t in tasks if t["designer"] == d],
                              [r for r in runs if r["designer"] == d]) for d in head["designers"]]
    return {**head, "complete": all(r["status"] in ("finished", "failed") for r in runs),
            "by_designer": designers, "by_task": tasks, "runs": runs}


# ================================================================================ merging
MERGED = "merged.json"  # a merged table's folder: where its runs came from
# settings that change where or how fast runs go, not what they measure
MERGE_FREE = frozenset({"workers", "executor"})


def has_table(path: Path) -> bool:
    """Whether ``path`` is a benchmark's folder, a merge of benchmarks, or a folder holding a
    benchmark's copied ``table.json``."""
    return Benchmark.is_benchmark(path) or any((Path(path) / n).is_file() for n in (MERGED, TABLE))


def read_table(path: Path) -> dict[str, Any]:
    """The table of the benchmark in ``path``: rebuilt from its runs where they are there, else
    the ``table.json`` it holds (a benchmark's results copied without its run folders, or a
    merge)."""
    path = Path(path)
    if Benchmark.is_benchmark(path) and (path / "runs").is_dir():
        return build_table(Benchmark.open(path))
    if (path / TABLE).is_file():
        from rewardsmith.runs.files import read_json

        try:
            table = read_json(path / TABLE)
            if isinstance(table, dict) and isinstance(table.get("runs"), list):
                return {**table, "benchmark": str(path)}  # where it is now
        except (OSError, ValueError):
            pass
        raise RewardsmithError(f"{path / TABLE} cannot be read as a benchmark's table",
                               "copy it again from the benchmark folder, or give that folder")
    raise RewardsmithError(f"{path} is not a benchmark folder (no {TABLE}, no runs)",
                           "give the folder `rewardsmith benchmark --out` wrote")


def merge_tables(tables: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    """One table from several benchmarks of the same design settings (repeats run on other
    machines or at other times, e.g. ``--seed 1000 --repeats 1`` for a second repeat): their
    runs pooled, each task and designer's repeats numbered by base seed. Two runs of one task,
    designer and base seed (the same run twice) are refused, as are different settings."""
    if len(tables) < 2:
        raise RewardsmithError("merging needs two or more benchmarks",
                               "rewardsmith benchmark --merge A B --out MERGED")
    design = tables[0]["design"]
    for t in tables[1:]:
        differ = sorted(k for k in set(design) | set(t["design"])
                        if design.get(k) != t["design"].get(k) and k not in MERGE_FREE)
        if differ:
            what = ", ".join(f"{k}: {t['design'].get(k)!r} against {design.get(k)!r}"
                             for k in differ)
            raise RewardsmithError(
                f"{t['benchmark']} and {tables[0]['benchmark']} were run with different settings "
                f"({what})",
                "merge only benchmarks of the same design settings; their runs measure the same thing")
    seen: dict[tuple[str, str, int], str] = {}
    runs: list[dict[str, Any]] = []
    for t in tables:
        for r in t["runs"]:
            key = (r["task"], r["designer"], int(r["seed"]))
            if key in seen:
                raise RewardsmithError(
                    f"{r['task']} with {r['designer']} on base seed {r['seed']} is in both "
                    f"{seen[key]} and {t['benchmark']}: the same run twice",
                    "merge benchmarks of different base seeds (--seed), or leave one out")
            seen[key] = t["benchmark"]
            runs.append({**r, "source": r.get("source") or t["benchmark"]})
    for group in {(r["task"], r["designer"]) for r in runs}:
        mine = sorted((r for r in runs if (r["task"], r["designer"]) == group),
                      key=lambda r: int(r["seed"]))
        for k, r in enumerate(mine):
            r["repeat"] = k
    runs.sort(key=lambda r: (r["repeat"], int(r["seed"])))
    order = lambda key: list(dict.fromkeys(x for t in tables for x in t[key]))  # noqa: E731
    repeats = max((sum(1 for r in runs if (r["task"], r["designer"]) == (t, d))
                   for t in order("tasks") for d in order("designers")), default=0)
    head = {"benchmark": str(out), "id": Path(out).name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "tasks": order("tasks"),
            "designers": order("designers"), "repeats": repeats, "design": design, "seed": None,
            "sources": [t["benchmark"] for t in tables]}
    return aggregate(head, runs)


def resume_hint(table: dict[str, Any]) -> str:
    """How to finish the runs of ``table`` that have not ended."""
    sources = table.get("sources")
    if not sources:
        return f"rewardsmith benchmark --resume {table['benchmark']}"
    unfinished = sorted({r["source"] for r in table["runs"]
                         if r["status"] not in ("finished", "failed")})
    return (" and ".join(f"rewardsmith benchmark --resume {s}" for s in unfinished)
            + ", then merge again")



# ================================================================================ writing
DESIGNER_COLUMNS = [
    ("designer", lambda d: d["designer"]), ("tasks", lambda d: d["tasks_judged"]),
    ("win_rate_beyond_noise", lambda d: d["win_rate_beyond_noise"]),
    ("win_rate_by_mean", lambda d: d["win_rate_by_mean"]),
    ("win_rate_held_out", lambda d: d["win_rate_held_out"]),
    ("runs", lambda d: d["runs"]), ("finished", lambda d: d["finished"]),
    ("failed", lambda d: d["failed"]), ("runs_beyond_noise", lambda d: d["runs_beyond_noise"]),
    ("normalized_mean", lambda d: d["normalized"]["mean"]),
    ("normalized_low", lambda d: d["normalized"]["low"]),
    ("normalized_high", lambda d: d["normalized"]["high"]),
    ("normalized_iqm", lambda d: d["normalized"]["iqm"]),
    ("normalized_iqm_low", lambda d: d["normalized"]["iqm_low"]),
    ("normalized_iqm_high", lambda d: d["normalized"]["iqm_high"]),
    ("normalized_runs", lambda d: d["normalized"]["n"]),
    ("normalized_undefined", lambda d: d["normalized_undefined"]),
    ("success", lambda d: d["success"]), ("baseline_success", lambda d: d["baseline_success"]),
    ("tokens", lambda d: d["tokens"]), ("cost_usd", lambda d: d["cost_usd"]),
    ("wall_s", lambda d: d["wall_s"]), ("wall_per_run_s", lambda d: d["wall_per_run_s"]),
]


def _n(d: dict[str, Any] | None, k: str) -> Any:
    return None if d is None else d.get(k)


TASK_COLUMNS = [
    ("task", lambda t: t["task"]), ("designer", lambda t: t["designer"]),
    ("runs", lambda t: t["runs"]), ("finished", lambda t: t["finished"]),
    ("failed", lambda t: t["failed"]),
    ("beats_beyond_noise", lambda t: t["beats_beyond_noise"]),
    ("beats_by_mean", lambda t: t["beats_by_mean"]),
    ("runs_beyond_noise", lambda t: t["runs_beyond_noise"]),
    ("difference", lambda t: _n(t["pooled"], "difference")),
    ("p_better", lambda t: _n(t["pooled"], "p_better")),
    ("held_out_seeds", lambda t: _n(t["held_out"], "n")),
    ("held_out_difference", lambda t: _n(t["held_out"], "difference")),
    ("held_out_p_better", lambda t: _n(t["held_out"], "p_better")),
    ("beats_held_out", lambda t: t["beats_held_out"]),
    ("score_mean", lambda t: _n(t["score"], "mean")), ("score_std", lambda t: _n(t["score"], "std")),
    ("baseline_mean", lambda t: _n(t["baseline"], "mean")),
    ("normalized_mean", lambda t: _n(t["normalized"], "mean")),
    ("normalized_std", lambda t: _n(t["normalized"], "std")),
    ("normalized_low", lambda t: _n(t["normalized"], "low")),
    ("normalized_high", lambda t: _n(t["normalized"], "high")),
    ("normalized_undefined", lambda t: t["normalized_undefined"]),
    ("success", lambda t: t["success"]), ("baseline_success", lambda t: t["baseline_success"]),
    ("tokens", lambda t: t["tokens"]), ("cost_usd", lambda t: t["cost_usd"]),
    ("wall_s", lambda t: t["wall_s"]), ("errors", lambda t: "; ".join(t["errors"])),
]

RUN_COLUMNS = ["task", "designer", "repeat", "seed", "status", "error", "best", "score",
               "baseline", "floor", "difference", "p_better", "p_worse", "beats_beyond_noise",
               "beats_by_mean", "normalized", "success", "baseline_success", "tokens", "cost_usd",
               "wall_s", "attempts", "verdict", "run"]


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows([["" if v is None else v for v in r] for r in rows])
    return buf.getvalue()


def write_table(bench: Benchmark) -> dict[str, Any]:
    """Build the table and write it into the folder (``table.json``, ``designers.csv``,
    ``tasks.csv``, ``runs.csv`` and ``table.md``); return it."""
    return write_table_files(bench.path, build_table(bench))


def write_table_files(folder: Path, table: dict[str, Any]) -> dict[str, Any]:
    """Write ``table`` into ``folder`` as :func:`write_table` does; return it."""
    from rewardsmith.benchmark.markdown import to_markdown

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / TABLE, table)
    atomic_write_text(folder / "designers.csv", _csv(
        [c for c, _ in DESIGNER_COLUMNS], [[f(d) for _, f in DESIGNER_COLUMNS] for d in table["by_designer"]]))
    atomic_write_text(folder / "tasks.csv", _csv(
        [c for c, _ in TASK_COLUMNS], [[f(t) for _, f in TASK_COLUMNS] for t in table["by_task"]]))
    atomic_write_text(folder / "runs.csv", _csv(
        RUN_COLUMNS, [[r.get(c) for c in RUN_COLUMNS] for r in table["runs"]]))
    atomic_write_text(folder / MARKDOWN, to_markdown(table))
    if table.get("sources"):
        atomic_write_json(folder / MERGED, {"sources": table["sources"]})
    return table


def table_paths(path: Path) -> list[Path]:
    return [Path(path) / n for n in (TABLE, "designers.csv", "tasks.csv", "runs.csv", MARKDOWN)]
