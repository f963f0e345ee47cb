"""``--feedback-ui cli``: rank the candidates in the terminal (rich), for machines with no browser.

The clips are still written into each candidate folder; the table links them, so a person on a
desktop can open them in a player (or ``rewardsmith videos`` renders them anywhere).

Blind by default, as on the page: the table has no task score column and the scores are printed
only once the answer is recorded (``show_scores=True`` shows them in the table).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import IO, Any

from rewardsmith.errors import RewardsmithError
from rewardsmith.feedback.cards import Card
from rewardsmith.feedback.server import validate_answer


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def show(cards: list[Card], folders: dict[str, Path], console, title: str = "",
         description: str = "", show_scores: bool = False) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title or "candidates", title_justify="left", caption=description or None,
                  caption_justify="left")
    table.add_column("#", justify="right", style="bold")
    table.add_column("candidate", no_wrap=True)
    if show_scores:
        table.add_column("task score", justify="right")
    table.add_column("steps", justify="right")
    table.add_column("reward components (episode sums)", overflow="fold")
    table.add_column("video", overflow="fold")
    for c in cards:
        comps = sorted(c.components.items(), key=lambda kv: -abs(kv[1]))[:4]
        steps = "-" if c.episode_length is None else (
            f"{c.episode_length}" + (" (ended early)" if c.terminated else ""))
        clip = c.mp4 or c.gif
        video = "-"
        if clip:
            p = (folders[c.id] / clip).resolve()
            video = f"[link=file://{p}]{escape(str(p))}[/link]"
        elif c.video_note:
            video = escape(c.video_note)
        score = [_fmt(c.fitness)] if show_scores else []
        table.add_row(str(c.number), c.id + (f" ({escape(c.label)})" if c.label else ""),
                      *score, steps,
                      escape(", ".join(f"{k} {_fmt(v)}" for k, v in comps) or "-"), video)
    console.print(table)
    if not show_scores:
        scored = any(c.fitness is not None for c in cards)
        console.print("blind ranking: the candidates are in a random order"
                      + (" and their task scores are shown once you have ranked them" if scored else ""),
                      style="dim", highlight=False)


def reveal(cards: list[Card], console) -> None:
    """After the ranking: the task scores the table did not show."""
    if all(c.fitness is None for c in cards):
        return
    console.print("task scores: " + ", ".join(f"{c.number} ({c.id}) {_fmt(c.fitness)}" for c in cards),
                  highlight=False)


def _read(console, prompt: str, stream: IO[str] | None) -> str:
    try:
        line = console.input(prompt, stream=stream)
    except EOFError:
        line = ""
        stream = stream or sys.stdin
    if stream is not None and line == "":
        raise RewardsmithError("no answer: the input ended before the ranking was complete")
    return line.strip()


def _numbers(text: str, n: int) -> list[int]:
    parts = [p for p in re.split(r"[\s,>]+", text) if p]
    if not parts or not all(p.isdigit() for p in parts):
        raise RewardsmithError("answer with candidate numbers, e.g. 2 or 2 1 3")
    nums = [int(p) for p in parts]
    bad = [k for k in nums if not 1 <= k <= n]
    if bad:
        raise RewardsmithError(f"there is no candidate {bad[0]}; the numbers go from 1 to {n}")
    return nums


def ask(cards: list[Card], folders: dict[str, Path], *, console=None, stream: IO[str] | None = None,
        title: str = "", description: str = "", max_tries: int = 5,
        show_scores: bool = False) -> dict[str, Any]:
    """Show the candidates, then ask for the best and worst (or a full order) and a comment.
    The task scores are in the table only with ``show_scores``; else :func:`reveal` shows them
    once the answer is recorded."""
    if console is None:
        from rich.console import Console

        console = Console(stderr=True)
    show(cards, folders, console, title, description, show_scores=show_scores)
    ids = [c.id for c in cards]
    n = len(cards)
    answer: dict[str, Any] | None = None
    for _ in range(max_tries):
        try:
            if n == 1:
                answer = validate_answer({"best": ids[0]}, ids)
                break
            text = _read(console, f"[bold]Best[/] candidate 1-{n} (or all numbers, best first, "
                                  f"e.g. {' '.join(str(k) for k in range(n, 0, -1))}): ", stream)
            nums = _numbers(text, n)
            if len(nums) == 1:
                best = ids[nums[0] - 1]
                if n == 2:  # the other one is the worst
                    answer = validate_answer({"best": best, "worst": ids[2 - nums[0]]}, ids)
                    break
                wtext = _read(console, f"[bold]Worst[/] candidate 1-{n}: ", stream)
                w = _numbers(wtext, n)
                if len(w) != 1:
                    raise RewardsmithError("name one worst candidate")
                answer = validate_answer({"best": best, "worst": ids[w[0] - 1]}, ids)
            elif len(nums) == n - 1 and len(set(nums)) == n - 1:
                rest = [k for k in range(1, n + 1) if k not in nums]
                answer = validate_answer({"order": [ids[k - 1] for k in nums + rest]}, ids)
            else:
                answer = validate_answer({"order": [ids[k - 1] for k in nums]}, ids)
            break
        except RewardsmithError as e:
            if "input ended" in e.message:
                raise
            console.print(f"[red]{e.message}[/]")
    if answer is None:
        raise RewardsmithError("no valid ranking after several tries")
    comment = _read(console, "[bold]Comment[/] for the reward designer (Enter for none): ", stream)
    answer["comment"] = comment
    return answer
