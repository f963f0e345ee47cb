"""Reading a reward program: its named constants, which components they feed, the designer's own
plan (when it wrote the program), a component's role guessed from its name; and writing the
program back with new constant values."""

from __future__ import annotations

import ast
import re
from dataclasses import replace

from rewardsmith.llm.offline.render import MARKER, fmt_number
from rewardsmith.llm.offline.terms import Const, Designer, Term
from rewardsmith.reward.program import read_constants

_PLAN = re.compile(r"^\s*# plan:\s*(.+)$", re.MULTILINE)


def component_constants(source: str) -> dict[str, list[str]]:
    """component name -> the named constants its value depends on (traced through assignments)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "compute_reward"), None)
    if fn is None:
        return {}
    consts = set(read_constants(source))
    helpers = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    deps: dict[str, set[str]] = {}
    dicts: dict[str, ast.Dict] = {}

    def names_in(node: ast.AST) -> set[str]:
        out: set[str] = set()
        for n in ast.walk(node):
            if isinstance(n, ast.Name):
                out.add(n.id)
                out |= deps.get(n.id, set())
                if n.id in helpers and n.id != "compute_reward":
                    out |= {m.id for m in ast.walk(helpers[n.id]) if isinstance(m, ast.Name)}
        return out

    ret: ast.AST | None = None
    for st in ast.walk(fn):
        if isinstance(st, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = st.targets if isinstance(st, ast.Assign) else [st.target]
            value = st.value
            if value is None:
                continue
            used = names_in(value)
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        deps[n.id] = deps.get(n.id, set()) | used if isinstance(st, ast.AugAssign) else used
                        if isinstance(value, ast.Dict):
                            dicts[n.id] = value
        elif isinstance(st, ast.Return) and st.value is not None:
            ret = st.value
    comp: ast.AST | None = None
    if isinstance(ret, ast.Tuple) and len(ret.elts) == 2:
        comp = ret.elts[1]
        if isinstance(comp, ast.Name):
            comp = dicts.get(comp.id, comp)
    out: dict[str, list[str]] = {}
    if isinstance(comp, ast.Dict):
        for k, v in zip(comp.keys, comp.values):
            if isinstance(k, ast.Constant) and isinstance(k.value, str):
                out[k.value] = sorted(names_in(v) & consts)
    return out


def read_plan(source: str, designer: Designer) -> list[Term] | None:
    """The designer's own plan from a program it wrote (with the constants as they are now)."""
    m = _PLAN.search(source)
    if not m:
        return None
    consts = read_constants(source)
    terms = []
    for item in m.group(1).split():
        key, _, rest = item.partition("=")
        maker, _, variant = rest.partition(".")
        t = designer.make(key, maker, variant)
        if t is None:
            return None
        t = replace(t, consts=[Const(c.name, consts[c.name][0] if c.name in consts else c.value, c.kind)
                               for c in t.consts])
        terms.append(t)
    return terms or None


WEIGHTLIKE = re.compile(r"weight|bonus|scale|coef|gain|reward|penalty|factor|^w_|_w$|^k_", re.I)
TEMPLIKE = re.compile(r"temp|sigma|std|radius|width|length_scale|tau", re.I)
THRESHLIKE = re.compile(r"min|max|threshold|thresh|target|limit|margin|tol|rest|height|offset|length|dt", re.I)
_ROLE_WORDS = [
    ("alive", r"alive|healthy|survive|surviv|living|termination|fall"),
    ("posture", r"upright|posture|tilt|orient|balance|stab"),
    ("effort", r"effort|ctrl|control|action|energy|torque|power"),
]


def guess_role(name: str) -> str:
    for role, pat in _ROLE_WORDS:
        if re.search(pat, name, re.I):
            return role
    if re.search(r"forward|velocity|speed|progress|height|jump|distance|reach|target|goal|run|move|spin|flip|track", name, re.I):
        return "task"
    return "shaping"


def substitute_constants(source: str, values: dict[str, float],
                         consts: dict[str, tuple[float, ast.AST]]) -> str:
    """``source`` with the named constants set to ``values``; everything else kept as written."""
    lines = source.splitlines(keepends=True)
    edits = []
    for name, (old, node) in consts.items():
        new = values.get(name, old)
        if new == old or node.end_lineno is None or node.end_col_offset is None:
            continue
        if node.lineno != node.end_lineno:
            continue
        edits.append((node.lineno - 1, node.col_offset, node.end_col_offset, fmt_number(new)))
    for row, a, b, text in sorted(edits, reverse=True):
        line = lines[row]
        # ast offsets are in UTF-8 bytes
        raw = line.encode()
        lines[row] = (raw[:a] + text.encode() + raw[b:]).decode()
    out = "".join(lines)
    if MARKER not in out and "def compute_reward" in out:
        out = out.replace("def compute_reward(state, action, next_state):",
                          "def compute_reward(state, action, next_state):\n    # Constants tuned by "
                          "rewardsmith's offline designer: rule-based, not an LLM.", 1)
    return out
