"""Layer 2: the namespace a program runs in: minimal builtins and an ``np`` of array math only.

The ``np`` a program sees is not numpy: it is a read-only object holding only the allowed
functions and constants (no ``random``, no ``lib``, no ``ctypes``, no file I/O, no callbacks such
as ``frompyfunc`` or ``vectorize``, no ``memmap``/``fromfile``/``save``/``load``), and it keeps
no reference to the numpy module itself. The same allow-list serves ``jax.numpy``.
"""

from __future__ import annotations

import builtins
from types import MappingProxyType
from typing import Any

from rewardsmith.rules.static import (
    LINALG_ALLOWED,
    NP_ALLOWED,
    NP_REASONS,
    SAFE_BUILTINS,
)

__all__ = ["NP_ALLOWED", "LINALG_ALLOWED", "numpy_proxy", "safe_builtins", "make_namespace"]


class ArrayNamespace:
    """A read-only, module-like object exposing only the values it was built with."""

    __slots__ = ("_values", "_label")

    def __init__(self, values: dict[str, Any], label: str):
        object.__setattr__(self, "_values", MappingProxyType(dict(values)))
        object.__setattr__(self, "_label", label)

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        label = object.__getattribute__(self, "_label")
        try:
            return values[name]
        except KeyError:
            why = NP_REASONS.get(name, "only array math is available")
            raise AttributeError(
                f"{label}.{name} is not available in reward programs: {why} "
                f"(use array math such as {label}.where, {label}.clip, {label}.exp)"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{object.__getattribute__(self, '_label')} is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{object.__getattribute__(self, '_label')} is read-only")

    def __dir__(self) -> list[str]:
        return sorted(object.__getattribute__(self, "_values"))

    def __repr__(self) -> str:
        return f"<{object.__getattribute__(self, '_label')}: array math only>"

    def __reduce__(self):  # never pickled into a worker: it is rebuilt there
        raise TypeError("the np proxy cannot be pickled")


_PROXIES: dict[int, tuple[Any, ArrayNamespace]] = {}


def numpy_proxy(xp: Any) -> ArrayNamespace:
    """The ``np`` of a reward program, for ``numpy`` or ``jax.numpy`` (built once per module)."""
    hit = _PROXIES.get(id(xp))
    if hit is not None and hit[0] is xp:
        return hit[1]
    values = {n: getattr(xp, n) for n in NP_ALLOWED if n != "linalg" and hasattr(xp, n)}
    linalg = getattr(xp, "linalg", None)
    if linalg is not None:
        values["linalg"] = ArrayNamespace(
            {n: getattr(linalg, n) for n in LINALG_ALLOWED if hasattr(linalg, n)}, "np.linalg")
    proxy = ArrayNamespace(values, "np")
    _PROXIES[id(xp)] = (xp, proxy)
    return proxy


# numpy's C code imports its own helpers lazily (``ndarray.sum`` imports numpy._core._methods)
# through the *caller's* builtins, which are the program's: it gets an ``__import__`` that loads
# array-library modules only. Programs cannot name it (the static layer rejects ``_`` names and
# imports).
IMPORTABLE_ROOTS = frozenset({"numpy", "jax", "jaxlib"})


def _library_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and isinstance(name, str) and name.split(".", 1)[0] in IMPORTABLE_ROOTS:
        return builtins.__import__(name, globals, locals, fromlist, level)
    raise ImportError(f"import of {name!r} is not available in reward programs: nothing may be "
                      "imported; `np` is already there")


_BUILTINS = MappingProxyType({
    **{n: getattr(builtins, n) for n in sorted(SAFE_BUILTINS) if hasattr(builtins, n)},
    "__import__": _library_import,
})


def safe_builtins() -> MappingProxyType:
    return _BUILTINS


def make_namespace(xp: Any) -> dict[str, Any]:
    """A fresh globals dict for one program: minimal builtins and the ``np`` proxy."""
    return {"__builtins__": dict(_BUILTINS), "np": numpy_proxy(xp), "__name__": "reward_program"}
