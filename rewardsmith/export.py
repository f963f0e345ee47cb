"""Export a reward from a run as one self-contained Python module.

The module needs numpy (or jax), mujoco and gymnasium, and nothing from rewardsmith:

- the reward program, verbatim, with ``np`` bound to ``numpy`` (or ``jax.numpy``);
- the state view for that robot, generated from the task's :class:`StateSpec` layout: the field
  table (name, offset, shape, unit, meaning), ``extract_state(model, data)`` (the same
  computation as :meth:`StateSpec.extract`, so the values are identical) and a read-only
  ``StateView``;
- ``reward_batch(prev_rows, actions, next_rows)``, the reward on a batch of state rows;
- ``RewardWrapper``, a gymnasium wrapper that replaces the env's reward and puts the components
  and the env's own reward in ``info``;
- a header saying the task, the run, the candidate and its fitness against the baseline;
- ``self_test()``, run by ``python module.py``: a few env steps with random actions.

Code in the module that came from elsewhere (the reward program, task extras) is kept as it
was; where ``ruff`` is installed it is checked, and lines it objects to get a ``# noqa``.
"""

from __future__ import annotations

import ast
import io
import json
import keyword
import re
import shutil
import subprocess
import sys
import textwrap
import time
import tokenize
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rewardsmith import __version__
from rewardsmith.errors import RewardsmithError

FLAVORS = ("numpy", "jax")
RUFF_SELECT = "E,F,W,I,B,UP"
LINE_LENGTH = 100

# Names the generated module defines for its users; a reward program may not define them too.
# (Its own helpers start with an underscore, which reward programs may not use.)
PUBLIC_NAMES = frozenset({
    "np", "onp", "jax", "gym", "mujoco", "difflib", "math",
    "TASK_ID", "ENV_ID", "ENV_KWARGS", "DT", "RUN_ID", "CANDIDATE", "FIELDS", "STATE_SIZE",
    "StateView", "extract_state", "check_model", "reward_batch", "RewardWrapper", "self_test",
})


class ExportError(RewardsmithError):
    pass


# =============================================================================== from a run
def export_module(run_dir: str | Path, candidate: str | None = None, flavor: str = "numpy",
                  module_name: str = "reward_module", env_id: str | None = None) -> str:
    """The text of the module for ``candidate`` (``"I-K"``; default: the run's best).
    ``env_id``: importing the module registers the rewarded env under this gymnasium id."""
    from rewardsmith import tasks
    from rewardsmith.runs.rundir import RunDir

    _check_flavor(flavor)
    run = RunDir.open(Path(run_dir))
    manifest = run.manifest
    cid, cand = _pick_candidate(run, candidate)
    try:
        task = tasks.from_origin(manifest["task_origin"])
    except KeyError:
        raise ExportError(f"{run.path}/manifest.json has no task_origin; cannot load the task") from None
    best_id = (run.best() or {}).get("candidate")
    meta = _run_meta(run, manifest, cid, cand, is_best=cid == best_id)
    if env_id is not None:
        meta["env_id"] = check_env_id(env_id)
    return render_module(task, cand["source"], flavor=flavor, meta=meta, module_name=module_name)


def check_env_id(env_id: str) -> str:
    """``env_id`` if gymnasium accepts it as a new id (``Name-vN``, optionally ``ns/``)."""
    from gymnasium.envs.registration import parse_env_id

    try:
        ns, name, version = parse_env_id(env_id)
    except Exception as e:  # noqa: BLE001 - gymnasium raises its own error type
        raise ExportError(f"--env-id {env_id!r} is not a gymnasium env id ({e})",
                          "use a name with a version, e.g. MyHopperBackward-v0") from None
    if version is None:
        raise ExportError(f"--env-id {env_id!r} has no version",
                          "gymnasium ids end in -v<N>, e.g. MyHopperBackward-v0")
    return env_id


def write_module(run_dir: str | Path, to: str | Path, candidate: str | None = None,
                 flavor: str = "numpy", force: bool = False, env_id: str | None = None) -> Path:
    """Write the module to ``to`` (a ``.py`` file, or a folder to put ``<task>_reward.py`` in)."""
    from rewardsmith.runs.files import atomic_write_text
    from rewardsmith.runs.rundir import RunDir

    to = Path(to)
    run = RunDir.open(Path(run_dir))
    if to.is_dir():
        task_id = run.manifest.get("task", "task")
        stem = re.sub(r"\W+", "_", task_id).strip("_") or "exported"
        to = to / f"{stem}_reward{'_jax' if flavor == 'jax' else ''}.py"
    if to.suffix != ".py":
        raise ExportError(f"--to {str(to)!r} must name a .py file or an existing folder")
    if to.exists() and not force:
        raise ExportError(f"{to} already exists", "pass --force to overwrite it")
    module_name = to.stem if to.stem.isidentifier() and not keyword.iskeyword(to.stem) else "reward_module"
    text = export_module(run_dir, candidate, flavor, module_name=module_name, env_id=env_id)
    atomic_write_text(to, text)
    from rewardsmith.report import _readable

    _readable(to)
    return to


