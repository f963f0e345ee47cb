"""Layer 1: static checks on the program's syntax tree, by allow-list.

Allowed: top-level function definitions (``compute_reward`` and helpers) and constants; inside
functions: assignments, ``if``/``for``/``break``/``continue``/``return``, arithmetic, comparisons,
list and dict comprehensions, calls to ``np.<array math>``, to a few builtins, to the program's
own functions and to array/dict/list methods. Everything else is rejected.

Each problem is one sentence that says what to change, so it can go back to the LLM verbatim.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable

MAX_SOURCE_CHARS = 20_000
MAX_NODES = 5_000
MAX_DEPTH = 60
MAX_INT_LITERAL = 10**12
MAX_STR_LITERAL = 1_000
MAX_POW_EXPONENT = 64
MAX_REPEAT = 10_000

ENTRY = "compute_reward"
SIGNATURE = "def compute_reward(state, action, next_state):"

# ---------------------------------------------------------------------------- allow-lists
ALLOWED_NODES: tuple[type, ...] = (
    ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.Return, ast.Assign, ast.AugAssign,
    ast.AnnAssign, ast.Expr, ast.If, ast.For, ast.Pass, ast.Break, ast.Continue,
    ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Call, ast.keyword, ast.IfExp,
    ast.Attribute, ast.Subscript, ast.Slice, ast.Name, ast.Load, ast.Store, ast.Del,
    ast.Constant, ast.Tuple, ast.List, ast.Dict, ast.ListComp, ast.DictComp, ast.comprehension,
    ast.Starred, ast.And, ast.Or, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod,
    ast.Pow, ast.MatMult, ast.USub, ast.UAdd, ast.Not, ast.Invert, ast.Eq, ast.NotEq, ast.Lt,
    ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot, ast.In, ast.NotIn, ast.BitAnd, ast.BitOr,
    ast.BitXor, ast.LShift, ast.RShift,
)

_NO_IMPORT = ("remove the import: `np` (numpy) is already available and nothing else may be "
              "imported; use np functions for the math")
_NO_STATE = "remove `{}`: the function must not keep or share state between calls"
# What each forbidden construct should be replaced with.
ADVICE: dict[type, str] = {
    ast.Import: _NO_IMPORT,
    ast.ImportFrom: _NO_IMPORT,
    ast.While: "replace the `while` loop with array operations (np.where, np.clip, sums over "
               "axes) or a `for` loop over a fixed range",
    ast.Global: _NO_STATE.format("global"),
    ast.Nonlocal: _NO_STATE.format("nonlocal"),
    ast.Lambda: "define a named helper function at top level instead of a lambda",
    ast.Try: "remove try/except: use np.where, np.clip and np.maximum(x, 1e-8) to keep values "
             "in range instead of catching errors",
    ast.With: "remove the `with` block: no files, contexts or error states are available",
    ast.Yield: "return values instead of yielding them (no generators)",
    ast.YieldFrom: "return values instead of yielding them (no generators)",
    ast.GeneratorExp: "use a list comprehension [...] or array operations instead of a "
                      "generator expression",
    ast.ClassDef: "define plain functions, not classes",
    ast.AsyncFunctionDef: "define a plain (not async) function",
    ast.AsyncFor: "use a plain `for` loop",
    ast.AsyncWith: "remove the `with` block",
    ast.Await: "remove `await`",
    ast.Raise: "do not raise: return a finite reward for every input",
    ast.Assert: "remove the assert: return a finite reward for every input",
    ast.Delete: "remove `del`: just stop using the variable",
    ast.SetComp: "use a list or dict comprehension instead of a set",
    ast.Set: "use a list or tuple instead of a set",
    ast.NamedExpr: "assign with `=` on its own line instead of `:=`",
    ast.JoinedStr: "remove the f-string: the reward function must not build strings",
    ast.FormattedValue: "remove the f-string: the reward function must not build strings",
}
for _name, _msg in (("Match", "replace `match` with if/elif or np.where"),
                    ("TryStar", ADVICE[ast.Try]),
                    ("TypeAlias", "remove the type alias"),
                    ("TemplateStr", "remove the template string: no strings are built"),
                    ("Interpolation", "remove the template string: no strings are built")):
    if hasattr(ast, _name):
        ADVICE[getattr(ast, _name)] = _msg

SAFE_BUILTINS = frozenset({
    "abs", "min", "max", "sum", "len", "range", "float", "int", "bool", "round", "enumerate",
    "zip", "dict", "list", "tuple", "isinstance", "True", "False", "None", "any", "all",
    "sorted", "reversed", "divmod",
})
# numpy attributes a reward program may use: array math, no I/O, no callbacks, no randomness.
NP_ALLOWED = frozenset("""
abs absolute add all allclose amax amin any append arccos arccosh arcsin arcsinh arctan arctan2
arctanh argmax argmin argsort argwhere around array array_equal asarray atleast_1d atleast_2d
atleast_3d average bool bool_ broadcast_arrays broadcast_to cbrt ceil clip column_stack
concatenate copysign cos cosh count_nonzero cross cumprod cumsum deg2rad degrees diag diagonal
diff digitize divide dot dstack e einsum equal euler_gamma exp exp2 expand_dims expm1 eye fabs
finfo flatnonzero flip float16 float32 float64 floor floor_divide fmax fmin fmod full full_like
geomspace gradient greater greater_equal heaviside hstack hypot identity inf inner int8 int16
int32 int64 interp isclose isfinite isin isinf isnan isneginf isposinf kron ldexp less
less_equal linalg linspace log log10 log1p log2 logaddexp logaddexp2 logical_and logical_not
logical_or logical_xor logspace matmul max maximum mean median min minimum mod moveaxis multiply
nan nan_to_num nanargmax nanargmin nanmax nanmean nanmedian nanmin nanstd nansum nanvar negative
newaxis nonzero not_equal ones ones_like outer percentile pi positive power prod ptp quantile
rad2deg radians ravel reciprocal remainder repeat reshape rint roll round searchsorted select
shape sign signbit sin sinc sinh size sort sqrt square squeeze stack std subtract sum swapaxes
take tan tanh tensordot tile trace transpose trapezoid tril triu true_divide trunc uint8 unwrap
var vdot vstack where zeros zeros_like
""".split())
LINALG_ALLOWED = frozenset({"norm", "det", "inv", "solve", "eigh", "eigvalsh", "svd", "pinv",
                            "qr", "cholesky", "matrix_rank", "lstsq", "matrix_power", "cross",
                            "vector_norm", "matrix_norm", "eig", "eigvals", "multi_dot"})
# What to say for numpy names that are left out on purpose.
NP_REASONS = {
    "random": "reward programs must be deterministic: no random numbers",
    "lib": "only array math is available",
    "ctypes": "only array math is available",
    "memmap": "no files: only array math is available",
    "fromfile": "no files: only array math is available",
    "tofile": "no files: only array math is available",
    "save": "no files: only array math is available",
    "savez": "no files: only array math is available",
    "savetxt": "no files: only array math is available",
    "load": "no files: only array math is available",
    "loadtxt": "no files: only array math is available",
    "genfromtxt": "no files: only array math is available",
    "frompyfunc": "no callbacks: write the math with array operations",
    "vectorize": "no callbacks: write the math with array operations",
    "apply_along_axis": "no callbacks: use the axis= argument of np.sum, np.max, ...",
    "apply_over_axes": "no callbacks: use the axis= argument of np.sum, np.max, ...",
    "piecewise": "no callbacks: use np.where or np.select",
    "empty": "uninitialised memory is not deterministic: use np.zeros",
    "empty_like": "uninitialised memory is not deterministic: use np.zeros_like",
    "ndarray": "use np.asarray or np.array to make arrays (and no type annotations)",
    "seterr": "error states are global: use np.where/np.clip to keep values finite",
    "errstate": "error states are global: use np.where/np.clip to keep values finite",
}
# Methods a program may call on arrays, dicts and lists (x.sum(), d.items(), out.append(...)).
ALLOWED_METHODS = frozenset("""
all any argmax argmin argsort astype clip conj conjugate copy cumprod cumsum diagonal dot
flatten max mean min nonzero prod ptp ravel repeat reshape round squeeze std sum swapaxes take
tolist trace transpose var item sort
get items keys values update setdefault pop
append extend index count insert reverse
reduce accumulate outer
""".split())
FORBIDDEN_NAMES = frozenset({
    "eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "globals", "locals",
    "vars", "dir", "type", "object", "super", "input", "print", "breakpoint", "help", "memoryview",
    "chr", "ord", "format", "id", "hash", "iter", "next", "classmethod", "staticmethod",
    "property", "exit", "quit", "callable", "hasattr", "bytes", "bytearray", "frozenset",
    "importlib", "os", "sys", "subprocess", "socket", "shutil", "pathlib", "builtins", "ctypes",
    "pickle", "marshal", "io", "signal", "threading", "multiprocessing", "time", "random",
    "inspect", "gc", "traceback", "types", "code", "codecs", "asyncio", "resource", "posix",
    "urllib", "http", "requests", "torch", "jax", "numpy", "math", "copyreg", "weakref",
    "functools", "itertools", "operator", "string", "tempfile", "glob", "mmap", "select",
})
_NAME_ADVICE = {
    "print": "remove print: the reward runs silently; return extra values as components",
    "math": "use np instead of math (np.sqrt, np.exp, np.pi, ...)",
    "numpy": "use the name `np`, which is already available, instead of `numpy`",
    "getattr": "read attributes directly (state.torso_pos), not with getattr",
    "type": "do not inspect types: every state field is a float array",
    "iter": "loop with `for` over a list or range instead",
    "next": "loop with `for` over a list or range instead",
    "random": "reward programs must be deterministic: no random numbers",
    "time": "the time is next_state.time; no clocks are available",
}
# Attributes no program may touch: string formatting (reads attributes by name), frames, code,
# tracebacks, generators, and array members that write files or give raw memory or writability.
FORBIDDEN_ATTRS = frozenset({
    "format", "format_map", "mro",
    "gi_frame", "gi_code", "gi_running", "gi_yieldfrom", "gi_suspended",
    "cr_frame", "cr_code", "cr_await", "cr_running", "cr_origin", "ag_frame", "ag_code",
    "ag_await", "ag_running", "f_globals", "f_locals", "f_builtins", "f_back", "f_code",
    "f_trace", "f_lasti", "tb_frame", "tb_next", "tb_lasti", "co_code", "co_consts", "co_names",
    "func_globals", "func_code",
    "tofile", "dump", "dumps", "ctypes", "data", "base", "flags", "setflags", "itemset",
    "resize", "newbyteorder", "getfield", "setfield", "byteswap", "fill", "put", "partition",
    "tobytes", "tostring", "view",
})
_ATTR_ADVICE = {
    "format": "remove .format: the reward function must not build strings",
    "format_map": "remove .format_map: the reward function must not build strings",
    "base": "do not reach the array behind a view: compute new arrays instead",
    "flags": "do not change array flags: the inputs are read-only, compute new arrays instead",
    "setflags": "do not change array flags: the inputs are read-only, compute new arrays instead",
    "fill": "make a new array with np.full_like instead of filling one in place",
    "view": "use the array itself or .reshape(...)",
}
_ANNOTATION_NODES = (ast.Name, ast.Constant, ast.Subscript, ast.Tuple, ast.Load, ast.BinOp,
                     ast.BitOr, ast.List)


# --------------------------------------------------------------------------------- checks
def check_source(source: str, *, free_names: Iterable[str] | None = None) -> list[str]:
    """Return the problems found; an empty list means the static layer accepts the program.

    ``free_names``: with it (``()`` for a reward program), every name must be bound by the
    program, be ``np`` or an allowed builtin, or be listed here. Without it, only the names
    known to be dangerous are rejected (the namespace layer still has no others at run time).
    """
    if not isinstance(source, str):
        return ["the program must be Python source text"]
    if len(source) > MAX_SOURCE_CHARS:
        return [f"the program is {len(source)} characters long; keep it under "
                f"{MAX_SOURCE_CHARS} by removing comments, repetition and unused helpers"]
    if "\x00" in source:
        return ["the program contains a NUL character; send plain Python text"]
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        return [f"syntax error on line {e.lineno}: {e.msg}; send complete, valid Python"]
    except (RecursionError, MemoryError, ValueError, OverflowError):
        return ["the program is nested too deeply to parse; split long expressions into "
                "several assignments"]
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        return [f"the program has {len(nodes)} syntax nodes; keep it under {MAX_NODES} "
                "(shorter functions, fewer repeated terms)"]
    depth = _depth(tree)
    if depth > MAX_DEPTH:
        return [f"the program is nested {depth} levels deep; keep it under {MAX_DEPTH} by "
                "splitting long expressions into several assignments"]

    problems: list[str] = []

    def add(node: ast.AST | None, msg: str) -> None:
        line = getattr(node, "lineno", None) if node is not None else None
        text = f"line {line}: {msg}" if line else msg
        if text not in problems:
            problems.append(text)

    _check_top_level(tree, add)
    skip = _check_annotations(tree, add)
    for node in nodes:  # say a forbidden construct once, not once per piece of it
        if type(node) in ADVICE:
            skip.update(id(n) for n in ast.walk(node)
                        if n is not node and not isinstance(n, ALLOWED_NODES))
    bound = _bound_names(tree)
    np_chain = _np_chains(tree)

    for node in nodes:
        if id(node) in skip:
            continue
        kind = type(node)
        if kind in ADVICE:
            add(node, ADVICE[kind])
            continue
        if not isinstance(node, ALLOWED_NODES):
            add(node, f"`{kind.__name__}` syntax is not allowed in a reward program; use plain "
                      "functions, assignments, if/for and array math")
            continue
        if isinstance(node, ast.Name):
            _check_name(node, bound, free_names, add)
        elif isinstance(node, ast.Attribute):
            _check_attribute(node, np_chain, add)
        elif isinstance(node, ast.arg):
            if node.arg.startswith("_"):
                add(node, f"rename argument `{node.arg}`: names may not start with an underscore")
            elif node.arg in FORBIDDEN_NAMES:
                add(node, f"rename argument `{node.arg}`: it is a reserved name")
        elif isinstance(node, ast.keyword):
            if node.arg is not None and node.arg.startswith("_"):
                add(node, f"rename keyword `{node.arg}`: names may not start with an underscore")
        elif isinstance(node, ast.FunctionDef):
            _check_function(node, add)
        elif isinstance(node, ast.Call):
            _check_call(node, np_chain, add)
        elif isinstance(node, ast.Constant):
            _check_constant(node, add)
        elif isinstance(node, ast.BinOp):
            _check_binop(node, add)
        elif isinstance(node, ast.AugAssign):
            _check_binop(ast.BinOp(left=node.target, op=node.op, right=node.value,
                                   lineno=node.lineno, col_offset=node.col_offset), add)

    entry = [s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == ENTRY]
    if not entry:
        problems.append(f"define `{SIGNATURE}` at top level, returning (reward, {{name: value}})")
    else:
        a = entry[-1].args
        positional = len(a.posonlyargs) + len(a.args)
        required = positional - len(a.defaults)
        kw_required = any(d is None for d in a.kw_defaults)
        if (positional < 3 and a.vararg is None) or required > 3 or kw_required:
            add(entry[-1], f"`{ENTRY}` must take exactly three arguments: `{SIGNATURE}`")
    return sorted(problems, key=_line_of)


def _line_of(problem: str) -> int:
    if problem.startswith("line "):
        head = problem[5:].split(":", 1)[0]
        if head.isdigit():
            return int(head)
    return 1 << 30


def _depth(tree: ast.AST) -> int:
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if d <= MAX_DEPTH + 1:
            stack.extend((c, d + 1) for c in ast.iter_child_nodes(node))
    return deepest


def _check_top_level(tree: ast.Module, add) -> None:
    for i, stmt in enumerate(tree.body):
        if isinstance(stmt, ast.FunctionDef):
            continue
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            continue  # module-level constants
        if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                and isinstance(stmt.value.value, str):
            continue  # docstring
        if type(stmt) in ADVICE:
            continue  # said by the main walk
        add(stmt, "only function definitions and constant assignments may appear at top level; "
                  "move this code into a function")


def _check_annotations(tree: ast.Module, add) -> set[int]:
    """Annotations on functions and at top level are evaluated: builtin types only."""
    skip: set[int] = set()
    anns: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.returns is not None:
            anns.append(node.returns)
        elif isinstance(node, ast.arg) and node.annotation is not None:
            anns.append(node.annotation)
    for stmt in tree.body:
        if isinstance(stmt, ast.AnnAssign):
            anns.append(stmt.annotation)
    for ann in anns:
        sub = list(ast.walk(ann))
        ok = all(isinstance(n, _ANNOTATION_NODES) and (
            not isinstance(n, ast.Name) or n.id in SAFE_BUILTINS) for n in sub)
        if not ok:
            add(ann, "remove this type annotation (annotations are evaluated; only builtin "
                     "types such as float, tuple or dict may appear in them)")
            skip.update(id(n) for n in sub)
    return skip


def _bound_names(tree: ast.Module) -> set[str]:
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
    return bound


def _np_chains(tree: ast.Module) -> dict[int, tuple[str, ...]]:
    """For each Attribute node rooted at the name ``np``: the attribute path (``("linalg",
    "norm")``)."""
    out: dict[int, tuple[str, ...]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            path = []
            cur: ast.AST = node
            while isinstance(cur, ast.Attribute):
                path.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name) and cur.id == "np":
                out[id(node)] = tuple(reversed(path))
    return out


def _check_name(node: ast.Name, bound: set[str], free_names, add) -> None:
    name = node.id
    if name.startswith("_") and name != "_":
        add(node, f"rename `{name}`: names may not start with an underscore")
        return
    if name in FORBIDDEN_NAMES:
        if isinstance(node.ctx, ast.Store):
            add(node, f"rename `{name}`: it is a reserved name")
        else:
            advice = _NAME_ADVICE.get(name, "only np array math, your own functions and "
                                            f"these builtins are available: {_builtin_list()}")
            add(node, f"`{name}` is not available in a reward program; {advice}")
        return
    if isinstance(node.ctx, ast.Store) or name in bound or name in SAFE_BUILTINS or name == "np":
        return
    if name in _ALL_BUILTINS:
        add(node, f"the builtin `{name}` is not available in a reward program; use np array "
                  f"math, your own functions and these builtins: {_builtin_list()}")
    elif free_names is not None and name not in free_names:
        add(node, f"`{name}` is not defined; read state fields as state.<field> or "
                  "next_state.<field>, and define every helper and constant in the program")


_ALL_BUILTINS = frozenset(dir(builtins))


def _builtin_list() -> str:
    return ", ".join(sorted(SAFE_BUILTINS - {"True", "False", "None"}))


def _check_attribute(node: ast.Attribute, np_chain, add) -> None:
    attr = node.attr
    if attr.startswith("_"):
        add(node, f"`.{attr}` is not allowed: attributes may not start with an underscore")
        return
    if isinstance(node.ctx, (ast.Store, ast.Del)):
        add(node, f"do not assign to `.{attr}`: the inputs and np are read-only; use a local "
                  "variable")
        return
    path = np_chain.get(id(node))
    if path is not None:
        full = "np." + ".".join(path)
        if len(path) == 1:
            if attr not in NP_ALLOWED:
                why = NP_REASONS.get(attr, "only array math is available")
                add(node, f"`{full}` is not available: {why} (e.g. np.where, np.clip, np.exp, "
                          "np.linalg.norm)")
            return
        if path[0] == "linalg" and len(path) == 2:
            if attr not in LINALG_ALLOWED:
                add(node, f"`{full}` is not available; np.linalg offers "
                          f"{', '.join(sorted(LINALG_ALLOWED))}")
            return
        # deeper: a method or attribute of an np object (np.add.reduce, np.finfo(...).eps)
    if attr in FORBIDDEN_ATTRS:
        advice = _ATTR_ADVICE.get(attr, "use np functions on arrays instead")
        add(node, f"`.{attr}` is not allowed in a reward program; {advice}")


def _check_function(node: ast.FunctionDef, add) -> None:
    if node.name.startswith("_"):
        add(node, f"rename function `{node.name}`: names may not start with an underscore")
    if node.name in FORBIDDEN_NAMES or node.name == "np":
        add(node, f"rename function `{node.name}`: it is a reserved name")
    if node.decorator_list:
        add(node, f"remove the decorator on `{node.name}`")
    for d in [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]:
        if not _is_constant_expr(d):
            add(d, f"the default values of `{node.name}`'s arguments must be numbers, strings, "
                   "True/False/None, constant names or tuples of them (a list or dict default "
                   "keeps state between calls)")


def _is_constant_expr(node: ast.AST) -> bool:
    if isinstance(node, (ast.Constant, ast.Name)):
        return True
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
            and node.value.id == "np":
        return True  # np.pi, np.inf
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _is_constant_expr(node.operand)
    if isinstance(node, ast.Tuple):
        return all(_is_constant_expr(e) for e in node.elts)
    return False


def _check_call(node: ast.Call, np_chain, add) -> None:
    f = node.func
    if not isinstance(f, ast.Attribute):
        return
    path = np_chain.get(id(f))
    if path is not None and (len(path) == 1 or path[0] not in NP_ALLOWED
                             or (len(path) == 2 and path[0] == "linalg")):
        return  # an np function, or an np name rejected already
    if f.attr.startswith("_") or f.attr in FORBIDDEN_ATTRS:
        return  # said already
    root: ast.AST = f
    while isinstance(root, ast.Attribute):
        root = root.value
        if isinstance(root, ast.Attribute) and (root.attr.startswith("_")
                                                or root.attr in FORBIDDEN_ATTRS):
            return  # said already
    if isinstance(root, ast.Name) and (root.id in FORBIDDEN_NAMES or root.id.startswith("_")):
        return  # said already
    if f.attr not in ALLOWED_METHODS:
        add(node, f"`.{f.attr}(...)` is not an allowed method; use np functions such as "
                  "np.sum(x, axis=-1), np.clip, np.where, or the array methods .sum, .mean, "
                  ".max, .min, .clip, .reshape, .astype")


def _check_constant(node: ast.Constant, add) -> None:
    v = node.value
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_INT_LITERAL:
        add(node, f"the integer literal {str(v)[:20]}... is too large; write it as a float "
                  "(e.g. 1e15)")
    elif isinstance(v, (str, bytes)) and len(v) > MAX_STR_LITERAL:
        add(node, f"string literals must be under {MAX_STR_LITERAL} characters")
    elif isinstance(v, complex):
        add(node, "complex numbers are not allowed; rewards are real")


def _int_literal(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) \
            and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = _int_literal(node.operand)
        return None if v is None else -v
    return None


def _is_literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) or (
        isinstance(node, ast.UnaryOp) and _is_literal(node.operand))


def _check_binop(node: ast.BinOp, add) -> None:
    op = node.op
    if isinstance(op, (ast.Pow, ast.LShift)):
        sym = "**" if isinstance(op, ast.Pow) else "<<"
        base, exp = _int_literal(node.left), _int_literal(node.right)
        if exp is not None and abs(exp) > MAX_POW_EXPONENT and (
                base is not None or isinstance(op, ast.LShift) or _is_int_expr(node.left)):
            add(node, f"integer powers and shifts above {MAX_POW_EXPONENT} are not allowed "
                      "(huge integers); use float arithmetic such as 10.0 ** 9 or np.exp")
        elif base is not None and not _is_literal(node.right):
            add(node, f"`{base} {sym} ...` with a computed exponent can make a huge integer; "
                      f"use a float base such as {float(base)!r} {sym} x, or np.power/np.exp")
        elif isinstance(op, ast.Pow) and exp is not None and abs(exp) > 1_000:
            add(node, "exponents above 1000 are not allowed; use np.exp or np.log")
    elif isinstance(op, ast.Mult):
        for seq, other in ((node.left, node.right), (node.right, node.left)):
            if _is_sequence(seq):
                n = _int_literal(other)
                if n is None or n > MAX_REPEAT:
                    add(node, "repeating a list, tuple or string with `*` is only allowed by a "
                              f"literal count up to {MAX_REPEAT}; use np.full or np.zeros")


def _is_int_expr(node: ast.AST) -> bool:
    """A literal integer expression (``10 ** 9``, ``2 * 3``): where ``**`` makes big integers."""
    if _int_literal(node) is not None:
        return True
    return isinstance(node, ast.BinOp) and _is_int_expr(node.left) and _is_int_expr(node.right)


def _is_sequence(node: ast.AST) -> bool:
    return isinstance(node, (ast.List, ast.Tuple, ast.ListComp)) or (
        isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)))
