"""``rewardsmith benchmark``: design runs per task, designer and repeat, and their table."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from rewardsmith.benchmark.markdown import interval, rate, spread, verdicts_in_words
from rewardsmith.cli.common import fmt, print_table
from rewardsmith.errors import RewardsmithError


def _names(values: list[str] | None) -> list[str]:
    """``--tasks a,b --tasks c`` and the words after ``--tasks`` as one list."""
    return [v for x in values or [] for v in x.split(",") if v.strip()]


def _ci(d: dict[str, Any] | None, key: str = "mean", lo: str = "low", hi: str = "high") -> str:
    return interval(d, key, lo, hi, show=fmt)


def _spread(d: dict[str, Any] | None) -> str:
    """A score over repeats: mean ± std, the interval from 3 repeats, else the values."""
    return spread(d, show=fmt, show_std=lambda x: fmt(x, 2), with_interval=True)


def print_benchmark(table: dict[str, Any], console) -> None:
    """The benchmark's table as the terminal shows it: per designer, per task, failures."""
    t = Table(title=f"benchmark {table['id']}: {len(table['tasks'])} task(s) x "
                    f"{table['repeats']} repeat(s)", title_justify="left")
    for col in ("designer", "tasks", "beats hand-written (beyond noise)", "beats (by mean)",
                "normalized mean [95% CI]", "normalized IQM [95% CI]", "success (hand-written)",
                "tokens", "cost $", "wall/run", "runs ok/failed"):
        t.add_column(col, overflow="fold")
    for d in table["by_designer"]:
        n = d["normalized"]
        succ = "-" if d["success"] is None else f"{d['success']:.0%} ({rate(d['baseline_success'])})"
        beyond = rate(d["win_rate_beyond_noise"])
        if d.get("win_rate_held_out") is not None:  # runs whose verdicts held the picking seeds
            beyond += f" ({rate(d['win_rate_held_out'])} held out)"
        t.add_row(d["designer"], str(d["tasks_judged"]), beyond,
                  rate(d["win_rate_by_mean"]), _ci(n) + (f" ({n['n']} runs)" if n["n"] else ""),
                  _ci(n, "iqm", "iqm_low", "iqm_high"), succ, fmt(d["tokens"]),
                  "-" if d["cost_usd"] is None else f"{d['cost_usd']:.4f}",
                  "-" if d["wall_per_run_s"] is None else f"{d['wall_per_run_s']:.0f} s",
                  f"{d['finished']}/{d['failed']}")
    print_table(t, console)
    t = Table(title="per task (over repeats)", title_justify="left")
    for col in ("task", "designer", "ok/failed", "beats (noise)", "beats (mean)",
                "difference (pooled seeds)", "normalized", "score", "hand-written", "success",
                "wall/run"):
        t.add_column(col, overflow="fold")
    for r in table["by_task"]:
        p = r["pooled"] or {}
        yes = {True: "yes", False: "no", None: "-"}
        diff = "-" if p.get("difference") is None else (
            f"{fmt(p['difference'])} (p={p['p_better']:.2g})" if p.get("p_better") is not None
            else fmt(p["difference"]))
        h = r.get("held_out")
        if h and h.get("difference") is not None and h.get("p_better") is not None:
            diff += f"; held out {fmt(h['difference'])} (p={h['p_better']:.2g})"
        t.add_row(r["task"], r["designer"], f"{r['finished']}/{r['failed']}",
                  yes[r["beats_beyond_noise"]], yes[r["beats_by_mean"]], diff,
                  _spread(r["normalized"]) if r["normalized"] else
                  ("undefined" if r["judged"] else "-"),
                  _spread(r["score"]), _spread(r["baseline"]), rate(r["success"]),
                  "-" if r["wall_per_run_s"] is None else f"{r['wall_per_run_s']:.0f} s")
    print_table(t, console)
    for designer, line in verdicts_in_words(table):
        console.print(Text(f"{designer}: {line}"))
    failed = [r for r in table["runs"] if r["status"] == "failed"]
    for r in failed:
        console.print(Text(f"failed: {r['task']} / {r['designer']} / repeat {r['repeat'] + 1}: "
                           f"{r['error']}", style="red"))
    for d in table["by_designer"]:
        if d["normalized"].get("why"):
            console.print(Text(f"{d['designer']}: {d['normalized']['why']}", style="dim"))
    undefined = sorted({r["task"] for r in table["by_task"] if r["judged"] and not r["normalized"]})
    if undefined:
        why = next(r.get("normalized_why") for r in table["by_task"] if r["task"] == undefined[0])
        console.print(Text(f"normalized score undefined on {', '.join(undefined)}"
                           + (f": {why}" if why else ""), style="dim"))
    if not table["complete"]:
        from rewardsmith.benchmark.table import resume_hint

        console.print(Text(f"unfinished: continue with {resume_hint(table)}", style="yellow"))


