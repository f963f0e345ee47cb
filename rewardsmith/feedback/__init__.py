"""Human preference feedback: watch the behaviours, rank them, steer the next rewards (ICPL-style).

The design loop calls :func:`collect` once per iteration, after training, with the candidates
that trained; it renders their clips (``mode="human"``), asks the person on a local page or in
the terminal (or asks a synthetic oracle, ``mode="oracle"``), turns the answer into pairwise
preferences and Bradley-Terry scores, and records it in ``runs/<id>/feedback/iteration-<i>.json``.
An iteration whose file exists is never asked again, so a resumed run goes on where it stopped.
:func:`feedback_text` turns the answer into the next prompt.

The person ranks blind by default: the candidates appear in a shuffled order (:func:`blind_order`,
seeded by the run's seed and the iteration, so a resumed run shows the same order; the order shown
is recorded with the answer) and their task scores stay hidden until the ranking is sent, so
neither the position nor a number tells which one the fitness prefers. ``show_scores=True`` shows
the scores from the start. The "previous best" label stays: it names the person's own earlier
pick, not a score, and that candidate's id (from an earlier iteration) would tell it anyway.
"""

from __future__ import annotations

import difflib
import os
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from rewardsmith.errors import RewardsmithError

MODES = ("human", "oracle", "vlm")
UIS = ("web", "cli")


@dataclass
class HumanFeedback:
    best: str
    worst: str | None
    order: list[str]  # best first; the middle is in the order passed unless full_order
    comment: str
    scores: dict[str, float]  # Bradley-Terry log-strength from this iteration's pairs
    source: str  # "human" | "oracle" | "vlm"
    iteration: int = -1
    full_order: bool = False  # the person (or oracle) ordered every candidate
    pairs: list[list[str]] = field(default_factory=list)  # [winner, loser]
    ui: str = ""
    answered_at: str = ""
    shown_order: list[str] = field(default_factory=list)  # the ids as the person saw them (human)
    blind: bool = False  # the task scores were hidden until the ranking was sent
    # --feedback vlm: the candidate selection picks (the judge's ranking combined with the task
    # score), the judge's verdict on each and the combined scores with the judge's weight
    selected: str = ""
    verdicts: dict[str, dict[str, str]] = field(default_factory=dict)
    combined: dict[str, float] = field(default_factory=dict)
    weight: float | None = None

    @property
    def pick(self) -> str:
        """The candidate selection takes: the combined score's choice, else the ranking's best."""
        return self.selected or self.best

    @property
    def ranking(self) -> list[str]:
        """Ids best first: the full order when there is one, else best, the rest, worst."""
        return list(self.order)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> HumanFeedback:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def feedback_path(run_dir: Path, iteration: int) -> Path:
    return Path(run_dir) / "feedback" / f"iteration-{iteration}.json"


def load(run_dir: Path, iteration: int) -> HumanFeedback | None:
    """The recorded answer of an iteration, or None when it was not answered yet."""
    from rewardsmith.runs.files import read_json

    p = feedback_path(run_dir, iteration)
    if not p.exists():
        return None
    try:
        return HumanFeedback.from_json(read_json(p))
    except (OSError, ValueError, TypeError) as e:
        raise RewardsmithError(f"{p} is unreadable: {e}", "delete it to be asked again") from None


def _cid(c: Any) -> str:
    return c["id"] if isinstance(c, Mapping) else c.id


def _source(c: Any) -> str:
    return (c.get("source") if isinstance(c, Mapping) else getattr(c, "source", "")) or ""


def blind_order(ids: Sequence[str], seed: int, iteration: int) -> list[str]:
    """The order the person sees ``ids`` in: a shuffle seeded by the run's seed and the
    iteration (the same after a resume, different from one iteration to the next) and independent
    of the order the ids come in, so a position says nothing about the candidates' fitness."""
    out = sorted(ids)
    random.Random(f"rewardsmith-feedback:{int(seed)}:{int(iteration)}").shuffle(out)
    return out


def record(run_dir: Path, iteration: int, ids: Sequence[str], answer: dict[str, Any], source: str,
           ui: str = "", extra: dict[str, Any] | None = None, *,
           shown_order: Sequence[str] | None = None, blind: bool = False,
           selected: str = "", verdicts: dict[str, dict[str, str]] | None = None,
           combined: dict[str, float] | None = None, weight: float | None = None) -> HumanFeedback:
    """Turn a checked answer into preferences and scores and write it, atomically.
    ``shown_order``: the ids in the order the person saw them; ``blind``: scores were hidden;
    the rest: a judge's selection, verdicts and combined scores (:mod:`rewardsmith.feedback.vlm`)."""
    from rewardsmith.feedback.preference import (
        PreferenceLog,
        bradley_terry,
        pairs_from_choice,
        pairs_from_order,
    )
    from rewardsmith.runs.files import atomic_write_json

    ids = list(ids)
    order = list(answer.get("order") or [])
    full = len(order) == len(ids) and len(ids) > 0
    if full:
        pairs = pairs_from_order(order)
        best, worst = order[0], (order[-1] if len(order) > 1 else None)
    else:
        best, worst = answer["best"], answer.get("worst")
        pairs = pairs_from_choice(ids, best, worst)
        order = [best] + [i for i in ids if i not in (best, worst)] + ([worst] if worst else [])
    scores = bradley_terry(pairs, ids)
    fb = HumanFeedback(best=best, worst=worst, order=order, comment=answer.get("comment") or "",
                       scores=scores, source=source, iteration=iteration, full_order=full,
                       pairs=[list(p) for p in pairs], ui=ui,
                       answered_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
                       shown_order=list(shown_order or []), blind=blind, selected=selected,
                       verdicts=dict(verdicts or {}), combined=dict(combined or {}), weight=weight)
    log = PreferenceLog(Path(run_dir) / "feedback" / "preferences.json")
    log.add(iteration, ids, pairs, source)
    log.save()
    atomic_write_json(feedback_path(run_dir, iteration),
                      {**fb.to_json(), "candidates": ids, **(extra or {})})  # written last
    return fb