def _check_flavor(flavor: str) -> None:
    if flavor not in FLAVORS:
        raise ExportError(f"unknown flavor {flavor!r}", f"use one of {', '.join(FLAVORS)}")


def _pick_candidate(run, candidate: str | None) -> tuple[str, dict[str, Any]]:
    from rewardsmith.runs.files import read_json

    if candidate is None:
        best = run.best()
        if not best:
            raise ExportError(f"the run {run.path} has no best reward yet (no candidate trained "
                              "successfully)", "export a candidate with --candidate ITER-K")
        cid = best["candidate"]
    else:
        cid = candidate.strip()
        if not re.fullmatch(r"\d+-\d+", cid):
            raise ExportError(f"--candidate {candidate!r} is not of the form ITER-K (e.g. 2-3)")
    d = run.path / "candidates" / cid
    if not d.is_dir():
        known = [c["id"] for c in run.candidates()]
        raise ExportError(f"the run has no candidate {cid}",
                          f"candidates: {', '.join(known) if known else 'none'}")
    cand: dict[str, Any] = {}
    if (d / "result.json").exists():
        cand = read_json(d / "result.json")
    if candidate is None and (run.path / "best" / "reward.py").exists():
        cand["source"] = (run.path / "best" / "reward.py").read_text()
    if not cand.get("source") and (d / "reward.py").exists():
        cand["source"] = (d / "reward.py").read_text()
    if cand.get("status") == "rejected":
        raise ExportError(f"candidate {cid} was rejected ({cand.get('stage')}: "
                          f"{(cand.get('error') or '')[:200]})", "export an accepted candidate")
    if not cand.get("source"):
        raise ExportError(f"candidate {cid} has no reward code (it is unfinished or its answer "
                          "held no program)")
    cand.setdefault("id", cid)
    return cid, cand


def _run_meta(run, manifest: Mapping[str, Any], cid: str, cand: Mapping[str, Any],
              is_best: bool) -> dict[str, Any]:
    """The evidence the module's header states: for the run's best, the run's verdict (the same
    words ``design``, ``show`` and the report print); for another candidate, the verdict its own
    seeds give against the hand-written reward the run trained."""
    from rewardsmith.critic.verdict import from_records

    best = run.best() or {}
    if is_best:
        v = run.verdict()
    else:
        v = from_records(cand, run.reference())
    summary = manifest.get("summary") or {}
    config = manifest.get("config") or {}
    score = cand.get("score", cand.get("fitness"))
    fitness_seeds = cand.get("fitness_seeds") or {}
    success = cand.get("success_rate")
    if v and v.get("seeds"):  # the verdict's seeds (the closing evaluation's, for the best)
        score = v["reward"]["mean"]
        fitness_seeds = {s: x for s, x in zip(v["seeds"], v["reward"]["values"])}
        if (v.get("success") or {}).get("reward") is not None:  # over the same seeds
            success = v["success"]["reward"]
    return {
        "run_id": manifest.get("run_id") or run.path.name, "run_path": str(run.path.resolve()),
        "candidate": cid, "is_best": is_best, "status": cand.get("status"),
        "error": cand.get("error"), "score": score, "fitness_seeds": fitness_seeds,
        "success_rate": success,
        "baseline": (v or {}).get("baseline", {}).get("mean"),
        "floor": (v or {}).get("floor", {}).get("mean"),
        "normalized": ((v or {}).get("normalized") or {}).get("value"),
        "verdict": (v or {}).get("line"), "warnings": (v or {}).get("warnings") or [],
        "steps": summary.get("steps") or best.get("steps") or config.get("steps"),
        "backend": config.get("backend"), "llm": manifest.get("llm"),
        "created": manifest.get("created"),
    }


# ============================================================================== rendering
def render_module(task, source: str, *, flavor: str = "numpy", meta: Mapping[str, Any] | None = None,
                  module_name: str = "reward_module", date: str | None = None) -> str:
    """The module's text for ``source`` (a reward program) on ``task``."""
    _check_flavor(flavor)
    meta = dict(meta or {})
    source = _normalize_source(source)
    _check_names(source)
    env = task.make_env()
    try:
        model = env.unwrapped.model
        spec = task.spec
        kwargs = dict(task.env_kwargs)
        if task.max_episode_steps is not None:
            kwargs["max_episode_steps"] = task.max_episode_steps
        suite = _is_suite(task)
        parts = [
            _header(task, meta, flavor, module_name, date or time.strftime("%Y-%m-%d %H:%M")),
            _imports(flavor, suite),
            _constants(task, meta, kwargs, spec),
            render_state_code(spec, model, flavor),
            _reward_section(source, flavor),
            _wrapper_code(flavor, suite),
        ]
    finally:
        env.close()
    head, imports, *rest = (p.strip("\n") for p in parts)
    text = f"{head}\n\n{imports}\n\n" + "\n\n\n".join(rest) + "\n"
    return _ruff_annotate(text)