def _merge(sources: list[str], out: Path | None, json_out: bool, other: bool) -> None:
    """``benchmark --merge A B ... --out C``: one table (files and page) from several."""
    from rewardsmith.benchmark.page import write_page
    from rewardsmith.benchmark.table import merge_tables, read_table, write_table_files

    if other:
        raise RewardsmithError("--merge makes a table of finished benchmarks and runs nothing",
                               "leave out --tasks, --suite, --llm and --resume with --merge")
    if out is None:
        raise RewardsmithError("--merge needs --out: the folder of the merged table",
                               "rewardsmith benchmark --merge A B --out benchmarks/merged")
    if any(Path(s).resolve() == out.resolve() for s in sources):
        raise RewardsmithError(f"--out {out} is one of the benchmarks merged",
                               "write the merged table to a folder of its own")
    table = write_table_files(out, merge_tables([read_table(Path(s)) for s in sources], out))
    page = write_page(out)
    show_table(table, json_out, f"merged {len(sources)} benchmarks: {out}/table.json, "
               f"designers.csv, tasks.csv, runs.csv, table.md\npage:  {page}")


def show_table(table: dict[str, Any], json_out: bool, footer: str) -> None:
    """The table on the terminal (with --json, as JSON on stdout and the rest on stderr), then
    where its files are."""
    from rewardsmith.cli.common import console, err_console

    if json_out:
        print(json.dumps(table, indent=2, default=str))
    out = err_console if json_out else console
    print_benchmark(table, out)
    out.print(footer, highlight=False)


