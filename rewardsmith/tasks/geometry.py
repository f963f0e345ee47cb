"""The robot's geometry at reset, for the task description: how high it stands, how big each of
its bodies is, where the bodies that MuJoCo leaves unnamed sit, and where each limb ends.

Read from the model and the data after a seeded reset, so an LLM need not derive a standing
height from joint ranges or guess which end of a leg a field name points at.
"""

from __future__ import annotations

import mujoco
import numpy as np

from rewardsmith.state.view import limb_tips, robot_roots, subtree

_SHAPES = {2: "sphere", 3: "capsule", 4: "ellipsoid", 5: "cylinder", 6: "box"}


def _num(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if abs(x) >= 0.005 else "0"


def _size(model, g: int) -> str:
    """A geom's size in words: a sphere's radius, a capsule's or cylinder's length (end to end,
    caps included) and radius, a box's or ellipsoid's full extents."""
    kind = int(model.geom_type[g])
    s = model.geom_size[g]
    if kind == 2:
        return f"sphere r {_num(s[0])}"
    if kind in (3, 5):
        length = 2 * s[1] + (2 * s[0] if kind == 3 else 0.0)
        return f"{_SHAPES[kind]} {_num(length)} m, r {_num(s[0])}"
    if kind in (4, 6):
        return f"{_SHAPES[kind]} {' x '.join(_num(2 * x) for x in s)} m"
    return "mesh" if kind == 7 else "geom"


def _half_height(model, data, g: int) -> float:
    """How far geom ``g`` reaches above and below its centre (world z) in its current pose."""
    kind = int(model.geom_type[g])
    s = model.geom_size[g]
    mat = data.geom_xmat[g].reshape(3, 3)
    if kind == 2:
        return float(s[0])
    if kind in (3, 5):
        az = abs(mat[2, 2])
        return float(az * s[1] + (s[0] if kind == 3 else s[0] * np.sqrt(1 - az * az)))
    if kind in (4, 6):
        return float(np.sum(np.abs(mat[2, :]) * s[:3]))
    return float(model.geom_rbound[g])


def _bottom(model, data, g: int) -> float:
    """The lowest point (world z) of geom ``g`` in its current pose."""
    return float(data.geom_xpos[g][2]) - _half_height(model, data, g)


def _top(model, data, g: int) -> float:
    """The highest point (world z) of geom ``g`` in its current pose."""
    return float(data.geom_xpos[g][2]) + _half_height(model, data, g)


def _where(model, b: int, names: list[str], limb_top: int) -> str:
    """Where an unnamed body sits: the limb it belongs to, which segment of it, and the joint
    at its origin."""
    depth, x = 1, b
    while int(model.body_parentid[x]) != limb_top and x != limb_top:
        x = int(model.body_parentid[x])
        depth += 1
    depth += 1 if b != limb_top else 0
    joints = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j)
              for j in range(model.body_jntadr[b], model.body_jntadr[b] + model.body_jntnum[b])]
    at = f", its origin at joint {joints[0]}" if joints and joints[0] else ""
    return f"segment {depth} of limb {names[limb_top]}{at}"


def _settled(model, data, root: int, names: list[str], seconds: float = 1.0) -> str:
    """Where the root ends up after ``seconds`` of zero action from ``data``'s pose (its
    standing height, when it stands up on its own), as words to append; "" where it falls over
    (its root tilts more than 30 degrees) or has no free joint to fall with."""
    free = any(int(model.jnt_type[j]) == 0 for j in range(model.njnt))
    planar = model.body_jntnum[root] >= 2
    if not (free or planar):
        return ""
    d = mujoco.MjData(model)
    d.qpos[:] = data.qpos
    d.ctrl[:] = 0.0
    for _ in range(int(seconds / model.opt.timestep)):
        mujoco.mj_step(model, d)
    mujoco.mj_kinematics(model, d)
    up = float(d.xmat[root].reshape(3, 3)[2, 2])
    if not np.isfinite(up) or up < np.cos(np.radians(30)):
        return ""
    return (f"; with zero action it settles with {names[root]} at {_num(float(d.xpos[root][2]))}"
            f" m after {seconds:g} s")


def _ground(model, data) -> str:
    """Where the ground is, as words to append: the height of the world's plane (a pusher's
    table is at z = -0.325, not 0); "" where there is none."""
    planes = [g for g in range(model.ngeom)
              if int(model.geom_type[g]) == 0 and int(model.geom_bodyid[g]) == 0]
    if not planes:
        return ""
    g = planes[0]
    z = float(data.geom_xpos[g][2])
    name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g)
    what = f"the ground (plane '{name}')" if name and name not in ("floor", "ground") else "the ground"
    return f" ({what} is z = {_num(z) if z >= 0 else '-' + _num(-z)})"


def geometry(model, data, names: list[str]) -> str:
    """The geometry section of the task description, for the robot as ``data`` holds it (after
    a reset, kinematics computed). ``names``: the bodies' names in the state view."""
    roots = robot_roots(model)
    if not roots:
        return ""
    robot = [b for r in roots for b in subtree(model, r)]
    geoms = [g for b in robot for g in range(model.body_geomadr[b],
                                             model.body_geomadr[b] + model.body_geomnum[b])]
    if not geoms:
        return ""
    root = roots[0]
    low = min(_bottom(model, data, g) for g in geoms)
    high = max(_top(model, data, g) for g in geoms)
    ground = _ground(model, data)
    lines = [f"Geometry at reset (before its noise): {names[root]} (the root body) at height "
             f"{_num(float(data.xpos[root][2]))} m; the robot spans heights "
             f"{_num(low)}..{_num(high)} m{ground}{_settled(model, data, root, names)}; "
             f"its mass {float(sum(model.body_mass[b] for b in robot)):.3g} kg."
             " Bodies (parent; geoms, sizes in m: length end to end, r radius; mass):"]
    tips = {b for b, _ in limb_tips(model)}
    for b in robot:
        parent = int(model.body_parentid[b])
        sizes = [_size(model, g) for g in range(model.body_geomadr[b],
                                                model.body_geomadr[b] + model.body_geomnum[b])]
        text = (f"  {names[b]} ({names[parent] if parent else 'world'}; {', '.join(sizes) or 'no geom'}; "
                f"{float(model.body_mass[b]):.3g} kg)")
        if not mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, b):
            top = b
            while int(model.body_parentid[top]) not in (0, root):
                top = int(model.body_parentid[top])
            text += f": unnamed in the model (named after its geom), {_where(model, b, names, top)}"
        if b in tips:
            text += f"; far end: {names[b]}_tip_pos"
        lines.append(text)
    return "\n".join(lines)
