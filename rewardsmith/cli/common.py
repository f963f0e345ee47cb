"""What every ``rewardsmith`` command shares: the consoles, one-line errors, progress bars and
number formatting. Command modules import from here, never from ``main`` (which imports them)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Any

import typer
from rich.console import Console

from rewardsmith.errors import RewardsmithError


def _console(stderr: bool = False) -> Console:
    """A console; into a file or a pipe (no terminal, no COLUMNS) it is 160 columns wide, so
    tables are not squeezed to the 80 columns rich assumes there."""
    c = Console(stderr=stderr)
    if not c.is_terminal and "COLUMNS" not in os.environ:
        c = Console(stderr=stderr, width=160)
    return c


console = _console()
err_console = _console(stderr=True)


def fail(message: str, code: int = 2) -> None:
    from rich.markup import escape

    # escaped: messages hold text such as 'rewardsmith[jax]' that is not markup
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def stop_signals_interrupt():
    """Within: SIGTERM (``kill``, a job scheduler or a container stopping the process) and SIGHUP
    (a closed terminal) end the command as Ctrl-C does, by raising KeyboardInterrupt, so a
    design or benchmark run records itself as interrupted, with its time, and stops its
    training workers, instead of dying where it stood. A second signal ends it at once."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; there Ctrl-C is the only way out
        return
    stops = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s]
    old = {s: signal.getsignal(s) for s in stops}

    def interrupt(signum, frame):
        signal.signal(signum, signal.SIG_DFL)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for s in stops:
        signal.signal(s, interrupt)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def guarded(fn):
    """Turn RewardsmithError into a one-line message and exit code 2, and an interruption
    (Ctrl-C, SIGTERM, SIGHUP: see :func:`stop_signals_interrupt`) into exit code 130."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with stop_signals_interrupt():
                return fn(*args, **kwargs)
        except RewardsmithError as e:
            fail(str(e))
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def quiet_warnings() -> None:
    import warnings

    warnings.filterwarnings("ignore", message=".*settotalmass.*")
    # JAX warns at any fork once it has started; rewardsmith forks only to exec a worker (the
    # jail's training and dry-run processes), which shares nothing with JAX's threads
    warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)


def resolve_task(task: str | None, env: str | None, description: str | None,
                  fitness: str | None, steps: int | None):
    from rewardsmith import tasks

    if task and env:
        raise RewardsmithError("give either --task or --env, not both")
    if task:
        return tasks.load(task)
    if env:
        if not description:
            raise RewardsmithError("an ad-hoc task needs --description as well as --env")
        return tasks.adhoc(env, description, fitness, steps=steps or 100_000)
    raise RewardsmithError("no task given", "pass --task TASK_ID (see `rewardsmith tasks`) or --env ENV_ID --description TEXT")


def timestamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


class JobProgress:
    """A rich progress bar per training job, fed by the worker pool's events."""

    def __init__(self, progress, total_steps: int):
        self.progress = progress
        self.total = total_steps
        self.ids: dict[int, int] = {}

    def __call__(self, job, ev: dict) -> None:
        key = id(job)
        if key not in self.ids:
            total = job.spec.steps or 1
            self.ids[key] = self.progress.add_task(job.label, total=total, status="queued")
        tid = self.ids[key]
        kind = ev.get("type")
        if kind == "progress":
            fit = ev.get("fitness")
            self.progress.update(tid, completed=ev["done"],
                                 status="training" + (f"  fitness {fmt(fit)}" if fit is not None else ""))
        elif kind == "started":
            self.progress.update(tid, status="starting")
        elif kind == "reused":
            self.progress.update(tid, completed=self.progress.tasks[tid].total,
                                 status=f"cached  fitness {fmt(ev['fitness'])}")
        elif kind == "finished":
            if ev.get("ok"):
                self.progress.update(tid, completed=self.progress.tasks[tid].total,
                                     status=f"done  fitness {fmt(ev['fitness'])}")
            else:
                self.progress.update(tid, status="[red]failed")


def make_progress(transient: bool = False):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[status]}"),
                    console=err_console, transient=transient)


def fmt(x, digits=3):
    if x is None:
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def print_table(table, con: Console | None = None) -> None:
    """A rich table on a terminal; into a file or a pipe, plain tab-separated rows with every
    cell in full (a boxed table there is clipped to a width and wraps ids and descriptions)."""
    from rich.text import Text

    con = con or console
    if con.is_terminal:
        con.print(table)
        return

    def plain(cell) -> str:
        text = cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain
        return " ".join(text.split())

    out = con.file
    if table.title:
        print(plain(table.title), file=out)
    cols = list(table.columns)
    print("\t".join(plain(c.header) for c in cols), file=out)
    cells = [list(c.cells) for c in cols]
    for r in range(table.row_count):
        print("\t".join(plain(col[r]) if r < len(col) else "" for col in cells), file=out)
    out.flush()


def print_verdict(v: dict[str, Any] | None, console) -> None:
    """A verdict (:mod:`rewardsmith.critic.verdict`) as every command prints it: one line, its
    warnings, then the details."""
    from rich.text import Text

    if not v:
        return
    console.print(Text(f"verdict: {v['line']}", style="bold"))
    for w in v.get("warnings") or []:
        console.print(Text(f"warning: {w}", style="yellow"))
    for d in v.get("details") or []:
        console.print(Text(f"  {d}"))