def _ensure_logged(run_dir: Path, fb: HumanFeedback, ids: Sequence[str]) -> None:
    """A crash between the preference log and the answer file: put the answer in the log."""
    from rewardsmith.feedback.preference import PreferenceLog

    log = PreferenceLog(Path(run_dir) / "feedback" / "preferences.json")
    if str(fb.iteration) not in log.iterations:
        log.add(fb.iteration, ids, [tuple(p) for p in fb.pairs], fb.source)
        log.save()


def _notify_default(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in ("darwin", "win32")


def collect(mode: str, ui: str, run_dir: Path, iteration: int, task, candidates: list[dict],
            *, oracle_fitness: Callable[[Any], float] | None = None, noise: float = 0.0,
            seed: int = 0, videos: bool = True, video_source: str = "auto",
            video_settings=None, port: int | None = None, open_browser: bool | None = None,
            notify: Callable[[str], None] | None = None, console=None,
            input_stream: IO[str] | None = None, timeout: float | None = None,
            show_scores: bool = False, judge=None, weight: float = 0.5,
            on_reply: Callable[[Any], None] | None = None) -> HumanFeedback:
    """Ask for (or simulate) a ranking of ``candidates`` and record it; see the module doc.

    ``candidates``: dicts with ``id``, ``source`` (reward code), ``fitness`` (may be None) and
    ``folder`` (the candidate directory holding ``seed-<s>/train/``), in any order (e.g. best
    first); pass the ones that trained. An optional ``label`` is shown beside the id (e.g.
    "previous best", for the last iteration's winner shown again so the person can say nothing
    new is better). ``mode``: ``human`` or ``oracle``; ``ui``: ``web`` or ``cli`` (human only).
    Human: the candidates are shown in :func:`blind_order` (by ``seed`` and ``iteration``) and
    their task scores are hidden until the ranking is sent, unless ``show_scores``; the page's
    URL is printed on stderr as a plain line (and passed to ``notify``), whatever the output is.
    Oracle: ranks by ``oracle_fitness`` (Episode -> float, over the recorded evaluation episodes)
    or else by the candidates' fitness, with ``noise`` in units of the group's fitness spread.
    vlm: ``judge`` (a :func:`rewardsmith.feedback.vlm.make_judge` backend) looks at keyframes and
    ranks them; ``weight`` combines its ranking with the task score; ``on_reply`` gets each of
    its answers (for the token and cost accounting). See :mod:`rewardsmith.feedback.vlm`.
    """
    if mode not in MODES:
        raise RewardsmithError(f"unknown feedback mode {mode!r}; use {' or '.join(MODES)}")
    if ui not in UIS:
        raise RewardsmithError(f"unknown feedback ui {ui!r}; use {' or '.join(UIS)}")
    if not candidates:
        raise RewardsmithError(f"iteration {iteration}: no trained candidate to rank")
    ids = [c["id"] for c in candidates]
    if len(set(ids)) != len(ids):
        raise RewardsmithError(f"candidate ids repeat: {ids}")
    run_dir = Path(run_dir)
    if mode == "vlm":
        from rewardsmith.feedback import vlm

        if judge is None:
            raise RewardsmithError("--feedback vlm needs a judge", vlm.HINT)
        return vlm.collect(run_dir, iteration, task, candidates, judge, weight=weight, seed=seed,
                           notify=notify, on_reply=on_reply)
    prior = load(run_dir, iteration)
    if prior is not None:  # answered before a restart: never ask twice
        _ensure_logged(run_dir, prior, ids)
        return prior
    told = notify  # the default notice already goes to stderr: the URL line is not printed twice
    notify = notify or _notify_default

    if mode == "oracle":
        from rewardsmith.feedback.oracle import PreferenceOracle

        oracle = PreferenceOracle(task=task, oracle_fitness=oracle_fitness, noise=noise, seed=seed)
        order = oracle.rank(candidates, iteration)
        return record(run_dir, iteration, ids, {"order": order, "comment": ""}, "oracle",
                      extra={"oracle": {"noise": noise, "seed": seed,
                                        "fitness": "oracle_fitness" if oracle_fitness else "task"}})

    from rewardsmith.feedback.cards import make_cards

    shown_order = blind_order(ids, seed, iteration)
    by_id = {c["id"]: c for c in candidates}
    candidates = [by_id[cid] for cid in shown_order]  # numbered 1..n in this order
    blind = not show_scores
    folders = {c["id"]: Path(c["folder"]) for c in candidates}
    rendered: dict[str, Any] = {}
    if videos:
        from rewardsmith.feedback.video import VideoSettings, render_candidates

        settings = video_settings or VideoSettings()
        notify(f"rendering {len(candidates)} video(s) for iteration {iteration + 1}...")
        by_folder = render_candidates(task, list(folders.values()), source=video_source,
                                      settings=settings)
        rendered = {cid: by_folder.get(folders[cid]) for cid in shown_order}
        for cid, v in rendered.items():
            if isinstance(v, str):
                notify(f"  {cid}: no video ({v})")
    dt = None
    try:
        dt = float(task.spec.dt)
    except Exception:  # a plot without a time axis is still a plot
        dt = None
    cards = make_cards(candidates, rendered, dt)
    title = getattr(task, "id", "task")
    description = getattr(task, "description", "")

    def on_submit(answer: dict[str, Any]) -> dict[str, Any]:
        fb = record(run_dir, iteration, ids, answer, "human", ui=ui, shown_order=shown_order,
                    blind=blind)
        return {**fb.to_json(), "path": str(feedback_path(run_dir, iteration))}

    if ui == "cli":
        from rewardsmith.feedback.terminal import ask, reveal

        if console is None:
            from rich.console import Console

            console = Console(stderr=True)
        answer = ask(cards, folders, console=console, stream=input_stream,
                     title=f"{title}: iteration {iteration + 1}", description=description,
                     show_scores=show_scores)
        on_submit(answer)
        if blind:  # ranked and recorded: the scores can no longer sway it
            reveal(cards, console)
    else:
        from rewardsmith.feedback.server import FeedbackServer

        server = FeedbackServer(cards, folders, iteration=iteration, title=title,
                                description=description, on_submit=on_submit, port=port,
                                show_scores=show_scores)
        with server:
            notice = (f"rank the behaviours of iteration {iteration + 1} at {server.url} "
                      "(waiting for your answer; Ctrl-C stops the run, --resume asks again)")
            if told is not None:
                # a plain line, whatever the output is: the live view shows notices only on a
                # terminal, and a run logged to a file must still say where the page is
                print(f"rewardsmith: {notice}", file=sys.stderr, flush=True)
            notify(notice)
            if open_browser if open_browser is not None else _has_display():
                import webbrowser

                try:
                    webbrowser.open(server.url)
                except Exception:  # no browser: the URL is printed
                    pass
            if server.wait(timeout) is None:
                raise RewardsmithError(f"no answer on {server.url} within {timeout:g} s",
                                       "continue with --resume to be asked again")
    fb = load(run_dir, iteration)
    assert fb is not None
    return fb


def feedback_text(fb: HumanFeedback, candidates_by_id: Mapping[str, Any],
                  previous_best_source: str | None = None, *, max_diff_lines: int = 60) -> str:
    """The next prompt's user message (ICPL): the preferred and the rejected reward code, the
    person's comment, and what changed since the previous iteration's preferred reward.
    A judge's answer (``source == "vlm"``): its verdicts on each candidate instead."""
    from rewardsmith.llm import prompts

    if fb.source == "vlm":
        from rewardsmith.feedback.vlm import feedback_text as judge_text

        return judge_text(fb, candidates_by_id, _source)

    def src(cid: str | None) -> str:
        if cid is None or cid not in candidates_by_id:
            return ""
        return _source(candidates_by_id[cid])

    preferred = src(fb.best)
    rejected = src(fb.worst) or "# (there was no other candidate to compare it with)"
    text = prompts.human_message(preferred, rejected, fb.comment)
    notes = []
    n = len(fb.order)
    if fb.full_order and n > 2:
        notes.append(f"They ordered all {n} candidates: the preferred reward was ranked first "
                     f"and the rejected one last.")
    elif n > 2:
        notes.append(f"They compared {n} candidates: the preferred one was the best, the "
                     "rejected one the worst.")
    if previous_best_source is not None:
        old, new = previous_best_source.strip(), preferred.strip()
        if old == new:
            notes.append("What changed between iterations: nothing; the preferred reward is the "
                         "same as the one preferred in the previous iteration.")
        else:
            diff = list(difflib.unified_diff(old.splitlines(), new.splitlines(),
                                             "previous preferred", "preferred now", lineterm="", n=1))
            if len(diff) > max_diff_lines:
                diff = diff[:max_diff_lines] + [f"... ({len(diff) - max_diff_lines} more lines)"]
            notes.append("What changed between iterations: the preferred reward differs from the "
                         "one preferred in the previous iteration as follows:\n```diff\n"
                         + "\n".join(diff) + "\n```")
    if notes:
        text += "\n\n" + "\n\n".join(notes)
    return text


__all__ = ["HumanFeedback", "blind_order", "collect", "feedback_text", "load", "record",
           "feedback_path"]
