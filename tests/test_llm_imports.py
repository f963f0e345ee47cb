"""Imports in rewardsmith.llm flow one way: base (the contract) <- backends, cache <- registry."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import rewardsmith.llm

LLM_DIR = Path(rewardsmith.llm.__file__).parent
BACKENDS = ("rewardsmith.llm.manual", "rewardsmith.llm.offline", "rewardsmith.llm.openai_backend",
            "rewardsmith.llm.cache")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(LLM_DIR.parent.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_time_imports(path: Path, known: set[str]) -> set[str]:
    """rewardsmith.llm modules imported at module level (not in functions, not for type checking)."""
    found: set[str] = set()

    def walk(body: list[ast.stmt]) -> None:
        for st in body:
            if isinstance(st, ast.Import):
                found.update(a.name for a in st.names)
            elif isinstance(st, ast.ImportFrom) and st.module and not st.level:
                for a in st.names:
                    full = f"{st.module}.{a.name}"
                    found.add(full if full in known else st.module)
            elif isinstance(st, ast.If) and isinstance(st.test, ast.Name) and st.test.id == "TYPE_CHECKING":
                walk(st.orelse)
            elif isinstance(st, (ast.If, ast.Try)):
                walk(st.body + st.orelse + getattr(st, "finalbody", []))
                for h in getattr(st, "handlers", []):
                    walk(h.body)

    walk(ast.parse(path.read_text()).body)
    return {m for m in found if m in known}


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in LLM_DIR.rglob("*.py")}
    known = set(files)
    return {m: import_time_imports(p, known) - {m} for m, p in files.items()}


def test_no_module_imports_one_that_imports_it_back():
    g = graph()
    assert "rewardsmith.llm.offline.designer" in g and "rewardsmith.llm.registry" in g

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), list(g[start])
        while todo:
            m = todo.pop()
            if m == goal:
                return True
            if m not in seen:
                seen.add(m)
                todo += g.get(m, ())
        return False

    cycles = sorted(f"{m} -> {t}" for m, ts in g.items() for t in ts if reaches(t, m))
    assert not cycles


def test_base_is_the_contract_and_imports_no_backend():
    assert not {m for m in graph()["rewardsmith.llm.base"] if m.startswith("rewardsmith.llm")}
    code = ("import sys, rewardsmith.llm.base; "
            f"print(sorted(m for m in sys.modules if m.startswith({BACKENDS!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_builtins_are_registered_and_imported_when_made():
    from rewardsmith.llm import REGISTRY, make_llm
    from rewardsmith.llm.offline import OfflineDesigner

    assert {"manual", "offline", "openai"} <= set(REGISTRY.names())
    assert isinstance(make_llm("offline", cache=False), OfflineDesigner)


def test_offline_package_keeps_its_names():
    import rewardsmith.llm.offline as offline

    for name in ("MARKER", "OfflineDesigner", "Robot", "Intent", "read_intent", "Designer", "Term",
                 "Const", "render", "read_constants", "component_constants", "read_plan",
                 "substitute_constants", "guess_role", "improve", "read_stats", "context_from_messages"):
        assert hasattr(offline, name), name
