"""The records a run folder holds, as types: one candidate record, read and written the same
way by the loop (as it trains) and by ``show``, ``report`` and ``export`` (through
:class:`~rewardsmith.runs.rundir.RunDir`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class Candidate:
    id: str
    iteration: int
    k: int
    # ok | rejected | failed | stopped (successive halving: weaker than the others part way
    # through its budget; keeps its partial results) | duplicate (the same program as ``duplicate_of``)
    status: str
    source: str = ""
    stage: str = ""
    error: str | None = None
    fitness: float | None = None  # first seed
    fitness_seeds: dict[str, float] = field(default_factory=dict)  # seed -> fitness
    success_rate: float | None = None
    train: dict[str, Any] | None = None  # TrainResult JSON of the first seed
    duplicate_of: str | None = None  # an earlier candidate with the same program (not retrained)
    success_seeds: dict[str, float] = field(default_factory=dict)  # seed -> success rate
    train_dir: str | None = None  # its first seed's results, relative to its folder
    signals: dict[str, Any] | None = None  # reward-hacking signals (rewardsmith.critic.hacking)
    # its agreement with the task score on the run's recorded episodes, before it trained
    # (rewardsmith.critic.screening.agreement)
    screening: dict[str, Any] | None = None
    # the same after its iteration trained, on episodes that include the iteration's own
    screening_after: dict[str, Any] | None = None
    # its terms that were 0 on (nearly) every random-policy step of its dry run, before it
    # trained: {"steps": n, "zero": {name: share}} (rewardsmith.sandbox.dryrun)
    silent: dict[str, Any] | None = None

    @property
    def score(self) -> float | None:
        """Mean fitness over every seed it was evaluated on."""
        if not self.fitness_seeds:
            return self.fitness
        return float(np.mean(list(self.fitness_seeds.values())))

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "score": self.score}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Candidate:
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**d)
