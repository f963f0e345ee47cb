"""The reward-program contract: load source text, compile it, call it batched.

A reward program is Python text that defines::

    def compute_reward(state, action, next_state):
        return reward, {"component": value, ...}   # reward (B,), each component (B,)

It is written against ``np``, bound to ``numpy`` here and to ``jax.numpy`` on the JAX path.
"""

from __future__ import annotations

import ast
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.errors import RewardsmithError

ENTRY = "compute_reward"
SIGNATURE = "def compute_reward(state, action, next_state):"


class RewardProgramError(RewardsmithError):
    """The program cannot be used: the message says what to change."""


def fingerprint(source: str) -> str:
    """What a program does, not how it is laid out: the sha256 of its syntax tree without
    comments, docstrings or formatting, so two answers that differ only in those match. Text
    that does not parse falls back to its lines with comments and blank space removed."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        lines = (line.split("#", 1)[0].strip() for line in source.splitlines())
        return hashlib.sha256("\n".join(x for x in lines if x).encode()).hexdigest()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree, annotate_fields=False).encode()).hexdigest()


# Ways a program could make a field's name at run time instead of writing it out: with any of
# these in its source, every field counts as read (see fields_read).
_STRING_CALLS = frozenset({
    "str", "repr", "format", "chr", "join", "replace", "lower", "upper", "casefold", "title",
    "capitalize", "swapcase", "strip", "lstrip", "rstrip", "removeprefix", "removesuffix",
    "split", "rsplit", "partition", "rpartition", "zfill", "center", "ljust", "rjust",
    "translate", "decode", "encode", "expandtabs", "format_map",
})


def read_constants(source: str) -> dict[str, tuple[float, ast.AST]]:
    """Named numeric constants: ``name = 1.5`` (or ``-1.5``) in compute_reward or at top level
    (the weights and thresholds the rules ask for), each with its value's node."""
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


