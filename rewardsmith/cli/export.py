"""``rewardsmith export`` (a run's reward as a self-contained module) and ``rewardsmith report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    from rewardsmith.cli.common import console, err_console, guarded

    @app.command()
    @guarded
    def export(
        run: Annotated[Path, typer.Argument(help="A run directory (runs/<run-id>).")],
        to: Annotated[Path, typer.Option("--to", help="The .py file to write (or an existing folder).")],
        candidate: Annotated[str | None, typer.Option(
            "--candidate", "-c", help="Candidate ITER-K to export (default: the run's best).")] = None,
        flavor: Annotated[str, typer.Option(
            "--flavor", help="numpy, or jax (np is jax.numpy).")] = "numpy",
        force: Annotated[bool, typer.Option("--force", help="Overwrite the file if it exists.")] = False,
        env_id: Annotated[str | None, typer.Option(
            "--env-id", help="Register the rewarded env under this gymnasium id when the module "
                             "is imported, e.g. MyHopperBackward-v0.")] = None,
    ):
        """Write a reward of a run as one module that needs numpy (or jax), mujoco and gymnasium
        only: the reward, the state view for the robot, a gymnasium wrapper and a self-test."""
        from rewardsmith.export import ruff_problems, write_module

        path = write_module(run, to, candidate=candidate, flavor=flavor, force=force, env_id=env_id)
        console.print(f"wrote [bold]{path}[/]", highlight=False)
        problems = ruff_problems(path.read_text())
        if problems:
            err_console.print(f"[yellow]warning:[/] ruff reports {len(problems)} problem(s) in "
                              f"{path}: {problems[0].get('code')} {problems[0].get('message')}")
        console.print(f"self-test: [bold]python {path}[/]", highlight=False)
        console.print(f"use: [bold]from {path.stem} import RewardWrapper[/]", highlight=False)
        if env_id:
            console.print(f"or:  [bold]import {path.stem}; gym.make({env_id!r})[/]", highlight=False)

    @app.command()
    @guarded
    def report(
        run: Annotated[Path, typer.Argument(help="A run directory (runs/<run-id>) or a benchmark folder (benchmarks/<id>).")],
        other: Annotated[Path | None, typer.Argument(help="A second run (with --compare).")] = None,
        compare: Annotated[bool, typer.Option(
            "--compare", help="Put RUN and the second run side by side.")] = False,
        out: Annotated[Path | None, typer.Option(
            "--out", "-o",
            help="Where to write the HTML (default: RUN/report.html, or RUN/compare-<RUN2>.html).",
        )] = None,
        markdown: Annotated[bool, typer.Option(
            "--markdown", help="A benchmark: print its table as Markdown (also in BENCH/table.md) "
                               "instead of the page's path.")] = False,
    ):
        """Write one static HTML report of a run or a benchmark (no internet needed to view it);
        print its path."""
        from rewardsmith.benchmark.table import has_table
        from rewardsmith.errors import RewardsmithError
        from rewardsmith.report import report_compare, write_report

        if has_table(run):
            if compare or other is not None:
                raise RewardsmithError(f"{run} is a benchmark: its page compares its designers already",
                                       f"rewardsmith report {run}")
            from rewardsmith.benchmark.page import write_page
            from rewardsmith.benchmark.table import MARKDOWN

            page = write_page(run, out)
            print((Path(run) / MARKDOWN).read_text() if markdown else page, end="" if markdown else "\n")
            return
        if markdown:
            raise RewardsmithError(f"--markdown prints a benchmark's table, and {run} is a run",
                                   f"rewardsmith report {run}, or rewardsmith show {run}")
        if compare and other is None:
            raise RewardsmithError("--compare needs a second run", "rewardsmith report RUN_A RUN_B --compare")
        if other is not None and not compare:
            raise RewardsmithError("two runs given without --compare",
                                   "add --compare to put them side by side")
        path = report_compare(run, other, out) if compare else write_report(run, out)
        print(path)
