"""What the task context tells the LLM about the robot beyond the state schema, derived from the
MuJoCo model and a short random-action run of the env, so it holds for any gymnasium MuJoCo env:

- typical values of every state field: at reset, and its 5th-95th percentile range over
  :data:`STEPS` random-action steps (fixed seed, resetting when an episode ends) and over
  :data:`RESETS` reset states;
- for each hinge and slide joint, its axis and what a positive value means, found by moving the
  joint a little in the simulator and watching where its bodies go;
- which action entry drives which joint, with its control range and gear;
- how an episode ends: the env's own rule where it is known (:func:`termination`), otherwise
  what the random-action episodes showed;
- which bodies are objects rather than the robot.

:func:`robot_context` computes it once per task (``Task.robot_context`` caches it); the random run
is seeded, so the text, and with it the prompt and the LLM cache keys, is the same every run.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rewardsmith.state.view import (
    StateSpec,
    _body_names,
    _identifier,
    object_bodies,
    robot_roots,
    subtree,
)

if TYPE_CHECKING:
    from rewardsmith.tasks.task import Task

SEED = 0
STEPS = 300  # random-action steps for the typical values and the episode ends
RESETS = 20  # reset states at least: a field's typical value at reset, and its spread over
# episodes (a goal placed at random each episode moves only at a reset; a 1000-step episode
# outlasts the random run)
EPS = 1e-3  # how far a joint is moved to see what a positive value does (rad or m)

_HINGE, _SLIDE = 3, 2
_DIR = (("+x", "forward"), ("-x", "backward")), (("+y", "left"), ("-y", "right")), (("+z", "up"), ("-z", "down"))


@dataclass(frozen=True)
class Typical:
    """One field's value at reset and its 5th and 95th percentile over the random run."""

    reset: np.ndarray
    low: np.ndarray
    high: np.ndarray
    mean: float = 0.0  # for contact flags: the fraction of steps in contact
    norm_high: float = 0.0  # for vectors: the 95th percentile of their length
    reset_low: np.ndarray | None = None  # the 5th and 95th percentile over the reset states
    reset_high: np.ndarray | None = None


@dataclass(frozen=True)
class JointFact:
    name: str
    kind: str  # "hinge" | "slide"
    axis: tuple[float, float, float]  # world frame, at the model's initial pose
    meaning: str  # what a positive value does, in words
    body: str  # the body it moves
    moves: tuple[float, float, float]  # where that body's far end goes per unit of positive value
    range: tuple[float, float] | None = None  # its limits (rad or m); None: unlimited


@dataclass(frozen=True)
class ActuatorFact:
    index: int
    target: str  # the joint it drives, or "tendon NAME", "site NAME", "body NAME"
    ctrl: tuple[float, float] | None  # None: unlimited
    gear: float
    servo: bool = False  # a position/velocity servo (has a bias term), not a plain motor


