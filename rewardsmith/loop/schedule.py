"""How an iteration spends its training budget: every candidate in full, or successive halving.

Successive halving: every candidate of an iteration trains a first slice of its budget (a
quarter); once every candidate still in the race has reported its fitness on evaluation
episodes at the end of a slice, the best half continues from its saved policy (not from
scratch) and the rest stop. The last slice is the rest of the budget.

The decisions are synchronous over the iteration's cohort (:class:`Cohort`), not asynchronous
as in ASHA (Optuna's ``SuccessiveHalvingPruner``, which this replaced): with a handful of
candidates on a few workers, ASHA promotes whichever candidates report first, since a trial
alone at its rung is always promoted. Measured on hopper-forward-v0 (4 samples, 2 workers):
the first two candidates trained their whole budget before the other two had started, and
one of those two stopped at a quarter. While the cohort waits at a rung, the other jobs of the
batch (the baseline, the next candidates' checks) keep the workers busy, and the loop starts
each finalist's second seed beside (or behind) its last slice (``speculative_steps``), which
the re-evaluation continues if the finalist turns out best; on any worker count, so that seed
is always trained in the same two parts.

Decisions are written next to the slice (``decision.json``), so a resumed run makes the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEDULES = ("halving", "full")
FRACTIONS = (0.25, 0.5, 1.0)  # of the budget, where candidates are compared
REDUCTION = 2  # keep the best 1/REDUCTION at each of them


@dataclass(frozen=True)
class Slice:
    rung: int  # index into the rungs
    steps: int  # cumulative env steps at its end
    last: bool


class Halving:
    """One iteration's successive-halving rungs and who survives each."""

    def __init__(self, budget_steps: int, fractions: tuple[float, ...] = FRACTIONS,
                 reduction: int = REDUCTION):
        self.rungs = [max(1, round(budget_steps * f)) for f in fractions]
        self.rungs[-1] = budget_steps
        self.reduction = reduction

    def slice(self, rung: int) -> Slice:
        return Slice(rung, self.rungs[rung], rung == len(self.rungs) - 1)

    @property
    def speculative_steps(self) -> int:
        """Steps of a second seed trained beside a finalist's last slice (the same duration)."""
        return self.rungs[-2] if len(self.rungs) > 1 else self.rungs[-1]

    def survivors(self, fitness: dict[str, float]) -> set[str]:
        """The keys of a rung's cohort that continue: the best ``max(1, n // reduction)`` by
        fitness (ties broken by key, so the same results always give the same decisions)."""
        keep = max(1, len(fitness) // self.reduction)
        ranked = sorted(fitness, key=lambda k: (-fitness[k], k))
        return set(ranked[:keep])


@dataclass
class Cohort:
    """The barrier of synchronous successive halving: each rung's results are held until every
    candidate expected there has reported (a failed slice reports too) and no more candidates
    can join (``close``, once the iteration's answers are all checked)."""

    expected: dict[int, set[str]] = field(default_factory=lambda: {0: set()})
    arrived: dict[int, dict[str, Any]] = field(default_factory=dict)
    decided: set[int] = field(default_factory=set)
    closed: bool = False

    def enter(self, key: str) -> None:
        self.expected[0].add(key)

    def arrive(self, key: str, rung: int, payload: Any) -> None:
        self.arrived.setdefault(rung, {})[key] = payload

    def promote(self, keys: set[str], rung: int) -> None:
        """``keys`` go on to slice ``rung``."""
        self.expected[rung] = set(keys)

    def ready(self) -> list[tuple[int, dict[str, Any]]]:
        """The rungs whose results are all in and not yet decided, lowest first; each is marked
        decided as it is handed out."""
        out = []
        for rung in sorted(self.expected):
            if rung in self.decided or (rung == 0 and not self.closed):
                continue
            got = self.arrived.get(rung, {})
            if self.expected[rung] <= set(got):
                self.decided.add(rung)
                out.append((rung, {k: got[k] for k in sorted(self.expected[rung])}))
        return out