def _is_suite(task) -> bool:
    """A DeepMind Control Suite task (``dmc:DOMAIN/TASK``): its module runs on the suite's env as
    shimmy makes it (``dm_control/DOMAIN-TASK-v0``), so it needs no rewardsmith."""
    from rewardsmith.tasks import dmc

    return dmc.is_dmc_id(task.env_id)


def _env_id(task) -> str:
    """The gymnasium id the exported module makes its env with."""
    from rewardsmith.tasks import dmc

    return dmc.shimmy_id(task.env_id) if _is_suite(task) else task.env_id


def _normalize_source(source: str) -> str:
    lines = [line.rstrip() for line in source.expandtabs(4).splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    text = "\n".join(lines) + "\n"
    try:
        ast.parse(text)
    except SyntaxError as e:
        raise ExportError(f"the reward program has a syntax error on line {e.lineno}: {e.msg}") from None
    return text


def _check_names(source: str) -> None:
    tree = ast.parse(source)
    defined: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef):
            defined.add(stmt.name)
        elif isinstance(stmt, ast.Assign):
            for t in stmt.targets:
                defined.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
    if not any(isinstance(s, ast.FunctionDef) and s.name == "compute_reward" for s in tree.body):
        raise ExportError("the reward program does not define compute_reward(state, action, next_state)")
    clash = sorted(defined & PUBLIC_NAMES)
    if clash:
        raise ExportError(f"the reward program defines {', '.join(clash)}, which the exported module "
                          "needs for itself", "rename them in the reward and export that file")


def _doc_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _wrap(text: str, indent: str = "", width: int = LINE_LENGTH - 4) -> list[str]:
    out: list[str] = []
    for para in str(text).splitlines() or [""]:
        out.extend(textwrap.wrap(para, width=width, initial_indent=indent, subsequent_indent=indent,
                                 break_long_words=True, break_on_hyphens=False) or [""])
    return out


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _header(task, meta: Mapping[str, Any], flavor: str, module_name: str, date: str) -> str:
    lib = "jax.numpy" if flavor == "jax" else "numpy"
    L: list[str] = [f"Reward for the task {task.id}, exported by rewardsmith {__version__} on {date}.", ""]
    L += _wrap(f"Task: {task.description}")
    robot = task.robot or task.env_id
    L += _wrap(f"Robot: {robot}, simulator env {task.env_id} ({task.spec.dt:g} s per step).")
    if meta.get("candidate"):
        which = "the run's best" if meta.get("is_best") else f"{meta.get('status')}, not the best"
        L += _wrap(f"Run: {meta.get('run_id')} ({meta.get('run_path')}), candidate "
                   f"{meta['candidate']} ({which}); designer: {meta.get('llm') or '-'}.")
    if task.fitness is not None:
        L += [""] + _wrap(f"Fitness (higher is better): {task.fitness.doc}.")
    if meta.get("score") is not None:
        seeds = meta.get("fitness_seeds") or {}
        per = ", ".join(f"seed {k}: {_fmt(v)}" for k, v in seeds.items())
        steps = f" after {meta['steps']:,} env steps of training" if meta.get("steps") else ""
        over = f" (mean over {len(seeds)} seeds: {per})" if len(seeds) > 1 else (f" ({per})" if per else "")
        line = f"  this reward:  {_fmt(meta['score'])}{over}{steps}"
        L += _wrap(line, width=LINE_LENGTH - 4)
        if meta.get("success_rate") is not None:
            L.append(f"  success rate: {_fmt(meta['success_rate'])}")
    if meta.get("baseline") is not None:
        L.append(f"  baseline (the task's hand-written reward): {_fmt(meta['baseline'])}")
    if meta.get("floor") is not None:
        L.append(f"  untrained policy: {_fmt(meta['floor'])}")
    if meta.get("normalized") is not None:
        L.append(f"  normalized score (F - F_floor) / |F_baseline - F_floor|: {_fmt(meta['normalized'])}"
                 " (1.0 = as good as the baseline)")
    if meta.get("verdict"):
        L += _wrap(f"  verdict: {meta['verdict']}", width=LINE_LENGTH - 4)
    for w in meta.get("warnings") or []:
        L += _wrap(f"  WARNING: {w}", width=LINE_LENGTH - 4)
    if meta.get("status") == "failed":
        L += _wrap(f"  NOTE: training on this candidate failed: {meta.get('error') or ''}")
    L += [
        "",
        f"Needs {'jax, ' if flavor == 'jax' else ''}numpy, mujoco and gymnasium[mujoco]; not "
        f"rewardsmith. `np` is {lib}.",
    ]
    if _is_suite(task):
        L += _wrap("A Control Suite task: the module also needs dm_control and shimmy (importing it "
                   f"imports shimmy, which registers {_env_id(task)} with gymnasium).")
    if flavor == "jax":
        L += _wrap("The reward runs under jax.jit; jax computes in float32 unless jax_enable_x64 is "
                   "set, so values differ from the numpy export in the last digits.")
    L += [
        "",
        "Use it on the env (the reward is replaced; info gets the components and the env's reward):",
        "",
        "    import gymnasium as gym",
        f"    from {module_name} import RewardWrapper",
        "",
        f"    env = RewardWrapper(gym.make({_env_id(task)!r}))",
        "    obs, info = env.reset(seed=0)",
        "    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())",
        "    info[\"reward_components\"], info[\"env_reward\"]",
        "",
        "or on state rows (B, STATE_SIZE) from extract_state(model, data):",
        "",
        "    reward, components = reward_batch(prev_rows, actions, next_rows)",
        "",
        f"Self-test (a few env steps with random actions): python {module_name}.py",
    ]
    body = "\n".join(_doc_escape(x).rstrip() for x in L)
    return f'"""{body}\n"""'


