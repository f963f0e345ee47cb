"""The ``rewardsmith`` command. Every user-fixable problem is one line on stderr and exit code 2."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer
from rich.table import Table

from rewardsmith import __version__
from rewardsmith.cli.common import (
    JobProgress,
    console,
    err_console,
    fmt,
    guarded,
    make_progress,
    print_table,
    print_verdict,
    quiet_warnings,
    resolve_task,
    timestamp,
)
from rewardsmith.errors import RewardsmithError

app = typer.Typer(
    name="rewardsmith",
    help="Design reward functions for robot RL with an LLM (or with the built-in offline designer).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
tasks_app = typer.Typer(help="List tasks and show what the LLM sees for one.", invoke_without_command=True)
app.add_typer(tasks_app, name="tasks")


def _print_version(value: bool) -> None:
    if value:
        console.print(__version__)
        raise typer.Exit(0)


@app.callback()
def _main(version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                       help="Print the version and exit.")):
    """Design reward functions for robot RL with an LLM (or with the built-in offline designer)."""
    quiet_warnings()  # before every command


# ---------------------------------------------------------------------------- tasks
@tasks_app.callback()
@guarded
def tasks_list(ctx: typer.Context,
               json_out: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Table of tasks: id, robot, env, description."""
    if ctx.invoked_subcommand is not None:
        return
    from rewardsmith import tasks

    rows = [tasks.load(n) for n in tasks.names()]
    if json_out:
        print(json.dumps([{"id": t.id, "robot": t.robot, "env": t.env_id,
                           "description": t.description,
                           "baseline": "env" if t.baseline_reward.strip() == "env" else "program",
                           "steps": {k: b.steps for k, b in t.budgets.items()}} for t in rows], indent=2))
        return
    table = Table(title="rewardsmith tasks", title_justify="left")
    table.add_column("id", no_wrap=True, style="bold")
    table.add_column("robot", no_wrap=True)
    table.add_column("env", no_wrap=True)
    table.add_column("steps", justify="right", no_wrap=True)
    table.add_column("description", overflow="fold", ratio=1)
    for t in rows:
        b = t.budgets.get("sb3")
        table.add_row(t.id, t.robot or "-", t.env_id, _steps(b.steps) if b else "-",
                      t.description)
    print_table(table)
    for path, msg in tasks.broken_files().items():
        err_console.print(f"[yellow]warning:[/] skipped {path}: {msg}")
    console.print("Show what the LLM sees: [bold]rewardsmith tasks show TASK_ID[/]")


@tasks_app.command("show")
@guarded
def tasks_show(task_id: str | None = typer.Argument(None, help="Task id (see `rewardsmith tasks`) or a task file."),
               hidden: bool = typer.Option(False, "--hidden", help="Also show the baseline reward (never shown to the LLM) and the fitness docs (shown unless design --hide-fitness)."),
               env: str | None = typer.Option(None, "--env", help="Ad-hoc task: a gymnasium MuJoCo env id (gymnasium-robotics ids with the robotics extra; dmc:DOMAIN/TASK with the dmc extra)."),
               description: str | None = typer.Option(None, "--description", help="Ad-hoc task: what to do, in words."),
               system: bool = typer.Option(False, "--system", help="Print the system message (the coding rules every request carries) before the task message.")):
    """Print the task message an LLM is sent first: description, state schema, score, training, advice."""
    from rewardsmith.llm.prompts import initial_messages

    t = resolve_task(task_id, env, description, None, None)
    # the first request, as a design run at the task's default budget on the sb3 backend sends
    # it: the system message (the coding rules), then the task message
    messages = initial_messages(t)
    if system:
        print(f"--- system ---\n{messages[0]['content']}\n--- user ---")
    print(messages[1]["content"])
    if hidden:
        print("--- the fitness (its docs are shown unless design --hide-fitness) and the baseline (hidden) ---")
        if t.fitness:
            print(f"Fitness: {t.fitness.doc}")
            if t.fitness.success_doc:
                print(f"Success: {t.fitness.success_doc}")
        print(f"Baseline: {t.baseline_doc}")
        if t.baseline_reward.strip() != "env":
            print(t.baseline_reward.strip())


# ------------------------------------------------------------------------- evaluate

def _steps(n: int) -> str:
    """1000k as 1M, 1500k as 1.5M; below a million, thousands."""
    return f"{n / 1_000_000:g}M" if n >= 1_000_000 else f"{n // 1000}k"