def _duration(seconds: float) -> str:
    m = int(round(seconds / 60))
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{m} min" if m < 60 else f"{m // 60} h {m % 60:02d} min"


class BenchmarkProgress:
    """Progress over every run of the benchmark, and a bar for each run in progress (several
    with ``--parallel-runs``). Called from the runs' threads: rich's progress takes its own
    lock, and the count of ended runs takes this one's."""

    def __init__(self, progress, total: int, iterations: int, time_left=None):
        import threading

        self.progress = progress
        self.iterations = iterations
        self.time_left = time_left  # () -> (seconds, runs) | None: the runs still to go
        self.all = progress.add_task("runs", total=total, status="")
        self.bars: dict[Any, Any] = {}  # run key -> its bar, while it runs
        self.done = 0
        self.lock = threading.Lock()

    def _bar(self, key):
        with self.lock:
            if key not in self.bars:
                self.bars[key] = self.progress.add_task("run", total=self.iterations + 1,
                                                        status=f"{key.label()}: starting")
            return self.bars[key]

    def __call__(self, key, event) -> None:
        from rewardsmith.benchmark import RunState
        from rewardsmith.loop import events as E

        p = self.progress
        if isinstance(event, RunState):
            with self.lock:
                self.done += 1
                done = self.done
                bar = self.bars.pop(key, None)
            if bar is not None:
                p.remove_task(bar)
            note = {"finished": "[green]finished[/]", "failed": "[red]failed[/]"}.get(
                event.status, event.status)
            if event.error:
                from rich.markup import escape

                note += f": {escape(event.error[:150])}"
            if event.status == "finished" and event.wall_s:
                note += f" ({_duration(event.wall_s)})"
            left = self.time_left() if self.time_left else None
            if left and left[1]:
                note += f"; {left[1]} run(s) to go, about {_duration(left[0])} at this pace"
            p.console.print(f"{key.label()}: {note}", highlight=False)
            p.update(self.all, completed=done, status=f"last: {key.label()}")
            return
        if isinstance(event, E.LoopStarted):
            p.reset(self._bar(key), total=event.iterations + 1)
            p.update(self._bar(key), status=f"{key.label()}: starting")
        elif isinstance(event, E.IterationStarted | E.IterationReused):
            p.update(self._bar(key), completed=event.iteration,
                     status=f"{key.label()}: iteration {event.iteration + 1}")
        elif isinstance(event, E.ClosingStarted):
            p.update(self._bar(key), completed=self.iterations,
                     status=f"{key.label()}: closing evaluation on {len(event.seeds)} seeds")
        elif isinstance(event, E.ClosingFinished):
            p.update(self._bar(key), completed=self.iterations + 1,
                     status=f"{key.label()}: {event.line[:80]}")


def register(app: typer.Typer) -> None:
    from rewardsmith.cli.common import console, err_console, guarded, timestamp

    @app.command(context_settings={"allow_extra_args": True})
    @guarded
    def benchmark(
        ctx: typer.Context,
        tasks: list[str] | None = typer.Option(None, "--tasks", help="Task ids or task files: --tasks T1 T2 ... (or T1,T2)."),
        suite: str | None = typer.Option(None, "--suite", help="A group of registered tasks (locomotion, novel, manipulation, balance, dmc, all; see --list-suites) or a folder of task files."),
        llm: list[str] | None = typer.Option(None, "--llm", help="A designer: offline, openai:MODEL or manual; repeat --llm to compare several."),
        repeats: int = typer.Option(3, "--repeats", min=1, help="Independent runs per task and designer (repeat k has base seed --seed + 1000 k)."),
        out: Path | None = typer.Option(None, "--out", help="The benchmark's folder (default benchmarks/<time>)."),
        resume: Path | None = typer.Option(None, "--resume", help="Continue a benchmark: finished runs reused, unfinished ones resumed, failed ones tried again."),
        iterations: int = typer.Option(3, "--iterations", "-i", min=1, help="Design iterations per run."),
        samples: int = typer.Option(4, "--samples", "-k", min=1, help="Reward programs sampled per iteration."),
        steps: int | None = typer.Option(None, "--steps", min=1, help="Env steps per candidate (default: each task's budget)."),
        seeds: int = typer.Option(2, "--seeds", min=1, help="Seeds the top candidates are evaluated on before one is called best."),
        final_seeds: int = typer.Option(5, "--final-seeds", min=1, help="The closing evaluation of each run: its best and the hand-written reward on this many seeds (5 can settle a paired test)."),
        top_k: int = typer.Option(2, "--top-k", min=1, help="Candidates per iteration re-evaluated on the extra seeds."),
        workers: int | None = typer.Option(None, "--workers", min=1, help="Parallel training processes (default: one per core)."),
        executor: str | None = typer.Option(None, "--executor", help="Where candidates train: local or ray (see docs/SCALING.md)."),
        backend: str = typer.Option("sb3", "--backend", help="Training backend."),
        temperature: float = typer.Option(1.0, "--temperature", min=0.0, max=2.0),
        max_cost: float | None = typer.Option(None, "--max-cost", min=0.0, help="Per run: stop asking the LLM once this many USD are spent."),
        schedule: str = typer.Option("full", "--schedule", help="full or halving (see `rewardsmith design --help`)."),
        reevaluate: str = typer.Option("challengers", "--reevaluate", help="challengers or top-k (see `rewardsmith design --help`)."),
        screen: float | None = typer.Option(None, "--screen", min=-1.0, max=1.0, help="Screen candidates before training (see `rewardsmith design --help`)."),
        patience: int | None = typer.Option(None, "--patience", min=1, help="Stop a run after this many iterations without a better reward."),
        seed: int = typer.Option(0, "--seed", help="Base seed of the first repeat."),
        base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server URL (or OPENAI_BASE_URL)."),
        api_key: str | None = typer.Option(None, "--api-key", help="API key (or OPENAI_API_KEY)."),
        json_out: bool = typer.Option(False, "--json", help="Print the table as JSON on stdout."),
        list_suites: bool = typer.Option(False, "--list-suites", help="List the suites and their tasks, and exit."),
        merge: list[str] | None = typer.Option(None, "--merge", help="Merge benchmarks of the same settings into one table in --out (e.g. repeats run on other machines with --seed 1000 --repeats 1): --merge A B ...; a folder may hold only its table.json."),
        parallel_runs: int = typer.Option(1, "--parallel-runs", min=1, help="Design runs at once, sharing the executor's workers (the local pool's are split between them; on Ray, the cluster's slots). Results are the same as one at a time."),
    ):
        """Independent design runs per task, designer and repeat, each with its closing evaluation,
        and the table: how often the best reward beats the hand-written one, the normalized score
        with intervals, success, tokens, cost and wall time."""
        from dataclasses import asdict

        from rewardsmith.benchmark import Benchmark, Plan, run_benchmark, time_left, write_table
        from rewardsmith.benchmark import suites as suites_mod
        from rewardsmith.cli.common import make_progress
        from rewardsmith.executors import make_executor
        from rewardsmith.llm import run_llm
        from rewardsmith.loop.design import DesignConfig
        from rewardsmith.train import load as load_backend

        if list_suites:
            for name, doc, ids in suites_mod.describe():
                console.print(f"[bold]{name}[/]: {doc}\n  {' '.join(ids)}", highlight=False)
            return
        extra = list(ctx.args)
        if merge:
            _merge([*_names(merge), *_names(extra)], out, json_out, other=bool(
                tasks or suite or llm or resume))
            return
        if extra and not tasks:
            raise RewardsmithError(f"unexpected argument(s): {' '.join(extra)}",
                                   "name tasks with --tasks T1 T2 ...")
        task_names = [*_names(tasks), *_names(extra)]
        overrides = {k: v for k, v in (("executor", executor), ("workers", workers)) if v}
        if resume is not None:
            if task_names or suite or llm:
                raise RewardsmithError("a resumed benchmark runs its own plan",
                                       "leave out --tasks, --suite and --llm with --resume, or "
                                       "start a new benchmark with --out")
            bench = Benchmark.open(resume)
            plan = bench.plan
        else:
            found = suites_mod.resolve(task_names, suite)
            load_backend(backend)
            if not llm:
                raise RewardsmithError("no designer given",
                                       "pass --llm offline (or --llm openai:MODEL), once per designer")
            config = DesignConfig(iterations=iterations, samples=samples, steps=steps, seeds=seeds,
                                  top_k=top_k, workers=workers or max(1, os.cpu_count() or 1),
                                  temperature=temperature, max_cost=max_cost, backend=backend,
                                  schedule=schedule, reevaluate=reevaluate, screen=screen,
                                  patience=patience, executor=executor or "local",
                                  final_seeds=final_seeds)
            design = {k: v for k, v in asdict(config).items() if k not in ("llm", "seed")}
            plan = Plan.make(found, llm, repeats, design, seed=seed)
        design_exec = overrides.get("executor") or plan.design.get("executor", "local")
        n_workers = overrides.get("workers") or plan.design.get("workers")
        if design_exec == "local" and parallel_runs > (n_workers or 1):
            raise RewardsmithError(
                f"--parallel-runs {parallel_runs} cannot share {n_workers or 1} local worker(s): "
                "each run needs one",
                f"give --parallel-runs {n_workers or 1} or less, or more --workers")
        if resume is None:
            bench = Benchmark.create(out or Path("benchmarks") / timestamp(), plan)
        runner = make_executor(design_exec, n_workers if design_exec == "local" or workers else None)

        def make_llm(designer: str, path: Path):
            # no shared cache: repeats are independent samples of the designer, and a resumed
            # run still pays nothing twice (its own cache)
            return run_llm(designer, path, base_url=base_url, api_key=api_key, shared_cache=False)

        states = bench.states()
        err_console.print(f"benchmark folder: [bold]{bench.path}[/] ({len(states)} runs: "
                          f"{len(plan.tasks)} task(s) x {len(plan.designers)} designer(s) x "
                          f"{plan.repeats} repeat(s); "
                          f"{sum(s.status == 'finished' for s in states)} finished already)",
                          highlight=False)
        try:
            with make_progress() as progress:
                view = BenchmarkProgress(progress, len(states), int(plan.design.get("iterations", 3)),
                                         time_left=lambda: time_left(plan, bench.states(),
                                                                     parallel_runs))
                run_benchmark(bench, runner, make_llm, observer=view, overrides=overrides,
                              parallel=parallel_runs)
        except KeyboardInterrupt:
            write_table(bench)
            err_console.print(f"\ninterrupted; continue with: [bold]rewardsmith benchmark --resume "
                              f"{bench.path}[/]")
            raise typer.Exit(130) from None
        show_table(write_table(bench), json_out,
                   f"table: {bench.path}/table.json, designers.csv, tasks.csv, runs.csv, "
                   f"table.md\npage:  rewardsmith report {bench.path}")
