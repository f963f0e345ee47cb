"""The state view: named physical quantities derived from a MuJoCo model.

A :class:`StateSpec` is built once per model. It lays every quantity out in one flat float64
row, so a batch of states is a ``(B, D)`` array and a :class:`StateView` over it hands out
``(B, ...)`` slices by name. The same layout is filled from ``mujoco.MjData`` here and from
``mjx.Data`` on the JAX path, so field names, units and values agree on both.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewardsmith.errors import RewardsmithError

# MuJoCo joint types (mjtJoint): free, ball, slide, hinge.
_FREE, _BALL, _SLIDE, _HINGE = 0, 1, 2, 3
_YZX = np.array([1, 2, 0])
_ZXY = np.array([2, 0, 1])


@dataclass(frozen=True)
class Field:
    name: str
    offset: int
    shape: tuple[int, ...]
    unit: str
    doc: str
    group: str = ""

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass(frozen=True)
class Extra:
    """A task-specific quantity: ``fn(model, data) -> array of `shape```."""

    name: str
    shape: tuple[int, ...]
    unit: str
    doc: str
    fn: Callable[[Any, Any], Any]


class UnknownStateField(RewardsmithError, AttributeError):
    pass


def _body_names(model) -> list[str]:
    import mujoco

    names = []
    for b in range(model.nbody):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, b)
        if not name:
            # Unnamed bodies (Ant's feet) take the name of their first named geom.
            for g in range(model.body_geomadr[b], model.body_geomadr[b] + model.body_geomnum[b]):
                gname = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g)
                if gname:
                    name = gname.removesuffix("_geom")
                    break
        names.append(_identifier(name or f"body{b}"))
    return names


def _identifier(name: str) -> str:
    out = "".join(c if (c.isalnum() or c == "_") else "_" for c in name)
    if not out or out[0].isdigit():
        out = "f_" + out
    return out.lstrip("_") or "unnamed"


@dataclass
class StateSpec:
    """Layout of the state view for one MuJoCo model (plus task extras)."""

    fields: dict[str, Field]
    size: int
    dt: float
    # index arrays used by extract()
    _nbody: int = 0
    _rootid: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, int))
    _geom_body: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, int))
    _qposadr: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, int))
    _dofadr: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, int))
    _ballq: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, int))
    _balld: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, int))
    _extras: tuple[Extra, ...] = ()
    _blocks: dict[str, int] = field(repr=False, default_factory=dict)
    _nq: int = 0
    _nv: int = 0
    # extract() concatenates MjData arrays into one source vector and gathers the row from it
    _gather: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.intp))
    _nrow: int = 0  # entries of the row that _gather fills (all but the task extras)
    # The numpy path's gathers: _gather with the body-velocity blocks in the order _finish
    # wants, into extract()'s source vector and into BatchExtractor's (see _host_order).
    _gather_np: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.intp))
    _gather_host: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.intp))
    # name -> (index into a row, shape to reshape to or None): what StateView hands out
    _access: dict[str, tuple[Any, tuple[int, ...] | None]] = field(
        init=False, repr=False, compare=False, default_factory=dict)
    # fields a restricted spec (see restricted()) leaves out of its rows
    _missing: frozenset[str] = field(init=False, repr=False, compare=False, default=frozenset())

    @property
    def layout(self) -> str:
        """The row's layout in words (each field's name, offset and shape): equal layouts read
        the same recorded states the same way."""
        return ";".join(f"{f.name}@{f.offset}{list(f.shape)}" for f in self.fields.values())

    def __post_init__(self) -> None:
        for f in self.fields.values():
            if not f.shape:
                self._access[f.name] = (f.offset, None)
            else:  # a slice is already (..., n) for a vector field; others are reshaped
                key = slice(f.offset, f.offset + f.size)
                self._access[f.name] = (key, None if len(f.shape) == 1 else f.shape)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_model(cls, model, dt: float, extras: Iterable[Extra] = ()) -> StateSpec:
        import mujoco

        extras = tuple(extras)
        fields: dict[str, Field] = {}
        blocks: dict[str, int] = {}
        offset = 0

        def add(name, shape, unit, doc, group):
            nonlocal offset
            if name in fields:
                raise ValueError(f"state field {name!r} defined twice")
            f = Field(name, offset, tuple(shape), unit, doc, group)
            fields[name] = f
            offset += f.size
            return f

        add("time", (), "s", "simulation time since reset", "global")
        add("dt", (), "s", "time between state and next_state (one env step)", "global")
        blocks["qpos"] = offset
        add("qpos", (model.nq,), "mixed", "raw generalized positions (MuJoCo qpos)", "raw")
        add("qvel", (model.nv,), "mixed", "raw generalized velocities (MuJoCo qvel)", "raw")

        # joints: hinge and slide as scalars, ball as quaternion + angular velocity
        qposadr, dofadr, ballq, balld = [], [], [], []
        scalar_joints, ball_joints = [], []
        for j in range(model.njnt):
            jtype = int(model.jnt_type[j])
            name = _identifier(mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j) or f"joint{j}")
            if jtype in (_HINGE, _SLIDE):
                scalar_joints.append((name, jtype))
                qposadr.append(model.jnt_qposadr[j])
                dofadr.append(model.jnt_dofadr[j])
            elif jtype == _BALL:
                ball_joints.append(name)
                ballq.extend(range(model.jnt_qposadr[j], model.jnt_qposadr[j] + 4))
                balld.extend(range(model.jnt_dofadr[j], model.jnt_dofadr[j] + 3))
        blocks["jpos"] = offset
        for name, jtype in scalar_joints:
            if jtype == _HINGE:
                add(f"{name}_angle", (), "rad", "hinge joint angle", f"joint {name}")
            else:
                add(f"{name}_pos", (), "m", "slide joint position", f"joint {name}")
        blocks["jvel"] = offset
        for name, jtype in scalar_joints:
            if jtype == _HINGE:
                add(f"{name}_angvel", (), "rad/s", "hinge joint angular velocity", f"joint {name}")
            else:
                add(f"{name}_vel", (), "m/s", "slide joint velocity", f"joint {name}")
        blocks["ballq"] = offset
        for name in ball_joints:
            add(f"{name}_quat", (4,), "-", f"orientation of ball joint '{name}' (w, x, y, z)", f"joint {name}")
        blocks["balld"] = offset
        for name in ball_joints:
            add(f"{name}_angvel", (3,), "rad/s", f"angular velocity of ball joint '{name}'", f"joint {name}")

        bodies = list(range(1, model.nbody))  # body 0 is the world
        names = _body_names(model)
        seen: dict[str, int] = {}
        for b in bodies:  # make body names unique
            n = names[b]
            if n in seen:
                seen[n] += 1
                names[b] = f"{n}_{seen[n]}"
            else:
                seen[n] = 0
        # A body may share its name with a joint (HalfCheetah's bthigh body and bthigh hinge):
        # then `bthigh_angvel` would be both. The joint keeps the plain name, the body's
        # fields become `bthigh_body_pos`, `bthigh_body_angvel`, ...
        body_keys = ("pos", "quat", "zaxis", "linvel", "angvel", "contact")
        for b in bodies:
            if any(f"{names[b]}_{k}" in fields for k in body_keys):
                names[b] = f"{names[b]}_body"
        # The field name says which body; the meaning is the same for every body (short: the
        # listing repeats it for each one).
        per_body = [
            ("pos", (3,), "m", "body position (world frame, z up)"),
            ("quat", (4,), "-", "body orientation, unit quaternion (w, x, y, z)"),
            ("zaxis", (3,), "-", "body's z axis in world frame ([2] = 1 upright)"),
            ("linvel", (3,), "m/s", "velocity of the body origin (world frame)"),
            ("angvel", (3,), "rad/s", "body angular velocity (world frame)"),
            ("contact", (), "0/1", "1.0 when touching another body or the ground"),
        ]
        for key, shape, unit, doc in per_body:
            blocks[f"body_{key}"] = offset
            for b in bodies:
                add(f"{names[b]}_{key}", shape, unit, doc, f"body {names[b]}")

        objects = object_bodies(model)
        blocks["com"] = offset
        whole = "all bodies, objects included" if objects else "the whole robot"
        add("com_pos", (3,), "m", f"centre of mass of {whole} (world frame)", "global")
        add("com_vel", (3,), "m/s", f"velocity of the centre of mass of {whole}", "global")

        # Quantities of the model that are no MjData array of their own (sites, the robot's
        # centre of mass without the objects): computed like task extras, before them.
        derived = _model_quantities(model, fields, bool(objects), names)
        blocks["extras"] = offset
        for ex, group in derived:
            add(ex.name, ex.shape, ex.unit, ex.doc, group)
        for ex in extras:
            add(_identifier(ex.name), ex.shape, ex.unit, ex.doc, "task")
        extras = tuple(ex for ex, _ in derived) + extras

        gather = _gather_index(model, blocks, qposadr, dofadr, ballq, balld)
        nrow = blocks["extras"]
        # (lin, a1, x1, c1, a2, x2, c2) -> (lin, a1, a2, x1, x2, c1, c2): see _finish
        tail = gather[nrow:].reshape(7, -1)[[0, 1, 4, 2, 5, 3, 6]]
        gather_np = np.concatenate((gather[:nrow], tail.ravel()))
        return cls(
            fields=fields,
            size=offset,
            dt=float(dt),
            _nbody=len(bodies),
            _rootid=np.asarray(model.body_rootid[1:], dtype=int),
            _geom_body=np.asarray(model.geom_bodyid, dtype=int),
            _qposadr=np.asarray(qposadr, dtype=int),
            _dofadr=np.asarray(dofadr, dtype=int),
            _ballq=np.asarray(ballq, dtype=int),
            _balld=np.asarray(balld, dtype=int),
            _extras=extras,
            _blocks=blocks,
            _nq=int(model.nq),
            _nv=int(model.nv),
            _gather=gather,
            _nrow=nrow,
            _gather_np=gather_np,
            _gather_host=_host_order(model)[gather_np],
        )

    # ------------------------------------------------------------- partial rows
    def _source(self, name: str) -> str:
        """What filling field ``name`` takes from MuJoCo: "" (time, dt, qpos, qvel and the joint
        fields: copies of MjData as it is after a step), "contact" (the contact list) or
        "kinematics" (body, centre-of-mass, site and task fields: recomputed kinematics)."""
        o = self.fields[name].offset
        if o < self._blocks["body_pos"]:
            return ""
        return "contact" if self._blocks["body_contact"] <= o < self._blocks["com"] else "kinematics"

    def needs(self, names: Iterable[str] | None) -> tuple[bool, bool]:
        """What filling ``names`` (every field when None) takes from MuJoCo: ``(kinematics,
        contact)`` (see :meth:`_source`)."""
        if names is None:
            return True, True
        sources = {self._source(n) for n in names}
        return "kinematics" in sources, "contact" in sources

    def restricted(self, names: Iterable[str]) -> StateSpec:
        """This spec for rows that hold only ``names`` and what comes with them at no cost (the
        other fields of :meth:`needs`' groups). A view through it refuses the rest with an
        error that names the field, instead of handing out values that were never filled."""
        kin, contact = self.needs(names)
        filled = {"", "kinematics"} if kin else {""}
        if contact:
            filled.add("contact")
        keep = {n for n in self.fields if self._source(n) in filled}
        out = copy.copy(self)
        out._access = {k: v for k, v in self._access.items() if k in keep}
        out._missing = frozenset(self.fields) - keep
        return out

    def recording(self) -> tuple[StateSpec, set[str]]:
        """This spec, and the set that every field a view through it looks up is added to."""
        out = copy.copy(self)
        out._access = table = _Recorder(self._access)
        return out, table.read

    # ---------------------------------------------------------------- extraction
    def extract(self, model, data, out: np.ndarray | None = None) -> np.ndarray:
        """Fill one flat row from ``mujoco.MjData``.

        Recomputes kinematics and com velocities first: after ``mj_step``, MuJoCo's derived
        quantities (``xpos``, ``cvel``) still describe the state before the last substep, while
        ``qpos``/``qvel`` are new. The recomputation touches only derived fields, which the next
        ``mj_step`` recomputes anyway, so simulation is unchanged.

        For several simulations stepped together, :meth:`extractor` does the same work in a
        batch (same values, bit for bit).
        """
        _recompute(model, data)
        row = np.empty(self.size) if out is None else out
        contact = np.zeros(self._nbody + 1)
        ncon = data.ncon
        if ncon:
            contact[self._geom_body[data.contact.geom[:ncon]]] = 1.0
        # One copy of every MjData array the row needs and one gather. The order of `src` is
        # fixed by _gather_index (the JAX path builds the same vector).
        src = np.concatenate((
            (data.time, self.dt), data.qpos, data.qvel, data.xpos, data.xquat, data.xmat,
            data.cvel, contact, data.subtree_com, data.subtree_linvel[0],
        ), axis=None)
        self._finish(src[self._gather_np][None], row[None], [(model, data)])
        return row

    def _finish(self, g: np.ndarray, out: np.ndarray, sims: Sequence[tuple[Any, Any]],
                kinematics: bool = True) -> None:
        """Rows ``out`` (``(n, size)``) from the gathered sources ``g`` (``(n, len(_gather))``):
        the row entries, the body-origin velocities from gathered columns, the task extras
        (these two only with ``kinematics``: they derive from it)."""
        n = self._nrow
        out[:, :n] = g[:, :n]
        if not kinematics:
            return
        # linvel = lin + ang x (xpos - subtree_com[root]), for bodies 1..nbody-1, written out as
        # lin + a1 * (x1 - c1) - a2 * (x2 - c2) (see _gather_index), both products at once
        tail = g[:, n:].reshape(len(g), 7, -1)
        prod = tail[:, 3:5] - tail[:, 5:7]  # x - c
        prod *= tail[:, 1:3]  # a * (x - c)
        o = self._blocks["body_linvel"]
        linvel = out[:, o : o + tail.shape[2]]
        np.add(tail[:, 0], prod[:, 0], out=linvel)
        linvel -= prod[:, 1]
        for i, (model, data) in enumerate(sims if self._extras else ()):
            o = n
            for ex in self._extras:
                f = self.fields[_identifier(ex.name)]
                out[i, o : o + f.size] = np.asarray(ex.fn(model, data), dtype=float).ravel()
                o += f.size

    def extractor(self, models: Sequence[Any], datas: Sequence[Any],
                  fields: Iterable[str] | None = None) -> BatchExtractor:
        """A :class:`BatchExtractor` for these simulations (``models[i]`` with ``datas[i]``),
        filling ``fields`` (every field when None; see :meth:`needs`)."""
        return BatchExtractor(self, models, datas, fields)

    # ------------------------------------------------------------------- viewing
    def view(self, batch) -> StateView:
        return StateView(batch, self)

    def field(self, name: str) -> Field:
        try:
            return self.fields[name]
        except KeyError:
            raise UnknownStateField(unknown_field_message(name, self.fields)) from None

    def render(self, notes: Mapping[str, str] | None = None) -> str:
        """The schema as the LLM sees it: one line a field, grouped; ``notes`` (field -> text)
        appends a note to a field's line (the task context's typical values)."""
        notes = notes or {}
        lines = [
            "Every field is a float array with a leading batch axis B: a field of shape (3,)",
            "below is (B, 3) in your function, a scalar field is (B,).",
            "",
        ]
        width = max(len(n) for n in self.fields) + 2
        groups: dict[str, list[Field]] = {}
        for f in self.fields.values():
            groups.setdefault(f.group, []).append(f)
        order = sorted(groups, key=lambda g: (["global", "task"].index(g) if g in ("global", "task")
                                              else 2 if g.startswith("joint") else 3 if g.startswith("body")
                                              else 4 if g.startswith("site") else 5))
        for g in order:
            for f in groups[g]:
                shape = "()" if not f.shape else f"({', '.join(map(str, f.shape))},)"
                note = f" {notes[f.name]}" if notes.get(f.name) else ""
                lines.append(f"{f.name:<{width}}{shape:<8}{f.unit:<7}{f.doc}{note}")
        return "\n".join(lines)


def render_compact(spec: StateSpec) -> str:
    """The schema in a few lines: name, shape and unit of every field, the fields every body
    has written once for all bodies, runs of fields of the same shape and unit on one line
    (for requests after the first, which had :meth:`StateSpec.render`'s full table)."""
    def shape(f: Field) -> str:
        return "()" if not f.shape else f"({', '.join(map(str, f.shape))},)"

    bodies: dict[str, list[Field]] = {}
    rest: list[Field] = []
    for f in spec.fields.values():
        if f.group.startswith("body ") and f.name.startswith(f.group[5:] + "_"):
            bodies.setdefault(f.group[5:], []).append(f)
        else:
            rest.append(f)
    lines = []
    run: list[Field] = []

    def flush() -> None:
        if run:
            lines.append(f"{', '.join(f.name for f in run)} {shape(run[0])} {run[0].unit}")
            run.clear()

    for f in rest:
        if run and (shape(f), f.unit) != (shape(run[0]), run[0].unit):
            flush()
        run.append(f)
    flush()
    kinds: dict[tuple[str, ...], list[str]] = {}
    units: dict[str, str] = {}
    for body, fs in bodies.items():
        keys = tuple(f.name[len(body) + 1:] for f in fs)
        kinds.setdefault(keys, []).append(body)
        for f in fs:  # the per-body meanings are short: written once, they stay
            units[f.name[len(body) + 1:]] = f"{shape(f)} {f.unit} ({f.doc})"
    for keys, names in kinds.items():
        lines.append(f"for each body B of {', '.join(names)}:\n  "
                     + "; ".join(f"B_{k} {units[k]}" for k in keys))
    return "\n".join(lines)


class ModelQuantity:
    """A derived quantity of the model as one expression over ``model`` and ``data`` (indexing
    and arithmetic only, so that it runs on ``mujoco.MjData`` and ``mjx.Data`` alike, and an
    export can write it out as source: :attr:`expr`)."""

    def __init__(self, expr: str):
        self.expr = expr
        self._fn = eval(f"lambda model, data: {expr}", {"np": np})  # noqa: S307 - our own text

    def __call__(self, model, data):
        return self._fn(model, data)

    def __repr__(self) -> str:
        return f"ModelQuantity({self.expr!r})"


def _model_quantities(model, fields: Mapping[str, Field], objects: bool,
                      body_names: Sequence[str] | None = None) -> list[tuple[Extra, str]]:
    """Site positions, the end point of each limb without a site (:func:`limb_tips`), and the
    robot's centre of mass and its velocity without the objects (where the model has objects):
    ``(Extra, group)`` pairs. ``body_names``: the bodies' names in the view."""
    import mujoco

    out: list[tuple[Extra, str]] = []
    taken = set(fields)
    for i in range(model.nsite):
        raw = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_SITE, i) or f"site{i}"
        name = _identifier(raw)
        key = f"{name}_pos" if f"{name}_pos" not in taken else f"{name}_site_pos"
        taken.add(key)
        out.append((Extra(key, (3,), "m", "site position (world frame, z up)",
                          ModelQuantity(f"data.site_xpos[{i}]")), f"site {name}"))
    names = list(body_names) if body_names is not None else _body_names(model)
    for b, point in limb_tips(model):
        key = f"{names[b]}_tip_pos"
        if key in taken:
            continue
        taken.add(key)
        # 8 significant digits (well under a micrometre): the exported line fits 100 columns
        local = ", ".join(f"{float(x):.8g}" if abs(x) > 1e-12 else "0.0" for x in point)
        out.append((Extra(key, (3,), "m", f"far end of limb {names[b]} (foot/finger tip; world "
                          "frame)",
                          ModelQuantity(f"data.xpos[{b}] + data.xmat[{b}].reshape(3, 3) @ "
                                        f"np.array([{local}])")), f"tip {names[b]}"))
    if objects:
        bodies = [b for r in robot_roots(model) for b in subtree(model, r)]
        mass = np.asarray(model.body_mass, dtype=float)[bodies]
        if mass.sum() > 0:
            roots = robot_roots(model)
            w = np.asarray(model.body_subtreemass, dtype=float)[roots]
            pos = (f"data.subtree_com[{roots[0]}]" if len(roots) == 1 else
                   " + ".join(f"data.subtree_com[{r}] * {float(wi / w.sum())!r}" for r, wi in zip(roots, w)))
            # each body's centre of mass velocity: the com-frame velocity (cvel: angular,
            # linear) moved from its root's subtree com to the body's com (xipos), mass-weighted
            b = _index([int(x) for x in bodies])
            rb = _index([int(model.body_rootid[x]) for x in bodies])
            off = f"(data.xipos[{b}] - data.subtree_com[{rb}])"
            ang = f"data.cvel[{b}][:, :3]"
            yzx, zxy = "np.array([1, 2, 0])", "np.array([2, 0, 1])"
            cross = f"{ang}[:, {yzx}] * {off}[:, {zxy}] - {ang}[:, {zxy}] * {off}[:, {yzx}]"
            weights = [float(x) for x in mass / mass.sum()]
            vel = f"((data.cvel[{b}][:, 3:] + {cross}) * np.array({weights})[:, None]).sum(axis=0)"
            out.append((Extra("robot_com_pos", (3,), "m", "centre of mass of the robot alone "
                              "(objects excluded; world frame)", ModelQuantity(pos)), "global"))
            out.append((Extra("robot_com_vel", (3,), "m/s", "velocity of the robot's centre of "
                              "mass (objects excluded)", ModelQuantity(vel)), "global"))
    return out