def _imports(flavor: str, suite: bool = False) -> str:
    if flavor == "jax":
        text = ("import difflib\nimport math\n\nimport gymnasium as gym\nimport jax\n"
                "import jax.numpy as np\nimport mujoco\nimport numpy as onp")
    else:
        text = "import difflib\nimport math\n\nimport gymnasium as gym\nimport mujoco\nimport numpy as np"
    if suite:  # registers the Control Suite's gymnasium ids (dm_control/DOMAIN-TASK-v0)
        text += "\nimport shimmy  # noqa: F401 - registers dm_control/... ids with gymnasium"
    return text


def _constants(task, meta: Mapping[str, Any], kwargs: dict[str, Any], spec) -> str:
    try:
        kw = repr(kwargs)
        if ast.literal_eval(kw) != kwargs:
            raise ValueError
    except (ValueError, SyntaxError):
        kw = "{}  # the task's env settings are not plain values; pass them to gym.make yourself"
    lines = [
        f"TASK_ID = {task.id!r}",
        f"ENV_ID = {_env_id(task)!r}",
        f"ENV_KWARGS = {kw}",
        f"DT = {float(spec.dt)!r}  # seconds between state and next_state (one env step)",
        f"RUN_ID = {meta.get('run_id')!r}",
        f"CANDIDATE = {meta.get('candidate')!r}",
        f"REGISTER_ID = {meta.get('env_id')!r}  # importing this module registers it with gymnasium",
    ]
    return "\n".join(_fit_line(x) for x in lines)


def _fit_line(line: str) -> str:
    if len(line) <= LINE_LENGTH:
        return line
    code, sep, comment = line.partition("  # ")
    if sep and len(code) <= LINE_LENGTH:
        return f"# {comment}\n{code}" if len(comment) + 2 <= LINE_LENGTH else code
    return line


# ============================================================================ state view
def _str_lines(s: str, indent: str, width: int = LINE_LENGTH) -> list[str]:
    """A string literal, split into implicitly concatenated pieces that fit in ``width``."""
    first = f"{indent}{s!r},"
    if len(first) <= width:
        return [first]
    room = width - len(indent) - 4
    words = re.split(r"(?<= )", s)
    pieces, cur = [], ""
    for w in words:
        if cur and len(repr(cur + w)) > room:
            pieces.append(cur)
            cur = w
        else:
            cur += w
    pieces.append(cur)
    out = [f"{indent}{p!r}" for p in pieces]
    out[-1] += ","
    return out


def _field_table(spec) -> str:
    lines = ["FIELDS = {"]
    for f in spec.fields.values():
        shape = "()" if not f.shape else "(" + ", ".join(map(str, f.shape)) + ",)"
        one = f"    {f.name!r}: ({f.offset}, {shape}, {f.unit!r}, {f.doc!r}),"
        if len(one) <= LINE_LENGTH:
            lines.append(one)
            continue
        lines.append(f"    {f.name!r}: (")
        lines.append(f"        {f.offset}, {shape}, {f.unit!r},")
        lines.extend(_str_lines(f.doc, " " * 8))
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines)


def _int_tuple(name: str, values) -> str:
    vals = [int(v) for v in values]
    one = f"{name} = onp.array({vals!r}, dtype=int)"
    if len(one) <= LINE_LENGTH:
        return one
    body = textwrap.wrap(", ".join(map(str, vals)) + ",", width=LINE_LENGTH - 8)
    return f"{name} = onp.array(\n    [\n" + "\n".join("        " + b for b in body) + "\n    ],\n    dtype=int,\n)"