@app.command()
@guarded
def evaluate(
    task: str | None = typer.Option(None, "--task", "-t", help="Task id or task file."),
    reward: str = typer.Option("baseline", "--reward", "-r", help="'baseline' (the task's hand-written reward), 'env' (the simulator's own), or a reward .py file."),
    seeds: int | None = typer.Option(None, "--seeds", min=1, help="Policies to train, one per seed (default 3; 5 with --compare, the fewest a paired test can settle)."),
    seed: int = typer.Option(0, "--seed", min=0, help="The first seed (seeds SEED, SEED+1, ...): a design run's best is fairly judged only on seeds it was not picked on."),
    steps: int | None = typer.Option(None, "--steps", min=1, help="Env steps per policy (default: the task's budget)."),
    backend: str = typer.Option("sb3", "--backend", help="Training backend."),
    algo: str | None = typer.Option(None, "--algo", help="ppo (default) or sac."),
    compare: str | None = typer.Option(None, "--compare", help="'baseline': the verdict against the hand-written reward (paired by seed; 5 seeds can settle it), with the untrained policy and the normalized score."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Parallel training processes (default: one per core)."),
    executor: str = typer.Option("local", "--executor", help="Where the policies train: local or ray (see docs/SCALING.md)."),
    run_dir: Path | None = typer.Option(None, "--run-dir", help="Where policies and results go (default runs/eval-...)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    env: str | None = typer.Option(None, "--env", help="Ad-hoc task: a gymnasium MuJoCo env id, or dmc:DOMAIN/TASK (the dmc extra)."),
    description: str | None = typer.Option(None, "--description", help="Ad-hoc task: what to do, in words."),
    fitness: str | None = typer.Option(None, "--fitness", help="Ad-hoc task: numpy expression over state fields, averaged over steps."),
):
    """Train one policy per seed on a reward and report the task's fitness."""
    from rewardsmith.executors import make_executor
    from rewardsmith.loop.evaluate import evaluate as run_evaluate
    from rewardsmith.loop.evaluate import resolve_reward
    from rewardsmith.train import budget_for
    from rewardsmith.train import load as load_backend

    if executor != "local":
        make_executor(executor, workers)  # an unknown name or a missing extra fails before any work
    t = resolve_task(task, env, description, fitness, steps)
    load_backend(backend)
    if t.fitness is None:
        raise RewardsmithError(f"task {t.id} has no fitness to evaluate", "pass --fitness EXPR")
    choice = resolve_reward(t, reward)
    if choice.program is not None and choice.label != "baseline":
        from rewardsmith.sandbox.dryrun import check_program
        from rewardsmith.train import needs

        # fail fast, before training
        report = check_program(choice.program, t, jax=needs(backend).jax)
        if not report.accepted:
            raise RewardsmithError(f"{choice.label} was rejected ({report.stage}): "
                                   + "; ".join(report.problems),
                                   f"see `rewardsmith check {choice.label} --task {t.id}`")
    if seeds is None:
        from rewardsmith.critic.verdict import SETTLING_SEEDS

        seeds = SETTLING_SEEDS if compare else 3
    n_steps = steps or budget_for(t, backend).steps
    n_workers = workers or min(os.cpu_count() or 1, seeds * (3 if compare else 1))
    out = run_dir or Path("runs") / f"eval-{timestamp()}-{t.id}"
    overrides = {"algo": algo} if algo else None
    with make_progress() as progress:
        report = run_evaluate(t, choice, seeds=seeds, first_seed=seed, steps=n_steps, backend=backend,
                              workers=n_workers, compare=compare, out_dir=out, overrides=overrides,
                              on_event=JobProgress(progress, n_steps),
                              executor=None if executor == "local" else make_executor(executor, n_workers))
    if json_out:
        print(json.dumps(report, indent=2))
        return
    _print_evaluation(report)


def _print_evaluation(r: dict) -> None:
    table = Table(title=f"{r['task']}: {r['steps']:,} steps x {len(r['seeds'])} seeds ({r['backend']})",
                  title_justify="left")
    table.add_column("reward")
    table.add_column("fitness mean ± std", justify="right")
    table.add_column("per seed", justify="right")
    table.add_column("success", justify="right")
    table.add_column("steps/s", justify="right")

    def row(name, s):
        f = s["fitness"]
        table.add_row(name, f"{fmt(f['mean'])} ± {fmt(f['std'], 2)}",
                      ", ".join(fmt(x) for x in f["per_seed"]),
                      fmt(s.get("success_rate"), 2), fmt(s.get("env_steps_per_s"), 4))

    row(r["reward"], r)
    if "compare" in r:
        c = r["compare"]
        if r["reward"] != "baseline":
            row("baseline", c["baseline"])
        row("untrained (floor)", c["floor"])
    print_table(table)
    if r.get("fitness_doc"):
        console.print(f"fitness: {r['fitness_doc']}")
    if "compare" in r and r["reward"] != "baseline":
        print_verdict(r["compare"].get("verdict"), console)
    elif "compare" in r:
        ns = (r["compare"].get("verdict") or {}).get("normalized") or {}
        if not ns.get("defined"):
            console.print(f"[yellow]normalized score undefined:[/] {ns.get('why')}", highlight=False)
    console.print(f"wall time {r['wall_s']:.1f} s; report in {r['run_dir']}/evaluation.json")


@app.command()
@guarded
def executors(json_out: bool = typer.Option(False, "--json", help="Print JSON."),
              connect: bool = typer.Option(False, "--connect", help="Ray: connect to $RAY_ADDRESS (or start a local Ray) to count the cluster's cores, GPUs and nodes.")):
    """Where training jobs can run: this machine, or a Ray cluster (docs/SCALING.md)."""
    from rewardsmith import executors as ex_mod

    info = [ex_mod.describe(name, connect=connect) for name in ex_mod.names()]
    if json_out:
        print(json.dumps(info, indent=2, default=str))
        return
    table = Table(title="executors", title_justify="left")
    for col in ("executor", "installed", "cores", "GPUs", "nodes", "notes"):
        table.add_column(col, overflow="fold")
    for e in info:
        notes = ", ".join(f"{k} {e[k]}" for k in ("version", "address", "isolation") if e.get(k))
        if e.get("note"):
            notes += f"; {e['note']}"
        installed = "yes" if e["installed"] else f"no ({e.get('hint')})"
        table.add_row(e["name"], installed, str(e.get("cores", "-")), str(e.get("gpus", "-")),
                      str(e.get("nodes", "-")), notes or "-")
    print_table(table)


@app.command()
@guarded
def backends(json_out: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Which training backends are installed, which devices they see, and their defaults."""
    from rewardsmith.train import BACKENDS
    from rewardsmith.train import load as load_backend

    info = []
    for name in BACKENDS.names():
        entry: dict = {"name": name, "module": BACKENDS.load(name).module}
        try:
            entry.update(installed=True, **load_backend(name).describe())
        except RewardsmithError as e:
            entry.update(installed=False, problem=e.message, hint=e.hint)
        info.append(entry)
    if json_out:
        print(json.dumps(info, indent=2, default=str))
        return
    table = Table(title="training backends", title_justify="left")
    for col in ("backend", "installed", "devices", "versions", "defaults"):
        table.add_column(col, overflow="fold")
    for e in info:
        versions = ", ".join(f"{k} {v}" for k, v in (e.get("versions") or {}).items() if v)
        defaults = ", ".join(f"{k}={v}" for k, v in (e.get("defaults") or {}).items()
                             if v is not None and not isinstance(v, dict))
        devices = ", ".join(e.get("devices", []))
        if e.get("device_kind"):
            devices = f"{e['device_kind']}: {devices}"
        from rich.markup import escape

        table.add_row(e["name"], "yes" if e["installed"] else escape(f"no: {e['problem']} ({e['hint']})"),
                      devices or "-", versions or "-", defaults or "-")
    print_table(table)
    console.print("full settings: [bold]rewardsmith backends --json[/]")


def _register_optional() -> None:
    """Commands that live in their own modules register themselves here."""
    import importlib

    for mod in ("rewardsmith.cli.check", "rewardsmith.cli.design", "rewardsmith.cli.export",
                "rewardsmith.cli.feedback", "rewardsmith.cli.benchmark"):
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise
            continue
        m.register(app)


_register_optional()


def _one_line_summaries(typer_app: typer.Typer) -> None:
    """The command list of ``rewardsmith --help`` shows each command's first paragraph; rich
    keeps a docstring's line breaks there, which cut sentences in the middle. Join them."""
    import inspect

    for info in typer_app.registered_commands:
        if info.short_help is None:
            doc = info.help or inspect.getdoc(info.callback) or ""
            info.short_help = " ".join(doc.split("\n\n")[0].split()) or None


# the command list in the order of a user's first hour: design, look, keep, measure, tools
ORDER = ("design", "runs", "show", "report", "videos", "export", "evaluate", "benchmark",
         "check", "backends", "executors")


def _command_name(info) -> str:
    return info.name or info.callback.__name__.replace("_", "-")


_one_line_summaries(app)
_one_line_summaries(tasks_app)
app.registered_commands.sort(
    key=lambda info: ORDER.index(n) if (n := _command_name(info)) in ORDER else len(ORDER))


def main() -> None:  # pragma: no cover - entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
