"""Honest comparisons over seeds: a confidence interval for each reward's fitness, a test of
whether one beats another beyond the noise between seeds (Welch's t-test, one-sided), and a
normalized score only where it means something.

The normalized score ``(F - F_floor) / |F_baseline - F_floor|`` divides by how much the
hand-written baseline improves on the untrained policy; when that improvement is itself within
the noise, the ratio is noise divided by noise (on one task: floor 0.089, baseline 0.064, and a
score of "141 ± 117"). It is then reported as undefined, with the raw fitness of both instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

LEVEL = 0.95  # confidence level of the intervals
ALPHA = 0.05  # "beyond noise": one-sided p below this


def interval(values: Sequence[float], level: float = LEVEL) -> dict[str, Any]:
    """Mean and a t-based confidence interval over seeds (none from a single seed)."""
    from scipy import stats

    v = np.asarray([float(x) for x in values], dtype=float)
    out: dict[str, Any] = {"mean": float(v.mean()) if v.size else None, "n": int(v.size),
                           "low": None, "high": None, "level": level}
    if v.size >= 2:
        half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
        out["low"], out["high"] = out["mean"] - half, out["mean"] + half
    return out


def beats(a: Sequence[float], b: Sequence[float], alpha: float = ALPHA) -> dict[str, Any]:
    """Whether ``a`` is higher than ``b`` beyond the noise between seeds: Welch's t-test, one
    sided. Needs two seeds on each side; with no spread on either side the means decide."""
    from scipy import stats

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    out: dict[str, Any] = {"test": "Welch's t-test over seeds, one-sided", "alpha": alpha,
                           "difference": float(x.mean() - y.mean()) if x.size and y.size else None,
                           "p_value": None, "beyond_noise": None}
    if x.size < 2 or y.size < 2:
        out["why"] = "needs at least 2 seeds on each side"
        return out
    if x.std() == 0 and y.std() == 0:
        p = 0.0 if x.mean() > y.mean() else 1.0
    else:
        p = float(stats.ttest_ind(x, y, equal_var=False, alternative="greater").pvalue)
    out["p_value"], out["beyond_noise"] = p, bool(p < alpha)
    return out


def compare(reward: Sequence[float], baseline: Sequence[float], floor: Sequence[float],
            normalized_per_seed: Sequence[float | None]) -> dict[str, Any]:
    """Everything ``evaluate --compare`` and the design summary say about a reward against the
    hand-written baseline and the untrained floor."""
    base_ok = beats(baseline, floor)
    out: dict[str, Any] = {
        "reward": interval(reward), "baseline": interval(baseline), "floor": interval(floor),
        "reward_vs_baseline": beats(reward, baseline),
        "baseline_vs_floor": base_ok,
    }
    valid = [x for x in normalized_per_seed if x is not None]
    norm: dict[str, Any] = {"per_seed": list(normalized_per_seed),
                            "formula": "(F - F_floor) / |F_baseline - F_floor|",
                            **({k: v for k, v in interval(valid).items()} if valid else
                               {"mean": None, "low": None, "high": None}),
                            "defined": True}
    if base_ok["beyond_noise"] is False:
        norm["defined"] = False
        norm["why"] = (f"the baseline does not beat the untrained policy beyond noise "
                       f"(p = {base_ok['p_value']:.2g}): compare the raw fitness instead")
    out["normalized_score"] = norm
    return out


def verdict(c: dict[str, Any]) -> str:
    """One line a person can trust: beats / does not beat the baseline, with the p-value."""
    t = c["reward_vs_baseline"]
    if t["p_value"] is None:
        return f"cannot tell whether it beats the baseline ({t.get('why', 'too few seeds')})"
    if t["beyond_noise"]:
        return f"beats the baseline beyond noise ({t['test']}, p = {t['p_value']:.2g})"
    return (f"does not beat the baseline beyond noise ({t['test']}, p = {t['p_value']:.2g}; "
            f"difference {t['difference']:+.3g})")