def render_state_code(spec, model, flavor: str = "numpy") -> str:
    """The state-view part of the module: field table, extraction from ``MjData``, view class.

    The generated code uses ``onp`` for numpy (renamed to ``np`` in the numpy flavor),
    ``mujoco`` and ``difflib``.
    """
    import numpy as np

    B = spec._blocks
    nq, nv, n = spec._nq, spec._nv, spec._nbody
    nj, nb4, nb3 = len(spec._qposadr), len(spec._ballq), len(spec._balld)
    signature = {"nq": int(model.nq), "nv": int(model.nv), "nbody": int(model.nbody),
                 "njnt": int(model.njnt), "jnt_type": [int(t) for t in model.jnt_type]}
    if (nq, nv, n) != (model.nq, model.nv, model.nbody - 1):
        raise ExportError("the state layout does not belong to this model")
    extras_code, extra_calls = _extras(spec, flavor)

    def sl(start: int, size: int) -> str:
        return f"row[{start}:{start + size}]"

    body = [
        "    mujoco.mj_kinematics(model, data)",
        "    mujoco.mj_comPos(model, data)",
        "    mujoco.mj_comVel(model, data)",
        "    mujoco.mj_subtreeVel(model, data)",
        "    row = onp.empty(STATE_SIZE) if out is None else out",
        "    row[0] = data.time",
        "    row[1] = dt",
        f"    {sl(B['qpos'], nq)} = data.qpos",
        f"    {sl(B['qpos'] + nq, nv)} = data.qvel",
    ]
    if nj:
        body += [f"    {sl(B['jpos'], nj)} = data.qpos[_QPOSADR]  # hinge angles, slide positions",
                 f"    {sl(B['jvel'], nj)} = data.qvel[_DOFADR]"]
    if nb4:
        body += [f"    {sl(B['ballq'], nb4)} = data.qpos[_BALLQ]  # ball joint quaternions",
                 f"    {sl(B['balld'], nb3)} = data.qvel[_BALLD]"]
    if n:
        body += [
            "    xpos = data.xpos[1:]  # body 0 is the world",
            f"    {sl(B['body_pos'], 3 * n)} = xpos.ravel()",
            f"    {sl(B['body_quat'], 4 * n)} = data.xquat[1:].ravel()",
            f"    {sl(B['body_zaxis'], 3 * n)} = data.xmat[1:, 2::3].ravel()",
            "    cvel = data.cvel[1:]",
            "    ang, lin = cvel[:, :3], cvel[:, 3:]",
            "    off = xpos - data.subtree_com[model.body_rootid[1:]]",
            "    # velocity of each body origin: lin + ang x off",
            "    linvel = lin + ang[:, _YZX] * off[:, _ZXY] - ang[:, _ZXY] * off[:, _YZX]",
            f"    {sl(B['body_linvel'], 3 * n)} = linvel.ravel()",
            f"    {sl(B['body_angvel'], 3 * n)} = ang.ravel()",
            "    contact = onp.zeros(model.nbody)",
            "    if data.ncon:",
            "        contact[model.geom_bodyid[data.contact.geom[: data.ncon]].ravel()] = 1.0",
            f"    {sl(B['body_contact'], n)} = contact[1:]",
        ]
    body += [
        f"    {sl(B['com'], 3)} = data.subtree_com[0]",
        f"    {sl(B['com'] + 3, 3)} = data.subtree_linvel[0]",
    ]
    o = B["extras"]
    for fname, size in extra_calls:
        body.append(f"    {sl(o, size)} = onp.asarray(_extra_{fname}(model, data), dtype=float).ravel()")
        o += size
    body.append("    return row")

    consts = [
        "# The state view: name -> (offset, shape, unit, meaning). A batch of states is a float array",
        "# shaped (B, STATE_SIZE); StateView hands out (B, *shape) slices of it by name.",
        _field_table(spec),
        f"STATE_SIZE = {spec.size}",
        f"_MODEL = {json.dumps(signature)}",
    ]
    if nj:
        consts += [_int_tuple("_QPOSADR", spec._qposadr), _int_tuple("_DOFADR", spec._dofadr)]
    if nb4:
        consts += [_int_tuple("_BALLQ", spec._ballq), _int_tuple("_BALLD", spec._balld)]
    consts += [f"_YZX = onp.array({np.asarray([1, 2, 0]).tolist()})",
               f"_ZXY = onp.array({np.asarray([2, 0, 1]).tolist()})"]
    consts = [_fit_line(c) if "\n" not in c else c for c in consts]

    extract = f'''
def extract_state(model, data, out=None, dt=DT):
    """One state row (float64, STATE_SIZE long) from ``mujoco.MjData``, laid out as FIELDS.

    Recomputes kinematics and centre-of-mass velocities first: after ``mj_step`` MuJoCo's
    derived quantities (xpos, cvel) still describe the state before the last substep, while
    qpos/qvel are new. Only derived fields are touched, so the simulation is unchanged.
    """
{chr(10).join(body)}


def check_model(model):
    """Raise ValueError unless ``model`` is laid out like the robot this reward was made for."""
    got = {{
        "nq": int(model.nq), "nv": int(model.nv), "nbody": int(model.nbody),
        "njnt": int(model.njnt), "jnt_type": [int(t) for t in model.jnt_type],
    }}
    if got != _MODEL:
        raise ValueError(
            f"this reward was exported for {{ENV_ID}} with a model of {{_MODEL}}; the env's model "
            f"has {{got}}, so the state fields would not match"
        )


class StateView:
    """Read-only, named view of a batch of state rows shaped (B, STATE_SIZE).

    ``state.torso_pos`` is (B, 3), ``state.time`` is (B,); see FIELDS for every name.
    """

    __slots__ = ("_rows",)

    def __init__(self, rows):
        if isinstance(rows, onp.ndarray) and rows.flags.writeable:
            rows = rows.view()
            rows.flags.writeable = False
        object.__setattr__(self, "_rows", rows)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in FIELDS:
            close = difflib.get_close_matches(name, list(FIELDS), n=3)
            hint = f" Did you mean {{', '.join(close)}}?" if close else ""
            raise AttributeError(
                f"the state has no field {{name!r}}.{{hint}} Fields: {{', '.join(FIELDS)}}"
            )
        offset, shape = FIELDS[name][:2]
        rows = self._rows
        if not shape:
            return rows[..., offset]
        size = math.prod(shape)
        return rows[..., offset : offset + size].reshape(rows.shape[:-1] + shape)

    __getitem__ = __getattr__

    def __setattr__(self, name, value):
        raise TypeError("the state view is read-only: compute new arrays instead of assigning")

    def __contains__(self, name):
        return name in FIELDS

    def __dir__(self):
        return list(FIELDS)

    def __repr__(self):
        return f"StateView(batch={{tuple(self._rows.shape[:-1])}}, fields={{len(FIELDS)}})"
'''
    parts = ["\n".join(consts)]
    if extras_code:
        parts.append(extras_code)
    parts.append(extract.strip("\n"))
    text = "\n\n\n".join(parts)
    if flavor == "numpy":
        text = re.sub(r"\bonp\.", "np.", text)
    return text