@dataclass(frozen=True)
class RobotContext:
    typical: dict[str, Typical]
    joints: list[JointFact]
    actuators: list[ActuatorFact]
    objects: list[str]  # bodies that are not the robot (free, slid or mocap), with how they move
    episode_lengths: list[int]  # random-action episodes that ended early (terminated)
    truncated: int  # random-action episodes that hit the time limit
    steps: int  # steps of the random run
    known_termination: str = ""  # the env's own rule, where termination() knows it
    notes: dict[str, str] = field(default_factory=dict)  # field -> typical-value annotation
    geometry: str = ""  # standing height, body sizes, unnamed bodies, limb ends (tasks.geometry)
    floating: bool = True  # the robot can leave the ground and tip over (see floating_base)
    observation: str = ""  # what the policy sees, in words (see observation_facts)
    physics: str = ""  # gravity, a fluid, the robot's joint damping (see physics_facts)
    bounds: tuple = ()  # the env's own rules for ending an episode, on fields (see Bound)

    # ------------------------------------------------------------------ rendering
    def render(self) -> str:
        """The context's text: joints, actions and objects (typical values go on the field lines)."""
        lines = ["Directions (world frame): forward = +x, left = +y, up = +z. Joint axes: world frame, "
                 "initial pose; a positive angle turns by the right-hand rule."]
        if self.joints:
            lines.append("Joints (what a positive value does):")
            width = max(len(j.name) for j in self.joints) + 2
            for j in self.joints:
                lines.append(f"  {j.name:<{width}}{j.kind} {_axis(j.axis)}: {j.meaning}{_limits(j)}"
                             f"{self._reset_outside(j)}")
        if self.actuators:
            ctrls = {a.ctrl for a in self.actuators}
            shared = len(ctrls) == 1
            head = "Actions (action[i] drives one joint; force or torque = gear x action"
            head += f", each in {_range(next(iter(ctrls)))}):" if shared else "):"
            lines.append(head)
            width = max(len(a.target) for a in self.actuators) + 1
            for a in self.actuators:
                ctrl = "" if shared else f", ctrl {_range(a.ctrl)}"
                servo = " (servo: the action sets a target, not a force)" if a.servo else ""
                lines.append(f"  action[{a.index}] -> {a.target + ',':<{width}} gear {_num(a.gear)}{ctrl}{servo}")
        if self.geometry:
            lines.append(self.geometry)
        if self.physics:
            lines.append(self.physics)
        if self.objects:
            lines.append("Objects (not the robot; com_pos includes them, robot_com_pos does not): "
                         + "; ".join(self.objects) + ".")
        return "\n".join(lines)

    def _reset_outside(self, j: JointFact) -> str:
        """Where a joint's typical reset value lies outside its limits (the ant's ankles reset
        at 0, below their 0.52 rad): words to append, "" otherwise."""
        t = self.typical.get(f"{j.name}_angle" if j.kind == "hinge" else f"{j.name}_pos")
        if j.range is None or t is None or len(t.reset) != 1:
            return ""
        v, (lo, hi) = float(t.reset[0]), j.range
        margin = 0.02 * (hi - lo)
        if lo - margin <= v <= hi + margin:
            return ""
        return f" (resets at {_num(v)}: the limit pushes it in)"

    def early_end(self) -> str:
        """How the random-action episodes ended (for envs whose own rule is not known)."""
        n = self.steps
        if self.episode_lengths:
            lo, hi = min(self.episode_lengths), max(self.episode_lengths)
            span = f"{lo}" if lo == hi else f"{lo}-{hi}"
            return (f"The env can end an episode early (its own rule): episodes of random actions "
                    f"ended after {span} steps ({len(self.episode_lengths)} ends in {n} steps).")
        return f"Episodes of random actions never ended early within {n} steps."

    def termination(self) -> str:
        return self.known_termination or self.early_end()

    @property
    def ends_early(self) -> bool:
        """Whether the env can end an episode before its time limit: by its own known rule, or
        else as random-action episodes did."""
        if self.known_termination:
            return self.known_termination != NEVER_ENDS
        return bool(self.episode_lengths)


# ---------------------------------------------------------------------- computing
def robot_context(task: Task) -> RobotContext:
    """The robot's context for ``task``: makes the env, runs :data:`STEPS` random steps."""
    spec = task.spec
    env = task.make_env()
    try:
        u = env.unwrapped
        model, data = u.model, u.data
        env.reset(seed=SEED)
        env.action_space.seed(SEED)
        rows = [spec.extract(model, data)]  # kinematics of the reset state computed
        shape = _geometry(model, getattr(u, "init_qpos", None), spec)
        resets = [rows[0]]
        lengths, truncated, t = [], 0, 0
        for _ in range(STEPS):
            _, _, term, trunc, _ = env.step(env.action_space.sample())
            t += 1
            rows.append(spec.extract(model, data))
            if term or trunc:
                if term:
                    lengths.append(t)
                else:
                    truncated += 1
                t = 0
                env.reset()
                rows.append(spec.extract(model, data))
                resets.append(rows[-1])
        while len(resets) < RESETS:  # the typical reset state: a median over several
            env.reset()
            resets.append(spec.extract(model, data))
        typical = _typical(spec, np.asarray(rows), np.asarray(resets))
        same = same_as(spec, np.asarray(rows))
        ends = bounds(u, model, spec)
        limbs = limb_positions(model, spec)
        return RobotContext(
            typical=typical, joints=joint_facts(model), actuators=actuator_facts(model),
            objects=object_facts(model), episode_lengths=lengths, truncated=truncated, steps=STEPS,
            known_termination=termination(u, ends), bounds=ends,
            notes={name: (f"[same as {same[name]}]" if name in same
                          else annotate(spec, name, typ, limbs)) for name, typ in typical.items()},
            geometry=shape, floating=floating_base(model), observation=observation_facts(env),
            physics=physics_facts(model),
        )
    finally:
        env.close()


