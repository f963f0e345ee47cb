"""Reflection: turn a training result into text the LLM (or the offline designer) can act on.

Better than a bare list of numbers: per-component statistics at about ten points over training
and how they moved, fitness and success over training, episode lengths, and a short trajectory
summary of the best and the worst evaluation episode (key state values over time, and events
such as falling or flipping).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewardsmith.contracts import OTHER_END, Episode, TrainResult
from rewardsmith.tasks.task import Task

TRAJECTORY_POINTS = 8
MAX_TRAJECTORY_FIELDS = 6


def _fmt(x: float | None) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    if abs(x) >= 1000 or abs(x) < 0.01:
        return f"{x:.2e}"
    return f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"


def _series(values: Sequence[float | None]) -> str:
    return "[" + ", ".join(_fmt(v) for v in values) + "]"


def _trend(values: Sequence[float | None]) -> str:
    """"rising", "falling" or "flat"; for a series that is never positive (a penalty), which
    way its size went too: "falling" alone leaves the reader to work out that it grew."""
    v = [x for x in values if x is not None]
    if len(v) < 2:
        return ""
    first, last = v[0], v[-1]
    spread = max(abs(max(v) - min(v)), 1e-12)
    if abs(last - first) < 0.1 * spread + 1e-9:
        return "flat"
    # a series that went up and down by far more than it moved in all (a score that peaked,
    # fell back and recovered) is said to be unsteady, not simply rising
    unsteady = ", unsteadily" if float(np.sum(np.abs(np.diff(v)))) > 2.5 * abs(last - first) else ""
    if max(v) <= 0 and min(v) < 0:
        return ("falling: a larger penalty" if last < first else "rising: a smaller penalty") + unsteady
    return ("rising" if last > first else "falling") + unsteady


def fields_used(source: str) -> list[str]:
    """State fields a reward program reads (``state.x`` / ``next_state.x``), in order of use."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    out: list[str] = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in ("state", "next_state") and node.attr not in out):
            out.append(node.attr)
    return out


def measure_fields(task: Task, ep: Episode) -> list[str]:
    """The state fields the task's measures read (in the state view's order), found by calling
    them on ``ep`` through a view that notes what they look up."""
    from dataclasses import replace

    spec = task.spec
    probe, read = spec.recording()
    seen = replace(ep, spec=probe)
    for m in task.measures:
        try:
            m.fn(seen)
        except Exception:  # noqa: BLE001 - one that cannot be read names no field
            continue
    return [f for f in spec.fields if f in read]


def _key_fields(task: Task, source: str, ep: Episode | None = None) -> list[str]:
    """The fields a trajectory summary shows: those the reward reads, those the task's measures
    read, then the root body's pose of a robot that moves about (a fixed arm's base never
    moves)."""
    spec = task.spec
    skip = ("dt", "time", "qpos", "qvel")
    chosen = [f for f in fields_used(source) if f in spec.fields and f not in skip]
    if ep is not None:
        chosen += [f for f in measure_fields(task, ep) if f not in chosen and f not in skip]
    ctx = task.robot_context
    if ctx is not None and not ctx.floating and chosen:
        return chosen[:MAX_TRAJECTORY_FIELDS]
    pitch = _pitch_field(task)
    if pitch and pitch not in chosen[:MAX_TRAJECTORY_FIELDS]:
        # a planar robot's pitch shows a dive or a fall, whatever the reward reads
        chosen = [f for f in chosen if f != pitch]
        chosen.insert(min(len(chosen), MAX_TRAJECTORY_FIELDS - 1), pitch)
    root = next((n[: -len("_pos")] for n in spec.fields if n.endswith("_pos") and spec.fields[n].group.startswith("body")), None)
    # the root's motion, or the centre of mass's where there is no root body: both would say
    # nearly the same twice (a reward or a measure that reads the centre of mass shows it above)
    defaults = [f"{root}_pos", f"{root}_linvel", f"{root}_zaxis"] if root else ["com_pos", "com_vel"]
    for f in defaults:
        if f in spec.fields and f not in chosen:
            chosen.append(f)
    return chosen[:MAX_TRAJECTORY_FIELDS]


def _component_text(name: str, values: list[float]) -> str:
    return f"  {name}: {_series(values)} ({_trend(values)})"


def _pitch_field(task: Task) -> str | None:
    """The root's pitch hinge of a planar robot (gymnasium's ``rooty``), whose angle keeps
    counting past a full turn."""
    for name, f in task.spec.fields.items():
        if name.endswith("_angle") and f.group.startswith("joint root") and name.startswith("rooty"):
            return name
    return None


