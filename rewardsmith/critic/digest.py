"""Compact feedback on many candidates: each candidate's component statistics in one line, and
the history of every earlier iteration in one line a candidate, within a size bound.

The reflection (:mod:`rewardsmith.critic.reflect`) speaks at length of the best candidate; these
keep every other candidate, and every idea already tried, in view for a few characters each.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence

from rewardsmith.critic.reflect import _fmt
from rewardsmith.critic.reflect import _trend as trend

HISTORY_CHARS = 2400  # the history's share of a request (about 600 tokens)


def _trend(values: Sequence[float | None]) -> str:
    return trend(values) or "n/a"


def component_stats(c) -> str:
    """One line on a trained candidate's reward components at the end of training: per
    component its mean per step, its share of the reward's magnitude and how its episode sum
    moved over training (rising, falling, flat); "" for a candidate without a training curve.

    ``c`` is the loop's candidate record (its ``train`` holds the TrainResult JSON)."""
    curve = (c.train or {}).get("curve") or []
    if not curve:
        return ""
    last = curve[-1]
    comps = last.get("components") or {}
    if not comps:
        return ""
    steps = max(float(last.get("episode_length") or 1.0), 1.0)
    total = sum(abs(v) for v in comps.values()) or 1.0
    parts = []
    for name in sorted(comps, key=lambda k: -abs(comps[k])):
        series = [p.get("components", {}).get(name) for p in curve]
        parts.append(f"{name} {_fmt(comps[name] / steps)} ({abs(comps[name]) / total:.0%}, "
                     f"{_trend(series)})")
    return "per step (share, trend): " + ", ".join(parts)


def best_episode(c) -> str:
    """The score of a trained candidate's best evaluation episode (and its worst), or ""."""
    fits = [f for f in (c.train or {}).get("eval_fitness") or [] if f is not None]
    if not fits:
        return ""
    seed = (c.train or {}).get("seed")
    # the details are of its first seed's training: said where it trained on more
    on = f" on seed {seed}" if seed is not None and len(c.fitness_seeds or {}) > 1 else ""
    if len(fits) == 1:
        return f"its one evaluation episode{on} scored {_fmt(fits[0])}"
    return (f"its best evaluation episode{on} scored {_fmt(max(fits))}, its worst "
            f"{_fmt(min(fits))}")


def candidate_details(c) -> str:
    """The indented line under a candidate's line in the iteration account: its component
    statistics and its best episode's score ("" when it did not train)."""
    parts = [p for p in (component_stats(c), best_episode(c)) if p]
    return ("    " + "; ".join(parts)) if parts else ""


def component_names(source: str | None) -> list[str]:
    """The names of the components a program returns (the string keys of the dict in its
    ``return reward, {...}``), in the order written; [] where there is none to read."""
    try:
        tree = ast.parse(source or "")
    except SyntaxError:
        return []
    out: list[str] = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple)
                and len(node.value.elts) == 2 and isinstance(node.value.elts[1], ast.Dict)):
            for k in node.value.elts[1].keys:
                if isinstance(k, ast.Constant) and isinstance(k.value, str) and k.value not in out:
                    out.append(k.value)
    return out


def history_line(c) -> str:
    """One candidate in a few words: its id, its idea (its component names) and its score."""
    names = component_names(c.source)
    idea = f" [{', '.join(names)}]" if names else ""
    if c.status == "duplicate":
        return f"{c.id}: repeat of {c.duplicate_of}"
    if c.status == "rejected":
        return f"{c.id}{idea}: rejected ({c.stage or 'check'})"
    if c.status == "failed":
        return f"{c.id}{idea}: training failed"
    if c.status == "screened":
        return f"{c.id}{idea}: screened out"
    score = _fmt(c.score)
    if c.success_rate is not None:
        score += f", success {c.success_rate:.0%}"
    if c.status == "stopped":
        score += " (stopped early)"
    return f"{c.id}{idea}: {score}"


def history(candidates: Iterable, best_id: str | None = None, *,
            max_chars: int = HISTORY_CHARS) -> str:
    """Every earlier iteration in a line a candidate (see :func:`history_line`), oldest first,
    the best so far marked. Beyond ``max_chars`` the oldest iterations shrink to one line each
    (their candidate count and their best), so the newest stay whole; "" with no candidates."""
    by_it: dict[int, list] = {}
    for c in candidates:
        by_it.setdefault(c.iteration, []).append(c)
    if not by_it:
        return ""

    def whole(it: int) -> list[str]:
        lines = [f"iteration {it}:"]
        for c in sorted(by_it[it], key=lambda c: c.k):
            mark = " (the best so far)" if c.id == best_id else ""
            lines.append(f"  - {history_line(c)}{mark}")
        return lines

    def short(it: int) -> list[str]:
        cs = by_it[it]
        scored = [c for c in cs if c.score is not None and c.status in ("ok", "stopped")]
        if not scored:
            return [f"iteration {it}: {len(cs)} candidates, none trained"]
        top = max(scored, key=lambda c: c.score)
        return [f"iteration {it}: {len(cs)} candidates; its best {history_line(top)}"]

    its = sorted(by_it)
    parts = {it: whole(it) for it in its}
    for it in its[:-1]:  # the oldest shrink first; the newest stays whole
        if sum(len(ln) + 1 for p in parts.values() for ln in p) <= max_chars:
            break
        parts[it] = short(it)
    lines = [ln for it in its for ln in parts[it]]
    text = "\n".join(lines)
    if len(text) > max_chars:  # even one line an iteration is too long: the newest kept
        kept: list[str] = []
        for ln in reversed(lines):
            if sum(len(x) + 1 for x in kept) + len(ln) > max_chars - 60:
                break
            kept.insert(0, ln)
        text = f"({len(lines) - len(kept)} older lines left out)\n" + "\n".join(kept)
    return text