def observation_facts(env) -> str:
    """What the policy observes, in words: the size of the env's own observation and its parts
    where the env names them (the Control Suite's). Rewards may read any state field; the
    policy acts on this only. (Which positions gymnasium's locomotion envs leave out is said
    with the episode's facts, :func:`rewardsmith.llm.prompts.training_context`.)"""
    shape = getattr(env.observation_space, "shape", None)
    if not shape:
        return ""
    u = env.unwrapped
    text = f"{int(np.prod(shape))} numbers, the env's own observation"
    spec = getattr(getattr(u, "_env", None), "observation_spec", None)
    if callable(spec) and getattr(u, "_keys", None):  # a Control Suite env: named parts
        parts = spec()
        text += " (" + ", ".join(f"{k} {int(np.prod(parts[k].shape))}" for k in u._keys) + ")"
    return text + ". Not the state fields below: a reward may read any of them."


def _geometry(model, qpos, spec: StateSpec) -> str:
    """The geometry section (see :mod:`rewardsmith.tasks.geometry`) at the env's reset pose
    without its noise (``qpos``; the model's own where None), with the bodies named as the
    state view names them."""
    import mujoco

    from rewardsmith.tasks.geometry import geometry

    data = mujoco.MjData(model)
    if qpos is not None and len(qpos) == model.nq:
        data.qpos[:] = qpos
    mujoco.mj_forward(model, data)
    names = ["world"] + [f.group[len("body "):] for f in spec.fields.values()
                         if f.group.startswith("body ") and f.name.endswith("_pos")]
    if len(names) != model.nbody:
        return ""
    return geometry(model, data, names)


def same_as(spec: StateSpec, rows: np.ndarray) -> dict[str, str]:
    """Fields equal to an earlier field of the same shape at every row, where they move: bodies
    fixed together at one origin (the ant's legs at its torso; the pusher's ``tips_arm`` body,
    whose origin is its wrist's, not the fingertip). Field -> the earlier field. Flags and
    fields that stay put are left out: their equality says nothing of the robot."""
    out: dict[str, str] = {}
    seen: list[tuple[str, np.ndarray]] = []
    for name, f in spec.fields.items():
        if f.group == "raw" or f.unit == "0/1" or name in ("time", "dt"):
            continue
        v = rows[:, f.offset: f.offset + f.size]
        if not np.all(np.isfinite(v)) or float(np.ptp(v, axis=0).max(initial=0.0)) < 1e-9:
            continue
        other = next((n for n, w in seen if w.shape == v.shape and np.allclose(v, w, rtol=0,
                                                                              atol=1e-9)), None)
        if other is None:
            seen.append((name, v))
        else:
            out[name] = other
    return out


def _typical(spec: StateSpec, rows: np.ndarray, resets: np.ndarray) -> dict[str, Typical]:
    """Per field: the median over the reset states; the 5th and 95th percentile over all rows,
    widened to the reset states' own 5th-95th range (a target placed at random each episode
    keeps one value through the random run's first episode, and varies only across resets)."""
    out = {}
    for name, f in spec.fields.items():
        sl = slice(f.offset, f.offset + f.size)
        v = rows[:, sl]
        lo, hi = np.percentile(v, [5, 95], axis=0)
        r_lo, r_hi = np.percentile(resets[:, sl], [5, 95], axis=0)
        lo, hi = np.minimum(lo, r_lo), np.maximum(hi, r_hi)
        norm = float(np.percentile(np.linalg.norm(v, axis=1), 95))
        out[name] = Typical(np.median(resets[:, sl], axis=0), lo, hi, float(v.mean()), norm,
                            r_lo, r_hi)
    return out


def floating_base(model) -> bool:
    """Whether the robot's base can leave the ground and tip over: a root body on a free joint,
    or on a vertical slide (the planar walkers' rootz). An arm on a hinge, a cart on its rail
    and a swimmer sliding in the plane cannot: flights, tilts and falls say nothing of them."""
    for r in robot_roots(model):
        if model.body_parentid[r] != 0:
            continue
        for j in range(model.body_jntadr[r], model.body_jntadr[r] + model.body_jntnum[r]):
            kind = int(model.jnt_type[j])
            if kind == 0 or (kind == _SLIDE and abs(float(model.jnt_axis[j][2])) > 0.5):
                return True
    return False