def fields_read(source: str, names: Iterable[str]) -> set[str] | None:
    """The state fields among ``names`` that ``source`` may read, or None when that cannot be
    told from the text (it does not parse, or it builds strings at run time).

    A conservative superset: every attribute (``state.torso_pos``) and string constant
    (``state["torso_pos"]``) that names a field. The sandbox refuses ``getattr``, ``vars``,
    ``__dict__`` and every underscore attribute, so a field is reached only by a name written
    out in the source, unless the program assembles one, which is caught here.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    known = set(names)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr in _STRING_CALLS:
                return None
            if node.attr in known:
                out.add(node.attr)
        elif isinstance(node, ast.Name) and node.id in _STRING_CALLS:
            return None
        elif isinstance(node, ast.JoinedStr):
            return None
        elif isinstance(node, ast.BinOp) and any(
                isinstance(x, ast.Constant) and isinstance(x.value, (str, bytes))
                for x in (node.left, node.right)):
            return None
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in known:
            out.add(node.value)
    return out


@dataclass(frozen=True)
class RewardProgram:
    source: str
    origin: str = "<text>"  # a file path, "baseline", "iteration 2 sample 3", ...

    @property
    def sha(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]

    @classmethod
    def from_file(cls, path: str | Path) -> RewardProgram:
        p = Path(path)
        hint = "give a path to a .py file that defines compute_reward(state, action, next_state)"
        if p.is_dir():
            raise RewardProgramError(f"reward file {str(p)!r} is a folder, not a file", hint)
        if not p.is_file():
            raise RewardProgramError(f"reward file {str(p)!r} does not exist", hint)
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise RewardProgramError(f"reward file {str(p)!r} is not UTF-8 text", hint) from None
        except OSError as e:
            raise RewardProgramError(f"reward file {str(p)!r} cannot be read: {e.strerror}",
                                     hint) from None
        return cls(text, origin=str(p))

    @classmethod
    def from_text(cls, text: str, origin: str = "<text>") -> RewardProgram:
        return cls(text, origin=origin)


@dataclass
class CompiledReward:
    """A compiled program: call it with state views and an action batch."""

    program: RewardProgram
    fn: Any
    namespace: dict[str, Any] = field(repr=False)
    xp: Any = np

    def __call__(self, state, action, next_state) -> tuple[Any, dict[str, Any]]:
        out = self.fn(state, action, next_state)
        return check_output(out, batch=action.shape[0], xp=self.xp)


def compile_program(program: RewardProgram, xp: Any = None, *, checked: bool = True) -> CompiledReward:
    """Compile ``program`` with ``np`` bound to ``xp`` (numpy by default).

    With ``checked`` (the default) the static checks of the sandbox run first and ``np`` is the
    sandbox's array-math proxy; the result is a plain Python function.
    """
    from rewardsmith.rules.namespace import make_namespace
    from rewardsmith.rules.static import check_source

    xp = np if xp is None else xp
    if checked:
        problems = check_source(program.source)
        if problems:
            raise RewardProgramError(
                f"reward program {program.origin} was rejected: " + "; ".join(problems)
            )
    else:
        try:
            compile(program.source, program.origin, "exec")
        except SyntaxError as e:
            raise RewardProgramError(f"reward program {program.origin} has a syntax error: {e}") from None
    ns = make_namespace(xp)
    try:
        code = compile(program.source, program.origin, "exec")
        exec(code, ns)  # noqa: S102 - source passed the static checks; namespace is minimal
    except RewardsmithError:
        raise
    except Exception as e:
        raise RewardProgramError(
            f"reward program {program.origin} failed while defining its functions: "
            f"{type(e).__name__}: {e}"
        ) from None
    fn = ns.get(ENTRY)
    if not callable(fn):
        raise RewardProgramError(
            f"reward program {program.origin} does not define {ENTRY}",
            f"define `{SIGNATURE}` returning (reward, {{name: value}})",
        )
    return CompiledReward(program, fn, ns, xp)


def check_output(out: Any, batch: int, xp: Any = np) -> tuple[Any, dict[str, Any]]:
    """Check the (reward, components) pair a program returned; raise with what to fix."""
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RewardProgramError(
            f"{ENTRY} must return a tuple (reward, components); it returned {_describe(out)}"
        )
    reward, comps = out
    reward = _as_batch(reward, batch, "the reward", xp)
    if not isinstance(comps, Mapping):
        raise RewardProgramError(
            f"the components must be a dict {{name: (B,) array}}; got {_describe(comps)}"
        )
    checked = {}
    for k, v in comps.items():
        if not isinstance(k, str):
            raise RewardProgramError(f"component names must be strings; got {k!r}")
        checked[k] = _as_batch(v, batch, f"component {k!r}", xp)
    return reward, checked


def _as_batch(value: Any, batch: int, what: str, xp: Any) -> Any:
    if type(value) is np.ndarray and value.dtype == np.float64 and value.shape == (batch,):
        return value  # the common case, checked first: once per component and step in training
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return xp.full((batch,), float(value))
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is None or dtype is None:
        raise RewardProgramError(f"{what} must be an array of shape ({batch},); got {_describe(value)}")
    kind = np.dtype(dtype).kind
    if kind == "b":
        value = value.astype(xp.float32 if xp is not np else np.float64)
    elif kind not in "iuf":
        raise RewardProgramError(f"{what} must hold real numbers; it has dtype {dtype}")
    if tuple(shape) == ():
        return xp.broadcast_to(value, (batch,)).astype(float) if xp is np else xp.broadcast_to(value, (batch,))
    if tuple(shape) == (batch, 1):
        return value[:, 0]
    if tuple(shape) != (batch,):
        raise RewardProgramError(
            f"{what} has shape {tuple(shape)}; it must be ({batch},), one value per batch row "
            "(reduce over the last axis with np.sum(..., axis=-1) where needed)"
        )
    return value


def _describe(value: Any) -> str:
    if value is None:
        return "None"
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"an array of shape {tuple(shape)}"
    r = repr(value)
    return f"a {type(value).__name__} ({r[:60] + '...' if len(r) > 60 else r})"


def is_finite(x: Any) -> bool:
    try:
        return bool(np.all(np.isfinite(np.asarray(x))))
    except TypeError:
        return all(math.isfinite(v) for v in x)
