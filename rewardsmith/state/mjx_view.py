"""The state view computed from ``mjx.Data`` in JAX: the same layout, names, units and values as
:meth:`rewardsmith.state.view.StateSpec.extract` computes from ``mujoco.MjData``.

:class:`MjxStateExtractor` is built once per (spec, model) and turns one ``mjx.Data`` (one robot;
``jax.vmap`` it for a batch) into one flat row of ``spec.size`` floats. It reuses the spec's own
gather index, so the two paths cannot drift apart in layout: it assembles the same source vector
``(time, dt), qpos, qvel, xpos, xquat, xmat, cvel, contact, subtree_com, subtree_linvel[0]``
from MJX arrays and gathers the row from it.

As on the numpy path, kinematics and com quantities are recomputed first (after ``mjx.step``
they describe the state before the last substep); contacts are those of the last substep, as
``MjData.contact`` is after ``mj_step``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import Any

import numpy as np

from rewardsmith.errors import RewardsmithError
from rewardsmith.state.view import StateSpec, _identifier

JAX_HINT = "install the JAX extra: pip install 'rewardsmith[jax]'"


def import_jax():
    """``(jax, jax.numpy)``, or a clear error when the JAX extra is missing."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as e:
        raise RewardsmithError(f"the JAX path needs jax ({e.name or e} is missing)", JAX_HINT) from None
    return jax, jnp


def quiet_brax_imports() -> None:
    """Brax imports jaxopt, which warns on import that it is unmaintained; nothing to act on."""
    import warnings

    warnings.filterwarnings("ignore", message="JAXopt is no longer maintained",
                            category=DeprecationWarning)


def import_mjx():
    """``mujoco.mjx``, imported quietly (it prints a line when the optional warp is absent)."""
    import_jax()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            from mujoco import mjx
    except ImportError as e:
        raise RewardsmithError(f"the JAX path needs mujoco-mjx ({e.name or e} is missing)",
                               JAX_HINT) from None
    return mjx