def limb_positions(model, spec: StateSpec) -> set[str]:
    """The position fields of a floating robot's bodies other than its root: where the robot
    wandered in x and y says nothing about them, their height does."""
    names = _body_names(model)
    roots = robot_roots(model)
    floating = any(model.body_jntnum[r] > 0 and model.body_parentid[r] == 0 and
                   int(model.jnt_type[model.body_jntadr[r]]) in (0, _SLIDE) for r in roots)
    if not floating:
        return set()
    robot = {b for r in roots for b in subtree(model, r)} - set(roots)
    return {n for n in spec.fields if spec.fields[n].group in {f"body {names[b]}" for b in robot}
            and n.endswith("_pos") and spec.fields[n].shape == (3,)}


RANDOM_RESET = 0.25  # a field whose reset values spread over this share of its range or more
STILL = "at every reset and random step: random actions never moved it"  # not a dead field


def random_reset(t: Typical) -> bool:
    """Whether a scalar field starts at a value drawn at random each episode: its spread over
    the reset states is :data:`RANDOM_RESET` of its whole range or more (gymnasium's reset noise
    of a few thousandths is not)."""
    if t.reset_low is None or t.reset_high is None or len(t.reset_low) != 1:
        return False
    spread, whole = float(t.reset_high[0] - t.reset_low[0]), float(t.high[0] - t.low[0])
    return spread > 1e-6 and spread >= RANDOM_RESET * whole


def annotate(spec: StateSpec, name: str, t: Typical, height_only: Collection[str] = ()) -> str:
    """One field's typical values, short: ``[reset 1.25; 0.7..1.3]`` (5th..95th percentile).
    Positions in ``height_only`` show their height (z) alone."""
    f = spec.fields[name]
    if f.group == "raw" or f.unit == "-" and f.size == 4:  # raw qpos/qvel, quaternions
        return ""
    if f.unit == "0/1":
        return f"[reset {_num(t.reset[0])}; {t.mean:.0%} of steps]"
    if f.size == 1:
        if np.allclose(t.low, t.high) and np.allclose(t.reset, t.low):
            # a constant by definition (dt), or one that random actions never move (a spinner
            # the finger does not reach): said as such, not as a field that is always this
            return (f"[= {_num(t.reset[0])}]" if name == "dt" else
                    f"[= {_num(t.reset[0])} {STILL}]")
        scale = _scale(t.reset, t.low, t.high)
        if random_reset(t):  # the env draws it at random each reset (a walker's pitch)
            return (f"[reset random {_num(t.reset_low[0], scale)}..{_num(t.reset_high[0], scale)}; "
                    f"{_num(t.low[0], scale)}..{_num(t.high[0], scale)}]")
        return f"[reset {_num(t.reset[0], scale)}; {_num(t.low[0], scale)}..{_num(t.high[0], scale)}]"
    if name.endswith("zaxis"):
        return f"[z: reset {_num(t.reset[2])}; {_num(t.low[2])}..{_num(t.high[2])}]"
    if f.size == 3 and f.unit == "m":  # a position: per component
        if np.allclose(t.low, t.high) and np.allclose(t.reset, t.low):  # fixed: a site, a base
            return f"[fixed at {_vec(t.reset, _scale(t.reset))} over every reset and random step]"
        if name in height_only:
            scale = _scale(t.reset[2], t.low[2], t.high[2])
            return f"[z: reset {_num(t.reset[2], scale)}; {_num(t.low[2], scale)}..{_num(t.high[2], scale)}]"
        scale = _scale(t.reset, t.low, t.high)
        return f"[reset {_vec(t.reset, scale)}; {_vec(t.low, scale)}..{_vec(t.high, scale)}]"
    # other vectors (velocities): their length at reset (when not ~0) and its 95th percentile
    reset = float(np.linalg.norm(t.reset))
    if t.norm_high == 0 and reset == 0:
        return f"[= 0 {STILL}]"
    head = f"reset {_num(reset)}; " if reset > 0.05 * t.norm_high else ""
    return f"[|v| {head}95% {_num(t.norm_high)}]"


