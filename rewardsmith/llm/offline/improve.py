"""Reading a reflection: the best program's training statistics, and the rules an engineer applies
to them (and to what a person said) to plan the next version."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from rewardsmith.llm.base import CandidateFeedback, DesignContext
from rewardsmith.llm.offline.robot import Intent, Robot


@dataclass
class Stats:
    last: dict[str, float]
    moved: dict[str, bool]
    flat: bool
    improving: bool
    short: bool
    length: float | None
    fitness: list[float]


def _mean(xs: list[float]) -> float:
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return float(sum(xs) / len(xs)) if xs else 0.0


def read_stats(best: CandidateFeedback, limit: int | None) -> Stats:
    last, moved = {}, {}
    for k, vals in best.components.items():
        vals = [float(v) for v in vals if v is not None and math.isfinite(float(v))]
        if not vals:
            continue
        last[k] = _mean(vals[-3:])
        span = max(vals) - min(vals)
        moved[k] = span > 1e-6 + 0.02 * max(abs(v) for v in vals)
    fit = [float(x) for x in best.fitness_curve if x is not None and math.isfinite(float(x))]
    flat = improving = False
    if len(fit) >= 3:
        scale = max(abs(x) for x in fit) + 1e-9
        gain = _mean(fit[-2:]) - _mean(fit[:2])
        flat = gain < 0.05 * scale
        improving = fit[-1] >= max(fit) - 1e-12 and gain > 0.05 * scale
    lengths = [float(x) for x in best.episode_lengths if x is not None]
    length = _mean(lengths[-3:]) if lengths else None
    short = bool(limit and length is not None and length < 0.5 * limit)
    return Stats(last, moved, flat, improving, short, length, fit)


@dataclass
class Plan:
    """What to change: factors on constants, terms to add (by maker) or drop (by key)."""

    factors: dict[str, float] = field(default_factory=dict)
    add: list[str] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def scale(self, const: str | None, f: float) -> None:
        if const:
            self.factors[const] = self.factors.get(const, 1.0) * f


@dataclass
class Part:
    key: str
    role: str
    weight: str | None
    temperature: str | None


def improve(parts: list[Part], best: CandidateFeedback, ctx: DesignContext, intent: Intent,
            robot: Robot, can_add: bool = True) -> Plan:
    """Rules an engineer applies to a training report. ``can_add``: terms may be added."""
    st = read_stats(best, ctx.episode_limit)
    plan = Plan()
    by_role: dict[str, list[Part]] = {}
    for p in parts:
        by_role.setdefault(p.role, []).append(p)
    task = by_role.get("task", [])
    task_mag = sum(abs(st.last.get(p.key, 0.0)) for p in task)
    keys = {p.key for p in parts}

    # 1. Short episodes: the robot falls or fails early.
    if st.short and st.length is not None:
        lim = ctx.episode_limit
        if by_role.get("alive"):
            for p in by_role["alive"]:
                plan.scale(p.weight, 1.6)
            plan.reasons.append(f"episodes end early (mean length {st.length:.0f} of {lim} steps), so I "
                                "raise the alive bonus")
        elif intent.kind != "reach" and can_add:
            plan.add.append("alive")
            plan.reasons.append(f"episodes end early (mean length {st.length:.0f} of {lim} steps), so I "
                                "add an alive bonus")
        if by_role.get("posture"):
            for p in by_role["posture"]:
                plan.scale(p.weight, 1.4)
            plan.reasons.append("and strengthen the posture term")
        elif intent.kind in ("locomotion", "jump", "stand", "standup") and robot.root and can_add:
            plan.add.append("posture")
            plan.reasons.append("and add a posture term against tilting")
        if intent.kind == "locomotion":
            for p in task:
                plan.scale(p.weight, 0.85)

    # 2. A component that swamps the task terms.
    for p in parts:
        if p.role == "task" or p.key not in st.last:
            continue
        if p.role == "alive" and st.short:
            continue
        mag = abs(st.last[p.key])
        if mag > 3.0 * task_mag and mag > 1e-6:
            f = min(0.7, max(0.25, 1.5 * task_mag / mag)) if task_mag > 1e-9 else 0.5
            plan.scale(p.weight, f)
            plan.reasons.append(f"`{p.key}` (|{mag:.3g}| per episode) swamps the task terms "
                                f"(|{task_mag:.3g}|), so I scale it by {f:.2g}")

    # 3. Flat fitness: the task terms are not working.
    if st.flat:
        for p in task:
            plan.scale(p.weight, 1.5)
        shaping = {"locomotion": ["posture", "smooth"], "jump": ["rise", "posture"],
                   "balance": ["still", "center"], "reach": ["near", "progress", "settle"],
                   "flip": ["air"], "stand": ["still", "posture"], "standup": ["rise", "still"]}.get(intent.kind, [])
        missing = [m for m in shaping if m not in keys and m not in plan.add] if can_add else []
        if missing:
            plan.add.append(missing[0])
        plan.reasons.append("the fitness did not improve during training, so I raise the task weight"
                            + (f" and add a `{missing[0]}` shaping term" if missing else ""))

    # 4. A component that never moves.
    for p in parts:
        if p.key in st.moved and not st.moved[p.key] and p.role not in ("alive", "effort"):
            if p.role == "task":
                plan.scale(p.weight, 2.0)
                if p.temperature:
                    plan.scale(p.temperature, 2.0)
                plan.reasons.append(f"`{p.key}` stayed constant during training, so I rescale it")
            elif abs(st.last.get(p.key, 0.0)) < 1e-6 or p.role == "shaping":
                plan.drop.append(p.key)
                plan.reasons.append(f"`{p.key}` never changed during training, so I drop it")

    # 5. Still improving: keep the design, small changes only.
    if st.improving and not plan.reasons:
        plan.reasons.append("the fitness was still rising at the end of training, so I keep the "
                            "design and only fine-tune its constants")

    # 6. What a person said.
    if ctx.human_text:
        human(ctx.human_text, parts, intent, plan, can_add)
    if not plan.reasons:
        plan.reasons.append("the statistics show no clear problem, so I fine-tune the constants")
    return plan


def human(text: str, parts: list[Part], intent: Intent, plan: Plan, can_add: bool = True) -> None:
    t = text.lower()
    roles: dict[str, list[Part]] = {}
    for p in parts:
        roles.setdefault(p.role, []).append(p)
    keys = {p.key for p in parts}
    said = []
    if re.search(r"slow|faster|speed|lazy|barely|not enough|higher|further|more", t):
        for p in roles.get("task", []):
            plan.scale(p.weight, 1.5)
        said.append("raise the task weight")
    if re.search(r"fall|fell|stumbl|unstable|wobbl|tip|flip|crash", t):
        for p in roles.get("alive", []) + roles.get("posture", []):
            plan.scale(p.weight, 1.5)
        if "posture" not in keys and intent.kind != "reach" and can_add:
            plan.add.append("posture")
        said.append("strengthen the healthy and posture terms")
    if re.search(r"jerk|shak|twitch|vibrat|smooth|energy|effort|flail|violent", t):
        for p in roles.get("effort", []):
            plan.scale(p.weight, 2.0)
        if "smooth" not in keys and can_add:
            plan.add.append("smooth")
        said.append("penalise effort and fast joint motion more")
    if re.search(r"drift|veer|straight|turn|crooked|sideways", t) and intent.kind == "locomotion":
        for m in ("drift", "turn"):
            if m not in keys and can_add:
                plan.add.append(m)
        said.append("penalise drifting and turning")
    if re.search(r"overshoot|oscillat|close|accura|precis", t) and intent.kind == "reach":
        for p in parts:
            if p.temperature:
                plan.scale(p.temperature, 0.7)
        if "settle" not in keys and can_add:
            plan.add.append("settle")
        said.append("reward precision near the target")
    if said:
        plan.reasons.append(f"the person said \"{text.strip()[:80]}\", so I " + " and ".join(said))