def _segments(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs, end exclusive, of the runs of True in ``mask``."""
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(int)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


END_STEPS = 20  # the steps before an early end whose reward is set against the episode's


def _at_the_end(ep: Episode, task: Task) -> str:
    """Which of the env's bounds the last state crossed (see :func:`crossed`), and the root's
    height and pitch there where they are not among them, to set against the env's rule for
    ending an episode (which the first request states)."""
    from rewardsmith.critic.episode_facts import root_body

    nxt, parts = ep.next, []
    found = _crossed(ep, task)
    named = {b.kind for b, _ in found}  # said there: not again below
    root = root_body(task)
    if root is not None and f"{root}_pos" in ep.spec.fields and "height" not in named:
        parts.append(f"{root} height {_fmt(float(np.asarray(nxt[f'{root}_pos'])[-1, 2]))} m")
    pitch = _pitch_field(task)
    if pitch is not None and "pitch" not in named:
        parts.append(f"{pitch} {_fmt(float(np.asarray(nxt[pitch])[-1]))} rad")
    return ((f"; it ended as {_crossed_text(found)}" if found else "")
            + ("; in its last state, " + ", ".join(parts) if parts else ""))


def _crossed(ep: Episode, task: Task) -> list[tuple[Any, float]]:
    """The env's bounds (see :class:`~rewardsmith.tasks.context.Bound`) that the last state of
    an episode that ended early lies outside, each with its value there."""
    from rewardsmith.tasks.context import crossed_bounds

    ctx = task.robot_context
    if not ep.terminated or ep.length < 1 or ctx is None or not ctx.bounds:
        return []
    return crossed_bounds(ctx.bounds, ep.next)


def _crossed_text(found: list[tuple[Any, float]], brief: bool = False) -> str:
    if brief:  # the field alone: its words are said in the first request and the trajectories
        return " and ".join(f"{b.name()} {v:+.4g} {b.unit}, outside ({b.low:g}, {b.high:g})"
                            for b, v in found)
    return " and ".join(f"{b.what} ({b.name()}) reached {v:+.4g} {b.unit}, outside "
                        f"({b.low:g}, {b.high:g})" for b, v in found)


def crossed(ep: Episode, task: Task, brief: bool = False) -> str:
    """Which of the env's bounds the last state of an episode that ended early crossed: "its
    pitch angle (rooty_angle) reached +0.2034 rad, outside (-0.2, 0.2)" ("rooty_angle +0.2034
    rad, outside (-0.2, 0.2)" ``brief``); "" where none is known or none was crossed (another
    of its rules ended it)."""
    return _crossed_text(_crossed(ep, task), brief)


def _reward_at_the_end(ep: Episode) -> str:
    """Where an episode ended early: its reward per step just before the end against its mean
    over the episode, and the component that rose most there. A reward that pays more as the
    robot falls shows here."""
    n = min(END_STEPS, ep.length // 5)
    r = np.asarray(ep.rewards, dtype=float)
    if n < 2 or not np.all(np.isfinite(r)):
        return ""
    last, mean = float(r[-n:].mean()), float(r.mean())
    if abs(last - mean) <= 0.1 * max(abs(mean), float(r.std())):  # nothing changed there
        return ""
    text = (f"over its last {n} steps the reward averaged {_fmt(last)} per step, against "
            f"{_fmt(mean)} over the whole episode")
    rises = {k: float(np.mean(v[-n:]) - np.mean(v)) for k, v in ep.components.items() if len(v)}
    if rises and last > mean:
        k = max(rises, key=lambda c: rises[c])
        if rises[k] > 0:
            text += f" ('{k}' paid {_fmt(rises[k])} a step more there than on average)"
    return text


def events(ep: Episode, task: Task, brief: bool = False) -> list[str]:
    """Notable things that happened in an episode, in words and at their times: falls, flips
    (full turns of a planar robot's pitch), the largest tilt, turning upside down, airborne
    phases. Event-based, so a flip of one second in a fifty-second episode is not missed.
    ``brief``: without the explanations the best episode's facts already gave (a candidate's
    line)."""
    out = []
    spec = task.spec
    nxt = ep.next
    t = np.asarray(nxt.time, dtype=float)
    end = f"{t[-1]:.2f} s" if len(t) else "0 s"
    if ep.terminated:
        out.append((f"ended early at step {ep.length} (t={end}, unhealthy)" if brief else
                    f"the episode ended early at step {ep.length} (t={end}): the env judged the "
                    "robot unhealthy (it fell or left its safe range)") + _at_the_end(ep, task))
        paid = _reward_at_the_end(ep)
        if paid:
            out.append(paid)
    else:
        out.append(f"ran to the time limit ({ep.length} steps)" if brief else
                   f"the episode ran to the time limit ({ep.length} steps, {end})")
    pitch = _pitch_field(task)
    if pitch is not None and ep.length > 1:
        a = np.asarray(nxt[pitch], dtype=float)
        rel = a - a[0]
        turns = int(np.floor(np.max(np.abs(rel)) / (2 * np.pi)))
        if turns >= 1:
            sign = np.sign(rel[int(np.argmax(np.abs(rel)))])
            # when each full turn was completed
            done = [int(np.argmax(sign * rel >= 2 * np.pi * (k + 1))) for k in range(turns)]
            start = int(np.argmax(np.abs(rel) > 0.5))
            out.append(f"it turned {turns} full turn(s) about its pitch axis ({pitch} went "
                       f"{'up' if sign > 0 else 'down'} by {abs(rel[done[-1]]):.1f} rad), "
                       f"starting at t={t[start]:.2f} s and completing turn(s) at "
                       + ", ".join(f"t={t[i]:.2f} s" for i in done[:5]))
        else:
            out.append(f"its pitch ({pitch}) stayed within [{rel.min():+.2f}, {rel.max():+.2f}] rad of "
                       "where it started (no full turn)")
    # a robot fixed to the world (an arm, a cart on its rail, a swimmer) neither tilts over
    # nor flies: "tilted at most 0 degrees", "airborne for 20 s" would only mislead
    ctx = task.robot_context
    floating = ctx is None or ctx.floating
    zaxes = [n for n in spec.fields if n.endswith("_zaxis")] if floating else []
    if zaxes:
        up = np.asarray(nxt[zaxes[0]])[:, 2]
        tilt = np.degrees(np.arccos(np.clip(up, -1.0, 1.0)))
        body = zaxes[0][:-6]
        if np.any(up < 0):
            flips = _segments(up < 0)
            a, b = flips[0]
            out.append(f"{body} was upside down{'' if brief else ' (its z axis pointing down)'} "
                       f"{len(flips)} time(s), first from t={t[a]:.2f} s for "
                       f"{t[b - 1] - t[a] + spec.dt:.2f} s")
        else:
            i = int(np.argmax(tilt))
            out.append(f"{body} tilted at most {tilt[i]:.0f} degrees from upright (at t={t[i]:.2f} s)")
    contact = [n for n in spec.fields if n.endswith("_contact")] if floating else []
    if contact and ep.length > 1:
        airborne = np.all(np.stack([np.asarray(nxt[c]) for c in contact], axis=-1) == 0, axis=-1)
        phases = _segments(airborne)
        if phases:
            longest = max(phases, key=lambda p: p[1] - p[0])
            dur = (longest[1] - longest[0]) * spec.dt
            out.append(f"airborne {len(phases)} time(s), {airborne.sum() * spec.dt:.2f} s in all, "
                       f"the longest {dur:.2f} s from t={t[longest[0]]:.2f} s" if brief else
                       f"it was airborne (no body touching anything) {len(phases)} time(s), "
                       f"{airborne.sum() * spec.dt:.2f} s in all; the longest flight lasted "
                       f"{dur:.2f} s, from t={t[longest[0]]:.2f} s")
        else:
            out.append("some body touched the ground at every step (it never left the ground)")
    return out


def trajectory(ep: Episode, task: Task, fields: list[str]) -> str:
    idx = np.unique(np.linspace(0, ep.length - 1, TRAJECTORY_POINTS).astype(int))
    nxt = ep.next
    lines = []
    for i in idx:
        parts = [f"t={float(nxt.time[i]):.2f}s"]
        for f in fields:
            v = np.asarray(nxt[f][i])
            parts.append(f"{f}={_fmt(float(v))}" if v.ndim == 0
                         else f"{f}=({', '.join(_fmt(float(x)) for x in v.ravel()[:4])})")
        lines.append("  " + " ".join(parts))
    return "\n".join(lines)


def score_legend(task: Task, show: bool = True) -> str:
    """What the task score and the success rate are, in words (the task's ``Fitness.doc`` and
    success doc), for beside the scores; "" where they are hidden (``--hide-fitness``) or the
    task has no fitness."""
    fit = task.fitness
    if not show or fit is None:
        return ""
    text = f"task score = {fit.doc} (mean over the evaluation episodes; higher is better)"
    if fit.success is not None and fit.success_doc:
        text += f"; success test of an episode: {fit.success_doc}"
    return text


@dataclass(frozen=True)
class Seeds:
    """A candidate's training seeds, for its reflection: the task score on each (``scores``,
    seed -> score, the seed the reflection details first) and the evaluation episodes of the
    other seeds (``episodes``, seed -> episodes in the order of their scores ``fits``)."""

    scores: Mapping[str, float]
    episodes: Mapping[str, list[Episode]] = field(default_factory=dict)
    fits: Mapping[str, list[float]] = field(default_factory=dict)


def seeds_text(scores: Mapping[str, float], episodes_follow: bool = False) -> str:
    """The scores of one reward on several training seeds, up front: at these budgets the seed
    alone can move the score as much as a change of reward does."""
    vals = list(scores.values())
    first = next(iter(scores))
    each = ", ".join(f"seed {s}: {_fmt(v)}" for s, v in scores.items())
    return (f"It was trained on {len(vals)} seeds, the same reward each time (the seed sets the "
            f"policy's initial weights, its exploration and the episodes' start states); task "
            f"scores {each} (mean {_fmt(float(np.mean(vals)))}, {_fmt(max(vals) - min(vals))} "
            f"apart): the training seed alone moved the score this much here"
            + (" (two seeds are a rough gauge: more seeds usually spread further)"
               if len(vals) == 2 else "") + ". The details below are "
            f"seed {first}'s" + (", then each evaluation episode of the other seeds."
                                 if episodes_follow else "."))


def reference_text(record: Mapping | None) -> str:
    """The hand-written reward's and the untrained policy's task scores on the design seeds, for
    scale beside a candidate's (``record``: the loop's reference record, see
    :func:`~rewardsmith.loop.evaluate.reference_record`); "" where there is none."""
    base = (record or {}).get("baseline") or {}
    seeds = base.get("seeds") or {}
    if not seeds or base.get("fitness_mean") is None:
        return ""
    each = ", ".join(f"seed {s}: {_fmt(v)}" for s, v in seeds.items())
    floor = ((record or {}).get("floor") or {}).get("fitness_mean")
    untrained = f"; the untrained policy {_fmt(floor)}" if floor is not None else ""
    rough = (" (on so few seeds its mean can sit far from its mean over more: judge a candidate "
             "against it seed by seed)" if len(seeds) <= 2 else "")
    return (f"For scale: the task's hand-written reward, trained the same way on the same "
            f"seeds, scored {_fmt(base['fitness_mean'])} ({each}){untrained}{rough}. Its code is "
            f"not shown; the run ends by comparing the best with it on more seeds.")


def _training_ends(task: Task, curve: Sequence[Any]) -> list[str]:
    """How the training episodes ended, where some ended early: the share a termination rule
    ended (not the time limit) at each point, and, in the last window, the share that ended past
    each of the env's bounds. [] where the backend does not tell or none ended early."""
    shares = [c.ended_early for c in curve]
    if all(v is None for v in shares) or not any(v for v in shares):
        return []
    lines = [_component_text("share ended early (not by the time limit)", shares)]
    last = curve[-1]
    ctx = task.robot_context
    known = {b.name(): b for b in (ctx.bounds if ctx is not None else ())}
    if last.ended_early and known:
        past = sorted(((v, k) for k, v in last.ended_by.items() if k in known), reverse=True)
        parts = [f"{v:.0%} {known[k].what} ({k}) outside ({known[k].low:g}, "
                 f"{known[k].high:g})" for v, k in past]
        other = last.ended_by.get(OTHER_END)
        if other:
            parts.append(f"{other:.0%} another of the env's rules")
        if sum(last.ended_by.values()) > last.ended_early + 1e-9:
            parts.append("an episode past two counts in both")
        lines.append(f"  last window, why its {last.ended_early:.0%} ended early (at the last "
                     "state): " + "; ".join(parts))
    return lines