_CAPSULE, _CYLINDER = 3, 5  # mjtGeom


def limb_tips(model) -> list[tuple[int, np.ndarray]]:
    """The end point of each limb, where the model has no site for it: for every body of the
    robot without children (other than a root) and without a site, whose geoms include a
    capsule or cylinder, the end (its cap's surface) farthest from the robot's root in the
    model's own pose (a foot's toe rather than its heel), in the body's frame: ``(body, point)``
    pairs."""
    import mujoco

    robot = {b for r in robot_roots(model) for b in subtree(model, r)}
    parents = {int(model.body_parentid[b]) for b in range(1, model.nbody)}
    pose = mujoco.MjData(model)  # the model's own pose (qpos0), where "far" is measured
    mujoco.mj_kinematics(model, pose)
    with_site = {int(model.site_bodyid[i]) for i in range(model.nsite)}
    out = []
    for b in sorted(robot):
        if b in parents or b in with_site or int(model.body_parentid[b]) == 0:
            continue
        best, reach = None, 0.0
        for g in range(model.body_geomadr[b], model.body_geomadr[b] + model.body_geomnum[b]):
            if int(model.geom_type[g]) not in (_CAPSULE, _CYLINDER):
                continue
            mat = np.zeros(9)
            mujoco.mju_quat2Mat(mat, model.geom_quat[g])
            axis = mat.reshape(3, 3)[:, 2]
            half = float(model.geom_size[g][1]) + (float(model.geom_size[g][0])
                                                    if int(model.geom_type[g]) == _CAPSULE else 0.0)
            root = int(model.body_rootid[b])
            for end in (model.geom_pos[g] + half * axis, model.geom_pos[g] - half * axis):
                world = pose.xpos[b] + pose.xmat[b].reshape(3, 3) @ end
                far = float(np.linalg.norm(world - pose.xpos[root]))
                if far > reach + 1e-9:
                    best, reach = np.asarray(end, dtype=float), far
        if best is not None:
            out.append((b, best))
    return out