def joint_facts(model) -> list[JointFact]:
    """Each hinge and slide joint's axis and what a positive value does, found in the simulator:
    from the model's initial pose, the joint is moved by :data:`EPS` and its bodies' far end
    (the point of the moved bodies farthest from the joint's axis) is watched."""
    import mujoco

    d0, d1 = mujoco.MjData(model), mujoco.MjData(model)
    mujoco.mj_kinematics(model, d0)
    names = _body_names(model)
    # a floating robot's root body (several joints, or a free one, to the world: Hopper's torso
    # with rootx, rootz, rooty): a hinge there turns the whole robot. A fixed arm's first hinge
    # is described like any other, by where its far end goes.
    robot = set(robot_roots(model))
    floating = {b for b in robot if model.body_jntnum[b] > 1 or
                (model.body_jntnum[b] == 1 and int(model.jnt_type[model.body_jntadr[b]]) == 0)}
    out = []
    for j in range(model.njnt):
        kind = {_HINGE: "hinge", _SLIDE: "slide"}.get(int(model.jnt_type[j]))
        if kind is None:
            continue
        name = _identifier(mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j) or f"joint{j}")
        b = int(model.jnt_bodyid[j])
        axis = np.asarray(d0.xaxis[j], dtype=float)
        anchor = np.asarray(d0.xanchor[j], dtype=float)
        bodies = subtree(model, b)
        d1.qpos[:] = d0.qpos
        d1.qpos[model.jnt_qposadr[j]] += EPS
        mujoco.mj_kinematics(model, d1)
        p0, owner = _points(model, d0, bodies)
        p1, _ = _points(model, d1, bodies)
        r = p0 - anchor
        dist = np.linalg.norm(r - np.outer(r @ axis, axis), axis=1) if kind == "hinge" else -r[:, 2]
        k = int(np.argmax(dist))  # for a slide: any point (all move alike); the lowest one
        moves = (p1[k] - p0[k]) / EPS
        root = b in floating
        what = "the robot" if root else names[owner[k]]
        if kind == "slide":
            meaning = f"moves {what} {_direction(moves)}"
        elif root and _rotation(axis):
            meaning = _rotation(axis)
        elif root:
            meaning = f"rotates the robot; its far end ({names[owner[k]]}) moves {_direction(moves)}"
        else:
            end = "its far end" if owner[k] == b else f"the far end ({names[owner[k]]})"
            meaning = f"{end} moves {_direction(moves)}"
        limits = (tuple(float(x) for x in model.jnt_range[j]) if model.jnt_limited[j] else None)
        out.append(JointFact(name, kind, tuple(float(x) for x in np.round(axis, 2)), meaning,
                             names[owner[k]], tuple(float(x) for x in moves), limits))
    return out


def _limits(j: JointFact) -> str:
    """A joint's limits in words: its range, or, for an unlimited hinge, that its angle is not
    wrapped (a pole or a torso that turns over keeps counting: 2 pi a turn)."""
    unit = "rad" if j.kind == "hinge" else "m"
    if j.range is not None:
        return f"; limited to [{_num(j.range[0])}, {_num(j.range[1])}] {unit}"
    if j.kind == "hinge":
        return "; no limit (the angle is not wrapped: it counts on by 2 pi a full turn)"
    return ""


def actuator_facts(model) -> list[ActuatorFact]:
    """Action entry i is actuator i (gymnasium's MuJoCo envs set ``data.ctrl = action``)."""
    import mujoco

    T, Obj = mujoco.mjtTrn, mujoco.mjtObj
    # transmission type -> (what actuator_trnid[i, 0] names, the word before its name)
    objs = {int(T.mjTRN_JOINT): (Obj.mjOBJ_JOINT, ""), int(T.mjTRN_JOINTINPARENT): (Obj.mjOBJ_JOINT, ""),
            int(T.mjTRN_SLIDERCRANK): (Obj.mjOBJ_SITE, "slider-crank at site "),
            int(T.mjTRN_TENDON): (Obj.mjOBJ_TENDON, "tendon "), int(T.mjTRN_SITE): (Obj.mjOBJ_SITE, "site "),
            int(T.mjTRN_BODY): (Obj.mjOBJ_BODY, "body ")}
    out = []
    for i in range(model.nu):
        trn = int(model.actuator_trntype[i])
        tid = int(model.actuator_trnid[i, 0])
        obj, word = objs.get(trn, (None, ""))
        name = (mujoco.mj_id2name(model, obj, tid) if obj is not None else None) or f"actuator{i}"
        name = f"{word}{name}"
        ctrl = (tuple(float(x) for x in model.actuator_ctrlrange[i])
                if model.actuator_ctrllimited[i] else None)
        out.append(ActuatorFact(i, _identifier(name) if trn < 2 else name, ctrl,
                                float(model.actuator_gear[i, 0]), int(model.actuator_biastype[i]) != 0))
    return out


