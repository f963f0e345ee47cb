"""``rewardsmith check REWARD_FILE --task TASK [--json]``: every layer a candidate passes.

Exit 0: accepted; 1: rejected (the stage and what to change); 2: usage error (unknown task,
missing file), one line, no traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from rewardsmith.errors import RewardsmithError

STAGE_WORDS = {
    "static": "the static checks",
    "compile": "defining its functions",
    "dry_run": "the dry run on recorded states (in the jail)",
}


def register(app: typer.Typer) -> None:
    """Add the ``check`` command to ``app``."""

    @app.command("check")
    def check(
        reward_file: Path = typer.Argument(  # noqa: B008 - typer's way
            ..., help="A .py file defining compute_reward(state, action, next_state)."),
        task: str = typer.Option(  # noqa: B008
            ..., "--task", "-t", help="Task id (see `rewardsmith tasks`) or a task file."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),  # noqa: B008
        backend: str = typer.Option(  # noqa: B008
            "sb3", "--backend", help="Where it will train: sb3, or brax (adds the JAX checks: jit, vmap)."),
    ) -> None:
        """Check a reward program: static checks, then a dry run in the jail on recorded states."""
        raise typer.Exit(run_check(reward_file, task, as_json, backend))


def run_check(reward_file: Path, task_name: str, as_json: bool = False,
              backend: str = "sb3") -> int:
    """The command's body; returns the exit code."""
    from rewardsmith import tasks
    from rewardsmith.reward.program import RewardProgram
    from rewardsmith.sandbox.dryrun import check_program

    err = Console(stderr=True)
    try:
        program = RewardProgram.from_file(reward_file)
        task = tasks.load(task_name)
        if backend != "sb3":
            from rewardsmith.train import load as load_backend

            load_backend(backend)  # unknown or not installed: say so before checking
        from rewardsmith.train import needs

        report = check_program(program, task, jax=needs(backend).jax)
    except RewardsmithError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        return 2
    except UnicodeDecodeError:
        err.print(f"[red]error:[/red] {escape(str(reward_file))} is not a text file", soft_wrap=True)
        return 2

    if as_json:
        sys.stdout.write(json.dumps(report.to_json()) + "\n")
        return 0 if report.accepted else 1

    out = Console()
    total = report.timings.get("total_s", 0.0)
    if report.accepted:
        comps = ", ".join(report.components) or "none"
        out.print(f"[green]accepted[/green] {escape(str(reward_file))} for {escape(task.id)} "
                  f"[dim](components: {escape(comps)}; {total:.2f} s)[/dim]")
        from rewardsmith.critic.reflect import silent_terms

        silent = silent_terms(report.zero_steps)
        for name, share in (silent or {}).get("zero", {}).items():
            out.print(f"  [yellow]note[/yellow]: '{escape(name)}' paid exactly 0 on {share:.0%} of "
                      f"{silent['steps']} random-action steps: nothing to learn from until the "
                      "robot gets where it pays", soft_wrap=True)
        return 0
    where = STAGE_WORDS.get(report.stage, report.stage)
    out.print(f"[red]rejected[/red] {escape(str(reward_file))} for {escape(task.id)} by "
              f"{where} [dim](stage: {report.stage}; {total:.2f} s)[/dim]")
    for p in report.problems:
        out.print(f"  [yellow]-[/yellow] {escape(p)}", soft_wrap=True)
    return 1