def _index(ids: list[int]) -> str:
    """An index expression for rows ``ids`` that numpy and JAX both take: a slice where they
    are consecutive, else an integer array."""
    if ids == list(range(ids[0], ids[0] + len(ids))):
        return f"{ids[0]}:{ids[0] + len(ids)}"
    return f"np.array({ids})"


def subtree(model, b: int) -> list[int]:
    """Body ``b`` and every body below it."""
    out = [b]
    for c in range(b + 1, model.nbody):  # children come after their parent
        if int(model.body_parentid[c]) in out:
            out.append(c)
    return out


def _has_joint(model, root: int) -> bool:
    return any(model.body_jntnum[b] > 0 for b in subtree(model, root))


def robot_roots(model) -> list[int]:
    """The top-level bodies (children of the world) that make up the robot: those whose subtree
    has an actuated joint (every top-level body with a joint, when nothing is actuated)."""
    roots = sorted({int(r) for r in model.body_rootid[1:]})
    acted = {int(model.body_rootid[model.jnt_bodyid[model.actuator_trnid[i, 0]]])
             for i in range(model.nu) if model.actuator_trntype[i] in (0, 1)}
    if acted:
        return [r for r in roots if r in acted]
    return [r for r in roots if _has_joint(model, r)] or roots


def object_bodies(model) -> list[int]:
    """Top-level bodies outside the robot that move: by a joint (free or slide) or as mocap."""
    robot = set(robot_roots(model))
    return [r for r in sorted({int(r) for r in model.body_rootid[1:]})
            if r not in robot and (_has_joint(model, r) or model.body_mocapid[r] >= 0)]


