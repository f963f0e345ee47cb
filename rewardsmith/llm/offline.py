"""The ``offline`` designer: writes reward programs without a network. It is NOT an LLM.

It reads the task as data (:class:`DesignContext`: the state schema, the description, the state
after reset) and composes a program from a library of reward terms: a task term picked from
the description (velocity along the named axis, height gain and upward speed, uprightness of
the poles, fingertip-to-target distance, rotation for flips), a healthy/alive term where the
robot can fall, and shaping and effort terms. Each of the ``n`` samples draws a different term
subset, weights and temperatures, deterministically from the request and the sample index.

Given the best program so far and its training statistics (``context.best``) it improves it by
rules, the way an engineer reads a training report: short episodes raise the alive and posture
weights, a component that swamps the task terms is scaled down, a flat fitness curve raises the
task weight and adds a shaping term, a component that never moves is dropped or rescaled, and
failed candidates send it back to a safe template. Its named constants are then mutated for
the other samples. Programs written by someone else (an LLM, a person) are tuned through their
named constants, traced through the code to the components they feed.

Answers look like an LLM's (a sentence of reasoning and a ```python block) so that the same
extraction path runs, and the code says in a comment who wrote it.
"""

from __future__ import annotations

import ast
import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from rewardsmith.llm.base import (
    CandidateFeedback,
    Completion,
    DesignContext,
    LLMError,
    Usage,
    canonical_json,
    register,
)
from rewardsmith.reward.program import fingerprint

MARKER = "# Written by rewardsmith's offline designer: rule-based, not an LLM."
PLAN_PREFIX = "# plan:"
_PLAN = re.compile(r"^\s*# plan:\s*(.+)$", re.MULTILINE)


# =============================================================================== the robot
@dataclass
class Robot:
    """What the state schema says about the robot."""

    fields: dict[str, tuple[tuple[int, ...], str, str]]
    bodies: list[str]
    root: str | None
    hinges: list[str]
    slides: list[str]  # the robot's slide joints (task sliders such as target_x excluded)
    vertical: str | None  # slide joint measuring height (Hopper's rootz)
    axis_slides: dict[int, str]  # axis -> slide joint along it (Hopper's rootx)
    free_root: bool
    initial: dict[str, Any]
    dt: float | None
    limit: int | None
    action_dim: int

    @classmethod
    def from_context(cls, ctx: DesignContext) -> Robot:
        f = ctx.fields

        def is_vec(name: str, n: int) -> bool:
            return name in f and tuple(f[name][0]) == (n,)

        bodies = [n[:-4] for n in f if n.endswith("_pos") and is_vec(n, 3) and n != "com_pos"
                  and f"{n[:-4]}_zaxis" in f]
        hinges = [n[:-6] for n in f if n.endswith("_angle") and tuple(f[n][0]) == () and f"{n[:-6]}_angvel" in f]
        all_slides = [n[:-4] for n in f if n.endswith("_pos") and tuple(f[n][0]) == ()
                      and f"{n[:-4]}_vel" in f]
        slides = [s for s in all_slides if not re.search(r"target|goal|obj|ball|puck", s)]
        vertical = next((s for s in slides if s.endswith("z")), None)
        axis_slides = {}
        for s in slides:
            for axis, letter in ((0, "x"), (1, "y")):
                if s.endswith(letter) and axis not in axis_slides:
                    axis_slides[axis] = s
        root = None
        for pref in ("torso", "trunk", "base", "pelvis", "chassis", "hull", "body", "root"):
            if pref in bodies:
                root = pref
                break
        if root is None and bodies:
            root = bodies[0]
        nq = f["qpos"][0][0] if "qpos" in f and f["qpos"][0] else 0
        nballs = sum(1 for n in f if n.endswith("_quat") and f"{n[:-5]}_pos" not in f)
        free_root = nq - len(hinges) - len(all_slides) - 4 * nballs >= 7
        dt = ctx.initial.get("dt")
        return cls(f, bodies, root, hinges, slides, vertical, axis_slides, free_root,
                   dict(ctx.initial), float(dt) if isinstance(dt, (int, float)) and dt > 0 else None,
                   ctx.episode_limit, ctx.action_dim)

    def has(self, name: str) -> bool:
        return name in self.fields

    def init(self, name: str, index: int | None = None) -> float | None:
        v = self.initial.get(name)
        if v is None:
            return None
        if index is None:
            return float(v) if not isinstance(v, list) else None
        return float(v[index]) if isinstance(v, list) and len(v) > index else None

    @property
    def height_expr(self) -> str | None:
        if self.root:
            return f"next_state.{self.root}_pos[:, 2]"
        return "next_state.com_pos[:, 2]" if self.has("com_pos") else None

    @property
    def rest_height(self) -> float | None:
        return self.init(f"{self.root}_pos", 2) if self.root else self.init("com_pos", 2)

    @property
    def can_move_vertically(self) -> bool:
        return self.vertical is not None or self.free_root


# ============================================================================== the intent
@dataclass
class Intent:
    kind: str  # locomotion, jump, balance, reach, flip, stand
    axis: int = 0
    sign: float = 1.0
    avoid_fall: bool = False
    drift: bool = False
    no_turn: bool = False
    tip_high: bool = False
    smooth: bool = False
    tip: str | None = None  # reach: fields named like *tip* and *target*
    target: str | None = None
    helper: str | None = None  # push: the fingertip that moves the object (``tip``) to the target
    why: str = ""

    @property
    def direction(self) -> str:
        return ("+" if self.sign > 0 else "-") + "xyz"[self.axis]