class MjxStateExtractor:
    """``extractor(mx, d) -> (spec.size,)`` row from one ``mjx.Data``, in JAX (jit/vmap-able).

    ``model`` is the host ``mujoco.MjModel`` the spec was built from; ``mx`` the ``mjx.Model``
    put from it. Rows come out in the default JAX float dtype (float32 unless x64 is enabled).
    """

    def __init__(self, spec: StateSpec, model: Any):
        nb = int(model.nbody)
        if nb - 1 != spec._nbody or int(model.nq) != spec._nq or int(model.nv) != spec._nv:
            raise RewardsmithError("the MuJoCo model does not match the state spec it was given")
        self.spec = spec
        self.nbody = nb
        self._gather = np.asarray(spec._gather, dtype=np.int32)
        self._nrow = int(spec._nrow)
        self._linvel_off = int(spec._blocks["body_linvel"])
        self._nlin = 3 * (nb - 1)
        self._rootid = np.asarray(model.body_rootid, dtype=np.int32)
        self._mass = np.asarray(model.body_mass, dtype=np.float64)
        self._total_mass = max(float(model.body_subtreemass[0]), 1e-15)  # mjMINVAL
        self._geom_body = np.asarray(model.geom_bodyid, dtype=np.int32)
        self._geom_gap = np.asarray(model.geom_gap, dtype=np.float64)
        self._extras = spec._extras
        self._extra_sizes = [spec.fields[_identifier(ex.name)].size for ex in spec._extras]

    # ------------------------------------------------------------------ helpers
    def contact_flags(self, d) -> Any:
        """(nbody,) 1.0 where a body has a contact (dist below the contact margin)."""
        _, jnp = import_jax()
        con = d._impl.contact
        flags = jnp.zeros(self.nbody, dtype=jnp.result_type(float))
        if con.dist.shape[0] == 0:
            return flags
        geom = con.geom
        gap = jnp.asarray(self._geom_gap)[geom].sum(axis=-1)
        active = (con.dist < con.includemargin + gap).astype(flags.dtype)
        body = jnp.asarray(self._geom_body)[geom]
        flags = flags.at[body[:, 0]].max(active)
        return flags.at[body[:, 1]].max(active)

    def subtree_linvel0(self, d) -> Any:
        """Velocity of the centre of mass of everything (MuJoCo's ``subtree_linvel[0]``)."""
        _, jnp = import_jax()
        ang, lin = d.cvel[:, :3], d.cvel[:, 3:]
        off = d.xipos - d.subtree_com[self._rootid]
        vcom = lin + jnp.cross(ang, off)  # velocity of each body's centre of mass
        mass = jnp.asarray(self._mass, dtype=vcom.dtype)
        return (mass[:, None] * vcom).sum(axis=0) / self._total_mass

    @staticmethod
    def recompute(mx, d):
        """Kinematics and com velocities at the current qpos/qvel (what extract() does first)."""
        mjx = import_mjx()
        d = mjx.kinematics(mx, d)
        d = mjx.com_pos(mx, d)
        return mjx.com_vel(mx, d)

    # --------------------------------------------------------------- extraction
    def __call__(self, mx, d, *, recompute: bool = True) -> Any:
        _, jnp = import_jax()
        contact = self.contact_flags(d)  # the contacts of the last substep, as on the numpy path
        if recompute:
            d = self.recompute(mx, d)
        dtype = jnp.result_type(float)
        head = jnp.stack([jnp.asarray(d.time, dtype), jnp.asarray(self.spec.dt, dtype)])
        src = jnp.concatenate([
            head, d.qpos, d.qvel, d.xpos.ravel(), d.xquat.ravel(), d.xmat.ravel(),
            d.cvel.ravel(), contact, d.subtree_com.ravel(), self.subtree_linvel0(d),
        ]).astype(dtype)
        g = src[self._gather]
        n = self._nrow
        lin, a1, x1, c1, a2, x2, c2 = g[n:].reshape(7, -1)
        linvel = lin + a1 * (x1 - c1) - a2 * (x2 - c2)
        o = self._linvel_off
        parts = [g[:o], linvel, g[o + self._nlin : n]]
        for ex, size in zip(self._extras, self._extra_sizes):
            parts.append(self._extra(ex, mx, d, size).astype(dtype))
        return jnp.concatenate(parts)

    def _extra(self, ex, mx, d, size: int):
        _, jnp = import_jax()
        fn: Callable[[Any, Any], Any] = getattr(ex, "jax_fn", None) or ex.fn
        try:
            value = jnp.ravel(jnp.asarray(fn(mx, d)))
        except Exception as e:
            raise RewardsmithError(
                f"task extra {ex.name!r} cannot be computed from mjx.Data under JAX: "
                f"{type(e).__name__}: {e}",
                "give the Extra a JAX version (jax_fn(mjx_model, mjx_data)) or write fn with "
                "array indexing only (data.xpos[3], model.body_mass)",
            ) from None
        if value.shape != (size,):
            raise RewardsmithError(f"task extra {ex.name!r} gives {value.shape[0]} values under "
                                   f"JAX; its field has {size}")
        return value


def extract_batch(spec: StateSpec, model: Any, qpos: np.ndarray, qvel: np.ndarray,
                  time: np.ndarray | None = None) -> np.ndarray:
    """Rows for a batch of (qpos, qvel) through ``mjx.forward`` (for tests and tools)."""
    jax, jnp = import_jax()
    mjx = import_mjx()
    mx = mjx.put_model(model)
    ex = MjxStateExtractor(spec, model)
    qpos = np.atleast_2d(qpos)
    qvel = np.atleast_2d(qvel)
    t = np.zeros(len(qpos)) if time is None else np.asarray(time)

    def one(q, v, tt):
        d = mjx.make_data(mx)
        d = d.replace(qpos=q, qvel=v, time=tt)
        d = mjx.forward(mx, d)
        return ex(mx, d)

    dtype = jnp.result_type(float)
    rows = jax.jit(jax.vmap(one))(jnp.asarray(qpos, dtype), jnp.asarray(qvel, dtype),
                                  jnp.asarray(t, dtype))
    return np.asarray(rows, dtype=np.float64)