def _negative_with_early_ends(task: Task, last, episodes: Sequence[Episode]) -> str:
    """A warning where the reward summed below 0 per training episode and the env can end an
    episode early: ending it sooner then loses less, and a policy can learn to fall on purpose.
    ``last``: the training curve's last point."""
    ret, length = last.reward_return, last.episode_length
    if ret is None or not np.isfinite(ret) or ret >= 0:
        return ""
    ctx = task.robot_context
    ends = any(e.terminated for e in episodes) or (ctx is not None and ctx.ends_early)
    if not ends:
        return ""
    return (f"Warning: in the last training window the reward summed to {_fmt(ret)} per episode "
            f"({_fmt(ret / max(length, 1.0))} a step): below 0, where the env can end an episode "
            f"early, ending it sooner loses less, so a policy can learn to fall on purpose. Keep "
            f"the reward per step above 0 while the robot is healthy (a bonus for staying healthy "
            f"larger than the penalties), or make the penalties smaller.")


def exploration_gap(result: TrainResult, eval_lengths: Sequence[int] = ()) -> str:
    """A note where the last training window (the exploring, stochastic policy) and the
    evaluation (its deterministic actions) scored far apart: half the larger of the two, and a
    fifth of the scores' range over training. "" otherwise. ``eval_lengths``: the evaluation
    episodes' lengths, said beside the training episodes' where they differ by half or more (a
    score summed over an episode follows its length)."""
    scores = [c.fitness for c in result.curve if c.fitness is not None and np.isfinite(c.fitness)]
    if not scores or result.fitness is None or not np.isfinite(result.fitness):
        return ""
    last, ev = scores[-1], float(result.fitness)
    gap = abs(last - ev)
    spread = max(*scores, ev) - min(*scores, ev)
    if gap == 0 or gap < 0.5 * max(abs(last), abs(ev)) or gap < 0.2 * spread:
        return ""
    train_len = result.curve[-1].episode_length
    eval_len = float(np.mean(eval_lengths)) if len(eval_lengths) else None
    lengths = ("", "")
    if eval_len and train_len and max(train_len, eval_len) >= 1.5 * min(train_len, eval_len):
        lengths = (f", over episodes of {train_len:.0f} steps on average",
                   f", over episodes of {eval_len:.0f} steps")
    return (f"Note: in the last training window the task score was {_fmt(last)} (the exploring, "
            f"stochastic policy{lengths[0]}); in the evaluation it was {_fmt(ev)} (the same "
            f"policy's deterministic actions{lengths[1]}). The behaviour depends on the "
            f"exploration noise: the mean action alone does not do what the noisy one did"
            + (": with the noise it scored higher, so the evaluated policy is worse than the "
               "one that trained." if last > ev else
               ": without the noise it scored higher, so the evaluated policy is better than "
               "training showed (the noise held it back)."))