def _gather_index(model, blocks: dict[str, int], qposadr, dofadr, ballq, balld) -> np.ndarray:
    """Where each entry of a state row (up to the task extras) comes from in the source vector
    that :meth:`StateSpec.extract` concatenates: ``(time, dt), qpos, qvel, xpos, xquat, xmat,
    cvel, contact, subtree_com, subtree_linvel[0]`` (all bodies, world included, flattened).

    After the row come 7 blocks of 3 * (nbody - 1) entries for the body-origin velocities
    ``lin + a1 * (x1 - c1) - a2 * (x2 - c2)``: ``lin`` the com-frame linear velocity, ``a1, a2``
    the angular velocity permuted (y, z, x) and (z, x, y), ``x`` the body positions and ``c``
    the root's subtree com, permuted the other way (a cross product, written out). The row's
    linvel block is first gathered from ``lin`` and then overwritten.
    """
    nq, nv, nb = int(model.nq), int(model.nv), int(model.nbody)
    sizes = [2, nq, nv, 3 * nb, 4 * nb, 9 * nb, 6 * nb, nb, 3 * nb, 3]
    T, QP, QV, XPOS, XQUAT, XMAT, CVEL, CON, COM, COMV = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    b = np.arange(1, nb)[:, None]  # bodies 1..nb-1 (0 is the world)
    root = np.asarray(model.body_rootid, dtype=int)[1:, None]
    xyz, yzx, zxy = np.arange(3), np.array([1, 2, 0]), np.array([2, 0, 1])
    parts = [
        [T, T + 1], QP + np.arange(nq), QV + np.arange(nv),
        QP + np.asarray(qposadr, dtype=int), QV + np.asarray(dofadr, dtype=int),
        QP + np.asarray(ballq, dtype=int), QV + np.asarray(balld, dtype=int),
        XPOS + 3 * b + xyz, XQUAT + 4 * b + np.arange(4), XMAT + 9 * b + np.array([2, 5, 8]),
        CVEL + 6 * b + 3 + xyz,  # linvel: overwritten after the gather
        CVEL + 6 * b + xyz, CON + b[:, 0],
        COM + xyz, COMV + xyz,
    ]
    row = np.concatenate([np.ravel(p) for p in parts])
    if len(row) != blocks["extras"]:  # the layout built in from_model and this one must agree
        raise AssertionError(f"state layout mismatch: {len(row)} != {blocks['extras']}")
    cross = [CVEL + 6 * b + 3 + xyz,  # lin
             CVEL + 6 * b + yzx, XPOS + 3 * b + zxy, COM + 3 * root + zxy,  # a1, x1, c1
             CVEL + 6 * b + zxy, XPOS + 3 * b + yzx, COM + 3 * root + yzx]  # a2, x2, c2
    return np.concatenate([row] + [np.ravel(p) for p in cross]).astype(np.intp)


