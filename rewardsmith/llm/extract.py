"""Pull the reward program out of an LLM answer.

Real answers wrap code in prose, split it over several fenced blocks, put helpers before
``compute_reward``, forget the fence, get cut off by a token limit, or open with a
``<think>`` block. :func:`extract_code` handles each of these and raises
:class:`ExtractionError` (one clear sentence) when there is no usable program.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

from rewardsmith.errors import RewardsmithError

ENTRY = "compute_reward"
HINT = ("answer with one ```python block that defines "
        "`def compute_reward(state, action, next_state):` and any helpers it calls")

_THINK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[ \t]*([\w+.-]*)[^\n`]*$")
_PY_LANGS = {"", "python", "py", "python3", "py3", "numpy", "jax", "ipython", "pycon"}
# `import numpy as np` is a no-op here (np is already bound), so it is dropped instead of rejected.
_NUMPY_IMPORT = re.compile(r"^import\s+numpy\s+as\s+np\s*(#.*)?$", re.MULTILINE)


class ExtractionError(RewardsmithError):
    """The answer holds no usable reward program."""


@dataclass
class _Block:
    lang: str
    code: str
    closed: bool


def _strip_thinking(text: str) -> tuple[str, bool]:
    """Remove reasoning blocks; returns (text, True if an unclosed one was cut off)."""
    text = _THINK.sub("", text)
    low = text.lower()
    # Some servers drop the opening tag: everything up to a lone closing tag is reasoning.
    for tag in ("think", "thinking", "reasoning"):
        close = low.rfind(f"</{tag}>")
        if close != -1 and f"<{tag}>" not in low[:close]:
            text = text[close + len(tag) + 3:]
            low = text.lower()
    unclosed = False
    for tag in ("think", "thinking", "reasoning"):
        start = low.find(f"<{tag}>")
        if start != -1:  # opened, never closed: the answer ended while the model was thinking
            unclosed = True
            text = text[:start] + text[start + len(tag) + 2:]
            low = text.lower()
    return text, unclosed


def _fenced_blocks(text: str) -> tuple[list[_Block], list[str]]:
    """Fenced blocks, and the lines outside any fence."""
    blocks: list[_Block] = []
    outside: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            outside.append(lines[i])
            i += 1
            continue
        fence, lang = m.group(1), m.group(2).lower()
        body: list[str] = []
        i += 1
        closed = False
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped.startswith(fence[0] * len(fence)) and stripped.strip(fence[0]) == "":
                closed = True
                i += 1
                break
            body.append(lines[i])
            i += 1
        blocks.append(_Block(lang, textwrap.dedent("\n".join(body)).strip("\n"), closed))
    return blocks, outside


def _defines_entry(code: str) -> bool:
    return re.search(rf"^def\s+{ENTRY}\s*\(", code, re.MULTILINE) is not None


_CODE_LINE = re.compile(
    r"^(\s+\S|\s*$|def\s|@|#|[A-Za-z_]\w*\s*(=(?!=)|\+=|-=|\*=|:\s*[\w.\[\]]+\s*=)|[)\]}]|return\b)"
)


def _unfenced_code(text: str) -> str | None:
    """The run of code-looking lines around ``def compute_reward`` in an answer without fences."""
    lines = text.splitlines()
    idx = next((i for i, ln in enumerate(lines) if re.match(rf"\s*def\s+{ENTRY}\s*\(", ln)), None)
    if idx is None:
        return None
    indent = len(lines[idx]) - len(lines[idx].lstrip())
    lines = [ln[indent:] if ln[:indent].strip() == "" else ln for ln in lines]
    start = idx
    while start > 0 and _CODE_LINE.match(lines[start - 1]):
        start -= 1
    end = idx + 1
    while end < len(lines) and _CODE_LINE.match(lines[end]):
        end += 1
    chunk = lines[start:end]
    # Trailing prose lines that happen to look like code are trimmed until the chunk parses.
    while chunk:
        code = "\n".join(chunk).strip("\n")
        tree = _parse(code)
        if tree is not None and (len(chunk) == end - start or _entry_complete(tree)):
            return code
        if len(chunk) <= (idx - start) + 1:
            break
        chunk = chunk[:-1]
    return "\n".join(lines[start:end]).strip("\n")


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


def _entry_complete(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == ENTRY:
            return bool(node.body) and isinstance(node.body[-1], ast.Return)
    return False


def _looks_truncated(code: str) -> bool:
    try:
        ast.parse(code)
        return False
    except SyntaxError as e:
        msg = (e.msg or "").lower()
        last = len(code.rstrip().splitlines())
        eof = any(s in msg for s in ("never closed", "unexpected eof", "expected an indented block",
                                     "was not closed", "unterminated"))
        return eof or (e.lineno is not None and e.lineno >= last)


def _names_used(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _top_level_defs(code: str) -> dict[str, str]:
    """name -> source of each top-level function or constant assignment in ``code``."""
    tree = _parse(code)
    out: dict[str, str] = {}
    if tree is None:
        return out
    for node in tree.body:
        seg = ast.get_source_segment(code, node)
        if seg is None:
            continue
        if isinstance(node, ast.FunctionDef):
            out[node.name] = seg
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = seg
    return out


def _with_helpers(main: str, others: list[str]) -> str:
    """Prepend the helpers (functions, constants) that ``main`` uses but defines elsewhere."""
    tree = _parse(main)
    if tree is None:
        return main
    available: dict[str, str] = {}
    for code in others:  # later blocks win: they are the model's latest word
        available.update(_top_level_defs(code))
    defined = set(_top_level_defs(main))
    for name in list(available):
        if name in defined:
            del available[name]
    wanted: list[str] = []
    pending = _names_used(tree)
    while pending:
        name = pending.pop()
        if name in available and name not in wanted and name not in defined:
            wanted.append(name)
            sub = _parse(available[name])
            if sub is not None:
                pending |= _names_used(sub) - set(wanted)
    if not wanted:
        return main
    seen: set[str] = set()
    parts = []
    for name in sorted(wanted, key=lambda n: list(available).index(n)):
        seg = available[name]
        if seg not in seen:
            seen.add(seg)
            parts.append(seg)
    return "\n\n".join(parts) + "\n\n\n" + main


def extract_code(text: str) -> str:
    """The reward program in an LLM answer, as Python source text.

    Raises :class:`ExtractionError` when there is none or when it was cut off.
    """
    if not isinstance(text, str) or not text.strip():
        raise ExtractionError("the answer is empty", HINT)
    text, unclosed_think = _strip_thinking(text)
    blocks, _outside = _fenced_blocks(text)
    py_blocks = [b for b in blocks if b.lang in _PY_LANGS or _defines_entry(b.code)]
    candidates = [b for b in py_blocks if _defines_entry(b.code)]

    if candidates:
        # The last block that defines compute_reward is the model's final version.
        main = candidates[-1]
        code = main.code
        if not main.closed:
            tree = _parse(code)
            if tree is None:
                # the closing ``` is missing but prose follows the code: trim the prose
                trimmed = _unfenced_code(code)
                if trimmed is not None and (t := _parse(trimmed)) is not None:
                    code, tree = trimmed, t
            if tree is None or not _entry_complete(tree):
                raise ExtractionError(
                    "the answer was cut off inside its code block (the closing ``` never came "
                    "and compute_reward is incomplete)",
                    "raise the completion token limit, or ask for a shorter program",
                )
        others = [b.code for b in py_blocks if b is not main]
        code = _with_helpers(code, others)
    else:
        found = _unfenced_code(text)
        if found is None:
            if unclosed_think:
                raise ExtractionError(
                    "the answer ended inside a <think> block, before any code",
                    "raise the completion token limit for reasoning models",
                )
            names = sorted({m for b in py_blocks for m in re.findall(r"^def\s+(\w+)", b.code, re.M)})
            what = f"; it defines {', '.join(names)} instead" if names else ""
            raise ExtractionError(f"the answer contains no `def {ENTRY}(state, action, next_state):`"
                                  f"{what}", HINT)
        code = found
        others = [b.code for b in py_blocks]
        if _parse(code) is not None:
            code = _with_helpers(code, others)

    code = _NUMPY_IMPORT.sub("", code).strip("\n")
    tree = _parse(code)
    if tree is None and _looks_truncated(code):
        raise ExtractionError(
            "the answer was cut off in the middle of compute_reward (the code does not parse "
            "to the end)",
            "raise the completion token limit, or ask for a shorter program",
        )
    # Any other syntax error is left for the static checks, which explain it line by line.
    return code + "\n"
