"""Layer 1: static checks on the program's syntax tree, by allow-list.

Each problem is one sentence that says what to change, so it can go back to the LLM verbatim.
"""

from __future__ import annotations

import ast

MAX_SOURCE_CHARS = 20_000
MAX_NODES = 5_000
MAX_INT_LITERAL = 10**12

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

# What each forbidden construct should be replaced with.
ADVICE: dict[type, str] = {
    ast.Import: "remove the import: `np` is already available and nothing else may be imported",
    ast.ImportFrom: "remove the import: `np` is already available and nothing else may be imported",
    ast.While: "replace the `while` loop with array operations (np.where, np.clip, sums over axes)",
    ast.Global: "remove `global`: the function must not keep state between calls",
    ast.Nonlocal: "remove `nonlocal`: the function must not keep state between calls",
    ast.Lambda: "define a named helper function at top level instead of a lambda",
    ast.Try: "remove try/except: use np.where and np.clip to keep values in range",
    ast.With: "remove the `with` block: no files or contexts are available",
    ast.Yield: "return values instead of yielding them",
    ast.YieldFrom: "return values instead of yielding them",
    ast.GeneratorExp: "use a list comprehension or array operations instead of a generator",
    ast.ClassDef: "define plain functions, not classes",
    ast.AsyncFunctionDef: "define a plain (not async) function",
    ast.Await: "remove `await`",
    ast.Raise: "do not raise: return a finite reward for every input",
    ast.Assert: "remove the assert: return a finite reward for every input",
    ast.Delete: "remove `del`",
    ast.SetComp: "use a list or dict instead of a set",
    ast.Set: "use a list or tuple instead of a set",
    ast.NamedExpr: "assign with `=` on its own line instead of `:=`",
    ast.JoinedStr: "remove the f-string: the reward function must not build strings",
    ast.FormattedValue: "remove the f-string: the reward function must not build strings",
}
if hasattr(ast, "Match"):
    ADVICE[ast.Match] = "replace `match` with np.where or if/else on Python values"
if hasattr(ast, "TryStar"):
    ADVICE[ast.TryStar] = ADVICE[ast.Try]

SAFE_BUILTINS = frozenset({
    "abs", "min", "max", "sum", "len", "range", "float", "int", "bool", "round", "enumerate",
    "zip", "dict", "list", "tuple", "isinstance", "True", "False", "None", "any", "all",
})
FORBIDDEN_NAMES = frozenset({
    "eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "globals", "locals",
    "vars", "dir", "type", "object", "super", "input", "print", "breakpoint", "help", "memoryview",
    "chr", "ord", "format", "id", "hash", "iter", "next", "classmethod", "staticmethod",
    "property", "exit", "quit", "callable", "hasattr", "bytes", "bytearray", "frozenset",
})
FORBIDDEN_ATTRS = frozenset({"format", "format_map", "mro", "gi_frame", "f_globals", "f_back",
                             "tb_frame", "cr_frame", "ag_frame", "f_locals", "f_builtins"})


def check_source(source: str) -> list[str]:
    """Return the problems found; an empty list means the static layer accepts the program."""
    if len(source) > MAX_SOURCE_CHARS:
        return [f"the program is {len(source)} characters long; keep it under {MAX_SOURCE_CHARS}"]
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        return [f"syntax error on line {e.lineno}: {e.msg}; send complete, valid Python"]
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        return [f"the program has {len(nodes)} syntax nodes; keep it under {MAX_NODES}"]

    problems: list[str] = []

    def add(node: ast.AST, msg: str) -> None:
        line = getattr(node, "lineno", None)
        text = f"line {line}: {msg}" if line else msg
        if text not in problems:
            problems.append(text)

    defined: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef):
            defined.add(stmt.name)
        elif isinstance(stmt, ast.Assign):
            pass  # module-level constants are allowed
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            pass  # docstring
        elif not isinstance(stmt, ADVICE_TOPLEVEL_OK):
            add(stmt, "only function definitions and constants may appear at top level")

    for node in nodes:
        kind = type(node)
        if kind in ADVICE:
            add(node, ADVICE[kind])
            continue
        if not isinstance(node, ALLOWED_NODES):
            add(node, f"`{kind.__name__}` syntax is not allowed in a reward program")
            continue
        if isinstance(node, ast.Name):
            if node.id.startswith("_"):
                add(node, f"rename `{node.id}`: names may not start with an underscore")
            elif node.id in FORBIDDEN_NAMES:
                add(node, f"`{node.id}` is not available in a reward program; use np array math")
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                add(node, f"`.{node.attr}` is not allowed: attributes may not start with an underscore")
            elif node.attr in FORBIDDEN_ATTRS:
                add(node, f"`.{node.attr}` is not allowed in a reward program")
        elif isinstance(node, ast.arg) and node.arg.startswith("_"):
            add(node, f"rename argument `{node.arg}`: names may not start with an underscore")
        elif isinstance(node, ast.FunctionDef):
            if node.name.startswith("_"):
                add(node, f"rename function `{node.name}`: names may not start with an underscore")
            if node.decorator_list:
                add(node, f"remove the decorator on `{node.name}`")
        elif isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_INT_LITERAL:
                add(node, f"the integer literal {str(v)[:20]}... is too large; use a float")
            elif isinstance(v, (str, bytes)) and len(v) > 2_000:
                add(node, "string literals must be short")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Pow, ast.LShift)):
            if _is_int_const(node.right) and _int_value(node.right) > 64:
                add(node, "integer powers and shifts above 64 are not allowed; use float arithmetic")
            if isinstance(node.right, ast.BinOp) and isinstance(node.right.op, (ast.Pow, ast.LShift)):
                add(node, "nested integer powers are not allowed; use float arithmetic")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            for side in (node.left, node.right):
                if isinstance(side, (ast.List, ast.Tuple, ast.Constant)) and not isinstance(
                    getattr(side, "value", 0), (int, float)
                ):
                    add(node, "repeating sequences with `*` is not allowed; use np.full or np.zeros")

    has_entry = any(isinstance(s, ast.FunctionDef) and s.name == "compute_reward" for s in tree.body)
    if not has_entry:
        problems.append(
            "define `def compute_reward(state, action, next_state):` at top level, "
            "returning (reward, {name: value})"
        )
    return problems


ADVICE_TOPLEVEL_OK = (ast.FunctionDef, ast.Assign, ast.Expr)


def _is_int_const(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, int)


def _int_value(node: ast.AST) -> int:
    return abs(node.value) if _is_int_const(node) else 0  # type: ignore[attr-defined]