def first_sentence(doc: str) -> str:
    """A score's definition up to its first full stop: the feedback names the score, and the
    request's first message, sent with it, says the rest ("the suite's episode return ... (1000
    at best)" without its per-step rule)."""
    import re

    m = re.search(r"\.\s+(?=[A-Z])", doc)
    return doc[:m.start()] if m else doc.rstrip(".")


def reflect(task: Task, result: TrainResult, source: str, episodes: list[Episode] | None = None,
            *, show_score: bool = True, show_fitness: bool = True,
            seeds: Seeds | None = None, reference: str = "") -> str:
    """The reflection text for one trained candidate. ``show_score=False`` leaves out the task
    score and success rate (the fitness stays hidden, as when a preference oracle ranks by it);
    ``show_fitness=False`` shows them without saying what they measure (``--hide-fitness``).
    ``seeds``: the scores on every training seed, said up front, and the other seeds'
    evaluation episodes, each told a line (the details are of ``result``'s seed).
    ``reference``: the hand-written reward's scores for scale (see :func:`reference_text`),
    said after the task score."""
    curve = result.curve
    fit = task.fitness if show_fitness else None
    lines = [
        f"We trained a policy with this reward function for {result.steps:,} env steps and "
        f"evaluated it on {len(result.eval_fitness)} episodes.",
    ]
    several = show_score and seeds is not None and len(seeds.scores) > 1
    if several:
        lines.append(seeds_text(seeds.scores, any(seeds.episodes.values())))
    if show_score:
        what = f"{first_sentence(fit.doc)}; higher is better" if fit is not None else "higher is better"
        lines.append(f"Task score ({what}): {_fmt(result.fitness)} ± "
                     f"{_fmt(result.fitness_std)} over the evaluation episodes"
                     + (f" of seed {result.seed} (the deterministic policy repeats itself: the "
                        "spread between seeds, above, is the one to judge a change by)."
                        if several else "."))
        if result.success_rate is not None:
            test = (f" (share of evaluation episodes that pass the success test: {fit.success_doc})"
                    if fit is not None and fit.success_doc else "")
            lines.append(f"Success rate{test}: {_fmt(result.success_rate)}")
        if reference:
            lines.append(reference)
    if curve:
        lines.append(f"At {len(curve)} points over training (mean over the training episodes that ended "
                     "in each window; training acts with the exploring, stochastic policy and the "
                     "evaluation episodes with its deterministic actions, so the two can differ, "
                     "down to how episodes end):")
        if show_score:
            lines.append(_component_text("task score", [c.fitness for c in curve]))
        if show_score and any(c.success_rate is not None for c in curve):
            lines.append(_component_text("success rate", [c.success_rate for c in curve]))
        lines.append(_component_text("episode length", [c.episode_length for c in curve]))
        lines.extend(_training_ends(task, curve))
        lines.append(_component_text("total reward (episode sum)", [c.reward_return for c in curve]))
        names = sorted({k for c in curve for k in c.components})
        if names:
            last = curve[-1]
            steps = max(last.episode_length, 1.0)
            total = sum(abs(v) for v in last.components.values()) or 1.0
            lines.append("Reward components (mean episode sum; then, at the end of training, "
                         "the mean per step (episode sum / episode length) and the share of the "
                         "reward's magnitude):")
            for n in names:
                v = last.components.get(n, 0.0)
                lines.append(_component_text(n, [c.components.get(n) for c in curve])
                             + f"; per step {_fmt(v / steps)}, {abs(v) / total:.0%}")
    if curve:
        paid = _negative_with_early_ends(task, curve[-1], episodes or [])
        if paid:
            lines.append(paid)
    if show_score:
        gap = exploration_gap(result, [e.length for e in episodes or []])
        if gap:
            lines.append(gap)
    if show_score:  # the signals compare the reward with the task score
        from rewardsmith.critic.hacking import signals

        fits = result.eval_fitness
        paired = episodes is not None and len(episodes) == len(fits)
        sig = signals(result.to_json(), [float(e.rewards.sum()) for e in episodes] if paired else None,
                      fits if paired else None)
        for flag in sig["flags"]:
            lines.append(f"Warning: {flag['text']}.")
    stats = result.stats  # the same record on every backend
    if stats.nonfinite_steps:
        first = f" (first at step {stats.first_bad_step})" if stats.first_bad_step is not None else ""
        lines.append(f"Warning: the reward was NaN/inf in {stats.nonfinite_steps} steps{first}; "
                     "those rewards were replaced by 0.")
    if stats.nonfinite_component_steps:
        lines.append(f"Warning: a reward component was NaN/inf in "
                     f"{stats.nonfinite_component_steps} steps (first: "
                     f"{stats.first_bad_component}); those values were logged as 0.")
    if episodes:
        from rewardsmith.critic.episode_facts import (
            action_facts,
            contact_facts,
            measure_facts,
            score_by_quarter,
        )

        fits = result.eval_fitness
        order = np.argsort(fits)
        keys = _key_fields(task, source, episodes[0])
        picks = [("best", int(order[-1]))]
        if len(order) > 1 and fits[int(order[0])] != fits[int(order[-1])]:
            picks.append(("worst", int(order[0])))
        for label, i in picks:
            ep = episodes[i]
            lines.append(f"Trajectory of the {label} evaluation episode (score {_fmt(fits[i])}, {ep.length} steps):")
            lines.append(trajectory(ep, task, keys))
            facts = events(ep, task) + measure_facts(ep, task)
            facts += [score_by_quarter(ep, task) if show_score else "", contact_facts(ep, task),
                      action_facts(ep, task)]
            for e in facts:
                if e:
                    lines.append(f"  - {e}")
        if show_score:  # each episode's facts are told by its task score
            lines += _every_episode(task, episodes, result.eval_fitness)
    if several:
        from rewardsmith.critic.episode_facts import episode_lines

        for s, eps in seeds.episodes.items():
            if eps and s in seeds.scores:
                lines.append(f"Seed {s}'s evaluation episodes "
                             f"(task score {_fmt(seeds.scores[s])}):")
                lines += episode_lines(task, eps, list(seeds.fits.get(s) or []))
    return "\n".join(lines)


