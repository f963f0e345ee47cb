"""The statistics of every verdict: how a reward compares with the hand-written one and with the
untrained policy, over the few training seeds a design run can afford. One module, so
``evaluate``, the design summary, ``show``, the report and an exported module's header all say
the same thing.

The practice follows Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice"
(the ``rliable`` library):

- **Intervals** of a score are percentile bootstrap intervals over seeds, reproducible under a
  fixed seed; the untrained policy's evaluation episodes are resampled on their own (a
  stratified bootstrap). Fewer than :data:`MIN_INTERVAL_SEEDS` seeds give no interval: a
  bootstrap of two values is just their range, so the values are listed instead.
- **The interval of a paired difference** is the test's own (:class:`SignFlips`): the shifts it
  does not reject, a 90% interval that holds 0 exactly when the difference is not beyond
  noise. A bootstrap interval over five seeds covers less than it says, and could exclude 0
  while the test (rightly) finds nothing.
- **The interquartile mean** (IQM, the mean of the middle half) stands beside the mean from
  :data:`IQM_FROM_SEEDS` seeds on; it is robust to one lucky or unlucky seed.
- **The probability of improvement** P(X > Y) is the chance that a seed of one reward scores
  above a seed of the other (all pairs; ties count half), as ``rliable`` defines it.

Whether a difference is "beyond noise" is decided by exact tests, valid for any number of seeds:

- **A reward against the hand-written one**: paired by seed, the exact sign-flip permutation test
  of the mean difference (one-sided). With n seeds its smallest p-value is 2^-n, so four seeds or
  fewer can never settle a comparison at 95%; the verdict then says so in words instead of
  printing an interval wider than the data.
- **The hand-written reward against the untrained policy**: the untrained policy has no training
  noise, so its evaluation episodes (many per seed) are compared with the hand-written reward's
  seeds by the exact Mann-Whitney test (one-sided). Two seeds above every untrained episode of
  ten is p = 1/66: a hundredfold gap is never "undefined".

The normalized score ``(F - F_untrained) / |F_hand-written - F_untrained|`` (Eureka's
human-normalized score; F are means over seeds and the untrained policy's episodes) is defined
only where the hand-written reward beats the untrained policy beyond noise: otherwise it is
noise divided by noise (on one task: untrained 0.089, hand-written 0.064, a score of "141 ± 117").
:func:`normalized` is the one place that computes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

LEVEL = 0.95  # confidence level of every interval
ALPHA = 0.05  # "beyond noise": one-sided p below this
RESAMPLES = 10_000  # bootstrap resamples
MIN_INTERVAL_SEEDS = 3  # fewer seeds: the values are listed, no interval
IQM_FROM_SEEDS = 5  # the IQM is shown from this many seeds on
BOOTSTRAP_SEED = 0  # intervals are reproducible
SETTLING_SEEDS = next(n for n in range(1, 64) if 0.5 ** n < ALPHA)  # 5 at 95%
FORMULA = "(F - F_untrained) / |F_hand-written - F_untrained|"

Seeds = Mapping[Any, float]  # seed -> value (keys may be ints or their strings)


# ------------------------------------------------------------------------------ numbers
def fmt(x: float | None) -> str:
    """A number as the verdicts print it: 3 significant digits, no exponent below a million."""
    if x is None or not np.isfinite(x):
        return "-"
    if abs(x) >= 1e6 or (x != 0 and abs(x) < 1e-3):
        return f"{x:.2e}"
    if abs(x) >= 1000:
        return f"{x:.0f}"
    return f"{x:.3g}"


def signed(x: float | None) -> str:
    s = fmt(x)
    return s if x is None or s.startswith("-") else "+" + s


def _key(seed: Any) -> str:
    return str(seed)


def _scores(seeds: Seeds) -> dict[str, float]:
    """Seed -> score, without the seeds that have none or a non-finite one (a failed or
    numerically broken evaluation: a NaN must not count as a win or a loss)."""
    out = {}
    for k, v in seeds.items():
        if v is not None and math.isfinite(float(v)):
            out[_key(k)] = float(v)
    return out


def _finite(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def _broken(seeds: Seeds) -> list[str]:
    """The seeds whose score is not a finite number."""
    return _seed_order(_key(k) for k, v in seeds.items()
                       if v is not None and not math.isfinite(float(v)))


def _seed_order(keys) -> list[str]:
    return sorted(keys, key=lambda k: (int(k) if str(k).lstrip("-").isdigit() else 10**9, str(k)))


def iqm(values: Sequence[float]) -> float:
    """The interquartile mean: the mean of the middle 50% (``rliable``'s IQM)."""
    from scipy import stats

    return float(stats.trim_mean(np.asarray(values, dtype=float), 0.25))


def bootstrap(strata: Sequence[np.ndarray], stat: Callable[..., np.ndarray], *,
              seed: int = BOOTSTRAP_SEED, level: float = LEVEL) -> tuple[float, float] | None:
    """A percentile interval of ``stat`` by a stratified bootstrap: each stratum's rows are
    resampled with replacement on their own (rows of a 2-D stratum stay together: the scores of
    two rewards on one seed). ``stat`` takes one resampled array per stratum, each with a
    leading axis of resamples, and returns one value per resample. scipy's ``bootstrap``
    resamples either every sample on its own or all of them in pairs; the normalized score needs
    both (seeds in pairs, the untrained episodes on their own), hence this small resampler."""
    rng = np.random.default_rng(seed)
    draws = []
    for s in strata:
        s = np.asarray(s, dtype=float)
        draws.append(s[rng.integers(0, len(s), size=(RESAMPLES, len(s)))])
    with np.errstate(divide="ignore", invalid="ignore"):
        vals = np.asarray(stat(*draws), dtype=float)
    vals = vals[np.isfinite(vals)]
    if vals.size < RESAMPLES // 2:
        return None
    lo, hi = np.percentile(vals, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi)


# ------------------------------------------------------------------------ the pieces
def describe(values: Sequence[float], *, seed: int = BOOTSTRAP_SEED) -> dict[str, Any]:
    """One reward's score over seeds: mean, bootstrap interval (from 3 seeds), IQM (from 5)."""
    v = np.asarray([float(x) for x in values], dtype=float)
    out: dict[str, Any] = {"n": int(v.size), "mean": float(v.mean()) if v.size else None,
                           "std": float(v.std(ddof=1)) if v.size > 1 else (0.0 if v.size else None),
                           "low": None, "high": None, "iqm": None, "level": LEVEL,
                           "values": [float(x) for x in v]}
    if v.size >= MIN_INTERVAL_SEEDS:
        ci = bootstrap([v], lambda x: x.mean(axis=1), seed=seed)
        if ci:
            out["low"], out["high"] = ci
    if v.size >= IQM_FROM_SEEDS:
        out["iqm"] = iqm(v)
    return out


def probability_of_improvement(x: Sequence[float], y: Sequence[float]) -> float | None:
    """P(X > Y): the chance a seed of ``x`` scores above a seed of ``y`` (ties count half)."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if not a.size or not b.size:
        return None
    d = a[:, None] - b[None, :]
    return float(((d > 0) + 0.5 * (d == 0)).mean())


EXACT_FLIPS = 16  # up to this many seeds the sign-flip test enumerates every sign pattern
FLIP_RESAMPLES = 20_000  # random sign patterns past that


class SignFlips:
    """The sign-flip permutation test of the mean of paired differences ``d`` (one-sided, each
    way) and the interval it gives by inversion: every shift ``delta`` for which neither side
    rejects ``d - delta`` at :data:`ALPHA`. The interval (a ``1 - 2 ALPHA`` one, 90%) holds 0
    exactly when the test finds no difference, so the verdict's words and its interval never
    disagree, as a bootstrap interval over five seeds can (it covers less than it says)."""

    def __init__(self, d: Sequence[float], *, seed: int = BOOTSTRAP_SEED):
        self.d = np.asarray(d, dtype=float)
        n = self.d.size
        self.exact = n <= EXACT_FLIPS
        if self.exact:  # every pattern, the identity (all +1) among them
            bits = (np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]) & 1
            self.signs = 1.0 - 2.0 * bits
        else:
            rng = np.random.default_rng(seed)
            self.signs = rng.choice([-1.0, 1.0], size=(FLIP_RESAMPLES, n))

    def p_values(self, delta: float = 0.0) -> tuple[float, float]:
        """(p that the mean difference is above ``delta``, p that it is below)."""
        x = self.d - delta
        obs = x.mean()
        flipped = self.signs @ x / x.size
        tol = 1e-12 * max(1.0, float(np.abs(x).max()))  # ties count as reaching it
        ge, le = int(np.sum(flipped >= obs - tol)), int(np.sum(flipped <= obs + tol))
        if self.exact:
            return ge / flipped.size, le / flipped.size
        return (ge + 1) / (flipped.size + 1), (le + 1) / (flipped.size + 1)

    def interval(self) -> tuple[float, float] | None:
        """The shifts neither side rejects, or None where every shift is kept (with n seeds
        the smallest p-value is 2^-n: four seeds or fewer reject nothing at 5%)."""
        d = self.d
        if d.size == 0 or min(self.p_values(float(d.min()) - 1.0)) >= ALPHA:
            return None
        span = float(d.max() - d.min()) or max(abs(float(d.mean())), 1.0)

        def edge(inside: float, outside: float, side: int) -> float:
            for _ in range(100):  # bisection: p rises monotonically toward the mean
                mid = 0.5 * (inside + outside)
                if self.p_values(mid)[side] >= ALPHA:
                    inside = mid
                else:
                    outside = mid
                if abs(inside - outside) <= 1e-9 * span:
                    break
            return inside

        # the p-values change only where the observed mean ties a flipped one, at the mean of
        # the differences a pattern flips: each edge is one of those, found by bisection and
        # then taken exactly (an edge is kept: the interval is closed)
        flipped = self.signs < 0
        counts = flipped.sum(axis=1)
        breaks = (flipped @ d)[counts > 0] / counts[counts > 0]

        def exact(x: float, side: int) -> float:
            b = float(breaks[np.argmin(np.abs(breaks - x))])
            ok = abs(b - x) <= 1e-6 * span and self.p_values(b)[side] >= ALPHA
            return b if ok else x

        m = float(d.mean())
        return (exact(edge(m, float(d.min()) - span, 0), 0),
                exact(edge(m, float(d.max()) + span, 1), 1))


def paired(a: Seeds, b: Seeds, *, seed: int = BOOTSTRAP_SEED) -> dict[str, Any]:
    """``a`` against ``b`` on the seeds both were trained on: wins, the mean difference with the
    interval of the test (see :class:`SignFlips`), P(a > b), and the exact sign-flip
    permutation test (one-sided, each way)."""
    A, B = _scores(a), _scores(b)
    seeds = _seed_order(set(A) & set(B))
    x = np.array([A[s] for s in seeds])
    y = np.array([B[s] for s in seeds])
    d = x - y
    n = len(seeds)
    out: dict[str, Any] = {
        "seeds": seeds, "n": n, "wins": int((d > 0).sum()), "losses": int((d < 0).sum()),
        "ties": int((d == 0).sum()), "difference": float(d.mean()) if n else None,
        "differences": [float(v) for v in d], "low": None, "high": None,
        "level": 1 - 2 * ALPHA, "interval": "the shifts the paired test does not reject",
        "prob_improvement": probability_of_improvement(x, y),
        "test": "paired by seed, exact sign-flip permutation test, one-sided",
        "p_better": None, "p_worse": None, "alpha": ALPHA,
        # True: a beats b; False: b beats a; None: the seeds cannot tell
        "beyond_noise": None, "direction": None, "settles": n >= SETTLING_SEEDS,
    }
    if n >= 2:
        flips = SignFlips(d, seed=seed)
        if np.all(d == 0):
            out["p_better"] = out["p_worse"] = 1.0
        else:
            out["p_better"], out["p_worse"] = flips.p_values()
        if n >= MIN_INTERVAL_SEEDS:
            ci = flips.interval()
            if ci:
                out["low"], out["high"] = ci
        if out["p_better"] < ALPHA:
            out["beyond_noise"], out["direction"] = True, "better"
        elif out["p_worse"] < ALPHA:
            out["beyond_noise"], out["direction"] = True, "worse"
        elif out["settles"]:
            out["beyond_noise"] = False
    return out


def above_floor(values: Sequence[float], floor_episodes: Sequence[float], *,
                seed: int = BOOTSTRAP_SEED) -> dict[str, Any]:
    """Whether a reward's seeds score above the untrained policy's episodes beyond noise: the
    exact one-sided Mann-Whitney test (a permutation version where values tie), with the
    difference of means and its stratified bootstrap interval."""
    from scipy import stats

    x = np.asarray([float(v) for v in values], dtype=float)
    f = np.asarray(_finite(floor_episodes), dtype=float)
    out: dict[str, Any] = {"test": "seeds against the untrained policy's episodes, exact "
                                   "Mann-Whitney test, one-sided",
                           "n": int(x.size), "episodes": int(f.size), "p_value": None,
                           "beyond_noise": None, "alpha": ALPHA,
                           "difference": float(x.mean() - f.mean()) if x.size and f.size else None,
                           "low": None, "high": None}
    if not x.size or not f.size:
        out["why"] = "no scores to compare"
        return out
    pooled = np.concatenate([x, f])
    if np.unique(pooled).size == 1:
        p = 1.0
    elif x.size == 1:  # one seed: its rank among the pooled scores (ties count against it)
        p = float((1 + np.sum(f >= x[0])) / (f.size + 1))
    elif np.unique(pooled).size < pooled.size:  # ties: the exact null by permutation
        p = float(stats.mannwhitneyu(x, f, alternative="greater", method=stats.PermutationMethod(
            n_resamples=9_999, rng=np.random.default_rng(seed))).pvalue)
    else:
        p = float(stats.mannwhitneyu(x, f, alternative="greater", method="exact").pvalue)
    out["p_value"], out["beyond_noise"] = p, bool(p < ALPHA)
    if x.size >= 2:
        ci = bootstrap([x, f], lambda a, b: a.mean(axis=1) - b.mean(axis=1), seed=seed)
        if ci:
            out["low"], out["high"] = ci
    if not out["beyond_noise"]:
        smallest = 1.0 / math.comb(x.size + f.size, x.size)
        if smallest >= ALPHA:
            out["why"] = (f"{x.size} seed(s) cannot show it beats {f.size} untrained episodes "
                          f"(the smallest p-value possible is {smallest:.2g})")
    return out


def normalized(reward: Seeds, baseline: Seeds, floor_episodes: Sequence[float], *,
               seed: int = BOOTSTRAP_SEED) -> dict[str, Any]:
    """THE normalized score ``(F - F_untrained) / |F_hand-written - F_untrained|``, with F the
    means over the seeds both rewards trained on and the untrained policy's episodes: 1.0 is as
    good as the hand-written reward. ``defined`` is False (and ``why`` says so) unless the
    hand-written reward beats the untrained policy beyond noise; the interval comes from the
    same stratified bootstrap as every other (from 3 seeds), the IQM of per-seed scores from 5."""
    R, B = _scores(reward), _scores(baseline)
    seeds = _seed_order(set(R) & set(B))
    r = np.array([R[s] for s in seeds])
    b = np.array([B[s] for s in seeds])
    f = np.asarray(_finite(floor_episodes), dtype=float)
    out: dict[str, Any] = {"formula": FORMULA, "defined": False, "value": None, "low": None,
                           "high": None, "iqm": None, "per_seed": [], "n": len(seeds),
                           "level": LEVEL}
    if not seeds or not f.size:
        out["why"] = "no seeds on which both rewards trained, or no untrained episodes"
        return out
    gate = above_floor(b, f, seed=seed)
    out["baseline_vs_untrained"] = gate
    denom = abs(float(b.mean() - f.mean()))
    if not gate["beyond_noise"] or denom < 1e-12:
        p = gate.get("p_value")
        out["why"] = ("the hand-written reward does not beat the untrained policy beyond noise"
                      + (f" (p = {p:.2g})" if p is not None else "")
                      + (f": {gate['why']}" if gate.get("why") else "")
                      + "; compare the raw scores instead")
        return out
    per_seed = (r - f.mean()) / denom
    out.update(defined=True, value=float(per_seed.mean()), per_seed=[float(v) for v in per_seed])
    if len(seeds) >= MIN_INTERVAL_SEEDS:
        pairs = np.stack([r, b], axis=1)

        def stat(p, fl):
            fm = fl.mean(axis=1)
            return (p[..., 0].mean(axis=1) - fm) / np.abs(p[..., 1].mean(axis=1) - fm)

        ci = bootstrap([pairs, f], stat, seed=seed)
        if ci:
            out["low"], out["high"] = ci
    if len(seeds) >= IQM_FROM_SEEDS:
        out["iqm"] = iqm(per_seed)
    return out


# ------------------------------------------------------------------------- the verdict
def verdict(reward: Seeds, baseline: Seeds, floor_episodes: Sequence[float], *,
            reward_success: Seeds | None = None, baseline_success: Seeds | None = None,
            selected_on: Sequence[Any] = (), name: str = "the best",
            seed: int = BOOTSTRAP_SEED) -> dict[str, Any]:
    """Everything said about a reward against the hand-written one and the untrained policy,
    as numbers and as the words every command prints: ``line`` (one line, read at a glance),
    ``details`` and ``warnings``. ``reward`` and ``baseline`` map seeds to task scores (paired
    on the seeds both have); ``floor_episodes`` are the untrained policy's episode scores on the
    same seeds; ``selected_on`` names the seeds ``reward`` was selected on (its score there is
    optimistic)."""
    R, B = _scores(reward), _scores(baseline)
    seeds = _seed_order(set(R) & set(B))
    vs = paired(R, B, seed=seed)
    norm = normalized(R, B, floor_episodes, seed=seed)
    f = _finite(floor_episodes)
    broken = {"reward": _broken(reward), "baseline": _broken(baseline),
              "floor_episodes": len(floor_episodes) - len(f)}
    out: dict[str, Any] = {
        "seeds": seeds,
        "reward": describe([R[s] for s in seeds], seed=seed),
        "baseline": describe([B[s] for s in seeds], seed=seed),
        "floor": {"n_episodes": len(f), "mean": float(np.mean(f)) if f else None,
                  "std": float(np.std(f, ddof=1)) if len(f) > 1 else None},
        "versus_baseline": vs,
        "baseline_vs_untrained": norm.get("baseline_vs_untrained"),
        "normalized": norm,
        "selected_on": [s for s in _seed_order({_key(s) for s in selected_on}) if s in seeds],
        "held_out": None,
        "broken": broken,  # scores that are not finite numbers, left out of every figure
        "success": None,
    }
    if reward_success is not None and baseline_success is not None:
        rs, bs = _scores(reward_success), _scores(baseline_success)
        if set(rs) & set(bs):
            out["success"] = {"reward": float(np.mean([rs[s] for s in _seed_order(set(rs) & set(bs))])),
                              "baseline": float(np.mean([bs[s] for s in _seed_order(set(rs) & set(bs))])),
                              "versus_baseline": paired(rs, bs, seed=seed)}
    chosen = set(out["selected_on"])
    fresh = [s for s in seeds if s not in chosen]
    if chosen and fresh:  # the seeds the selection never saw: its optimism is not in them
        d = np.array([R[s] - B[s] for s in fresh])
        out["held_out"] = {"seeds": fresh, "reward": float(np.mean([R[s] for s in fresh])),
                           "baseline": float(np.mean([B[s] for s in fresh])),
                           "difference": float(d.mean()), "wins": int((d > 0).sum()),
                           "losses": int((d < 0).sum())}
    out["line"] = _line(vs)
    out["details"] = _details(out, name)
    out["warnings"] = _warnings(out, name)
    return out


def _line(vs: dict[str, Any]) -> str:
    n, w = vs["n"], vs["wins"]
    if n == 0:
        return "not compared: no seed on which both it and the hand-written reward trained"
    if n == 1:
        return (f"one seed cannot tell whether it beats the hand-written reward "
                f"(difference {signed(vs['difference'])})")
    interval = (f" [{fmt(vs['low'])}, {fmt(vs['high'])}]" if vs.get("low") is not None else "")
    poi = (f", P(improvement) {vs['prob_improvement']:.2f}"
           if vs.get("prob_improvement") is not None else "")
    if vs["direction"] == "better":
        return f"better than the hand-written reward on {w} of {n} seeds: {signed(vs['difference'])}{interval}{poi}"
    if vs["direction"] == "worse":
        return (f"worse than the hand-written reward on {vs['losses']} of {n} seeds: "
                f"{signed(vs['difference'])}{interval}{poi}")
    if not vs["settles"]:
        each = ", ".join(signed(x) for x in vs["differences"])
        return (f"{n} seeds cannot separate it from the hand-written reward: better on {w} of {n} "
                f"({each}); a paired test needs {SETTLING_SEEDS} seeds to reach {LEVEL:.0%}")
    return (f"no difference from the hand-written reward beyond noise on {n} seeds: better on "
            f"{w} of {n}, {signed(vs['difference'])}{interval}{poi}")


def _score(d: dict[str, Any]) -> str:
    s = fmt(d["mean"])
    if d.get("low") is not None:
        s += f" [{fmt(d['low'])}, {fmt(d['high'])}]"
    elif d.get("values") and d["n"] > 1:
        s += " (" + ", ".join(fmt(v) for v in d["values"]) + ")"
    if d.get("iqm") is not None:
        s += f", IQM {fmt(d['iqm'])}"
    return s


def _details(v: dict[str, Any], name: str) -> list[str]:
    vs, norm, n = v["versus_baseline"], v["normalized"], len(v["seeds"])
    out = []
    if n:
        out.append(f"task score over {n} seed(s), mean [{LEVEL:.0%} bootstrap interval]: "
                   f"{name} {_score(v['reward'])}; hand-written {_score(v['baseline'])}; untrained "
                   f"{fmt(v['floor']['mean'])} over {v['floor']['n_episodes']} episodes")
    if vs.get("p_better") is not None:
        out.append(f"test: {vs['test']}: p = {vs['p_better']:.2g} that it is better, "
                   f"{vs['p_worse']:.2g} that it is worse")
    if vs.get("low") is not None:
        out.append(f"difference {signed(vs['difference'])} [{fmt(vs['low'])}, {fmt(vs['high'])}]: "
                   f"the differences the same test does not reject ({vs['level']:.0%}; 0 lies "
                   f"outside exactly when it is beyond noise)")
    if vs.get("prob_improvement") is not None and vs["n"] > 1:
        out.append(f"P(improvement) {vs['prob_improvement']:.2f}: the share of all (its seed, "
                   "hand-written seed) pairs where its seed scored higher, unpaired, so it can "
                   "stay under 1 when it wins on every seed")
    if norm["defined"]:
        s = f"normalized score {FORMULA}: {fmt(norm['value'])}"
        if norm.get("low") is not None:
            s += f" [{fmt(norm['low'])}, {fmt(norm['high'])}]"
        if norm.get("iqm") is not None:
            s += f", IQM {fmt(norm['iqm'])}"
        out.append(s + " (1.0 = as good as the hand-written reward)")
    elif n:
        out.append(f"normalized score undefined: {norm.get('why', '')}")
    s = v.get("success")
    if s is not None:
        sv = s["versus_baseline"]
        out.append(f"success: {name} {s['reward']:.0%}, hand-written {s['baseline']:.0%} of "
                   f"evaluation episodes (better on {sv['wins']}, worse on {sv['losses']} of {sv['n']} seeds)")
    if v.get("selected_on"):
        out.append(f"seed(s) {', '.join(v['selected_on'])} are those {name} was selected on: "
                   f"its score there may be optimistic")
    h = v.get("held_out")
    if h:
        out.append(f"on the {len(h['seeds'])} seed(s) it was not selected on ({', '.join(h['seeds'])}): "
                   f"{name} {fmt(h['reward'])}, hand-written {fmt(h['baseline'])}, difference "
                   f"{signed(h['difference'])}, better on {h['wins']} of {len(h['seeds'])}")
    return out


def _warnings(v: dict[str, Any], name: str) -> list[str]:
    out = []
    b = v.get("broken") or {}
    for who, label in (("reward", name), ("baseline", "the hand-written reward")):
        if b.get(who):
            out.append(f"{label} scored no finite number on seed(s) {', '.join(b[who])} (the "
                       "simulation or the score broke down there): left out of every figure")
    if b.get("floor_episodes"):
        out.append(f"{b['floor_episodes']} of the untrained policy's episodes scored no finite "
                   "number: left out")
    return out + _success_warnings(v, name)


def _success_warnings(v: dict[str, Any], name: str) -> list[str]:
    s = v.get("success")
    if s is None or s["reward"] >= s["baseline"]:
        return []
    sv = s["versus_baseline"]
    noise = (", beyond noise" if sv["direction"] == "worse" else
             "" if sv["settles"] else f"; {sv['n']} seeds cannot say whether beyond noise")
    return [f"{name} by score succeeds less often than the hand-written reward: "
            f"{s['reward']:.0%} against {s['baseline']:.0%} of evaluation episodes "
            f"(worse on {sv['losses']} of {sv['n']} seeds{noise})"]


def from_records(best: Mapping[str, Any], reference: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The verdict of a run that has no closing evaluation (stopped before it, run with
    ``--final-seeds 0``, or from before closing evaluations), from its best candidate's record
    and the hand-written and untrained results the loop kept."""
    if not reference:
        return None
    base = reference.get("baseline") or {}
    floor = reference.get("floor") or {}
    base_seeds = base.get("seeds") or {}
    if not base_seeds and base.get("per_seed"):
        # runs from before per-seed records: the loop's seeds were 0.. (from its base seed)
        first = min((int(s) for s in best.get("fitness_seeds") or {}), default=0)
        base_seeds = {str(first + i): v for i, v in enumerate(base["per_seed"])}
    episodes = floor.get("episodes") or floor.get("per_seed") or []
    if not base_seeds or not episodes or not best.get("fitness_seeds"):
        return None
    return verdict(best["fitness_seeds"], base_seeds, episodes,
                   reward_success=best.get("success_seeds") or None,
                   baseline_success=base.get("success_seeds") or None,
                   selected_on=list(best.get("fitness_seeds") or {}))