def _host_order(model) -> np.ndarray:
    """Where each entry of :func:`_gather_index`'s source vector sits in the one that
    :class:`BatchExtractor` fills: the MjData arrays first (one ``np.concatenate`` into place),
    then time, dt and the contact flags."""
    nq, nv, nb = int(model.nq), int(model.nv), int(model.nbody)
    # _gather_index's order and sizes, and each part's start in the host layout
    sizes = [2, nq, nv, 3 * nb, 4 * nb, 9 * nb, 6 * nb, nb, 3 * nb, 3]
    k = nq + nv + 25 * nb + 3  # qpos, qvel, xpos, xquat, xmat, cvel, subtree_com, subtree_linvel[0]
    starts = [k, 0, nq, nq + nv, nq + nv + 3 * nb, nq + nv + 7 * nb, nq + nv + 16 * nb, k + 2,
              nq + nv + 22 * nb, nq + nv + 25 * nb]
    return np.concatenate([s + np.arange(n) for s, n in zip(starts, sizes)]).astype(np.intp)


class BatchExtractor:
    """State rows of several simulations stepped together (a vector env's sub-envs), filled
    in one batch: the rows :meth:`StateSpec.extract` gives, bit for bit.

    Built once for a fixed set of ``(model, data)`` pairs, it keeps flat views into each
    ``MjData`` and one ``(n, S)`` source array in the layout of :func:`_host_order`. A call
    recomputes each simulation's kinematics, copies its MjData arrays into its source row with
    one ``np.concatenate`` and sets its contact flags; one gather and the body-origin
    velocities then fill every row of the batch at once.

    With ``fields``, only what those need is computed (:meth:`StateSpec.needs`): a program that
    reads joints alone costs no kinematics and no contact list. The entries no field of
    ``fields`` needs are NaN, and :attr:`view_spec` refuses them by name.
    """

    def __init__(self, spec: StateSpec, models: Sequence[Any], datas: Sequence[Any],
                 fields: Iterable[str] | None = None):
        if len(models) != len(datas):
            raise ValueError("one model per data")
        self.spec = spec
        fields = None if fields is None else sorted(set(fields))
        self._kin, self._contact = spec.needs(fields)
        self.view_spec = spec if fields is None else spec.restricted(fields)
        self._unfilled = np.array(sorted(
            i for name in self.view_spec._missing for i in _row_entries(spec.fields[name])),
            dtype=np.intp)
        self.sims = list(zip(models, datas))
        nq, nv, nb = spec._nq, spec._nv, spec._nbody + 1
        k = nq + nv + 25 * nb + 3
        self._src = np.zeros((len(self.sims), k + 2 + nb))
        self._src[:, k + 1] = spec.dt
        self._k = k
        self._parts: list[tuple[Any, Any, list[np.ndarray], np.ndarray, np.ndarray]] = []
        for i, (model, data) in enumerate(self.sims):
            if (int(model.nq), int(model.nv), int(model.nbody)) != (nq, nv, nb):
                raise RewardsmithError("the MuJoCo model does not match the state spec it was given")
            arrays = [data.qpos, data.qvel, data.xpos, data.xquat, data.xmat, data.cvel,
                      data.subtree_com, data.subtree_linvel[0]]
            if not all(a.flags.c_contiguous for a in arrays):  # the flat views must not be copies
                raise RewardsmithError("MjData arrays are expected to be C-contiguous")
            views = [a.reshape(-1) for a in arrays]
            self._parts.append((model, data, views, self._src[i, :k], self._src[i, k + 2:]))
        # the gather of StateSpec._finish as one index into the flattened source array
        width = self._src.shape[1]
        self._flat = (np.arange(len(self.sims))[:, None] * width + spec._gather_host).ravel()

    def __len__(self) -> int:
        return len(self.sims)

    def __call__(self, out: np.ndarray | None = None) -> np.ndarray:
        """Fill ``out`` (``(n, spec.size)``, a new array when None) with every simulation's
        current state row."""
        spec, src, k = self.spec, self._src, self._k
        out = np.empty((len(self.sims), spec.size)) if out is None else out
        kin, contact = self._kin, self._contact
        geom_body, concatenate = spec._geom_body, np.concatenate
        if contact:
            src[:, k + 2:] = 0.0
        times = []
        for model, data, views, head, flags in self._parts:
            if kin:
                _recompute(model, data)  # see StateSpec.extract
            concatenate(views, out=head)
            times.append(data.time)
            if contact:
                ncon = data.ncon
                if ncon:
                    flags[geom_body[data.contact.geom[:ncon]]] = 1.0
        src[:, k] = times
        spec._finish(src.ravel()[self._flat].reshape(len(src), -1), out, self.sims, kin)
        if len(self._unfilled):
            out[:, self._unfilled] = np.nan
        return out

    def one(self, i: int, out: np.ndarray) -> np.ndarray:
        """Fill ``out`` (``(spec.size,)``) with simulation ``i``'s row alone (after a reset)."""
        spec, k = self.spec, self._k
        model, data, views, head, flags = self._parts[i]
        if self._kin:
            _recompute(model, data)
        np.concatenate(views, out=head)
        flags[:] = 0.0
        ncon = data.ncon
        if ncon and self._contact:
            flags[spec._geom_body[data.contact.geom[:ncon]]] = 1.0
        row = self._src[i]
        row[k] = data.time
        spec._finish(row[spec._gather_host][None], out[None], [self.sims[i]], self._kin)
        if len(self._unfilled):
            out[self._unfilled] = np.nan
        return out