# -------------------------------------------------------------------------- task extras
_EXTRA_BEGIN = "# --- task extras (from the task file) ---"
_EXTRA_END = "# --- end of task extras ---"


def _extras(spec, flavor: str) -> tuple[str, list[tuple[str, int]]]:
    from rewardsmith.state.view import _identifier

    if not spec._extras:
        return "", []
    blocks, calls = [], []
    for ex in spec._extras:
        fname = _identifier(ex.name)
        size = spec.fields[fname].size
        calls.append((fname, size))
        code = _extra_function(ex, f"_extra_{fname}")
        if code is None:
            code = (f"def _extra_{fname}(model, data):\n"
                    f"    # rewardsmith could not find the source of the task extra {ex.name!r}:\n"
                    f"    # return its value, an array of shape {tuple(ex.shape)} ({ex.unit}): {ex.doc}\n"
                    f"    raise NotImplementedError({('task extra ' + repr(ex.name) + ' was not exported')!r})")
        elif flavor == "jax":
            code = _rename_name(code, "np", "onp")
        blocks.append(code)
    return _EXTRA_BEGIN + "\n" + "\n\n\n".join(blocks) + "\n" + _EXTRA_END, calls


def _extra_function(ex, new_name: str) -> str | None:
    """The source of an extra's ``fn`` as a top-level ``def new_name(model, data)``."""
    import inspect

    fn = ex.fn
    if isinstance(getattr(fn, "expr", None), str):  # a ModelQuantity (sites, the robot's com)
        return f"def {new_name}(model, data):\n    return {fn.expr}"
    code = getattr(fn, "__code__", None)
    try:
        path = inspect.getsourcefile(fn)
        file_src = Path(path).read_text() if path else None
    except (OSError, TypeError):
        file_src = None
    if code is None or file_src is None:
        return None
    try:
        tree = ast.parse(file_src)
    except SyntaxError:
        return None
    line = code.co_firstlineno
    args = list(code.co_varnames[: code.co_argcount])
    if fn.__name__ == "<lambda>":
        lams = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda) and n.lineno == line
                and [a.arg for a in n.args.args] == args]
        if len(lams) != 1:
            return None
        body = ast.get_source_segment(file_src, lams[0].body, padded=False)
        if body is None or len(args) != 2:
            return None
        body = " ".join(x.strip() for x in body.splitlines())
        return f"def {new_name}({args[0]}, {args[1]}):\n    return {body}"
    defs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == fn.__name__
            and (n.lineno == line or (n.decorator_list and n.decorator_list[0].lineno == line))]
    if len(defs) != 1:
        return None
    seg = ast.get_source_segment(file_src, defs[0], padded=True)
    if seg is None:
        return None
    seg = textwrap.dedent(seg)
    return re.sub(rf"^def\s+{re.escape(fn.__name__)}\s*\(", f"def {new_name}(", seg, count=1)


def _rename_name(code: str, old: str, new: str) -> str:
    toks = list(tokenize.generate_tokens(io.StringIO(code).readline))
    lines = code.splitlines(keepends=True)
    for t in reversed(toks):
        if t.type == tokenize.NAME and t.string == old:
            r, c = t.start
            prev = lines[r - 1][:c].rstrip()
            if prev.endswith("."):  # an attribute called np, not the module
                continue
            lines[r - 1] = lines[r - 1][:c] + new + lines[r - 1][c + len(old):]
    return "".join(lines)


# ============================================================================ the reward
_REWARD_BEGIN = "# --- the reward program, as rewardsmith evaluated it ---"
_REWARD_END = "# --- end of the reward program ---"


def _reward_section(source: str, flavor: str) -> str:
    lib = "jax.numpy" if flavor == "jax" else "numpy"
    return (
        f"{_REWARD_BEGIN}\n# compute_reward(state, action, next_state) -> (reward (B,), "
        f"{{name: (B,)}}); np is {lib}.\n\n\n{source.rstrip()}\n\n\n{_REWARD_END}"
    )


