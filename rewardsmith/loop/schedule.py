"""How an iteration spends its training budget: every candidate in full, or successive halving.

Successive halving (ASHA, asynchronous): every candidate trains a first slice of its budget
(a quarter); at the end of each slice its fitness on evaluation episodes is reported to
Optuna's :class:`~optuna.pruners.SuccessiveHalvingPruner`, which keeps the best half of the
candidates that reached that point and stops the rest. Survivors continue from their saved
policy (not from scratch) in a new job, which joins the batch while the other workers stay busy.
Decisions are written next to the slice (``decision.json``), so a resumed run makes the same ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

SCHEDULES = ("halving", "full")
FRACTIONS = (0.25, 0.5, 1.0)  # of the budget, where candidates are compared
REDUCTION = 2  # keep the best 1/REDUCTION at each of them


@dataclass(frozen=True)
class Slice:
    rung: int  # index into the rungs
    steps: int  # cumulative env steps at its end
    last: bool


class Halving:
    """One iteration's successive-halving bookkeeping (one Optuna trial per candidate)."""

    def __init__(self, budget_steps: int, fractions: tuple[float, ...] = FRACTIONS,
                 reduction: int = REDUCTION):
        import optuna

        logging.getLogger("optuna").setLevel(logging.WARNING)
        self.rungs = [max(1, round(budget_steps * f)) for f in fractions]
        self.rungs[-1] = budget_steps
        # Optuna's rungs fall at min_resource * reduction**k: the fractions must follow that
        for a, b in zip(self.rungs, self.rungs[1:-1]):
            assert abs(b - a * reduction) <= 1, "halving rungs must grow by the reduction factor"
        self.study = optuna.create_study(
            direction="maximize",
            pruner=optuna.pruners.SuccessiveHalvingPruner(
                min_resource=self.rungs[0], reduction_factor=reduction,
                min_early_stopping_rate=0))
        self.trials: dict[str, object] = {}

    def slice(self, rung: int) -> Slice:
        return Slice(rung, self.rungs[rung], rung == len(self.rungs) - 1)

    def keep(self, key: str, rung: int, fitness: float) -> bool:
        """Report ``key``'s fitness at the end of slice ``rung``: whether it continues."""
        trial = self.trials.get(key)
        if trial is None:
            trial = self.trials[key] = self.study.ask()
        trial.report(float(fitness), self.rungs[rung])  # type: ignore[attr-defined]
        return not trial.should_prune()  # type: ignore[attr-defined]
