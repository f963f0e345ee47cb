"""Layer 2: the namespace a program runs in: minimal builtins and an ``np`` of array math only."""

from __future__ import annotations

import builtins
from types import MappingProxyType
from typing import Any

from rewardsmith.sandbox.static import SAFE_BUILTINS

# numpy attributes a reward program may use: array math, no I/O, no callbacks, no randomness.
NP_ALLOWED = frozenset("""
abs absolute add all allclose amax amin any arccos arccosh arcsin arcsinh arctan arctan2 arctanh
argmax argmin around array asarray atleast_1d atleast_2d average broadcast_to cbrt ceil clip
concatenate copysign cos cosh cross cumprod cumsum deg2rad degrees diff divide dot e einsum
equal exp exp2 expand_dims expm1 eye float32 float64 floor floor_divide fmax fmin fmod full
full_like greater greater_equal heaviside hypot inf isclose isfinite isinf isnan linalg log
log10 log1p log2 logaddexp logical_and logical_not logical_or logical_xor matmul max maximum
mean median min minimum mod moveaxis multiply nan nan_to_num negative norm not_equal ones
ones_like outer pi power prod rad2deg radians reciprocal remainder reshape round sign signbit
sin sinh sqrt square squeeze stack std subtract sum swapaxes take tan tanh tensordot tile
transpose tril triu true_divide trunc var vstack hstack where zeros zeros_like newaxis int32
int64 bool_ float_ linspace arange sort argsort quantile percentile interp
""".split())
LINALG_ALLOWED = frozenset({"norm", "det", "inv", "solve", "eigh", "svd", "pinv"})


class _Namespace:
    """A read-only module-like object exposing only the names in ``allowed``."""

    __slots__ = ("_target", "_allowed", "_label")

    def __init__(self, target: Any, allowed: frozenset[str], label: str):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_allowed", allowed)
        object.__setattr__(self, "_label", label)

    def __getattr__(self, name: str) -> Any:
        if name not in self._allowed or not hasattr(self._target, name):
            raise AttributeError(
                f"{self._label}.{name} is not available in reward programs; "
                f"use array math such as {self._label}.where, {self._label}.clip, {self._label}.exp"
            )
        value = getattr(self._target, name)
        if name == "linalg":
            return _Namespace(value, LINALG_ALLOWED, f"{self._label}.linalg")
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{self._label} is read-only")

    def __repr__(self) -> str:
        return f"<{self._label}: array math only>"


def numpy_proxy(xp: Any) -> _Namespace:
    return _Namespace(xp, NP_ALLOWED, "np")


def safe_builtins() -> MappingProxyType:
    return MappingProxyType({n: getattr(builtins, n) for n in SAFE_BUILTINS if hasattr(builtins, n)})


def make_namespace(xp: Any) -> dict[str, Any]:
    return {"__builtins__": dict(safe_builtins()), "np": numpy_proxy(xp), "__name__": "reward_program"}