_WORDS = {
    "reach": r"\b(reach\w*|target|goal|touch\w*|fingertip|point at|grasp)\b",
    "balance": r"\b(balanc\w*|inverted|pendulum|pole|keep\w* \w+ (up|upright))\b",
    "flip": r"\b(back ?flip\w*|front ?flip\w*|somersault\w*|do a flip|flip (backward|forward)s?)\b",
    "jump": r"\b(jump\w*|leap\w*|as high as|height|high(er|est)?|hop up|bounce)\b",
    "move": r"\b(walk\w*|run\w*|hop\w*|swim\w*|crawl\w*|mov\w*|go|travel\w*|locomot\w*|fast\w*|speed|"
            r"forwards?|backwards?|sideways|ahead|gallop\w*|sprint\w*)\b",
    "stand": r"\b(stand\w*|stay\w*|still|upright|sit)\b",
    "fall": r"\b(fall\w*|flip\w* over|tip\w* over|topple\w*|upright|stable|healthy|stumbl\w*|crash\w*)\b",
    "drift": r"\b(drift\w*|straight|lateral\w*|veer\w*)\b",
    "turn": r"\b(turn\w*|heading|rotat\w*|straight)\b",
    "smooth": r"\b(smooth\w*|gentl\w*|efficient\w*|energy|quiet\w*|graceful\w*|jerk\w*)\b",
}


def _find_field(robot: Robot, words: tuple[str, ...]) -> str | None:
    for w in words:
        for name, (shape, _unit, _doc) in robot.fields.items():
            if name.endswith("_pos") and tuple(shape) == (3,) and w in name and name != "com_pos":
                return name
    return None


def read_intent(description: str, robot: Robot) -> Intent:
    d = description.lower()

    def has(key: str) -> bool:
        return re.search(_WORDS[key], d) is not None

    tip = _find_field(robot, ("fingertip", "tip", "end_effector", "effector", "gripper", "hand", "finger"))
    target = _find_field(robot, ("target", "goal"))
    avoid_fall = has("fall")
    smooth = has("smooth")
    axis, sign, why_dir = 0, 1.0, "forward (+x)"
    m = re.search(r"(?<![\w])([+-])\s?([xyz])\b", d)
    if m:
        axis, sign = "xyz".index(m.group(2)), (1.0 if m.group(1) == "+" else -1.0)
        why_dir = f"towards {m.group(1)}{m.group(2)}"
    elif re.search(r"\b(sideways|lateral\w*|to (the|its) left|leftwards?)\b", d):
        axis, sign, why_dir = 1, 1.0, "sideways to the left (+y)"
    elif re.search(r"\b(to (the|its) right|rightwards?)\b", d):
        axis, sign, why_dir = 1, -1.0, "sideways to the right (-y)"
    elif re.search(r"\b(backwards?|in reverse|reverse)\b", d):
        axis, sign, why_dir = 0, -1.0, "backwards (-x)"
    obj = _find_field(robot, ("object", "obj", "puck", "box", "block", "ball"))
    if re.search(r"\b(push\w*|shov\w*|slid\w*)\b", d) and obj and target:
        return Intent("reach", tip=obj, target=target, helper=tip, smooth=smooth,
                      why=f"push the {obj[:-4]} to the {target[:-4]}")
    if has("reach") and tip and target:
        return Intent("reach", tip=tip, target=target, smooth=smooth,
                      why=f"bring the {tip[:-4]} to the {target[:-4]}")
    if has("balance"):
        return Intent("balance", avoid_fall=True, tip_high=bool(re.search(r"\b(high|tip|height)\b", d)),
                      smooth=smooth, why="keep the poles upright")
    if has("flip"):
        back = not re.search(r"front ?flip|flip forward", d)
        return Intent("flip", sign=-1.0 if back else 1.0, why="do a back flip" if back else "do a front flip")
    if re.search(r"\b(stand\w* up|get\w* up|rise|lift\w* (itself|yourself|the torso))\b", d):
        return Intent("standup", avoid_fall=True, smooth=smooth, why="raise the body up")
    if has("jump"):
        return Intent("jump", avoid_fall=True, smooth=smooth, why="gain height")
    if has("move") or m:
        drift = has("drift") or axis == 1
        return Intent("locomotion", axis=axis, sign=sign, avoid_fall=avoid_fall, drift=drift,
                      no_turn=has("turn") or axis == 1, smooth=smooth, why=f"move {why_dir}")
    if has("stand"):
        return Intent("stand", avoid_fall=True, smooth=smooth, why="stand upright and still")
    return Intent("stand", avoid_fall=True, smooth=smooth,
                  why="stay healthy (no direction or goal named in the description)")


# ============================================================================ reward terms
@dataclass
class Const:
    name: str
    value: float
    kind: str = "weight"  # weight, temperature, threshold, fixed


@dataclass
class Term:
    key: str  # component name and variable name
    maker: str
    variant: str
    role: str  # task, alive, posture, effort, shaping
    doc: str
    consts: list[Const]
    lines: list[str]
    shared: list[str] = field(default_factory=list)

    @property
    def weight(self) -> Const | None:
        return next((c for c in self.consts if c.kind == "weight"), None)

    @property
    def spec(self) -> str:
        return f"{self.key}={self.maker}.{self.variant}"


