"""The package's imports flow one way: cli -> loop -> {llm, sandbox, train, critic, feedback,
executors, ...} -> {reward, state, tasks, contracts} -> leaves (rules, errors, ...). Inside the
middle layer too: executors run what the training backends define, the designer and feedback
stand on those, and nothing there imports back up. Checked on the source (every import,
including the lazy ones inside functions), so a cycle or an upward import fails here, not in a
user's traceback."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "rewardsmith"

# the rules a reward program is held to: pure modules, usable from every layer
LEAVES = {"rules.static", "rules.namespace", "runs.files", "errors", "versions", "registry",
          "mjlog", "paths"}
BASE = {"contracts", "state", "tasks", "reward"}
# the benchmark drives design runs: above the loop, below the command
TOP = {"loop": 3, "benchmark": 4, "cli": 5, "__main__": 6}
# the middle layer, in order: a package imports only those of a lower rank (and leaves, base)
MIDDLE = {"critic": 0, "sandbox": 0, "runs": 1, "train": 1, "executors": 2, "llm": 2,
          "report": 2, "feedback": 3, "export": 3}


def _layer(module: str) -> int:
    """0 leaves, 1 the data the others share, 2 the parts the loop drives, 3 loop, 4 benchmark,
    5 cli."""
    if module in LEAVES or module.split(".")[0] in {"errors", "versions", "registry", "mjlog", "paths",
                                                    "rules"}:
        return 0
    top = module.split(".")[0]
    if top in BASE:
        return 1
    return TOP.get(top, 2)


def _module(path: Path) -> str:
    parts = path.relative_to(PKG).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rewardsmith"):
            if node.module == "rewardsmith":
                out += [(node.lineno, a.name) for a in node.names]
            else:
                out.append((node.lineno, node.module.removeprefix("rewardsmith.")))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name.removeprefix("rewardsmith."))
                    for a in node.names if a.name.startswith("rewardsmith.")]
    return [(n, m) for n, m in out if m not in ("__version__",)]


FILES = sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_no_upward_imports(path):
    me = _module(path)
    mine = _layer(me)
    bad = [f"line {n}: {m}" for n, m in _imports(path)
           if m.split(".")[0] != me.split(".")[0] and _layer(m) > mine]
    assert not bad, f"rewardsmith.{me} (layer {mine}) imports from a higher layer: {bad}"


@pytest.mark.parametrize("path", [p for p in FILES if _layer(_module(p)) == 2
                                  and _module(p) != "__init__"],
                         ids=lambda p: str(p.relative_to(PKG)))
def test_the_middle_layer_imports_only_down(path):
    me = _module(path).split(".")[0]
    assert me in MIDDLE, f"rewardsmith.{me} is new in the middle layer: give it a rank in MIDDLE"
    bad = [f"line {n}: {m}" for n, m in _imports(path)
           if _layer(m) == 2 and m.split(".")[0] != me and MIDDLE.get(m.split(".")[0], 9) >= MIDDLE[me]]
    assert not bad, f"rewardsmith.{_module(path)} imports a sibling of its rank or above: {bad}"


def test_leaves_import_only_leaves():
    for leaf in ("rules/static.py", "rules/namespace.py", "runs/files.py", "errors.py", "paths.py"):
        for n, m in _imports(PKG / leaf):
            assert _layer(m) == 0, f"{leaf} line {n} imports {m}: leaves stay free of the layers"


def test_the_check_sees_a_violation(tmp_path):
    """The checker itself: an upward import is found."""
    f = tmp_path / "x.py"
    f.write_text("def f():\n    from rewardsmith.loop.design import DesignLoop\n")
    assert _imports(f) == [(2, "loop.design")]
    assert _layer("loop.design") > _layer("reward.program")
    assert MIDDLE["executors"] > MIDDLE["train"]  # so train importing executors fails


def test_sandbox_stands_on_the_base_only():
    """The sandbox checks programs for every backend; no backend's code runs in the jail."""
    for path in (PKG / "sandbox").rglob("*.py"):
        for n, m in _imports(path):
            assert m.startswith("sandbox") or _layer(m) < 2, f"{path.name} line {n} imports {m}"