def _every_episode(task: Task, episodes: list[Episode], fits: list[float]) -> list[str]:
    from rewardsmith.critic.episode_facts import MIN_FLIGHT_S, episode_lines, root_body

    root = root_body(task) or "root"
    ctx = task.robot_context
    flight = ("" if ctx is not None and not ctx.floating else
              f"; a flight: {MIN_FLIGHT_S:g} s or more with no body touching anything, shown as "
              f"(start, duration, {root} peak height, {root} upward speed at takeoff, {root} "
              f"tilt from upright at landing)")
    head = ("Every evaluation episode (where the score was higher part-way than at the end, "
            "'score so far peaked at X at t' gives that peak: the task score of the episode cut "
            f"at t{flight}):")
    return [head, *episode_lines(task, episodes, fits)]


def _first_line(text: str | None, limit: int = 160) -> str:
    lines = [ln.strip() for ln in (text or "").strip().splitlines() if ln.strip()]
    return (lines[0] if lines else "no message")[:limit]


MAX_CONSTANTS = 10  # named constants a candidate's line lists


def constants_text(source: str) -> str:
    """A program's named constants (its weights, scales and thresholds), "name value" each, so
    that candidates can be compared by more than their component names; "" where it has none."""
    from rewardsmith.reward.program import read_constants

    consts = list(read_constants(source or "").items())
    if not consts:
        return ""
    shown = ", ".join(f"{k} {_fmt(v)}" for k, (v, _node) in consts[:MAX_CONSTANTS])
    more = f" and {len(consts) - MAX_CONSTANTS} more" if len(consts) > MAX_CONSTANTS else ""
    return f"constants {shown}{more}"