def _recompute(model, data) -> None:
    """MuJoCo's derived quantities for the current qpos/qvel (see :meth:`StateSpec.extract`)."""
    import mujoco

    mujoco.mj_kinematics(model, data)
    mujoco.mj_comPos(model, data)
    mujoco.mj_comVel(model, data)
    mujoco.mj_subtreeVel(model, data)


class _Recorder(dict):
    """A spec's field table that notes every field a view looks up."""

    def __init__(self, table: dict):
        super().__init__(table)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


def _row_entries(f: Field) -> range:
    return range(f.offset, f.offset + f.size)


def unknown_field_message(name: str, fields: Mapping[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(fields), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return f"the state has no field {name!r}.{hint} Fields: {', '.join(fields)}"


class StateView:
    """Read-only, named view of a batch of states, shaped ``(B, D)``.

    ``state.torso_pos`` is ``(B, 3)``; ``state.time`` is ``(B,)``. Works on numpy and
    ``jax.numpy`` arrays alike (slicing is all it does).
    """

    __slots__ = ("_rows", "_spec")

    def __init__(self, rows, spec: StateSpec):
        if isinstance(rows, np.ndarray) and rows.flags.writeable:
            rows = rows.view()
            rows.flags.writeable = False
        object.__setattr__(self, "_rows", rows)
        object.__setattr__(self, "_spec", spec)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        spec = self._spec
        access = spec._access.get(name)
        if access is None:
            if name in spec._missing:
                raise RewardsmithError(
                    f"state field {name!r} was not filled for this run: the fields a reward "
                    "program reads are found from its source before training, and this one was "
                    "missed. Please report it, with the program.")
            raise UnknownStateField(unknown_field_message(name, spec.fields))
        key, shape = access
        rows = self._rows
        if shape is None:
            return rows[..., key]
        return rows[..., key].reshape(rows.shape[:-1] + shape)

    __getitem__ = __getattr__

    def __setattr__(self, name, value):
        raise TypeError("the state view is read-only: compute new arrays instead of assigning")

    def __contains__(self, name: str) -> bool:
        return name in self._spec.fields

    def __dir__(self):
        return list(self._spec.fields)

    def __repr__(self) -> str:
        return f"StateView(batch={tuple(self._rows.shape[:-1])}, fields={len(self._spec.fields)})"