_SUITE_MODEL_DATA = '''
def _model_data(base):
    """The MuJoCo model and data of the env: its own (gymnasium's MuJoCo envs, rewardsmith's
    Control Suite adapter) or, for the suite's env as shimmy makes it, its physics'."""
    if hasattr(base, "model") and hasattr(base, "data"):
        return base.model, base.data
    physics = getattr(getattr(base, "_env", None), "physics", None)
    if physics is None:
        raise TypeError(f"{type(base).__name__} is not a MuJoCo env (it has no model/data)")
    return physics.model.ptr, physics.data.ptr
'''

# what the wrapper reads from the env, and what it reads for a suite task instead
_SUITE_EDITS = (
    ('''        base = env.unwrapped
        if not (hasattr(base, "model") and hasattr(base, "data")):
            raise TypeError(f"{type(base).__name__} is not a MuJoCo env (it has no model/data)")
        check_model(base.model)
''', '''        base = env.unwrapped
        check_model(_model_data(base)[0])
'''),
    ("extract_state(base.model, base.data, dt=self._dt)",
     "extract_state(*_model_data(base), dt=self._dt)"),
)


def _for_the_suite(code: str) -> str:
    """The wrapper's code made to find the model and data of the suite's env as shimmy makes
    it (in its physics), as well as of a MuJoCo env."""
    for old, new in _SUITE_EDITS:
        if old not in code:  # the wrapper's text changed: fail here, not in a user's module
            raise AssertionError("the RewardWrapper text adapted for the Control Suite is gone")
        code = code.replace(old, new)
    return _SUITE_MODEL_DATA.strip("\n") + "\n\n\n" + code.lstrip("\n")


def _wrapper_code(flavor: str, suite: bool = False) -> str:
    if flavor == "jax":
        call = '''
@jax.jit
def _reward_jit(prev_rows, actions, next_rows):
    return compute_reward(StateView(prev_rows), actions, StateView(next_rows))


def reward_batch(prev_rows, actions, next_rows):
    """The reward on a batch: rows (B, STATE_SIZE) before and after the step, actions (B, A).

    Returns (reward, {component: value}), numpy float64 arrays shaped (B,).
    """
    batch = onp.shape(actions)[0]
    reward, components = _reward_jit(
        np.asarray(prev_rows), np.asarray(actions), np.asarray(next_rows)
    )
    return _as_batch(reward, batch), {k: _as_batch(v, batch) for k, v in components.items()}
'''
    else:
        call = '''
def reward_batch(prev_rows, actions, next_rows):
    """The reward on a batch: rows (B, STATE_SIZE) before and after the step, actions (B, A).

    Returns (reward, {component: value}), float64 arrays shaped (B,).
    """
    batch = onp.shape(actions)[0]
    reward, components = compute_reward(StateView(prev_rows), actions, StateView(next_rows))
    return _as_batch(reward, batch), {k: _as_batch(v, batch) for k, v in components.items()}
'''
    rest = '''
def _as_batch(value, batch):
    value = onp.asarray(value, dtype=onp.float64)
    if value.ndim == 0:
        return onp.full(batch, float(value))
    return value.reshape(batch)


class RewardWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Replaces a MuJoCo env's reward with compute_reward.

    Each step's ``info`` gets ``reward_components`` ({name: float}) and ``env_reward`` (the
    reward the env itself returned). A non-finite reward becomes 0.0 (as it did in training)
    and sets ``info["reward_nonfinite"]``. ``dt`` defaults to the env's own step time. Like
    gymnasium's own wrappers it records its arguments, so ``env.spec`` recreates it.
    """

    def __init__(self, env, dt=None):
        gym.utils.RecordConstructorArgs.__init__(self, dt=dt)
        gym.Wrapper.__init__(self, env)
        base = env.unwrapped
        if not (hasattr(base, "model") and hasattr(base, "data")):
            raise TypeError(f"{type(base).__name__} is not a MuJoCo env (it has no model/data)")
        check_model(base.model)
        self._dt = float(dt if dt is not None else getattr(base, "dt", DT))
        self._prev = None

    def _state(self):
        base = self.env.unwrapped
        return extract_state(base.model, base.data, dt=self._dt)

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._prev = self._state()
        return obs, info

    def step(self, action):
        if self._prev is None:
            raise RuntimeError("call reset() before step()")
        obs, env_reward, terminated, truncated, info = self.env.step(action)
        state = self._state()
        reward, components = reward_batch(self._prev[None], onp.asarray(action)[None], state[None])
        self._prev = state
        info = dict(info)
        info["env_reward"] = float(env_reward)
        info["reward_components"] = {k: float(v[0]) for k, v in components.items()}
        value = float(reward[0])
        if not math.isfinite(value):
            info["reward_nonfinite"] = True
            value = 0.0
        return obs, value, terminated, truncated, info


def register(env_id=REGISTER_ID):
    """Register ENV_ID (with ENV_KWARGS and its time limit) with this reward as ``env_id``, so
    ``gym.make(env_id)`` works in training scripts and configs. Importing this module does it
    for REGISTER_ID when that is set."""
    from gymnasium.envs.registration import WrapperSpec

    if env_id is None:
        raise ValueError("name the id to register, e.g. register('MyHopper-v0')")
    base = gym.spec(ENV_ID)
    kwargs = dict(ENV_KWARGS)
    limit = kwargs.pop("max_episode_steps", base.max_episode_steps)
    wrapper = WrapperSpec("RewardWrapper", f"{__name__}:RewardWrapper", {"dt": None})
    gym.register(
        id=env_id, entry_point=base.entry_point, kwargs={**base.kwargs, **kwargs},
        max_episode_steps=limit, nondeterministic=base.nondeterministic,
        additional_wrappers=(*base.additional_wrappers, wrapper),
    )
    return env_id


if REGISTER_ID is not None and REGISTER_ID not in gym.registry:
    register()


def self_test(steps=20, seed=0):
    """Run ``steps`` env steps with random actions; every reward must be finite."""
    env = RewardWrapper(gym.make(ENV_ID, **ENV_KWARGS))
    try:
        env.action_space.seed(seed)
        env.reset(seed=seed)
        rewards = []
        info = {}
        for _ in range(steps):
            _, reward, terminated, truncated, info = env.step(env.action_space.sample())
            if not math.isfinite(reward) or info.get("reward_nonfinite"):
                raise AssertionError(f"non-finite reward at step {len(rewards)}")
            rewards.append(reward)
            if terminated or truncated:
                env.reset()
    finally:
        env.close()
    parts = ", ".join(f"{k} {v:.4g}" for k, v in info.get("reward_components", {}).items())
    mean = sum(rewards) / len(rewards)
    print(f"{ENV_ID}: {steps} steps ok; mean reward {mean:.4g}; last step: {parts}")
    return rewards


if __name__ == "__main__":
    self_test()
'''
    if suite:
        rest = _for_the_suite(rest)
    text = call.strip("\n") + "\n\n\n" + rest.strip("\n")
    if flavor == "numpy":
        text = re.sub(r"\bonp\.", "np.", text)
    return text


