"""Event-level facts of evaluation episodes, for the feedback: what the scored quantity did in
each episode (its peak and when), what each of the task's measures did (a distance to a goal:
how close, when, where it ended), and, for robots that leave the ground, every flight with its
duration and peak height and the robot's orientation at each landing.

Snapshots at a few points of an episode miss a jump that lasts under a second; these are read
from every step. "The score so far" at time t is the task's own fitness of the episode cut at
t, so it is whatever the task scores (a distance, a peak height, a distance to a goal) without
knowing which.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from rewardsmith.contracts import Episode
from rewardsmith.critic.reflect import _fmt, _segments, crossed
from rewardsmith.tasks.task import Measure, Task

SCORE_POINTS = 200  # cuts of an episode the score so far is computed at (at most)
MAX_FLIGHTS = 3  # flights listed an episode (the longest); the rest are counted
MIN_FLIGHT_S = 0.04  # shorter airborne phases are bounces, not flights


def _cut(ep: Episode, t: int) -> Episode:
    """The first ``t`` steps of ``ep``."""
    return replace(ep, states=ep.states[: t + 1], actions=ep.actions[:t],
                   env_rewards=ep.env_rewards[:t], rewards=ep.rewards[:t],
                   components={k: v[:t] for k, v in ep.components.items()},
                   terminated=bool(ep.terminated and t == ep.length))


def _scores_of_cuts(ep: Episode, task: Task, cuts) -> np.ndarray:
    """The task score of ``ep`` cut after each of ``cuts`` steps. A fitness need not be defined
    on a few steps (a mean over none of them): numpy's warnings about that are not the user's
    to see, and such a cut scores NaN. Raises what the fitness raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.array([task.fitness(_cut(ep, int(t))) for t in cuts], dtype=float)


def score_so_far(ep: Episode, task: Task) -> tuple[np.ndarray, np.ndarray] | None:
    """``(steps, scores)``: the task score of the episode cut after each of up to
    :data:`SCORE_POINTS` steps (the last step always among them), leaving out the cuts it
    cannot score (NaN); None where the task has no fitness or it cannot score a cut episode."""
    if task.fitness is None or ep.length < 1:
        return None
    steps = np.unique(np.linspace(1, ep.length, min(SCORE_POINTS, ep.length)).astype(int))
    try:
        scores = _scores_of_cuts(ep, task, steps)
    except Exception:  # noqa: BLE001 - a fitness that needs the whole episode: no such facts
        return None
    ok = np.isfinite(scores)
    return (steps[ok], scores[ok]) if ok.any() else None


def _share(n: int, total: int) -> str:
    """``n`` of ``total`` as a percentage; "under 1%" rather than a 0% beside a count above 0."""
    return f"{n / total:.0%}" if n / total >= 0.005 else "under 1%"


def measure_values(ep: Episode, task: Task) -> list[tuple[Measure, np.ndarray]]:
    """Each of the task's measures with its value at every step of ``ep``; a measure that
    cannot be read on the episode (a field it lacks) is left out."""
    out = []
    for m in task.measures:
        try:
            out.append((m, np.asarray(m.values(ep))))
        except Exception:  # noqa: BLE001 - the feedback goes without it
            continue
    return out


def measure_facts(ep: Episode, task: Task,
                  values: list[tuple[Measure, np.ndarray]] | None = None) -> list[str]:
    """A phrase on each of the task's measures (see :class:`~rewardsmith.tasks.task.Measure`)
    over ``ep``: its value after the first step, its best and when, its value at the end, and
    the share of steps at or beyond its bar. A measure that cannot be read on the episode is
    left out. ``values``: :func:`measure_values` of ``ep``, where the caller has them."""
    out = []
    if ep.length < 1:
        return out
    t = np.asarray(ep.next.time, dtype=float)
    for m, v in measure_values(ep, task) if values is None else values:
        i = int(np.argmin(v) if m.better == "lower" else np.argmax(v))
        unit = f"{m.unit}; " if m.unit else ""
        text = (f"{m.name} ({unit}{m.better} is better): {_fmt(v[0])} at t={t[0]:.2f} s, best "
                f"{_fmt(v[i])} at t={t[i]:.2f} s, {_fmt(v[-1])} at the end")
        if m.bar is not None:
            hit = m.reached(v)
            side = "below" if m.better == "lower" else "above"
            n = int(hit.sum())
            text += f"; at or {side} {_fmt(m.bar)} on {n} of {len(v)} steps"
            if n:
                first = int(np.argmax(hit))
                text += f" ({_share(n, len(v))}), first at t={t[first]:.2f} s"
                text += _after_arrival(v[first:], hit[first:], t[first:], m.better, ep.spec.dt)
        out.append(text)
    return out