@dataclass
class Designer:
    robot: Robot
    intent: Intent

    # --------------------------------------------------------------- shared values
    def shared_defs(self) -> dict[str, str]:
        r, i = self.robot, self.intent
        out = {}
        if r.height_expr:
            out["root_height"] = f"root_height = {r.height_expr}"
        if r.root:
            out["root_upright"] = f"root_upright = next_state.{r.root}_zaxis[:, 2]"
        if i.tip and i.target:
            out["tip_gap"] = (f"tip_gap = np.sqrt(np.sum(np.square(next_state.{i.tip} - "
                              f"next_state.{i.target}), axis=-1))")
            out["tip_gap_before"] = (f"tip_gap_before = np.sqrt(np.sum(np.square(state.{i.tip} - "
                                     f"state.{i.target}), axis=-1))")
        if i.helper and i.tip:
            out["helper_gap"] = (f"helper_gap = np.sqrt(np.sum(np.square(next_state.{i.helper} - "
                                 f"next_state.{i.tip}), axis=-1))")
        return out

    def velocity_expr(self, variant: str, axis: int) -> str | None:
        r = self.robot
        if variant == "slide":
            s = r.axis_slides.get(axis)
            return f"next_state.{s}_vel" if s else None
        if variant == "body":
            return f"next_state.{r.root}_linvel[:, {axis}]" if r.root else None
        if variant == "com":
            return f"next_state.com_vel[:, {axis}]" if r.has("com_vel") else None
        return None

    # ---------------------------------------------------------------------- makers
    def make(self, key: str, maker: str, variant: str) -> Term | None:
        fn: Callable[[str, str], Term | None] | None = getattr(self, f"term_{maker}", None)
        return fn(key, variant) if fn else None

    def term_velocity(self, key: str, variant: str) -> Term | None:
        i = self.intent
        expr = self.velocity_expr(variant, i.axis)
        if expr is None:
            return None
        sgn = "" if i.sign > 0 else "-"
        src = {"slide": expr.split(".", 1)[1], "body": f"{self.robot.root}_linvel",
               "com": "com_vel"}[variant]
        return Term(key, "velocity", variant, "task", f"velocity towards {i.direction} (from `{src}`)",
                    [Const(f"{key}_weight", 1.0)],
                    [f"{key}_speed = {sgn}{expr}", f"{key} = {key}_weight * {key}_speed"])

    def term_alive(self, key: str, variant: str) -> Term | None:
        r = self.robot
        consts = [Const("alive_bonus", 1.0)]
        if variant == "const":
            return Term(key, "alive", variant, "alive", "a constant bonus for every step the episode lasts",
                        consts, [f"{key} = alive_bonus * np.ones_like(next_state.time)"])
        if not r.root:
            return None
        factors = []
        shared = ["root_upright"]
        doc = "a bonus while the body is upright"
        if variant == "height_upright":
            rest = r.rest_height
            if rest is None or rest <= 0.05 or not r.can_move_vertically:
                return None
            frac = 0.45 if r.free_root else 0.6
            consts += [Const("min_height", round(frac * rest, 3), "threshold"),
                       Const("height_margin", round(0.15 * rest, 3), "threshold")]
            factors.append("np.clip((root_height - min_height) / height_margin, 0.0, 1.0)")
            shared.insert(0, "root_height")
            doc = "a bonus while the body is high enough and upright (healthy)"
        elif variant != "upright":
            return None
        consts += [Const("min_upright", 0.3, "threshold"), Const("upright_margin", 0.4, "threshold")]
        factors.append("np.clip((root_upright - min_upright) / upright_margin, 0.0, 1.0)")
        return Term(key, "alive", variant, "alive", doc, consts,
                    [f"{key}_healthy = " + " * ".join(factors), f"{key} = alive_bonus * {key}_healthy"],
                    shared)

    def term_posture(self, key: str, variant: str) -> Term | None:
        if not self.robot.root:
            return None
        return Term(key, "posture", variant, "posture", f"a penalty on tilting the {self.robot.root}",
                    [Const("posture_weight", 0.5)],
                    [f"{key} = -posture_weight * (1.0 - root_upright)"], ["root_upright"])

    def term_effort(self, key: str, variant: str) -> Term:
        base = {"reach": 0.05, "balance": 0.001, "flip": 0.001}.get(self.intent.kind, 0.01)
        return Term(key, "effort", variant, "effort", "a penalty on squared motor commands",
                    [Const("effort_weight", base)],
                    [f"{key} = -effort_weight * np.sum(np.square(action), axis=-1)"])

    def term_drift(self, key: str, variant: str) -> Term | None:
        r, i = self.robot, self.intent
        other = 1 - i.axis if i.axis in (0, 1) else 0
        expr = self.velocity_expr("body", other) or self.velocity_expr("com", other)
        if expr is None or (r.vertical is not None and other == 1):  # a planar robot cannot drift in y
            return None
        return Term(key, "drift", variant, "shaping", f"a penalty on drifting along {'xy'[other]}",
                    [Const("drift_weight", 0.5)], [f"{key} = -drift_weight * np.square({expr})"])

    def term_turn(self, key: str, variant: str) -> Term | None:
        r = self.robot
        if not (r.root and r.free_root and r.has(f"{r.root}_angvel")):
            return None
        return Term(key, "turn", variant, "shaping", "a penalty on turning (yaw rate)",
                    [Const("turn_weight", 0.1)],
                    [f"{key} = -turn_weight * np.square(next_state.{r.root}_angvel[:, 2])"])

    def term_smooth(self, key: str, variant: str) -> Term | None:
        joints = [h for h in self.robot.hinges if not re.search(r"target|root", h)][:12]
        if not joints:
            return None
        stack = ", ".join(f"next_state.{h}_angvel" for h in joints)
        return Term(key, "smooth", variant, "shaping", "a penalty on fast joint motion",
                    [Const("smooth_weight", 0.001)],
                    [f"{key}_speeds = np.stack([{stack}], axis=-1)",
                     f"{key} = -smooth_weight * np.sum(np.square({key}_speeds), axis=-1)"])

    def term_height(self, key: str, variant: str) -> Term | None:
        r = self.robot
        if not r.height_expr:
            return None
        rest = r.rest_height or 0.0
        gain = "np.maximum(root_height - rest_height, 0.0)"
        expr = gain if variant == "linear" else f"np.square({gain})"
        w = 2.0 if variant == "linear" else 5.0
        return Term(key, "height", variant, "task", "height gained above the resting height",
                    [Const(f"{key}_weight", w), Const("rest_height", round(rest, 3), "fixed")],
                    [f"{key} = {key}_weight * {expr}"], ["root_height"])

    def term_rise(self, key: str, variant: str) -> Term | None:
        r = self.robot
        expr = (f"next_state.{r.vertical}_vel" if r.vertical else
                f"next_state.{r.root}_linvel[:, 2]" if r.root else None)
        if expr is None:
            return None
        return Term(key, "rise", variant, "task", "upward speed",
                    [Const(f"{key}_weight", 0.5)], [f"{key} = {key}_weight * np.maximum({expr}, 0.0)"])

    def poles(self) -> list[str]:
        r = self.robot
        return [b for b in r.bodies if b != r.root] or ([r.root] if r.root else [])

    def term_upright(self, key: str, variant: str) -> Term | None:
        poles = self.poles()
        if not poles:
            return None
        ups = " + ".join(f"next_state.{p}_zaxis[:, 2]" for p in poles)
        mean = f"({ups}) / {float(len(poles))}" if len(poles) > 1 else ups
        if variant == "zaxis":
            return Term(key, "upright", variant, "task", f"uprightness of {', '.join(poles)}",
                        [Const(f"{key}_weight", 1.0)],
                        [f"{key}_level = {mean}", f"{key} = {key}_weight * {key}_level"])
        if variant == "exp":
            tilt = " + ".join(f"(1.0 - next_state.{p}_zaxis[:, 2])" for p in poles)
            return Term(key, "upright", variant, "task", f"a bounded bonus for keeping {', '.join(poles)} upright",
                        [Const(f"{key}_weight", 1.0), Const(f"{key}_temperature", 0.1, "temperature")],
                        [f"{key}_tilt = {tilt}",
                         f"{key} = {key}_weight * np.exp(-np.maximum({key}_tilt, 0.0) / {key}_temperature)"])
        if variant == "angle":
            hinges = [h for h in self.robot.hinges if not re.search(r"target", h)]
            if not hinges:
                return None
            sq = " + ".join(f"np.square(next_state.{h}_angle)" for h in hinges)
            lines = [f"{key}_error = {sq}", f"{key} = -{key}_weight * {key}_error"]
            return Term(key, "upright", variant, "task", "a penalty on the hinge angles (0 is upright)",
                        [Const(f"{key}_weight", 1.0)], lines)
        return None

    def term_center(self, key: str, variant: str) -> Term | None:
        slides = [s for s in self.robot.slides if s != self.robot.vertical]
        if not slides:
            return None
        sq = " + ".join(f"np.square(next_state.{s}_pos)" for s in slides)
        return Term(key, "center", variant, "shaping", f"a penalty on leaving the middle ({', '.join(slides)})",
                    [Const("center_weight", 0.05)], [f"{key} = -center_weight * ({sq})"])

    def term_still(self, key: str, variant: str) -> Term | None:
        hinges = [h for h in self.robot.hinges if not re.search(r"target", h)]
        if hinges:
            sq = " + ".join(f"np.square(next_state.{h}_angvel)" for h in hinges[:12])
            return Term(key, "still", variant, "shaping", "a penalty on fast swinging",
                        [Const("still_weight", 0.01)], [f"{key} = -still_weight * ({sq})"])
        if self.robot.has("com_vel"):
            return Term(key, "still", variant, "shaping", "a penalty on moving the centre of mass",
                        [Const("still_weight", 0.1)],
                        [f"{key} = -still_weight * np.sum(np.square(next_state.com_vel), axis=-1)"])
        return None

    def term_tip(self, key: str, variant: str) -> Term | None:
        r = self.robot
        poles = self.poles()
        if not poles:
            return None
        last = poles[-1]
        length = 0.5
        if len(r.bodies) >= 2:
            a = r.initial.get(f"{r.bodies[-2]}_pos")
            b = r.initial.get(f"{last}_pos")
            if isinstance(a, list) and isinstance(b, list) and len(poles) >= 2:
                length = max(0.05, round(float(np.linalg.norm(np.subtract(b, a))), 3))
        return Term(key, "tip", variant, "task", f"height of the tip of {last}",
                    [Const(f"{key}_weight", 0.5), Const("tip_length", length, "fixed")],
                    [f"{key}_height = next_state.{last}_pos[:, 2] + tip_length * next_state.{last}_zaxis[:, 2]",
                     f"{key} = {key}_weight * {key}_height"])

    def term_distance(self, key: str, variant: str) -> Term | None:
        if not self.intent.tip:
            return None
        i = self.intent
        return Term(key, "distance", variant, "task", f"minus the {i.tip[:-4]}-{(i.target or '')[:-4]} distance",
                    [Const(f"{key}_weight", 1.0)], [f"{key} = -{key}_weight * tip_gap"], ["tip_gap"])

    def term_near(self, key: str, variant: str) -> Term | None:
        if not self.intent.tip:
            return None
        temp = {"wide": 0.1, "mid": 0.05, "tight": 0.02}.get(variant, 0.05)
        return Term(key, "near", variant, "task", f"a bounded bonus for being close to the {(self.intent.target or '')[:-4]}",
                    [Const(f"{key}_weight", 0.5), Const(f"{key}_temperature", temp, "temperature")],
                    [f"{key} = {key}_weight * np.exp(-tip_gap / {key}_temperature)"], ["tip_gap"])

    def term_approach(self, key: str, variant: str) -> Term | None:
        i = self.intent
        if not (i.helper and i.tip):
            return None
        return Term(key, "approach", variant, "shaping", f"minus the distance from the {i.helper[:-4]} "
                    f"to the {i.tip[:-4]}", [Const(f"{key}_weight", 0.5)],
                    [f"{key} = -{key}_weight * helper_gap"], ["helper_gap"])

    def term_progress(self, key: str, variant: str) -> Term | None:
        if not self.intent.tip:
            return None
        w = round(0.5 / self.robot.dt, 2) if self.robot.dt else 10.0
        return Term(key, "progress", variant, "shaping", "the distance closed in this step",
                    [Const(f"{key}_weight", w)],
                    [f"{key} = {key}_weight * (tip_gap_before - tip_gap)"], ["tip_gap", "tip_gap_before"])

    def term_settle(self, key: str, variant: str) -> Term | None:
        tip = self.intent.tip
        if not tip or not self.robot.has(tip.replace("_pos", "_linvel")):
            return None
        vel = tip.replace("_pos", "_linvel")
        return Term(key, "settle", variant, "shaping", "a penalty on moving fast when near the target",
                    [Const("settle_weight", 0.5), Const("settle_radius", 0.05, "temperature")],
                    [f"{key} = -settle_weight * np.sum(np.square(next_state.{vel}), axis=-1)"
                     " * np.exp(-tip_gap / settle_radius)"], ["tip_gap"])

    def term_spin(self, key: str, variant: str) -> Term | None:
        r = self.robot
        if not (r.root and r.has(f"{r.root}_angvel")):
            return None
        sgn = "" if self.intent.sign > 0 else "-"
        return Term(key, "spin", variant, "task",
                    f"pitch rate in the {'front' if self.intent.sign > 0 else 'back'} flip direction",
                    [Const(f"{key}_weight", 1.0)],
                    [f"{key} = {key}_weight * {sgn}next_state.{r.root}_angvel[:, 1]"])

    def term_air(self, key: str, variant: str) -> Term | None:
        t = self.term_height(key, "linear")
        if t is None:
            return None
        return replace(t, maker="air", role="shaping", doc="height above rest (room to rotate)",
                       consts=[Const(f"{key}_weight", 1.0), t.consts[1]])

    # ------------------------------------------------------------------ term menus
    def menu(self) -> tuple[list[tuple[str, str, list[str]]], list[tuple[str, str, list[str]]]]:
        """(required, optional) entries: (key, maker, variants)."""
        r, i = self.robot, self.intent
        can_fall = i.avoid_fall or r.can_move_vertically
        alive_variants = ["height_upright", "upright"]
        req: list[tuple[str, str, list[str]]] = []
        opt: list[tuple[str, str, list[str]]] = []
        if i.kind == "locomotion":
            key = {(0, 1): "forward", (0, -1): "backward", (1, 1): "leftward", (1, -1): "rightward"}.get(
                (i.axis, int(i.sign)), "progress")
            req.append((key, "velocity", ["slide", "body", "com"]))
            if can_fall:
                # gate on height only where the description worries about falling
                req.append(("alive", "alive", alive_variants if i.avoid_fall else ["upright"]))
            req.append(("effort", "effort", ["l2"]))
            if i.drift:
                req.append(("drift", "drift", ["sq"]))
            if i.no_turn:
                req.append(("turn", "turn", ["sq"]))
            opt += [("posture", "posture", ["tilt"]), ("drift", "drift", ["sq"]),
                    ("turn", "turn", ["sq"]), ("smooth", "smooth", ["sq"])]
        elif i.kind == "jump":
            req += [("height_gain", "height", ["linear", "square"]), ("rise", "rise", ["pos"]),
                    ("alive", "alive", alive_variants), ("effort", "effort", ["l2"])]
            opt += [("posture", "posture", ["tilt"]), ("smooth", "smooth", ["sq"])]
        elif i.kind == "balance":
            req += [("upright", "upright", ["zaxis", "exp", "angle"]), ("alive", "alive", ["const"])]
            if i.tip_high:
                req.append(("tip", "tip", ["height"]))
            opt += [("center", "center", ["sq"]), ("still", "still", ["sq"]), ("effort", "effort", ["l2"])]
        elif i.kind == "reach":
            req += [("distance", "distance", ["linear"]), ("effort", "effort", ["l2"])]
            if i.helper:
                req.insert(1, ("approach", "approach", ["linear"]))
            opt += [("near", "near", ["mid", "tight", "wide"]), ("progress", "progress", ["step"]),
                    ("settle", "settle", ["near"])]
        elif i.kind == "standup":
            req += [("height_gain", "height", ["linear"]), ("posture", "posture", ["tilt"]),
                    ("effort", "effort", ["l2"])]
            opt += [("rise", "rise", ["pos"]), ("still", "still", ["sq"])]
        elif i.kind == "flip":
            req += [("spin", "spin", ["pitch"]), ("effort", "effort", ["l2"])]
            opt += [("air", "air", ["linear"])]
        else:  # stand
            req += [("alive", "alive", alive_variants), ("posture", "posture", ["tilt"]),
                    ("effort", "effort", ["l2"])]
            opt += [("still", "still", ["sq"]), ("smooth", "smooth", ["sq"])]
        if i.smooth:
            req.append(("smooth", "smooth", ["sq"]))
        # the same key twice (required and optional): keep the required one
        keys = {k for k, _, _ in req}
        opt = [e for e in opt if e[0] not in keys]
        seen: set[str] = set()
        opt = [e for e in opt if not (e[0] in seen or seen.add(e[0]))]
        return req, opt

    def first_term(self, key: str, maker: str, variants: list[str]) -> Term | None:
        for v in variants:
            t = self.make(key, maker, v)
            if t is not None:
                return t
        return None

    def canonical(self) -> list[Term]:
        req, opt = self.menu()
        terms = [t for k, m, vs in req if (t := self.first_term(k, m, vs)) is not None]
        # the canonical design adds the first optional shaping term for reach tasks (a bounded bonus)
        if self.intent.kind == "reach" and opt:
            t = self.first_term(*opt[0])
            if t is not None:
                terms.insert(1, t)
        return _ensure_task(terms, self)

    def sampled(self, rng: np.random.Generator, spread: float) -> list[Term]:
        req, opt = self.menu()
        terms: list[Term] = []
        for k, m, vs in req:
            ok = [t for v in vs if (t := self.make(k, m, v)) is not None]
            if ok:
                terms.append(ok[int(rng.integers(len(ok)))])
        for k, m, vs in opt:
            if rng.random() < 0.45:
                ok = [t for v in vs if (t := self.make(k, m, v)) is not None]
                if ok:
                    terms.append(ok[int(rng.integers(len(ok)))])
        terms = _ensure_task(terms, self)
        return [jitter(t, rng, spread) for t in terms]