def object_facts(model) -> list[str]:
    """Each object (a body outside the robot that moves): its joints, with their damping and dry
    friction where it has any, its geoms' sizes and its mass."""
    import mujoco

    from rewardsmith.tasks.geometry import _size

    names = _body_names(model)
    out = []
    for r in object_bodies(model):
        if model.body_mocapid[r] >= 0:
            out.append(f"{names[r]} (mocap: moved by the env, not by physics)")
            continue
        kinds = {0: "free", 1: "ball", 2: "slide", 3: "hinge"}
        bodies = subtree(model, r)
        joints = [j for b in bodies for j in range(model.body_jntadr[b],
                                                   model.body_jntadr[b] + model.body_jntnum[b])]
        desc = ", ".join(f"{kinds[int(model.jnt_type[j])]} joint "
                         f"{mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j) or j}"
                         + _resistance(model, j) for j in joints)
        geoms = [_size(model, g) for b in bodies
                 for g in range(model.body_geomadr[b], model.body_geomadr[b] + model.body_geomnum[b])
                 if model.geom_contype[g] or model.geom_conaffinity[g]]  # those it touches with
        shape = f"; {', '.join(geoms)}" if geoms else ""
        mass = float(sum(model.body_mass[b] for b in bodies))
        out.append(f"{names[r]} ({desc}{shape}; {mass:.3g} kg)")
    return out


def _resistance(model, j: int) -> str:
    """A joint's damping and dry friction, where it has any: " (damping 0.5, dry friction 0.1)"."""
    d = int(model.jnt_dofadr[j])
    parts = [f"{word} {float(v):.4g}" for word, v in (("damping", model.dof_damping[d]),
                                                         ("dry friction", model.dof_frictionloss[d]))
             if v > 0]
    return f" ({', '.join(parts)})" if parts else ""


def physics_facts(model) -> str:
    """Gravity, a fluid the robot moves in, and its joints' damping and dry friction, in one
    line: what links a force to the motion it makes (a damped joint slows by itself; without
    gravity nothing falls)."""
    import mujoco

    g = np.asarray(model.opt.gravity, dtype=float)
    if not np.any(g):
        parts = ["no gravity (0 in this model: nothing falls or rests under its weight)"]
    elif g[0] == 0 and g[1] == 0 and g[2] < 0:
        parts = [f"gravity {float(-g[2]):.4g} m/s^2 down"]
    else:
        parts = [f"gravity ({', '.join(f'{float(x):.4g}' for x in g)}) m/s^2"]
    if model.opt.viscosity > 0 or model.opt.density > 0:
        parts.append(f"a fluid (viscosity {float(model.opt.viscosity):.4g}, density "
                     f"{float(model.opt.density):.4g}) that drags every body")
    robot = {b for r in robot_roots(model) for b in subtree(model, r)}
    for word, values, unit in (("damping", model.dof_damping, " (force per unit of joint speed)"),
                               ("dry friction", model.dof_frictionloss, "")):
        groups: dict[str, list[str]] = {}
        for j in range(model.njnt):
            if int(model.jnt_bodyid[j]) not in robot or int(model.jnt_type[j]) not in (2, 3):
                continue
            v = float(values[int(model.jnt_dofadr[j])])
            if v > 0:
                groups.setdefault(f"{v:.4g}", []).append(
                    mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j) or str(j))
        if groups:
            parts.append(f"joint {word}{unit}: " + "; ".join(
                f"{v} on {', '.join(js)}" for v, js in groups.items()))
    return "Physics: " + "; ".join(parts) + "."


