"""rewardsmith.train.jax_compat: brax 0.14.2 on JAX 0.10/0.11 without changing brax.

``jax.device_put_replicated`` (removed in JAX 0.10) comes back with the layout JAX gave: the
value stacked along a new leading axis, sharded over the devices, fit for ``jax.pmap``; and
flax's ``jax.core.get_opaque_trace_state`` (removed in JAX 0.11) points at its new home."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

jax = pytest.importorskip("jax")

import jax.numpy as jnp  # noqa: E402

from rewardsmith.train import jax_compat  # noqa: E402


def test_replicated_values_are_stacked_and_sharded_over_the_devices():
    devices = jax.local_devices()
    tree = {"a": np.arange(3.0), "b": jnp.ones((2, 2), jnp.int32), "n": 3,
            "key": jax.random.PRNGKey(0)}
    out = jax_compat.device_put_replicated(tree, devices)
    n = len(devices)
    assert out["a"].shape == (n, 3) and out["a"].dtype == jnp.float32
    assert out["b"].shape == (n, 2, 2) and out["b"].dtype == jnp.int32
    assert out["n"].shape == (n,) and out["key"].shape == (n, 2)
    np.testing.assert_array_equal(np.asarray(out["a"])[0], np.arange(3.0))
    sharding = out["a"].sharding
    assert isinstance(sharding, jax.sharding.NamedSharding)
    assert sharding.spec == jax.sharding.PartitionSpec("_device_put_replicated")
    assert {s.device for s in out["a"].addressable_shards} == set(devices)
    # what brax does with it: a pmap over the leading axis
    summed = jax.pmap(lambda t: t["a"].sum() + t["b"].sum())(out)
    np.testing.assert_allclose(np.asarray(summed), np.full(n, 3.0 + 4.0))


def test_same_layout_as_jaxs_own():
    try:  # JAX's own, still inside it after 0.10 took it out of the public API
        from jax._src.api import device_put_replicated as native
    except ImportError:
        pytest.skip(f"JAX {jax.__version__} has no device_put_replicated of its own")
    x = {"a": np.arange(4.0).reshape(2, 2), "k": jax.random.key(1), "s": 2.5}
    devices = jax.local_devices()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        want = native(x, devices)
    got = jax_compat.device_put_replicated(x, devices)
    for k in x:
        assert got[k].shape == want[k].shape and got[k].dtype == want[k].dtype, k
        assert got[k].sharding == want[k].sharding, k
    np.testing.assert_array_equal(np.asarray(got["a"]), np.asarray(want["a"]))


def test_no_devices_is_an_error():
    with pytest.raises(ValueError, match="non-empty"):
        jax_compat.device_put_replicated(np.zeros(2), [])


def test_apply_gives_brax_what_it_calls_and_is_idempotent():
    pytest.importorskip("brax")
    from brax.training import pmap as brax_pmap

    first = jax_compat.apply()
    assert jax_compat.apply() == first
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        out = brax_pmap.bcast_local_devices({"w": jnp.ones(3)}, 1)
    assert out["w"].shape == (1, 3)
    if jax.__version_info__ >= (0, 10):
        assert "device_put_replicated" in first
    else:
        assert "device_put_replicated" not in first  # JAX's own is left alone


def test_flax_trace_state_comes_back_where_jax_removed_it(monkeypatch):
    """JAX 0.11 removed jax.core.get_opaque_trace_state; flax <= 0.12.6 reads it there."""
    import jax.core

    try:
        from jax.extend.core import get_opaque_trace_state as moved
    except ImportError:
        pytest.skip(f"JAX {jax.__version__} has no jax.extend.core.get_opaque_trace_state")

    def gone(name):
        raise AttributeError(f"module 'jax.core' has no attribute {name!r}")

    # as on JAX 0.11: neither an attribute nor served by the deprecation __getattr__ (restored,
    # or removed again, after the test)
    monkeypatch.setattr(jax.core, "get_opaque_trace_state", None, raising=False)
    monkeypatch.delattr(jax.core, "get_opaque_trace_state")
    monkeypatch.setattr(jax.core, "__getattr__", gone, raising=False)
    monkeypatch.setattr(jax_compat, "applied", [])
    assert "core.get_opaque_trace_state" in jax_compat.apply()
    assert jax.core.get_opaque_trace_state is moved
    flax_tracers = pytest.importorskip("flax.core.tracers")
    flax_tracers.current_trace()