def _ensure_task(terms: list[Term], d: Designer) -> list[Term]:
    if any(t.role == "task" for t in terms):
        return terms
    # Nothing the description names can be measured on this robot: stay healthy instead.
    fallback = [d.term_alive("alive", "height_upright") or d.term_alive("alive", "upright")
                or d.term_alive("alive", "const")]
    fallback[0] = replace(fallback[0], role="task")  # type: ignore[arg-type]
    return fallback + [t for t in terms if t.key != "alive"]  # type: ignore[list-item]


def _round(v: float) -> float:
    if v == 0 or not math.isfinite(v):
        return 0.0
    return float(f"{v:.3g}")


def jitter(term: Term, rng: np.random.Generator, spread: float) -> Term:
    consts = []
    for c in term.consts:
        if c.kind == "weight":
            v = c.value * math.exp(rng.normal(0.0, 0.5 * spread))
        elif c.kind == "temperature":
            v = c.value * math.exp(rng.normal(0.0, 0.4 * spread))
        elif c.kind == "threshold":
            v = c.value * (1.0 + rng.uniform(-0.1, 0.1) * spread)
        else:
            v = c.value
        consts.append(Const(c.name, _round(v), c.kind))
    return replace(term, consts=consts)


# ================================================================================ rendering
def _fmt(v: float) -> str:
    s = repr(_round(v)) if abs(v) >= 1e-4 or v == 0 else f"{v:.3g}"
    return s


