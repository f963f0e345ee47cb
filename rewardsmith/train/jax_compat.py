"""Brax 0.14.2 on JAX releases newer than it was written for (0.10.x and 0.11.x).

JAX 0.10.0 removed ``jax.device_put_replicated`` and ``jax.device_put_sharded`` from its public
API (accessing them raises ``AttributeError``). Brax 0.14.2 still calls
``jax.device_put_replicated`` once per run, to put the training state on the local devices
before its ``pmap``-ed training epochs (PPO, SAC and APG trainers, ``brax.training.pmap``;
upstream google/brax#671), so its trainers crash on JAX >= 0.10 before the first step.

:func:`apply` puts a replacement back on the ``jax`` module, built on public APIs only: the
value is stacked ``len(devices)`` times along a new leading axis and placed with
``jax.device_put`` on a :class:`jax.sharding.NamedSharding` that splits that axis over a
one-axis :class:`jax.sharding.Mesh` of ``devices``: the array JAX itself returned (a leading
axis sharded over the devices), which is what ``jax.pmap`` (a ``jit`` of ``shard_map`` since
JAX 0.8) takes without resharding. This is the drop-in replacement from JAX's pmap migration
guide (docs.jax.dev/en/latest/migrate_pmap.html). Where JAX still has the function (0.9.x),
nothing is changed. No brax file is modified or copied.

JAX 0.11.0 removed ``jax.core.get_opaque_trace_state`` (deprecated in 0.10 and moved to
``jax.extend.core``). Flax 0.12.6 and older read it there whenever a linen module is
initialised or applied, so brax's networks fail on JAX 0.11 with such a flax (0.12.7 and later
read either).
:func:`apply` points the old name at ``jax.extend.core.get_opaque_trace_state`` when it is gone.

Everything else the brax backend, the MJX envs and the jit/vmap dry run use was checked on JAX
0.10.2 (PPO and SAC training, evaluation rollouts, the compile clock's ``jax.monitoring``
events, the persistent compilation cache, policy save and load) and against JAX 0.11's list of
removals (its changelog and source): nothing else needs a shim.

:func:`apply` is idempotent and cheap; the brax backend and the MJX envs call it before they
import or use brax, so every entry point (training, the untrained floor, the dry run's JAX
check) is covered. It imports JAX, so nothing calls it at rewardsmith's import time.
"""

from __future__ import annotations

import warnings
from typing import Any

# what apply() changed in this process, for describe() and the tests
applied: list[str] = []


def _has(module: Any, name: str) -> bool:
    """Whether ``module.name`` resolves, without the deprecation warning JAX 0.9 gives."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            getattr(module, name)
        except AttributeError:
            return False
    return True


def device_put_replicated(x: Any, devices):
    """``x`` (an array, a scalar or a pytree of them) stacked once per device of ``devices``
    along a new leading axis, that axis sharded over the devices: what
    ``jax.device_put_replicated`` returned before JAX 0.10."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devices = list(devices) if devices is not None else []
    if not devices:
        raise ValueError("`devices` argument to `device_put_replicated` must be a non-empty "
                         "sequence.")
    axis = "_device_put_replicated"
    sharding = NamedSharding(Mesh(np.array(devices), (axis,)), PartitionSpec(axis))
    n = len(devices)

    def put(leaf):
        leaf = jnp.asarray(leaf)
        return jax.device_put(jnp.stack([leaf] * n), sharding)

    return jax.tree_util.tree_map(put, x)


def apply() -> list[str]:
    """Make brax 0.14.2 run on the installed JAX; returns the names provided (``[]`` when JAX
    already has everything brax calls)."""
    import jax

    if not _has(jax, "device_put_replicated"):
        jax.device_put_replicated = device_put_replicated
        _note("device_put_replicated")
    import jax.core

    if not _has(jax.core, "get_opaque_trace_state"):
        try:
            from jax.extend import core as jex_core

            jax.core.get_opaque_trace_state = jex_core.get_opaque_trace_state
            _note("core.get_opaque_trace_state")
        except (ImportError, AttributeError):
            pass  # neither place has it: a flax that needs it fails with JAX's own message
    return list(applied)


def _note(name: str) -> None:
    if name not in applied:
        applied.append(name)