def _after_arrival(v: np.ndarray, hit: np.ndarray, t: np.ndarray, better: str, dt: float) -> str:
    """What a measure did after it first reached its bar (``v[0]``): whether it stayed, or how
    often and how far it went back beyond (an overshoot, a drift away, a knock-off). ``dt``:
    the seconds of one step."""
    later = len(v) - 1
    if later < 1:
        return ""
    away = ~hit[1:]
    k = int(away.sum())
    if k == 0:
        return ", and stayed there"
    w = v[1:] if better == "lower" else -v[1:]
    i = int(np.argmax(np.where(away, w, -np.inf))) + 1
    last = len(v) - 1 - int(np.argmax(hit[::-1]))  # the last step at the bar
    a, b = max(_segments(hit), key=lambda p: p[1] - p[0])  # the longest unbroken stay
    return (f", then beyond it again on {k} of the {later} later steps ({_share(k, later)}), "
            f"the worst of them {_fmt(v[i])} at t={t[i]:.2f} s, "
            + ("back at it at the end" if hit[-1] else f"last at it at t={t[last]:.2f} s")
            + f" (its longest unbroken stay: {b - a} steps, {(b - a) * dt:.2f} s, from "
              f"t={t[a]:.2f} s)")


SATURATION = 0.02  # an action entry within this share of its range from a bound is at its limit
MAX_ACTUATORS = 3  # actuators named in the saturation phrase (the most saturated)


def action_facts(ep: Episode, task: Task) -> str:
    """How often the episode's actions sat at a limit of their range (bang-bang control, which a
    reward without an action cost tends to produce), overall and for the most saturated
    actuators, and their mean size as a share of the limit. "" where the bounds are unknown."""
    if ep.length < 1:
        return ""
    try:
        low, high = task.action_bounds
    except Exception:  # noqa: BLE001 - no env to ask: the feedback goes without it
        return ""
    a = np.asarray(ep.actions, dtype=float).reshape(ep.length, -1)
    ok = np.isfinite(low) & np.isfinite(high) & (high > low)
    if a.shape[1] != len(low) or not ok.any():
        return ""
    a, low, high = a[:, ok], low[ok], high[ok]
    span = high - low
    at = (a <= low + SATURATION * span) | (a >= high - SATURATION * span)
    size = np.mean(np.abs(np.clip(a, low, high) - (low + high) / 2) / (span / 2))
    per = at.mean(axis=0)
    ctx = task.robot_context
    names = ([x.target for x in ctx.actuators] if ctx is not None and len(ctx.actuators) == len(ok)
             else [f"action[{i}]" for i in range(len(ok))])
    index = np.flatnonzero(ok)
    n = int(at.sum())
    text = (f"actions at a limit of their range (within {SATURATION:.0%} of it) on "
            f"{_share(n, at.size) if n else 'none'} of the entries; mean size {size:.2f} of the "
            f"limit")
    top = [j for j in np.argsort(-per, kind="stable")[:MAX_ACTUATORS] if per[j] >= 0.25]
    if top and len(per) > 1:
        text += "; most at a limit: " + ", ".join(
            f"action[{index[j]}] ({names[index[j]]}) {per[j]:.0%}" for j in top)
    return text


MAX_CONTACTS = 4  # bodies the contact phrase names (those in contact the longest; a quadruped's feet)