def render(terms: list[Term], designer: Designer) -> str:
    shared = designer.shared_defs()
    consts: dict[str, Const] = {}
    for t in terms:
        for c in t.consts:
            consts.setdefault(c.name, c)
    body = [MARKER, f"{PLAN_PREFIX} " + " ".join(t.spec for t in terms)]
    body += [f"{c.name} = {_fmt(c.value)}" for c in consts.values()]
    body.append("")
    emitted: list[str] = []
    for t in terms:
        for s in t.shared:
            if s not in emitted and s in shared:
                emitted.append(s)
                body.append(shared[s])
    for t in terms:
        body += t.lines
    body.append("")
    body.append("reward = " + " + ".join(t.key for t in terms))
    comps = ", ".join(f'"{t.key}": {t.key}' for t in terms)
    body.append(f"return reward, {{{comps}}}")
    return "def compute_reward(state, action, next_state):\n" + "\n".join(
        ("    " + ln) if ln else "" for ln in body) + "\n"


def describe(terms: list[Term]) -> str:
    parts = [f"{t.doc} (`{t.key}`)" for t in terms]
    return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]


# ======================================================================= reading a program
def read_constants(source: str) -> dict[str, tuple[float, ast.AST]]:
    """Named numeric constants: ``name = 1.5`` (or ``-1.5``) in compute_reward or at top level."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    out: dict[str, tuple[float, ast.AST]] = {}
    scopes: list[list[ast.stmt]] = [tree.body]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "compute_reward":
            scopes.append(node.body)
    for body in scopes:
        for st in body:
            if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
                v = _number(st.value)
                if v is not None:
                    out[st.targets[0].id] = (v, st.value)
    return out


def _number(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _number(node.operand)
        return None if v is None else (-v if isinstance(node.op, ast.USub) else v)
    return None


def component_constants(source: str) -> dict[str, list[str]]:
    """component name -> the named constants its value depends on (traced through assignments)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "compute_reward"), None)
    if fn is None:
        return {}
    consts = set(read_constants(source))
    helpers = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    deps: dict[str, set[str]] = {}
    dicts: dict[str, ast.Dict] = {}

    def names_in(node: ast.AST) -> set[str]:
        out: set[str] = set()
        for n in ast.walk(node):
            if isinstance(n, ast.Name):
                out.add(n.id)
                out |= deps.get(n.id, set())
                if n.id in helpers and n.id != "compute_reward":
                    out |= {m.id for m in ast.walk(helpers[n.id]) if isinstance(m, ast.Name)}
        return out

    ret: ast.AST | None = None
    for st in ast.walk(fn):
        if isinstance(st, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = st.targets if isinstance(st, ast.Assign) else [st.target]
            value = st.value
            if value is None:
                continue
            used = names_in(value)
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        deps[n.id] = deps.get(n.id, set()) | used if isinstance(st, ast.AugAssign) else used
                        if isinstance(value, ast.Dict):
                            dicts[n.id] = value
        elif isinstance(st, ast.Return) and st.value is not None:
            ret = st.value
    comp: ast.AST | None = None
    if isinstance(ret, ast.Tuple) and len(ret.elts) == 2:
        comp = ret.elts[1]
        if isinstance(comp, ast.Name):
            comp = dicts.get(comp.id, comp)
    out: dict[str, list[str]] = {}
    if isinstance(comp, ast.Dict):
        for k, v in zip(comp.keys, comp.values):
            if isinstance(k, ast.Constant) and isinstance(k.value, str):
                out[k.value] = sorted(names_in(v) & consts)
    return out


def read_plan(source: str, designer: Designer) -> list[Term] | None:
    """The designer's own plan from a program it wrote (with the constants as they are now)."""
    m = _PLAN.search(source)
    if not m:
        return None
    consts = read_constants(source)
    terms = []
    for item in m.group(1).split():
        key, _, rest = item.partition("=")
        maker, _, variant = rest.partition(".")
        t = designer.make(key, maker, variant)
        if t is None:
            return None
        t = replace(t, consts=[Const(c.name, consts[c.name][0] if c.name in consts else c.value, c.kind)
                               for c in t.consts])
        terms.append(t)
    return terms or None


_WEIGHTLIKE = re.compile(r"weight|bonus|scale|coef|gain|reward|penalty|factor|^w_|_w$|^k_", re.I)
_TEMPLIKE = re.compile(r"temp|sigma|std|radius|width|length_scale|tau", re.I)
_THRESHLIKE = re.compile(r"min|max|threshold|thresh|target|limit|margin|tol|rest|height|offset|length|dt", re.I)
_ROLE_WORDS = [
    ("alive", r"alive|healthy|survive|surviv|living|termination|fall"),
    ("posture", r"upright|posture|tilt|orient|balance|stab"),
    ("effort", r"effort|ctrl|control|action|energy|torque|power"),
]


def guess_role(name: str) -> str:
    for role, pat in _ROLE_WORDS:
        if re.search(pat, name, re.I):
            return role
    if re.search(r"forward|velocity|speed|progress|height|jump|distance|reach|target|goal|run|move|spin|flip|track", name, re.I):
        return "task"
    return "shaping"


# ===================================================================== reading a reflection
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


# ================================================================================ designer
class OfflineDesigner:
    """The ``offline`` backend. Not an LLM: a rule-based reward designer (see module doc)."""

    name = "offline"
    uses_context = True
    prices_known = True  # free

    def complete(self, messages: list[dict], n: int, temperature: float,
                 context: DesignContext | None = None) -> Completion:
        if context is None:
            context = context_from_messages(messages)
        robot = Robot.from_context(context)
        intent = read_intent(context.description, robot)
        designer = Designer(robot, intent)
        base = hashlib.sha256(canonical_json({"messages": messages, "n": n, "t": float(temperature),
                                              "ctx": context.to_json()}).encode()).hexdigest()
        spread = 0.5 + 0.5 * max(0.0, min(float(temperature), 2.0))
        texts: list[str] = []
        # never a program this run has already seen, nor one given twice in this answer
        tried: set[str] = set(context.tried)
        for k in range(n):
            for attempt in range(200):
                seed = int(hashlib.sha256(f"{base}:{k}:{attempt}".encode()).hexdigest()[:16], 16)
                rng = np.random.default_rng(seed)
                # past 40 attempts the neighbourhood is used up: explore further out
                wider = spread * (1.0 + max(0, attempt - 40) / 20.0)
                text, source = self._sample(designer, context, k, attempt, rng, wider)
                fp = fingerprint(source)
                if fp not in tried:
                    break
            tried.add(fp)
            texts.append(text)
        return Completion(texts=texts, usage=Usage(0, 0, 0.0), model="offline-designer-v1")

    # ------------------------------------------------------------------------ samples
    def _sample(self, d: Designer, ctx: DesignContext, k: int, attempt: int,
                rng: np.random.Generator, spread: float) -> tuple[str, str]:
        best = ctx.best
        failed = [o for o in ctx.others if o.error]
        if best is None or best.error or not _usable(best.source):
            why = ""
            if best is not None and best.error:
                why = f"The best candidate failed ({_first_line(best.error)}), so I fall back to a safe template. "
            elif failed and ctx.iteration > 0:
                why = (f"{len(failed)} earlier candidate(s) failed ({_first_line(failed[0].error or '')}), so I "
                       "start again from a safe template. ")
            return self._initial(d, k + attempt, rng, spread, why)
        if attempt >= 30:  # the best program cannot be varied more: new designs
            return self._initial(d, k + attempt, rng, spread, "")
        own = read_plan(best.source, d)
        if own is not None:
            return self._improve_own(d, ctx, own, k, attempt, rng, spread)
        return self._improve_foreign(d, ctx, k, attempt, rng, spread)

    def _initial(self, d: Designer, k: int, rng: np.random.Generator, spread: float,
                 why: str) -> tuple[str, str]:
        terms = d.canonical() if k == 0 else d.sampled(rng, spread)
        source = render(terms, d)
        kind = d.intent.kind
        text = (f"{why}The description asks me to {d.intent.why}, so this is a {kind} reward: "
                f"{describe(terms)}. (Offline designer: rule-based, not an LLM.)\n\n"
                f"```python\n{source}```\n")
        return text, source

    def _improve_own(self, d: Designer, ctx: DesignContext, terms: list[Term], k: int, attempt: int,
                     rng: np.random.Generator, spread: float) -> tuple[str, str]:
        assert ctx.best is not None
        parts = [Part(t.key, t.role, t.weight.name if t.weight else None,
                      next((c.name for c in t.consts if c.kind == "temperature"), None)) for t in terms]
        plan = improve(parts, ctx.best, ctx, d.intent, d.robot)
        terms = [t for t in terms if t.key not in plan.drop or t.role == "task"]
        req, opt = d.menu()
        present = {t.key for t in terms}
        for maker in plan.add:
            entry = next((e for e in req + opt if e[1] == maker and e[0] not in present), None)
            if entry is not None and (t := d.first_term(*entry)) is not None:
                terms.append(t)
                present.add(t.key)
        terms = [replace(t, consts=[Const(c.name, _round(min(max(c.value * plan.factors.get(c.name, 1.0),
                                                                      -1e6), 1e6)), c.kind)
                                    for c in t.consts]) for t in terms]
        reasons = list(plan.reasons)
        if k + attempt > 0:
            # explore around the adjusted design: jitter the constants, sometimes change a term
            if rng.random() < 0.35:
                spare = [e for e in opt if e[0] not in present]
                droppable = [t for t in terms if t.role == "shaping"]
                if spare and (not droppable or rng.random() < 0.6):
                    e = spare[int(rng.integers(len(spare)))]
                    t = d.make(e[0], e[1], e[2][int(rng.integers(len(e[2])))])
                    if t is not None:
                        terms.append(t)
                        reasons.append(f"I also try a `{t.key}` term")
                elif droppable:
                    t = droppable[int(rng.integers(len(droppable)))]
                    terms = [x for x in terms if x is not t]
                    reasons.append(f"I also try without `{t.key}`")
            terms = [jitter(t, rng, 0.5 * spread) for t in terms]
            reasons.append("and vary the weights around that")
        source = render(terms, d)
        return _answer(reasons, source, ctx), source

    def _improve_foreign(self, d: Designer, ctx: DesignContext, k: int, attempt: int,
                         rng: np.random.Generator, spread: float) -> tuple[str, str]:
        assert ctx.best is not None
        src = ctx.best.source
        consts = read_constants(src)
        comp = component_constants(src)
        parts = []
        for key, names in comp.items():
            weights = [c for c in names if _WEIGHTLIKE.search(c)] or \
                      [c for c in names if not _TEMPLIKE.search(c) and not _THRESHLIKE.search(c)]
            temps = [c for c in names if _TEMPLIKE.search(c)]
            parts.append(Part(key, guess_role(key), weights[0] if weights else None,
                              temps[0] if temps else None))
        plan = improve(parts, ctx.best, ctx, d.intent, d.robot, can_add=False)
        for key in plan.drop:  # cannot remove code safely: turn it down instead
            p = next((p for p in parts if p.key == key), None)
            if p is not None:
                plan.scale(p.weight, 0.2)
        values = {name: v * plan.factors.get(name, 1.0) for name, (v, _) in consts.items()}
        reasons = plan.reasons or ["I fine-tune the named constants"]
        if k + attempt > 0:
            for name in values:
                if _TEMPLIKE.search(name):
                    values[name] *= math.exp(rng.normal(0.0, 0.2 * spread))
                elif not _THRESHLIKE.search(name) or _WEIGHTLIKE.search(name):
                    values[name] *= math.exp(rng.normal(0.0, 0.25 * spread))
            reasons.append("and vary the weights around that")
        source = substitute_constants(src, {n: _round(v) for n, v in values.items()}, consts)
        return _answer(reasons, source, ctx), source


def _usable(source: str) -> bool:
    from rewardsmith.sandbox.static import check_source

    return not check_source(source)


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "no message"
    return line[:120]


def _answer(reasons: list[str], source: str, ctx: DesignContext) -> str:
    best = ctx.best
    fit = f" (fitness {best.fitness:.4g})" if best is not None and best.fitness is not None else ""
    text = "; ".join(reasons)
    return (f"Starting from the best reward so far{fit}: {text}. "
            f"(Offline designer: rule-based, not an LLM.)\n\n```python\n{source.rstrip()}\n```\n")


def substitute_constants(source: str, values: dict[str, float],
                         consts: dict[str, tuple[float, ast.AST]]) -> str:
    """``source`` with the named constants set to ``values``; everything else kept as written."""
    lines = source.splitlines(keepends=True)
    edits = []
    for name, (old, node) in consts.items():
        new = values.get(name, old)
        if new == old or node.end_lineno is None or node.end_col_offset is None:
            continue
        if node.lineno != node.end_lineno:
            continue
        edits.append((node.lineno - 1, node.col_offset, node.end_col_offset, _fmt(new)))
    for row, a, b, text in sorted(edits, reverse=True):
        line = lines[row]
        # ast offsets are in UTF-8 bytes
        raw = line.encode()
        lines[row] = (raw[:a] + text.encode() + raw[b:]).decode()
    out = "".join(lines)
    if MARKER not in out and "def compute_reward" in out:
        out = out.replace("def compute_reward(state, action, next_state):",
                          "def compute_reward(state, action, next_state):\n    # Constants tuned by "
                          "rewardsmith's offline designer: rule-based, not an LLM.", 1)
    return out


# ====================================================================== without a context
_SCHEMA_LINE = re.compile(r"^([A-Za-z]\w*)\s+\((\d*(?:,\s*\d+)*,?)\)\s+(\S+)\s+(.*)$")


def context_from_messages(messages: list[dict]) -> DesignContext:
    """Rebuild the design context from the prompt text (the schema listing is machine-readable)."""
    text = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") != "system")
    fields: dict[str, tuple[tuple[int, ...], str, str]] = {}
    for line in text.splitlines():
        m = _SCHEMA_LINE.match(line.strip())
        if m:
            shape = tuple(int(x) for x in m.group(2).replace(" ", "").split(",") if x)
            fields.setdefault(m.group(1), (shape, m.group(3), m.group(4).strip()))
    if not fields:
        raise LLMError("the offline designer found no state schema in the prompt",
                       "pass context=DesignContext.from_task(task) to complete()")
    desc = re.search(r"^Task:\s*(.+)$", text, re.MULTILINE)
    act = re.search(r"Action: shape \(B, (\d+)\)", text)
    env = re.search(r"simulator env ([\w.-]+)", text)
    return DesignContext(task_id="prompt", description=desc.group(1) if desc else "",
                         env_id=env.group(1) if env else "", fields=fields,
                         action_dim=int(act.group(1)) if act else 1, iteration=0)


def _factory(model: str | None = None, **_: Any) -> OfflineDesigner:
    return OfflineDesigner()


register("offline", _factory)
