"""A synthetic person: it ranks candidates by a hidden fitness, with optional noise (as in ICPL's
synthetic experiments). For tests, and for measuring how much a noisy ranker still helps.

The fitness comes from, in this order: an ``oracle_fitness`` callable applied to the
candidate's recorded evaluation episodes (mean over episodes), or the candidate's own
``fitness`` (the task's fitness as training measured it), or the task's fitness applied to the
recorded episodes.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.errors import RewardsmithError


def _episodes(task, folder: Path) -> list:
    from rewardsmith.contracts import Episode, episode_files
    from rewardsmith.feedback.video import seed_dirs

    for d in seed_dirs(folder):
        paths = episode_files(d / "train")
        if paths:
            return [Episode.load(p, task.spec) for p in paths]
    return []


@dataclass
class PreferenceOracle:
    """Ranks candidates by ``fitness + noise * spread * N(0, 1)``.

    ``noise`` is in units of the spread (standard deviation) of this group's fitness values, so
    it means the same for any task: 0 ranks exactly, 0.5 often swaps near neighbours, 3 is
    close to random. Draws are reproducible from ``seed`` and the iteration.
    """

    task: Any = None
    oracle_fitness: Callable[[Any], float] | None = None  # Episode -> float, higher is better
    noise: float = 0.0
    seed: int = 0

    def fitness(self, candidate: dict[str, Any]) -> float:
        if self.oracle_fitness is not None:
            if self.task is None:
                raise RewardsmithError("an oracle fitness over episodes needs the task")
            eps = _episodes(self.task, Path(candidate["folder"]))
            if not eps:
                raise RewardsmithError(f"candidate {candidate['id']} has no recorded evaluation "
                                       "episodes for the oracle to judge")
            return float(np.mean([float(self.oracle_fitness(e)) for e in eps]))
        if candidate.get("fitness") is not None:
            return float(candidate["fitness"])
        fit = getattr(self.task, "fitness", None)
        if fit is not None and candidate.get("folder"):
            eps = _episodes(self.task, Path(candidate["folder"]))
            if eps:
                return float(np.mean([fit(e) for e in eps]))
        raise RewardsmithError(
            f"the preference oracle has no fitness to rank candidate {candidate['id']} by",
            "the oracle needs a task with a fitness, or an oracle_fitness (e.g. --fitness EXPR)")

    def rank(self, candidates: Sequence[dict[str, Any]], iteration: int = 0) -> list[str]:
        """Ids best first."""
        if not candidates:
            return []
        ids = [c["id"] for c in candidates]
        f = np.array([self.fitness(c) for c in candidates], dtype=float)
        if self.noise > 0 and len(f) > 1:
            spread = float(np.std(f)) or 1.0
            key = zlib.crc32(f"{self.seed}:{iteration}:{','.join(ids)}".encode())
            rng = np.random.default_rng(key)
            f = f + self.noise * spread * rng.standard_normal(len(f))
        order = sorted(range(len(ids)), key=lambda k: (-f[k], k))
        return [ids[k] for k in order]
