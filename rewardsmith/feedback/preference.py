"""Pairwise preferences turned into scores: Bradley-Terry (MM iterations) and Elo.

A person's answer becomes pairs ``(winner, loser)``: a best/worst pick says the best beat every
other candidate and every other candidate beat the worst; a full ordering says each candidate
beat every one below it. The scores of every candidate ever compared in a run are kept in
``runs/<id>/feedback/preferences.json``, one entry per iteration, so they can be recomputed
and read without the process that asked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rewardsmith.errors import RewardsmithError
from rewardsmith.runs.files import atomic_write_json, read_json

Pair = tuple[str, str]  # (winner, loser)


def pairs_from_choice(ids: Sequence[str], best: str, worst: str | None = None) -> list[Pair]:
    """Best beats everyone; everyone (but the best) beats the worst."""
    _known(ids, [best] + ([worst] if worst is not None else []))
    if worst is not None and worst == best:
        raise RewardsmithError(f"the best and the worst candidate are the same ({best})")
    pairs: list[Pair] = [(best, i) for i in ids if i != best]
    if worst is not None:
        pairs += [(i, worst) for i in ids if i not in (best, worst)]
    return pairs


def pairs_from_order(order: Sequence[str]) -> list[Pair]:
    """``order`` best first: each candidate beats every one after it."""
    if len(set(order)) != len(order):
        raise RewardsmithError(f"an ordering names a candidate twice: {list(order)}")
    return [(order[i], order[j]) for i in range(len(order)) for j in range(i + 1, len(order))]


def _known(ids: Sequence[str], names: Iterable[str]) -> None:
    unknown = [n for n in names if n not in ids]
    if unknown:
        raise RewardsmithError(f"unknown candidate(s) {', '.join(unknown)}",
                               f"the candidates are {', '.join(ids)}")


def _ids(pairs: Sequence[Pair], ids: Iterable[str] | None) -> list[str]:
    out = list(ids or [])
    for w, loser in pairs:
        for i in (w, loser):
            if i not in out:
                out.append(i)
    return out


def bradley_terry(pairs: Sequence[Pair], ids: Iterable[str] | None = None, *, prior: float = 0.5,
                  iters: int = 1000, tol: float = 1e-10) -> dict[str, float]:
    """Bradley-Terry strengths by Hunter's MM iterations; returns centred log-strengths.

    P(i beats j) = p_i / (p_i + p_j). ``prior`` adds that many virtual wins and losses of each
    candidate against a reference of strength 1, which keeps the estimate finite for a
    candidate that never won (or never lost) and pulls uncompared ones to 0.
    """
    names = _ids(pairs, ids)
    if not names:
        return {}
    idx = {n: k for k, n in enumerate(names)}
    n = len(names)
    wins = [0.0] * n
    games: dict[tuple[int, int], float] = {}
    for w, loser in pairs:
        a, b = idx[w], idx[loser]
        if a == b:
            continue
        wins[a] += 1.0
        key = (min(a, b), max(a, b))
        games[key] = games.get(key, 0.0) + 1.0
    p = [1.0] * n
    for _ in range(iters):
        denom = [0.0] * n
        for (a, b), g in games.items():
            s = g / (p[a] + p[b])
            denom[a] += s
            denom[b] += s
        new = []
        for k in range(n):
            num = wins[k] + prior
            den = denom[k] + 2 * prior / (p[k] + 1.0)
            new.append(max(num / den, 1e-12) if den > 0 else p[k])
        if prior <= 0:  # without a prior the likelihood only knows ratios: fix the scale
            g_mean = math.exp(sum(math.log(x) for x in new) / n)
            new = [x / g_mean for x in new]
        delta = max(abs(math.log(x) - math.log(y)) for x, y in zip(new, p))
        p = new
        if delta < tol:
            break
    logs = [math.log(x) for x in p]
    mean = sum(logs) / n
    return {name: round(logs[idx[name]] - mean, 9) for name in names}


def elo(pairs: Sequence[Pair], ids: Iterable[str] | None = None, *, k: float = 32.0,
        base: float = 1500.0, rounds: int = 20) -> dict[str, float]:
    """Elo ratings from the pairs, replayed ``rounds`` times with a shrinking K (order matters
    less the more rounds are played)."""
    names = _ids(pairs, ids)
    r = {name: base for name in names}
    for rnd in range(max(1, rounds)):
        kk = k / (1 + rnd)
        for w, loser in pairs:
            if w == loser:
                continue
            expected = 1.0 / (1.0 + 10 ** ((r[loser] - r[w]) / 400.0))
            r[w] += kk * (1.0 - expected)
            r[loser] -= kk * (1.0 - expected)
    return r


def ranking(scores: dict[str, float]) -> list[str]:
    """Ids best first (ties keep the order the scores were given in)."""
    return [n for n, _ in sorted(scores.items(), key=lambda kv: -kv[1])]


class PreferenceLog:
    """Every comparison of a run, by iteration, and the scores over all of them."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.iterations: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self.iterations = read_json(self.path).get("iterations", {})

    def add(self, iteration: int, ids: Sequence[str], pairs: Sequence[Pair], source: str) -> None:
        """Record (or replace: idempotent on resume) one iteration's comparisons."""
        self.iterations[str(iteration)] = {"ids": list(ids), "pairs": [list(p) for p in pairs],
                                           "source": source}

    def pairs(self) -> list[Pair]:
        return [(w, loser) for it in sorted(self.iterations, key=int)
                for w, loser in self.iterations[it]["pairs"]]

    def ids(self) -> list[str]:
        out: list[str] = []
        for it in sorted(self.iterations, key=int):
            out += [i for i in self.iterations[it]["ids"] if i not in out]
        return out

    def scores(self) -> dict[str, dict[str, float]]:
        """Per candidate: Bradley-Terry log-strength, Elo rating, wins and losses."""
        pairs, ids = self.pairs(), self.ids()
        bt, el = bradley_terry(pairs, ids), elo(pairs, ids)
        out = {i: {"bradley_terry": bt[i], "elo": el[i], "wins": 0, "losses": 0} for i in ids}
        for w, loser in pairs:
            out[w]["wins"] += 1
            out[loser]["losses"] += 1
        return out

    def save(self) -> None:
        atomic_write_json(self.path, {"iterations": self.iterations, "scores": self.scores(),
                                      "method": "Bradley-Terry (MM, prior 0.5) and Elo (K=32)"})