# ------------------------------------------------------------------------ termination
@dataclass(frozen=True)
class Bound:
    """One of the env's own rules for ending an episode: ``field`` (its ``index``-th entry for a
    vector) leaving ``(low, high)``."""

    field: str
    index: int | None
    low: float
    high: float
    what: str  # in words: "the torso's height"
    unit: str
    kind: str  # "height" | "pitch"
    # the ``qpos`` entry the env itself reads, where it is not the field's own (a free root's
    # height: qpos[2] equals its body's position without the kinematics the field costs)
    qpos: int | None = None

    def values(self, view) -> np.ndarray:
        """Its value at every row of a view (``episode.next``), shape (T,)."""
        if self.qpos is not None:
            return np.asarray(view["qpos"], dtype=float)[:, self.qpos]
        v = np.asarray(view[self.field], dtype=float)
        return v[:, self.index] if self.index is not None else v

    def name(self) -> str:
        return f"{self.field}[:, {self.index}]" if self.index is not None else self.field


def crossed_bounds(found: tuple[Bound, ...], view) -> list[tuple[Bound, float]]:
    """The bounds among ``found`` that the last row of ``view`` (an episode's ``next``) lies
    outside, each with its value there: which of the env's rules ended an episode early. A
    bound whose field the view lacks is left out."""
    out = []
    for b in found:
        try:
            v = float(b.values(view)[-1])
        except Exception:  # noqa: BLE001 - a field the view lacks or does not fill
            continue
        if not b.low < v < b.high:
            out.append((b, v))
    return out


def ended_past(found: tuple[Bound, ...], ep) -> tuple[str, ...]:
    """The names (:meth:`Bound.name`) of the bounds an episode that ended early lay past at its
    last state; () for one that ran to its time limit."""
    if not ep.terminated or not found:
        return ()
    return tuple(b.name() for b, _ in crossed_bounds(found, ep.next))


def bounds(u: Any, model, spec: StateSpec) -> tuple[Bound, ...]:
    """The height and pitch bounds gymnasium's env ``u`` ends an episode at, on the state view's
    fields: a planar robot's root slides and hinge (qpos 1, 2: ``rootz_pos``, ``rooty_angle``),
    or a free root's height (qpos 2: its body's ``_pos[:, 2]``). () where it has none or they
    cannot be placed on a field."""
    import mujoco

    if not getattr(u, "_terminate_when_unhealthy", False) or model.njnt == 0:
        return ()

    def field_of(q: int) -> tuple[str, int | None, int | None] | None:
        """The field, its index and the qpos entry to read it from (see Bound.qpos)."""
        for j in range(model.njnt):
            a, kind = int(model.jnt_qposadr[j]), int(model.jnt_type[j])
            name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j)
            if kind == 0 and a <= q < a + 3:  # a free joint's position: its body's
                b = int(model.jnt_bodyid[j])
                body = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, b)
                f = f"{body}_pos"
                on_world = int(model.body_parentid[b]) == 0 and "qpos" in spec.fields
                return (f, q - a, q if on_world else None) if f in spec.fields else None
            if kind in (2, 3) and a == q and name:
                f = f"{name}_pos" if kind == 2 else f"{name}_angle"
                return (f, None, None) if f in spec.fields else None
        return None

    free = int(model.jnt_type[0]) == 0
    out = []
    rules = [("_healthy_z_range", 2 if free else 1, "the torso's height", "m", "height")]
    if not free:
        rules.append(("_healthy_angle_range", 2, "its pitch angle", "rad", "pitch"))
    for attr, q, what, unit, kind in rules:
        rng, at = getattr(u, attr, None), field_of(q)
        if rng is not None and at is not None:
            out.append(Bound(at[0], at[1], float(rng[0]), float(rng[1]), what, unit, kind,
                             qpos=at[2]))
    return tuple(out)