AGREEMENT_NOTE = 0.3  # without --screen, a reward's agreement is told only below this tau
SILENT = 0.95  # a term 0 on at least this share of the dry run's random-policy steps is silent


def silent_terms(zero_steps: Mapping | None) -> dict[str, Any] | None:
    """From a dry run's ``{"steps": n, "zero": {name: share}, "pays": [names]}``: the terms
    that were 0 on at least :data:`SILENT` of its random-policy steps (None where there are
    none). A term that never paid above 0 on any state of the dry run (a fall penalty, 0 until
    the fall) is meant to be quiet and is left out."""
    zero = (zero_steps or {}).get("zero") or {}
    pays = (zero_steps or {}).get("pays")
    quiet = {k: float(v) for k, v in zero.items() if v >= SILENT and (pays is None or k in pays)}
    return {"steps": int(zero_steps["steps"]), "zero": quiet} if quiet else None


def _silent_text(silent: Mapping | None) -> str:
    if not silent or not silent.get("zero"):
        return ""
    names = ", ".join(f"'{k}'" + ("" if v >= 1.0 else f" ({v:.0%})")
                      for k, v in silent["zero"].items())
    return (f"before training, on {silent['steps']} steps of random actions, {names} paid exactly "
            "0 (on every step unless a share is given): if it is to pull the robot somewhere, it "
            "gives the learner nothing to follow on the way there")


