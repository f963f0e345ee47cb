"""Reflection: turn a training result into text the LLM (or the offline designer) can act on.

Better than a bare list of numbers: per-component statistics at about ten points over training
and how they moved, fitness and success over training, episode lengths, and a short trajectory
summary of the best and the worst evaluation episode (key state values over time, and events
such as falling or flipping).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

import numpy as np

from rewardsmith.contracts import Episode, TrainResult
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
    v = [x for x in values if x is not None]
    if len(v) < 2:
        return ""
    first, last = v[0], v[-1]
    spread = max(abs(max(v) - min(v)), 1e-12)
    if abs(last - first) < 0.1 * spread + 1e-9:
        return "flat"
    return "rising" if last > first else "falling"


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


def _key_fields(task: Task, source: str) -> list[str]:
    spec = task.spec
    chosen = [f for f in fields_used(source) if f in spec.fields and f not in ("dt", "time", "qpos", "qvel")]
    root = next((n[: -len("_pos")] for n in spec.fields if n.endswith("_pos") and spec.fields[n].group.startswith("body")), None)
    defaults = ["com_pos", "com_vel"]
    if root:
        defaults = [f"{root}_pos", f"{root}_linvel", f"{root}_zaxis", *defaults]
    for f in defaults:
        if f in spec.fields and f not in chosen:
            chosen.append(f)
    return chosen[:MAX_TRAJECTORY_FIELDS]


def _component_text(name: str, values: list[float]) -> str:
    return f"  {name}: {_series(values)} ({_trend(values)})"


def events(ep: Episode, task: Task) -> list[str]:
    """Notable things that happened in an episode, in words."""
    out = []
    spec = task.spec
    nxt = ep.next
    if ep.terminated:
        out.append(f"the episode ended early at step {ep.length} (the env judged the robot unhealthy: it fell or left its safe range)")
    else:
        out.append(f"the episode ran to the time limit ({ep.length} steps)")
    zaxes = [n for n in spec.fields if n.endswith("_zaxis")]
    if zaxes:
        up = nxt[zaxes[0]][:, 2]
        if np.any(up < 0):
            step = int(np.argmax(up < 0))
            out.append(f"{zaxes[0][:-6]} turned upside down at step {step} (its z axis pointed down)")
    contact = [n for n in spec.fields if n.endswith("_contact")]
    if contact:
        airborne = np.all(np.stack([nxt[c] for c in contact], axis=-1) == 0, axis=-1)
        if airborne.any():
            out.append(f"no body touched the ground in {int(airborne.sum())} of {ep.length} steps")
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


def reflect(task: Task, result: TrainResult, source: str, episodes: list[Episode] | None = None,
            *, show_score: bool = True) -> str:
    """The reflection text for one trained candidate. ``show_score=False`` leaves out the task
    score and success rate (the fitness stays hidden, as when a preference oracle ranks by it)."""
    curve = result.curve
    lines = [
        f"We trained a policy with this reward function for {result.steps:,} env steps and "
        f"evaluated it on {len(result.eval_fitness)} episodes.",
    ]
    if show_score:
        lines.append(f"Task score (higher is better): {_fmt(result.fitness)} ± "
                     f"{_fmt(result.fitness_std)} over the evaluation episodes.")
        if result.success_rate is not None:
            lines.append(f"Success rate: {_fmt(result.success_rate)}")
    if curve:
        lines.append(f"At {len(curve)} points over training (mean over the training episodes that ended in each window):")
        if show_score:
            lines.append(_component_text("task score", [c.fitness for c in curve]))
        if show_score and any(c.success_rate is not None for c in curve):
            lines.append(_component_text("success rate", [c.success_rate for c in curve]))
        lines.append(_component_text("episode length", [c.episode_length for c in curve]))
        lines.append(_component_text("total reward (episode sum)", [c.reward_return for c in curve]))
        names = sorted({k for c in curve for k in c.components})
        if names:
            lines.append("Reward components (mean episode sum):")
            for n in names:
                lines.append(_component_text(n, [c.components.get(n) for c in curve]))
            last = curve[-1].components
            total = sum(abs(v) for v in last.values()) or 1.0
            dominant = max(last, key=lambda k: abs(last[k]))
            share = abs(last[dominant]) / total
            if share > 0.8 and len(last) > 1:
                lines.append(f"Note: '{dominant}' makes up {share:.0%} of the reward magnitude at the end of training; the other terms barely matter.")
    if result.runtime.get("nonfinite_calls"):
        lines.append(f"Warning: the reward was NaN/inf in {result.runtime['nonfinite_calls']} steps "
                     f"(first at step {result.runtime.get('first_bad_step')}); those rewards were replaced by 0.")
    if result.runtime.get("nonfinite_component_calls"):
        lines.append(f"Warning: a reward component was NaN/inf in "
                     f"{result.runtime['nonfinite_component_calls']} steps (first: "
                     f"{result.runtime.get('first_bad_component')}); those values were logged as 0.")
    if episodes:
        fits = result.eval_fitness
        order = np.argsort(fits)
        keys = _key_fields(task, source)
        picks = [("best", int(order[-1]))]
        if len(order) > 1 and fits[int(order[0])] != fits[int(order[-1])]:
            picks.append(("worst", int(order[0])))
        for label, i in picks:
            ep = episodes[i]
            lines.append(f"Trajectory of the {label} evaluation episode (score {_fmt(fits[i])}, {ep.length} steps):")
            lines.append(trajectory(ep, task, keys))
            for e in events(ep, task):
                lines.append(f"  - {e}")
    return "\n".join(lines)