def contact_facts(ep: Episode, task: Task) -> str:
    """Which bodies touched something (the ground, an object, another of the robot's bodies)
    and how, from the ``*_contact`` fields: each one's share of the steps at 1, its touches
    (runs of steps at 1) and their mean length. A gait shows as feet that alternate; a dive or
    a crawl as a torso, a thigh or a knee on the ground. "" where nothing touched anything."""
    contact = [n for n in task.spec.fields if n.endswith("_contact")]
    if not contact or ep.length < 1:
        return ""
    nxt, dt = ep.next, ep.spec.dt
    on = {n: np.asarray(nxt[n]) > 0 for n in contact}
    touched = sorted((n for n in contact if on[n].any()), key=lambda n: -on[n].mean())
    if not touched:
        return ""
    parts = []
    for n in touched[:MAX_CONTACTS]:
        runs = _segments(on[n])
        mean = float(np.mean([b - a for a, b in runs])) * dt
        parts.append(f"{n} {_share(int(on[n].sum()), ep.length)}, {len(runs)}, {mean:.2f} s")
    text = ("contact fields (share of steps at 1, touches, mean touch): "
            + "; ".join(parts))
    if len(touched) > MAX_CONTACTS:
        text += f"; {len(touched) - MAX_CONTACTS} more touched less"
    if len(touched) < len(contact):
        text += "; the other contact fields stayed at 0"
    return text


QUARTERS = 4  # cuts of an episode the score so far is said at, for the best and worst episodes


def score_by_quarter(ep: Episode, task: Task) -> str:
    """The task score of the episode cut at each quarter of it (where a cumulative score was
    gained or lost, where a peak score was reached); "" where the task cannot score a cut."""
    if task.fitness is None or ep.length < QUARTERS:
        return ""
    cuts = [round(ep.length * (k + 1) / QUARTERS) for k in range(QUARTERS)]
    try:
        scores = [float(v) for v in _scores_of_cuts(ep, task, cuts)]
    except Exception:  # noqa: BLE001 - a fitness that needs the whole episode
        return ""
    t = np.asarray(ep.next.time, dtype=float)
    return ("the score so far at each quarter of the episode: "
            + ", ".join(f"{_fmt(s)} (t={t[c - 1]:.2f} s)" for s, c in zip(scores, cuts)))


def root_body(task: Task) -> str | None:
    """The robot's first body (its torso or root), by its field name prefix."""
    spec = task.spec
    return next((n[: -len("_pos")] for n, f in spec.fields.items()
                 if n.endswith("_pos") and f.group.startswith("body")), None)


def _tilt(ep: Episode, body: str, i: int) -> float | None:
    name = f"{body}_zaxis"
    if name not in ep.spec.fields:
        return None
    up = float(np.asarray(ep.next[name])[i, 2])
    return float(np.degrees(np.arccos(np.clip(up, -1.0, 1.0))))


def flights(ep: Episode, task: Task) -> tuple[list[str], int] | None:
    """The episode's flights (no body touching anything), longest first, each as "(start,
    duration, the root body's peak height, its upward speed at the takeoff, its tilt from
    upright at the landing)"; and how many there were in all. The takeoff speed sets the
    height a flight can reach (v^2 / 2g): a low one says the push-off is what falls short. None
    for a robot that cannot fly (a fixed base: an arm, a finger) or is not on the ground (no
    contact fields, or airborne most of the time: a swimmer)."""
    spec = task.spec
    ctx = task.robot_context
    if ctx is not None and not ctx.floating:  # an arm, a finger: "flights" of its base mislead
        return None
    contact = [n for n in spec.fields if n.endswith("_contact")]
    root = root_body(task)
    if not contact or root is None or ep.length < 2:
        return None
    nxt = ep.next
    airborne = np.all(np.stack([np.asarray(nxt[c]) for c in contact], axis=-1) == 0, axis=-1)
    if airborne.mean() > 0.9:
        return None
    t = np.asarray(nxt.time, dtype=float)
    z = np.asarray(nxt[f"{root}_pos"])[:, 2]
    vel = f"{root}_linvel"
    vz = np.asarray(nxt[vel])[:, 2] if vel in spec.fields else None
    phases = [(a, b) for a, b in _segments(airborne) if (b - a) * spec.dt >= MIN_FLIGHT_S - 1e-9]
    out = []
    for a, b in sorted(phases, key=lambda p: p[0] - p[1])[:MAX_FLIGHTS]:
        landing = _tilt(ep, root, b) if b < ep.length else None
        land = ("in the air at the end" if b >= ep.length else
                f"{landing:.0f} deg" if landing is not None else "-")
        up = f"{vz[a]:+.2f} m/s, " if vz is not None else ""
        out.append(f"({t[a]:.2f} s, {(b - a) * spec.dt:.2f} s, {z[a:b].max():.2f} m, {up}{land})")
    return out, len(phases)