def termination(u: Any, found: tuple[Bound, ...] = ()) -> str:
    """When gymnasium's env ``u`` ends an episode early, from its own settings; "" when unknown.
    ``found``: its :func:`bounds`, to name the field each reads."""
    name = type(u).__name__
    if getattr(u, "_terminate_when_unhealthy", False):
        parts = []
        on = {b.kind: f" ({b.name()})" for b in found}
        if hasattr(u, "_healthy_z_range"):
            parts.append(f"the torso's height{on.get('height', ' (z)')} leaves "
                         f"{tuple(u._healthy_z_range)} m")
        if hasattr(u, "_healthy_angle_range"):
            parts.append(f"its pitch angle{on.get('pitch', '')} leaves "
                         f"{tuple(u._healthy_angle_range)} rad")
        if hasattr(u, "_healthy_state_range"):
            parts.append(f"any other joint position or velocity leaves {tuple(u._healthy_state_range)}")
        return ("The env ends an episode early, as a fall, when " + ", or ".join(parts)
                + ": steps after a fall earn nothing, so a per-step bonus for staying up rewards "
                "not falling.") if parts else "The env ends an episode early when the robot falls."
    if name == "InvertedPendulumEnv":
        return "The env ends an episode early when the pole tilts more than 0.2 rad from upright."
    if name == "InvertedDoublePendulumEnv":
        return "The env ends an episode early when the pendulum's tip drops to 1 m or lower."
    if name in _NEVER_ENDS or hasattr(u, "_terminate_when_unhealthy"):
        return NEVER_ENDS
    return ""


NEVER_ENDS = "The env never ends an episode early: every episode runs to the time limit."


# gymnasium's MuJoCo envs whose step() never terminates
_NEVER_ENDS = {"HalfCheetahEnv", "SwimmerEnv", "ReacherEnv", "PusherEnv", "HumanoidStandupEnv"}


# --------------------------------------------------------------------------- helpers
def _points(model, data, bodies: list[int]) -> tuple[np.ndarray, list[int]]:
    """Body origins and geom ends (a capsule's or cylinder's two tips, other geoms' centres)."""
    pts, owner = [], []
    for b in bodies:
        pts.append(data.xpos[b])
        owner.append(b)
        for g in range(model.body_geomadr[b], model.body_geomadr[b] + model.body_geomnum[b]):
            c = data.geom_xpos[g]
            if int(model.geom_type[g]) in (3, 5):  # capsule, cylinder: half-length along local z
                h = data.geom_xmat[g].reshape(3, 3)[:, 2] * model.geom_size[g, 1]
                pts += [c + h, c - h]
                owner += [b, b]
            else:
                pts.append(c)
                owner.append(b)
    return np.array(pts, dtype=float), owner


def _direction(v: np.ndarray) -> str:
    """``+x -z (forward, down)``: the components of ``v`` that matter."""
    v = np.asarray(v, dtype=float)
    big = np.abs(v).max()
    if big < 1e-9:
        return "nowhere (no effect at the initial pose)"
    keep = [i for i in np.argsort(-np.abs(v)) if abs(v[i]) >= 0.4 * big]
    signs = [_DIR[i][0 if v[i] > 0 else 1] for i in keep]
    return " ".join(s for s, _ in signs) + " (" + ", ".join(w for _, w in signs) + ")"


def _rotation(axis: np.ndarray) -> str:
    """Pitch, yaw or roll by the right-hand rule about a (nearly) world-aligned axis; "" otherwise."""
    i = int(np.argmax(np.abs(axis)))
    if abs(axis[i]) < 0.9:
        return ""
    pos = axis[i] > 0
    return [("rolls the robot right (left side up)", "rolls the robot left (right side up)"),
            ("pitches the robot forward (nose down)", "pitches the robot backward (nose up)"),
            ("turns the robot left (counter-clockwise from above)",
             "turns the robot right (clockwise from above)")][i][0 if pos else 1]


def _axis(a) -> str:
    a = np.asarray(a, dtype=float)
    i = int(np.argmax(np.abs(a)))
    if abs(a[i]) > 0.99:
        return ("+" if a[i] > 0 else "-") + "xyz"[i]
    return "(" + ", ".join(_num(x, 1.0) for x in a) + ")"


def _scale(*arrays) -> float:
    return float(max(np.abs(np.concatenate([np.ravel(a) for a in arrays])).max(), 1e-12))


def _num(x: float, scale: float | None = None) -> str:
    """3 significant digits; values under 1% of ``scale`` print as 0."""
    x = float(x)
    if scale is not None and abs(x) < 0.01 * scale or abs(x) < 1e-9:
        return "0"
    s = f"{x:.3g}"
    if "e" in s:
        s = f"{x:.2e}"
    return s


def _vec(v, scale: float) -> str:
    return "(" + ", ".join(_num(x, scale) for x in v) + ")"


def _range(ctrl) -> str:
    return "unlimited" if ctrl is None else f"[{_num(ctrl[0])}, {_num(ctrl[1])}]"