def candidate_line(task: Task, c, episodes: list[Episode] | None = None,
                   mark_single: bool = False, all_agreement: bool = True) -> str:
    """One line on one candidate of an iteration: its idea (component names), score per seed,
    success, episode length, the dominant component and what its best evaluation episode showed.
    ``mark_single``: say "(one seed)" beside a score from one seed (where others have more).
    ``all_agreement=False``: its return's agreement with the task score on recorded episodes
    only where it says something (Kendall tau under :data:`AGREEMENT_NOTE`, or a term that ranks
    them against the score), not the same unremarkable figure on every candidate.

    ``c`` is the loop's candidate record (``id``, ``status``, ``stage``, ``error``, ``score``,
    ``fitness_seeds``, ``success_rate``, ``train``, ``duplicate_of``)."""
    if c.status == "duplicate":
        if c.score is not None:
            was = f"; that program scored {_fmt(c.score)}"
        elif c.error:
            was = f"; that program could not be used: {_first_line(c.error)}"
        else:
            was = ""
        return (f"- {c.id}: the same program as {c.duplicate_of} (only comments or layout "
                f"differ), so it was not trained again{was}. Propose something new instead.")
    if c.status == "rejected":
        return f"- {c.id}: rejected at the {c.stage or 'check'} stage: {_first_line(c.error)}"
    if c.status == "failed":
        return f"- {c.id}: training failed: {_first_line(c.error)}"
    agree = getattr(c, "screening", None) or {}
    if c.status == "screened":
        return (f"- {c.id}: screened out before training: {agree.get('text') or _first_line(c.error)}")
    if c.status == "stopped":
        prefix = f"- {c.id}: stopped early (weaker than the others after part of its budget)"
    else:
        prefix = f"- {c.id}"
    curve = (c.train or {}).get("curve") or []
    last = curve[-1] if curve else {}
    comps = last.get("components") or {}
    parts = []
    if comps:
        parts.append("components " + ", ".join(comps))
    consts = constants_text(c.source)
    if consts:
        parts.append(consts)
    seeds = c.fitness_seeds or {}
    score = f"task score {_fmt(c.score)}"
    if len(seeds) > 1:
        score += " (seeds: " + ", ".join(_fmt(v) for v in seeds.values()) + ")"
    elif mark_single and len(seeds) == 1:
        score += " (one seed)"
    parts.append(score)
    flags = (getattr(c, "signals", None) or {}).get("flags", [])
    for flag in [f for f in flags if f["kind"] != "dominant"][:1]:  # dominance: below
        parts.append("warning: " + flag["text"])
    success = getattr(c, "success_seeds", None) or {}
    if len(success) > 1:  # over every seed, as the score is
        parts.append(f"success {float(np.mean(list(success.values()))):.0%} (seeds: "
                     + ", ".join(f"{v:.0%}" for v in success.values()) + ")")
    elif c.success_rate is not None:
        parts.append(f"success {c.success_rate:.0%}")
    lengths = (c.train or {}).get("eval_episode_lengths") or []
    if lengths:
        parts.append(f"evaluation episodes {np.mean(lengths):.0f} steps long")
    total = sum(abs(v) for v in comps.values())
    if len(comps) > 1 and total > 0:
        dom = max(comps, key=lambda k: abs(comps[k]))
        parts.append(f"'{dom}' is {abs(comps[dom]) / total:.0%} of the reward")
    if episodes:
        from rewardsmith.critic.episode_facts import measure_facts

        fits = (c.train or {}).get("eval_fitness") or []
        i = int(np.argmax(fits)) if len(fits) == len(episodes) else 0
        parts.append("its best episode: " + "; ".join(events(episodes[i], task, brief=True)
                                                      + measure_facts(episodes[i], task)))
    silent = _silent_text(getattr(c, "silent", None))
    if silent:
        parts.append(silent)
    after = getattr(c, "screening_after", None) or {}
    latest = after if after.get("tau") is not None else agree
    if not all_agreement and latest.get("tau") is not None and latest["tau"] >= AGREEMENT_NOTE \
            and "ranks them against" not in (latest.get("text") or ""):
        after, agree = {}, {}
    if after.get("tau") is not None:  # measured again on episodes that hold its own
        was = (f"before training, on the episodes recorded until then, its return ranked them "
               f"like the task score with Kendall tau {agree['tau']:+.2f}; "
               if agree.get("tau") is not None else "")
        parts.append(was + "after training, with this iteration's episodes, " + after["text"])
    elif agree.get("tau") is not None:
        parts.append("before training, " + agree["text"])
    return prefix + ": " + "; ".join(parts)


