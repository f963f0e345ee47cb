"""Screening a reward on recorded trajectories, before any training (after CARD's trajectory
preference evaluation): does the reward rank the run's recorded evaluation episodes the way the
task score ranks them?

The returns themselves are computed in the sandbox (the dry-run worker runs the program on
every recorded episode, jailed, within the dry run's limits); this module turns them into the
agreement: Kendall's tau between the episodes' returns and their task scores, for the reward
and for each of its components, and the words the designer reads ("'alive' ranks the recorded
episodes against the task score: it pays the 10 untrained episodes more than ...").

A tau near 1 means the reward already prefers what the task scores higher; near 0, it does not
tell them apart; below 0, it prefers the worse episodes. It is a cheap, noisy signal: a reward
can rank finished behaviours well and still be hard to learn from, so it orders and screens
candidates but never selects the best (training does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MIN_EPISODES = 4  # fewer recorded episodes: no agreement is computed
MAX_EPISODES = 120  # the most recent ones beyond this are kept (the reference ones always)


@dataclass(frozen=True)
class Screening:
    """The recorded episodes an iteration's candidates are screened on: the file the sandbox
    reads (see ``sandbox.dryrun.write_episodes``), each episode's task score and where it
    comes from."""

    path: Path
    scores: list[float]
    groups: list[str]
    discount: float = 0.99  # the learner's, which the discounted returns use


def kendall(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b between ``x`` and ``y`` (None where either is constant or too short)."""
    from scipy import stats

    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if a.size < MIN_EPISODES or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    tau = stats.kendalltau(a, b).statistic
    return None if not np.isfinite(tau) else float(tau)


def agreement(returns: Mapping[str, Any], scores: Sequence[float],
              groups: Sequence[str]) -> dict[str, Any]:
    """The agreement of a reward with the task score on recorded episodes.

    ``returns``: what the sandbox computed: ``{"returns": [...], "discounted": [...],
    "components": {name: [...]}}``, one value per episode; ``scores``: each episode's task
    score; ``groups``: where each episode comes from ("untrained", "hand-written", a candidate
    id), for the words."""
    ret = list(returns.get("returns") or [])
    out: dict[str, Any] = {
        "episodes": len(ret), "tau": kendall(ret, scores),
        "tau_discounted": kendall(returns.get("discounted") or [], scores),
        "components": {k: kendall(v, scores) for k, v in (returns.get("components") or {}).items()},
        "groups": sorted(set(groups)),
    }
    out["text"] = describe(out, returns, scores, groups)
    return out


def sources(groups: Sequence[str]) -> str:
    """Whose policies played the recorded episodes, in words: "of the hand-written reward's
    policy, the untrained policy and 3 trained candidates" (those of earlier runs counted apart)."""
    names = set(groups)
    parts = [w for g, w in (("hand-written", "the hand-written reward's policy"),
                            ("untrained", "the untrained policy")) if g in names]
    mine = sum(1 for g in names if g not in ("hand-written", "untrained") and "/" not in g)
    other = sum(1 for g in names if "/" in g)
    if mine:
        parts.append(f"{mine} trained candidate{'s' if mine > 1 else ''}")
    if other:
        parts.append(f"{other} candidate{'s' if other > 1 else ''} of earlier runs")
    if not parts:
        return "of policies not named"
    return "of " + (parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1])


SMALL_TERM = 0.1  # a term whose spread is under this share of the return's is not named
TAU_LEGEND = " (1: the same order, 0: unrelated, -1: reversed)"  # beside a Kendall tau


def describe(a: Mapping[str, Any], returns: Mapping[str, Any], scores: Sequence[float],
             groups: Sequence[str]) -> str:
    """One line for the designer: the reward's agreement and the term that disagrees most."""
    if a.get("tau") is None:
        return (f"agreement with the task score not measured ({a.get('episodes', 0)} recorded "
                "episodes, or the reward or the scores do not vary over them)")
    text = (f"on {a['episodes']} recorded episodes ({sources(groups)}) its return ranks them "
            f"like the task score with Kendall tau {a['tau']:+.2f}{TAU_LEGEND}")
    comps = returns.get("components") or {}
    total = np.asarray(returns.get("returns") or [], dtype=float)

    def matters(name: str) -> bool:
        """A term whose spread over the episodes is a tenth of the return's or more: one that
        small (an action cost that better policies pay more of) cannot reorder them."""
        v = np.asarray(comps.get(name) or [], dtype=float)
        if v.size != total.size or total.size < 2 or not np.all(np.isfinite(v)):
            return True
        return float(np.std(v)) >= SMALL_TERM * float(np.std(total))

    worst = sorted(((t, k) for k, t in (a.get("components") or {}).items()
                    if t is not None and matters(k)))
    if worst and worst[0][0] < 0:
        tau, name = worst[0]
        text += f"; '{name}' ranks them against the task score (tau {tau:+.2f})"
        comp = np.asarray((returns.get("components") or {}).get(name) or [], dtype=float)
        s = np.asarray(scores, dtype=float)
        if comp.size == s.size and comp.size >= MIN_EPISODES:
            n = max(1, comp.size // 4)
            top, bottom = np.argsort(-s)[:n], np.argsort(s)[:n]
            text += (f": it pays the {n} lowest-scoring episodes {float(comp[bottom].mean()):.3g} "
                     f"on average and the {n} highest-scoring {float(comp[top].mean()):.3g}")
    return text


def taus(record: Mapping[str, Any]) -> str:
    """A candidate record's agreement for a table: before training, and after where measured
    ("+0.40 → +0.55"); "-" when it has none."""
    before = (record.get("screening") or {}).get("tau")
    after = (record.get("screening_after") or {}).get("tau")
    if before is None and after is None:
        return "-"
    text = "-" if before is None else f"{before:+.2f}"
    return text if after is None else f"{text} → {after:+.2f}"
