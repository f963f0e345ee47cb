"""Task registry: every ``envs/*.py`` file defines one ``TASK``; ad-hoc tasks come from flags."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from rewardsmith.contracts import Budget
from rewardsmith.registry import Registry
from rewardsmith.state.view import Extra
from rewardsmith.tasks.task import (
    Fitness,
    Measure,
    Task,
    TaskError,
    distance_between,
    distance_travelled,
    expression_fitness,
)

__all__ = [
    "Budget", "Extra", "Fitness", "Measure", "Task", "TaskError", "distance_between",
    "distance_travelled", "expression_fitness",
    "REGISTRY", "load", "from_origin", "names", "register", "task_dirs", "load_task_file", "broken_files", "adhoc",
    "load_task_text", "portable_origin",
]

_BROKEN: dict[str, str] = {}


def task_dirs() -> list[Path]:
    """Where task files are found: $REWARDSMITH_TASKS (os.pathsep-separated), then the repo's
    ``envs/`` (editable install) or the copy packaged with the wheel."""
    dirs = [Path(p) for p in os.environ.get("REWARDSMITH_TASKS", "").split(os.pathsep) if p]
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "envs", here / "_data" / "envs"):
        if candidate.is_dir():
            dirs.append(candidate)
            break
    return dirs


def load_task_file(path: Path) -> Task:
    path = Path(path)
    mod_name = f"rewardsmith_task_{path.stem.replace('-', '_')}_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise TaskError(f"cannot load task file {path}")
    module = importlib.util.module_from_spec(spec)
    task = _run_task_module(module, mod_name, str(path), lambda: spec.loader.exec_module(module))
    object.__setattr__(task, "source_file", str(path))
    object.__setattr__(task, "origin", {"kind": "file", "path": str(path.resolve())})
    return task


def _run_task_module(module, mod_name: str, name: str, run) -> Task:
    """Run a task file's code (``run``) as ``module`` registered under ``mod_name``, and return
    its ``TASK``; a failure names the file (``name``) and leaves no half-loaded module behind."""
    sys.modules[mod_name] = module
    try:
        run()
    except Exception as e:
        sys.modules.pop(mod_name, None)
        raise TaskError(f"task file {name} failed to load: {type(e).__name__}: {e}",
                        "fix the file; every task file defines TASK = Task(...)") from None
    task = getattr(module, "TASK", None)
    if not isinstance(task, Task):
        sys.modules.pop(mod_name, None)
        raise TaskError(f"task file {name} does not define TASK = Task(...)")
    return task


def _load_all() -> None:
    for d in task_dirs():
        for path in sorted(d.glob("*.py")):
            if path.name.startswith("_"):
                continue
            try:
                task = load_task_file(path)
            except TaskError as e:
                _BROKEN[str(path)] = str(e)
                continue
            if task.id in REGISTRY._items:
                _BROKEN[str(path)] = f"task id {task.id} is already defined by {REGISTRY._items[task.id].source_file}"
                continue
            object.__setattr__(task, "origin", {"kind": "registry", "id": task.id})
            REGISTRY.register(task.id, task)


REGISTRY: Registry[Task] = Registry("task", loader=_load_all)


def load(name: str) -> Task:
    """A task by id, or from a path to a task file."""
    if name.endswith(".py") and Path(name).is_file():
        return load_task_file(Path(name))
    return REGISTRY.load(name)


def from_origin(origin: dict) -> Task:
    """Load a task again from its ``origin`` (what worker processes and resumed runs do)."""
    kind = origin.get("kind")
    if kind == "registry":
        return load(origin["id"])
    if kind == "file":
        return load_task_file(Path(origin["path"]))
    if kind == "adhoc":
        return adhoc(origin["env_id"], origin["description"], origin.get("fitness"),
                     reduce=origin.get("reduce", "mean"), steps=origin.get("steps", 100_000))
    if kind == "text":
        return load_task_text(origin["text"], origin.get("name") or "task.py")
    raise TaskError(f"cannot load a task from {origin!r}")


def load_task_text(text: str, name: str = "task.py") -> Task:
    """A task from the text of its file (what another machine receives, see
    :func:`portable_origin`); ``name`` is the file's name, for messages. The task's ``origin``
    holds the text, so it can be loaded again from it anywhere."""
    import hashlib
    import linecache
    import types

    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    mod_name = f"rewardsmith_tasktext_{digest}"
    module = sys.modules.get(mod_name)
    if module is None:
        module = types.ModuleType(mod_name)
        filename = f"<task file {name} {digest}>"
        # the source stays readable (tracebacks, and inspect for the task's fingerprint)
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        task = _run_task_module(module, mod_name, name, lambda: exec(  # noqa: S102 - a task file, trusted as a local one is
            compile(text, filename, "exec"), module.__dict__))
    else:
        task = _run_task_module(module, mod_name, name, lambda: None)
    object.__setattr__(task, "origin", {"kind": "text", "name": name, "text": text})
    return task


def portable_origin(origin: dict) -> dict:
    """``origin`` made loadable on a machine that does not share this one's disk: a task that
    comes from a file (``kind: file``, or a registry task defined in a file, such as one from
    ``$REWARDSMITH_TASKS``) travels as the text of that file; an ad-hoc task is its settings
    already. The task file must not read other files next to it."""
    kind = origin.get("kind")
    path = None
    if kind == "file":
        path = Path(origin["path"])
    elif kind == "registry":
        path = Path(load(origin["id"]).source_file or "")
    if path is None or not path.name:
        return dict(origin)
    try:
        text = path.read_text()
    except OSError as e:
        raise TaskError(f"cannot read task file {path}: {e}") from None
    return {"kind": "text", "name": path.name, "text": text}


def builtin_dirs() -> list[Path]:
    """The task folders that ship with rewardsmith (not ``$REWARDSMITH_TASKS``)."""
    here = Path(__file__).resolve().parent.parent
    return [d for d in (here.parent / "envs", here / "_data" / "envs") if d.is_dir()]


def recorded_origin(task: Task) -> dict:
    """How a run records its task: by id for a task that ships with rewardsmith or an ad-hoc
    one, by content for a task from a file or a ``$REWARDSMITH_TASKS`` folder, so the run's
    commands (show, export, report, videos, --resume) work elsewhere or after the folder is gone."""
    origin = dict(task.origin)
    src = Path(task.source_file).resolve() if getattr(task, "source_file", None) else None
    builtin = src is not None and any(src.parent == d.resolve() for d in builtin_dirs())
    if origin.get("kind") == "file" or (origin.get("kind") == "registry" and not builtin):
        origin = {**portable_origin(origin), "id": task.id,
                  "from": origin.get("path") or str(src or "")}
    return origin


def names() -> list[str]:
    return REGISTRY.names()


def register(task: Task) -> Task:
    return REGISTRY.register(task.id, task)


def broken_files() -> dict[str, str]:
    REGISTRY._ensure()
    return dict(_BROKEN)


def adhoc(env_id: str, description: str, fitness_expr: str | None, *, reduce: str = "mean",
          steps: int = 100_000) -> Task:
    """A task made from the command line: an env id, a description and a fitness expression."""
    import re

    slug = re.sub(r"[^a-z0-9]+", "-", description.lower()).strip("-")[:40] or "task"
    env_slug = re.sub(r"[^a-z0-9]+", "-", env_id.lower()).strip("-")
    fitness = None
    if fitness_expr:
        fitness = Fitness(expression_fitness(fitness_expr, reduce), doc=f"{reduce} of {fitness_expr}")
    task = Task(
        id=f"adhoc-{env_slug}-{slug}",
        env_id=env_id,
        description=description,
        fitness=fitness,
        baseline_reward="env",
        baseline_doc="the simulator's own reward (an ad-hoc task has no hand-written one)",
        budgets={"sb3": Budget(steps=steps)},
        origin={"kind": "adhoc", "env_id": env_id, "description": description,
                "fitness": fitness_expr, "reduce": reduce, "steps": steps},
    )
    task.spec  # noqa: B018 - fail now, with a clear message, if the env is not MuJoCo
    if fitness_expr:
        _check_expression_fields(task, fitness_expr)
    return task


def _check_expression_fields(task: Task, expr: str) -> None:
    import ast

    from rewardsmith.state.view import unknown_field_message

    known = set(task.spec.fields) | {"np", "prev", "action", "state", "next_state"}
    for node in ast.walk(ast.parse(expr, mode="eval")):
        if isinstance(node, ast.Name) and node.id not in known:
            raise TaskError(f"fitness expression: {unknown_field_message(node.id, task.spec.fields)}")
