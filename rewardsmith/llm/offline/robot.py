"""What the offline designer reads from a task: the robot (from the state schema) and the intent
(from the description)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from rewardsmith.llm.base import DesignContext


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
    kind: str  # locomotion, jump, balance, reach, flip, rotate, standup, stand
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
    hold: bool = False  # reach/push: once there, hold still (a penalty gated on being there)
    planar: bool = False  # measure the tip-target distance in x, y only (an object on a table)
    # reach: the tip must touch the target ("touches the target"): what counts is being on it,
    # not how near it got, so a bounded kernel on the distance leads the reward, not its minus
    touch: bool = False
    limits: tuple[tuple[str, float | None, float | None], ...] = ()  # (hinge, low, high) to keep
    joint: str | None = None  # rotate: the hinge to spin (its speed, signed by ``sign``)
    speed: float | None = None  # rotate: the speed the description asks for (rad/s), if any
    why: str = ""

    @property
    def direction(self) -> str:
        return ("+" if self.sign > 0 else "-") + "xyz"[self.axis]


_WORDS = {
    "reach": r"\b(reach\w*|target|goal|touch\w*|fingertip|point at|grasp)\b",
    "balance": r"\b(balanc\w*|inverted|pendulum|pole|keep\w* \w+ (up|upright))\b",
    "flip": r"\b(back ?flip\w*|front ?flip\w*|somersault\w*|do a flip|flip (backward|forward)s?)\b",
    "jump": r"\b(jump\w*|leap\w*|as high as|hop up|bounce)\b",
    # "keeping its torso high" beside a direction of travel is a walker's posture, not a jump
    "height": r"\b(height|high(er|est)?)\b",
    "spin": r"\b(spin\w*|rotat\w*|twirl\w*|whirl\w*)\b",
    "move": r"\b(walk\w*|run\w*|hop\w*|swim\w*|crawl\w*|mov\w*|go|travel\w*|locomot\w*|fast\w*|speed|"
            r"forwards?|backwards?|sideways|ahead|gallop\w*|sprint\w*)\b",
    "stand": r"\b(stand\w*|stay\w*|still|upright|sit)\b",
    "fall": r"\b(fall\w*|flip\w* over|tip\w* over|topple\w*|upright|stable|healthy|stumbl\w*|crash\w*)\b",
    "drift": r"\b(drift\w*|straight|lateral\w*|veer\w*)\b",
    "turn": r"\b(turn\w*|heading|rotat\w*|straight)\b",
    "smooth": r"\b(smooth\w*|gentl\w*|efficient\w*|energy|quiet\w*|graceful\w*|jerk\w*)\b",
}


def _find_field(robot: Robot, words: tuple[str, ...], description: str = "") -> str | None:
    """A 3D position field whose name holds one of ``words`` (the first word that matches
    first); among them, one the description names (its name before ``_pos``, as a word) wins:
    "its fingertip (the finger body)" picks ``finger_pos`` over ``hand_pos``."""
    found = [name for w in words for name, (shape, _unit, _doc) in robot.fields.items()
             if name.endswith("_pos") and tuple(shape) == (3,) and w in name and name != "com_pos"]
    named = [n for n in found if re.search(rf"\b{re.escape(n[:-4].lower())}\b", description)]
    return (named or found or [None])[0]


def read_intent(description: str, robot: Robot) -> Intent:
    d = description.lower()

    def has(key: str) -> bool:
        return re.search(_WORDS[key], d) is not None

    tip = _find_field(robot, ("fingertip", "tip", "end_effector", "effector", "gripper", "hand",
                              "finger"), d)
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
    hold = re.search(_HOLD, d) is not None
    limits = read_limits(d, robot)
    stage = ", then hold still there" if hold else ""
    keep = "".join(f", keeping {j} within its range" for j, _, _ in limits)
    if re.search(r"\b(push\w*|shov\w*|slid\w*)\b", d) and obj and target:
        return Intent("reach", tip=obj, target=target, helper=tip, smooth=smooth, hold=hold,
                      planar=_different_heights(robot, obj, target), limits=limits,
                      why=f"push the {obj[:-4]} to the {target[:-4]}{stage}{keep}")
    if has("reach") and tip and target:
        touch = re.search(r"\btouch(es|ing)?\b", d) is not None
        return Intent("reach", tip=tip, target=target, smooth=smooth, hold=hold, limits=limits,
                      touch=touch, why=(f"touch the {target[:-4]} with the {tip[:-4]}" if touch else
                                        f"bring the {tip[:-4]} to the {target[:-4]}") + stage + keep)
    if has("balance"):
        return Intent("balance", avoid_fall=True, tip_high=bool(re.search(r"\b(high|tip|height)\b", d)),
                      smooth=smooth, why="keep the poles upright")
    if has("flip"):
        back = not re.search(r"front ?flip|flip forward", d)
        return Intent("flip", sign=-1.0 if back else 1.0, why="do a back flip" if back else "do a front flip")
    if re.search(r"\b(stand\w* up|get\w* up|rise|lift\w* (itself|yourself|the torso))\b", d):
        return Intent("standup", avoid_fall=True, smooth=smooth, why="raise the body up")
    joint = _spun_joint(d, robot) if has("spin") else None
    if joint is not None:
        neg = re.search(r"\b(negative|decreasing)\b", d) is not None
        speed = re.search(rf"{_NUMBER}\s*rad(ians?)?\s*(/|per )\s*s", d)
        return Intent("rotate", sign=-1.0 if neg else 1.0, joint=joint,
                      speed=abs(float(speed.group(1))) if speed else None, smooth=smooth,
                      why=f"spin the {joint} joint {'backwards (negative' if neg else 'forwards (positive'}"
                          f" {joint}_angvel)")
    if has("jump"):
        return Intent("jump", avoid_fall=True, smooth=smooth, why="gain height")
    if has("move") or m:
        drift = has("drift") or axis == 1
        return Intent("locomotion", axis=axis, sign=sign, avoid_fall=avoid_fall, drift=drift,
                      no_turn=has("turn") or axis == 1, smooth=smooth, why=f"move {why_dir}")
    if has("height"):
        return Intent("jump", avoid_fall=True, smooth=smooth, why="gain height")
    if has("stand"):
        return Intent("stand", avoid_fall=True, smooth=smooth, why="stand upright and still")
    return Intent("stand", avoid_fall=True, smooth=smooth,
                  why="stay healthy (no direction or goal named in the description)")


# "then hold the arm still", "stop moving once there"; "keep it there" alone is not a hold
_HOLD = (r"\b(hold\w* (the \w+ |it |its \w+ )?(still|steady|motionless)|(keep|stay)\w* (the \w+ |it |its \w+ )?"
         r"(still|steady|motionless)|stop\w* moving|come to rest|at rest|(joints?|arm) should stop)")
_NUMBER = r"([-+]?\d+(?:\.\d+)?)"
_UNIT = r"\s*(rad\w*|deg\w*|°)?"


_SPUN = r"spinner|wheel|rotor|knob|valve|crank|propeller|disc|disk|turntable|hinge"


def _spun_joint(d: str, robot: Robot) -> str | None:
    """The hinge a "spin" description is about: one named in it as a word (its field name), or
    else the one whose name says it turns (a wheel, a spinner, a knob, a bare "hinge")."""
    named = [h for h in robot.hinges if re.search(rf"\b{re.escape(h.lower())}\b", d)]
    if len(named) == 1:
        return named[0]
    spun = [h for h in robot.hinges if re.search(_SPUN, h.lower())]
    return spun[0] if len(spun) == 1 else None


def _different_heights(robot: Robot, a: str, b: str) -> bool:
    """Whether two positions sit at clearly different heights at reset (an object on a table and
    a goal marker below it): their distance is then measured in x, y only."""
    za, zb = robot.init(a, 2), robot.init(b, 2)
    return za is not None and zb is not None and abs(za - zb) > 0.01


def read_limits(d: str, robot: Robot) -> tuple[tuple[str, float | None, float | None], ...]:
    """Joint ranges the description asks to keep: a hinge named in it (by its field name, or a
    word such as "elbow" that is part of exactly one hinge's name), then in the same sentence
    "between A and B (rad|degrees)", "below/at most B", "above/at least A", or "positive" /
    "never negative" (and the reverse)."""
    out = []
    for sentence in re.split(r"(?<=[.;!?])\s+", d):
        hinge = next((h for h in robot.hinges if re.search(rf"\b{re.escape(h.lower())}\b", sentence)), None)
        if hinge is None:
            for word in re.findall(r"\b(elbow|wrist|shoulder|knee|hip|ankle|thigh|neck)\b", sentence):
                named = [h for h in robot.hinges if word in h.lower()]
                if len(named) == 1:
                    hinge = named[0]
                    break
        if hinge is None:
            continue

        def rad(value: str, unit: str | None) -> float:
            v = float(value)
            return round(v * math.pi / 180.0, 4) if (unit or "").startswith(("deg", "°")) else v

        def num(m: re.Match, i: int) -> float:
            return rad(m.group(i), m.group(i + 1))

        lo = hi = None
        m = re.search(rf"between {_NUMBER}{_UNIT} and {_NUMBER}{_UNIT}", sentence)
        if m:  # "between 0 and 90 degrees": the one unit holds for both
            unit = m.group(2) or m.group(4)
            lo, hi = rad(m.group(1), unit), rad(m.group(3), unit)
        else:
            m = re.search(rf"\b(below|under|at most|less than|no more than|smaller than) {_NUMBER}{_UNIT}", sentence)
            if m:
                hi = num(m, 2)
            m = re.search(rf"\b(above|over|at least|more than|no less than|greater than) {_NUMBER}{_UNIT}", sentence)
            if m:
                lo = num(m, 2)
            if lo is None and hi is None:
                if re.search(r"\b(positive|never negative|non-?negative)\b", sentence):
                    lo = 0.0
                elif re.search(r"\b(negative|never positive|non-?positive)\b", sentence):
                    hi = 0.0
        if lo is not None and hi is not None and lo > hi:
            lo, hi = hi, lo
        if lo is not None or hi is not None:
            out.append((hinge, lo, hi))
    return tuple(out)