# ============================================================================ ruff, if any
def _ruff_command() -> list[str] | None:
    import importlib.util

    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    exe = shutil.which("ruff")
    return [exe] if exe else None


def ruff_problems(text: str) -> list[dict[str, Any]] | None:
    """ruff's findings on ``text`` (rules E,F,W,I,B,UP; 100 columns); None when ruff is missing."""
    cmd = _ruff_command()
    if cmd is None:
        return None
    try:
        p = subprocess.run(
            cmd + ["check", "--isolated", "--select", RUFF_SELECT, "--line-length", str(LINE_LENGTH),
                   "--target-version", "py310", "--output-format", "json", "--no-cache",
                   "--stdin-filename", "exported_reward.py", "-"],
            input=text, capture_output=True, text=True, timeout=60)
        return json.loads(p.stdout or "[]")
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def _foreign_lines(text: str) -> set[int]:
    """Line numbers (1-based) of code that came from elsewhere: the reward and the extras."""
    out: set[int] = set()
    lines = text.splitlines()
    for begin, end in ((_REWARD_BEGIN, _REWARD_END), (_EXTRA_BEGIN, _EXTRA_END)):
        inside = False
        for i, line in enumerate(lines, 1):
            if line == begin:
                inside = True
            elif line == end:
                inside = False
            elif inside:
                out.add(i)
    return out


def _commentable(text: str) -> set[int]:
    """Lines that can take a trailing comment: not inside a multi-line string, no backslash."""
    bad: set[int] = set()
    try:
        for t in tokenize.generate_tokens(io.StringIO(text).readline):
            if t.start[0] != t.end[0]:
                bad.update(range(t.start[0], t.end[0]))
    except (tokenize.TokenError, SyntaxError):
        return set()
    lines = text.splitlines()
    return {i for i, line in enumerate(lines, 1) if i not in bad and not line.endswith("\\")}


def _ruff_annotate(text: str) -> str:
    """Give the reward's lines that ruff rejects a ``# noqa`` (the code itself stays as it was)."""
    original = text.splitlines()
    foreign = _foreign_lines(text)
    ok_lines = _commentable(text) & foreign
    codes: dict[int, set[str]] = {}  # original line -> codes
    file_codes: set[str] = set()
    for _ in range(4):
        found = ruff_problems(text)
        if not found:
            return text
        shift = 1 if file_codes else 0  # the file-wide noqa line on top
        progress = False
        for p in found:
            code = p.get("code")
            row = (p.get("noqa_row") or p["location"]["row"]) - shift
            if not code or row not in foreign:
                continue
            if row in ok_lines:
                if code not in codes.setdefault(row, set()):
                    codes[row].add(code)
                    progress = True
            elif code not in file_codes:
                file_codes.add(code)
                progress = True
        if not progress:
            return text
        lines = list(original)
        for row, cs in codes.items():
            lines[row - 1] += f"  # noqa: {', '.join(sorted(cs))}"
        if file_codes:
            lines.insert(0, "# ruff" + f": noqa: {', '.join(sorted(file_codes))}")
        text = "\n".join(lines) + "\n"
    return text