ALIKE = 0.02  # episodes whose every figure is within this share of each other are alike


@dataclass(frozen=True)
class _Read:
    """What the lines read from one episode, once: its measures' values and its flights."""

    measures: list[tuple[Measure, np.ndarray]]
    flights: tuple[list[str], int] | None

    @classmethod
    def of(cls, ep: Episode, task: Task) -> _Read:
        return cls(measure_values(ep, task), flights(ep, task))


def _figures(ep: Episode, read: _Read, fit: float) -> tuple[float, ...]:
    """The figures two episodes must share to be alike: length, end, score, each measure's
    best and last value, and the number of flights."""
    out = [float(ep.length), float(ep.terminated), float(fit)]
    for m, v in read.measures:
        out += [float(v.min() if m.better == "lower" else v.max()), float(v[-1])]
    if read.flights is not None:
        out.append(float(read.flights[1]))
    return tuple(out)


def _alike(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return len(a) == len(b) and all(x == y or abs(x - y) <= ALIKE * max(abs(x), abs(y))
                                    for x, y in zip(a, b))


def episode_lines(task: Task, episodes: Sequence[Episode], fits: Sequence[float]) -> list[str]:
    """A line on each evaluation episode: its score, the peak of the score so far and when,
    the task's measures (see :func:`measure_facts`) and its flights (see :func:`flights`).
    Episodes alike an earlier one (the same length and end, and score, measures and flights
    within :data:`ALIKE` of its) are told in one line after it, with their scores."""
    reads = [_Read.of(ep, task) for ep in episodes]
    figures = [_figures(ep, reads[i], fits[i]) if i < len(fits) else None
               for i, ep in enumerate(episodes)]
    like: dict[int, list[int]] = {}
    told: list[int] = []
    for i, f in enumerate(figures):
        k = next((j for j in told if f is not None and figures[j] is not None
                  and _alike(figures[j], f)), None)
        if k is None:
            told.append(i)
            like[i] = []
        else:
            like[k].append(i)
    what = ["score"] + (["measures"] if task.measures else []) + (
        ["number of flights"] if reads and reads[0].flights is not None else [])
    within = (", ".join(what[:-1]) + " and " + what[-1]) if len(what) > 1 else what[0]
    lines = []
    for i in told:
        lines.append(_episode_line(task, i, episodes[i], fits, reads[i]))
        if like[i]:
            ids = ", ".join(map(str, like[i]))
            scores = ", ".join(_fmt(fits[j]) for j in like[i])
            lines.append(f"  episode(s) {ids} (score(s) {scores}): like episode {i}, not told "
                         f"again (the same length and end; {within} within {ALIKE:.0%} of its)")
    return lines


def _episode_line(task: Task, i: int, ep: Episode, fits: Sequence[float], read: _Read) -> str:
    cause = crossed(ep, task, brief=True)
    end = (f"ended early: {cause}" if cause else "ended early") if ep.terminated else \
        "ran to the limit"
    score = f"score {_fmt(fits[i])}, " if i < len(fits) else ""
    parts = [f"episode {i} ({score}{ep.length} steps, {end}):"]
    so_far = score_so_far(ep, task)
    if so_far is not None:
        steps, scores = so_far
        k = int(np.argmax(scores))
        # a peak at the end, or one no higher than the end (a score that never moved: 0 from
        # the first step to the last), is the episode's score: nothing to add
        if steps[k] < ep.length and scores[k] > scores[-1]:
            t_peak = float(np.asarray(ep.next.time)[steps[k] - 1])
            parts.append(f"score so far peaked at {_fmt(scores[k])} at t={t_peak:.2f} s")
    parts += measure_facts(ep, task, read.measures)
    if read.flights is not None:
        listed, n = read.flights
        if n == 0:
            parts.append("no flight")
        else:
            more = f", the {len(listed)} longest" if n > len(listed) else ""
            parts.append(f"{n} flight(s){more}: " + " ".join(listed))
    return "  " + " ".join(parts[:1]) + " " + "; ".join(parts[1:])