def seed_noise(candidates: Sequence) -> str:
    """How far apart one reward's scores on different training seeds were, over the candidates
    trained on two or more: the gap between two candidates that the seed alone can make. "" when
    none was."""
    gaps = [max(v) - min(v) for v in ((c.fitness_seeds or {}).values() for c in candidates)
            if len(v) > 1]
    if not gaps:
        return ""
    return (f"Seed noise: the {len(gaps)} candidate(s) trained on more than one seed scored "
            f"{_fmt(float(np.mean(gaps)))} apart between their seeds on average (at most "
            f"{_fmt(max(gaps))}); two candidates whose scores differ by less may differ by the "
            "luck of the seed, not by their rewards.")


def iteration_account(task: Task, iteration: int, candidates: list, best, improved: bool,
                      episodes: dict[str, list[Episode]] | None = None,
                      selection: str = "", legend: str = "", all_agreement: bool = True) -> str:
    """What one iteration taught: a line per candidate, and whether it beat the best so far.

    When nothing improved, the account asks for different ideas, so the next request differs
    from this one and the designer does not propose the same programs again. ``legend`` (see
    :func:`score_legend`) says what the scores measure. The best's episodes are told in the
    reflection that comes before the account, so its line refers to them instead.
    ``all_agreement``: see :func:`candidate_line`."""
    episodes = episodes or {}
    lines = [f"All {len(candidates)} candidates of iteration {iteration}"
             + (f" ({selection})" if selection else "") + ":"]
    if legend:
        lines.append(f"({legend[0].upper()}{legend[1:]}.)")
    from rewardsmith.critic.digest import candidate_details
    from rewardsmith.critic.screening import TAU_LEGEND

    several = any(len(c.fitness_seeds or {}) > 1 for c in candidates)
    tau_told = False
    for c in candidates:
        above = best is not None and c.id == best.id
        line = candidate_line(task, c, None if above else episodes.get(c.id), mark_single=several,
                              all_agreement=all_agreement)
        if TAU_LEGEND in line:  # said once, on the first line that gives a tau
            if tau_told:
                line = line.replace(TAU_LEGEND, "")
            tau_told = True
        if above and episodes.get(c.id):
            line += "; its episodes: told above"
        lines.append(line)
        details = candidate_details(c) if c.status in ("ok", "stopped") else ""
        if details:
            lines.append(details)
    ids = {c.id for c in candidates}
    noise = seed_noise([*candidates, *([best] if best is not None and best.id not in ids else [])])
    if noise:
        lines.append(noise)
    if best is None:
        lines.append("No candidate has worked yet.")
    elif improved:
        lines.append(f"{best.id} is the new best (task score {_fmt(best.score)}).")
    else:
        lines.append(f"None of them beat the best so far, {best.id} (task score "
                     f"{_fmt(best.score)}): do not propose these programs again; try a "
                     "different idea or a different balance of the terms.")
    return "\n".join(lines)
