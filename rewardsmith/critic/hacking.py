"""Reward-hacking signals: is the policy earning the candidate's reward without doing the task?

Three signals, each from data the training already produced:
- over training, the correlation between the reward's episode return and the task score across
  the curve's windows, and "reward up, score flat or down";
- over the evaluation episodes, the correlation between each episode's reward and its score;
- one component making up most of the reward's magnitude.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

MIN_POINTS = 4  # fewer points say nothing about a correlation
# an evaluation whose episodes take fewer distinct scores (0, 4, 0, 0, 0: one episode touched
# the target) makes a correlation of one outlier: no warning on it
MIN_DISTINCT_SCORES = 3
# an evaluation correlation is warned of only where so few episodes could not show it by chance
# (one-sided, Pearson): with 5 episodes, r = -0.77 has p = 0.06 and is not warned of
EVAL_ALPHA = 0.05


def negative_p(r: float, n: int) -> float:
    """The one-sided p-value of a Pearson correlation ``r`` this negative over ``n`` pairs, were
    there none (Student's t with n - 2 degrees of freedom)."""
    from scipy import stats

    if n < 3:
        return 1.0
    if r <= -1.0:
        return 0.0
    t = r * np.sqrt((n - 2) / max(1.0 - r * r, 1e-300))
    return float(stats.t.cdf(t, n - 2))


def _pairs(xs: Sequence[float | None], ys: Sequence[float | None]) -> list[tuple[float, float]]:
    """The pairs where both are known and finite."""
    return [(float(x), float(y)) for x, y in zip(xs, ys)
            if x is not None and y is not None and np.isfinite(x) and np.isfinite(y)]


def correlation(xs: Sequence[float | None], ys: Sequence[float | None]) -> float | None:
    """Pearson's r over the pairs where both are known and finite; None when undefined."""
    pairs = _pairs(xs, ys)
    if len(pairs) < MIN_POINTS:
        return None
    a, b = np.array(pairs).T
    if a.std() < 1e-12 or b.std() < 1e-12:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _change(values: Sequence[float | None]) -> float | None:
    """How much a series moved from its first third to its last, relative to its spread."""
    v = [float(x) for x in values if x is not None and np.isfinite(x)]
    if len(v) < MIN_POINTS:
        return None
    k = max(1, len(v) // 3)
    first, last = np.mean(v[:k]), np.mean(v[-k:])
    scale = max(np.ptp(v), abs(first), abs(last), 1e-9)
    return float((last - first) / scale)


def signals(train: Mapping[str, Any], episode_rewards: Sequence[float] | None = None,
            episode_scores: Sequence[float] | None = None) -> dict[str, Any]:
    """The signals for one trained candidate (``train``: its TrainResult JSON). ``flags`` holds
    the ones worth a warning: ``{"kind": "diverging" | "anticorrelated" | "dominant",
    "text": words}``."""
    curve = train.get("curve") or []
    reward = [p.get("reward_return") for p in curve]
    score = [p.get("fitness") for p in curve]
    out: dict[str, Any] = {"train_correlation": correlation(reward, score),
                           "eval_correlation": None, "dominant": None, "flags": []}

    def flag(kind: str, text: str) -> None:
        out["flags"].append({"kind": kind, "text": text})

    d_reward, d_score = _change(reward), _change(score)
    if d_reward is not None and d_score is not None and d_reward > 0.3 and d_score < 0.1:
        flag("diverging",
            f"its reward rose during training ({_fmt(reward[0])} -> {_fmt(reward[-1])} per "
            f"episode) while the task score {'fell' if d_score < -0.1 else 'stayed flat'} "
            f"({_fmt(score[0])} -> {_fmt(score[-1])}): the policy may be earning the reward "
            "without doing the task")
    elif out["train_correlation"] is not None and out["train_correlation"] < -0.3:
        flag("anticorrelated", f"over training, its reward and the task score moved against each "
                            f"other (correlation {out['train_correlation']:.2f})")
    if episode_rewards is not None and episode_scores is not None:
        r = correlation(episode_rewards, episode_scores)
        out["eval_correlation"] = r
        distinct = len({round(float(s), 9) for s in episode_scores if s is not None})
        n = len(_pairs(episode_rewards, episode_scores))  # the pairs r is computed over
        p = negative_p(r, n) if r is not None else 1.0
        if r is not None and r < -0.3 and distinct >= MIN_DISTINCT_SCORES and p < EVAL_ALPHA:
            flag("anticorrelated", f"over the {n} evaluation episodes, the episodes with more "
                                f"reward had lower task scores (correlation {r:.2f}, p = "
                                f"{p:.2g} that it is chance): the reward pays most for "
                                "something the task does not want")
    comps = (curve[-1].get("components") if curve else None) or {}
    total = sum(abs(v) for v in comps.values())
    if len(comps) > 1 and total > 0:
        dom = max(comps, key=lambda k: abs(comps[k]))
        share = abs(comps[dom]) / total
        out["dominant"] = {"component": dom, "share": share}
        if share > 0.8:
            flag("dominant", f"'{dom}' makes up {share:.0%} of the reward's magnitude; the "
                                "other terms barely change what the policy learns (right if "
                                f"'{dom}' is the task itself; if not, it swamps the task)")
    return out


def _fmt(x: float | None) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:.3g}"
