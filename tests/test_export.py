"""``rewardsmith export``: the module it writes works without rewardsmith and agrees with it.

The round trip: the exported file is loaded in a fresh interpreter where rewardsmith cannot be
imported; there it extracts the state of recorded MuJoCo states and computes the reward, and
both must equal what rewardsmith computes here (``StateSpec.extract`` + ``compile_program``).
Its wrapper must give the rewards ``RewardVecEnv`` gives on the same seed and actions.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import mujoco
import numpy as np
import pytest

from rewardsmith.export import (
    ExportError,
    export_module,
    render_module,
    render_state_code,
    write_module,
)
from rewardsmith.reward.program import RewardProgram, compile_program
from rewardsmith.state.view import Extra, StateSpec

NOQA = "  # " + "noqa"
RUFF_ARGS = ["check", "--isolated", "--select", "E,F,W,I,B,UP", "--line-length", "100",
             "--target-version", "py310", "--no-cache"]

# The kind of program the offline designer writes, plus what an LLM might do: a helper, a
# module constant, a python-float component, a (B, 1) component and a boolean one.
PENDULUM_REWARD = '''
# Written by hand for the export test.
CENTRE_WEIGHT = 0.25


def upright_level(state):
    return state.pole_zaxis[:, 2]


def compute_reward(state, action, next_state):
    upright_weight = 1.5
    alive_bonus = 1.0
    effort_weight = 0.001
    upright = upright_weight * upright_level(next_state)
    centre = -CENTRE_WEIGHT * np.abs(next_state.cart_pos[:, 0])
    swing = -0.01 * np.linalg.norm(next_state.pole_angvel - state.pole_angvel, axis=-1)
    effort = -effort_weight * np.sum(np.square(action), axis=-1)
    steady = np.abs(next_state.hinge_angvel) < 0.5
    reward = upright + alive_bonus + centre + swing + effort + 0.0 * next_state.time
    return reward, {"upright": upright, "alive": alive_bonus, "centre": centre[:, None],
                    "swing": swing, "effort": effort, "steady": steady}
'''


def _all_fields_reward(spec: StateSpec) -> str:
    """A reward that reads every field of the state view (so every field must match)."""
    lines = ["def compute_reward(state, action, next_state):",
             "    n = action.shape[0]",
             "    total = 0.0 * next_state.time"]
    for i, name in enumerate(spec.fields):
        w = 0.001 * (i % 7 + 1)
        lines.append(f"    total = total + {w} * np.sum(np.reshape(next_state.{name} - 0.5 * "
                     f"state.{name}, (n, -1)), axis=-1)")
    contacts = [n for n in spec.fields if n.endswith("_contact")]
    csum = " + ".join(f"next_state.{n}" for n in contacts) or "0.0 * next_state.time"
    lines += [f"    touching = {csum}",
              "    ctrl = -0.01 * np.sum(np.square(action), axis=-1)",
              "    return total + ctrl + touching, {\"fields\": total, \"contacts\": touching, "
              "\"ctrl\": ctrl, \"speed\": np.linalg.norm(next_state.com_vel, axis=-1)}"]
    return "\n".join(lines) + "\n"


# ============================================================================= fixtures
def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2))


@pytest.fixture(scope="module")
def pendulum_run(tmp_path_factory) -> Path:
    """A small run directory in the design loop's format (best: 1-0; 0-1 rejected)."""
    root = tmp_path_factory.mktemp("runs") / "pend-run"
    baseline = {"baseline": {"fitness_mean": 40.0, "per_seed": [38.0, 42.0]},
                "floor": {"fitness_mean": 10.0, "per_seed": [9.0, 11.0]}}
    _write_json(root / "manifest.json", {
        "task": "pendulum-balance-v0", "task_origin": {"kind": "registry", "id": "pendulum-balance-v0"},
        "config": {"iterations": 2, "samples": 2, "steps": 2048, "seeds": 2, "backend": "sb3"},
        "llm": "offline", "status": "finished", "run_id": "pend-run", "created": "2025-01-01T00:00:00",
        "summary": {"steps": 2048}, "versions": {"rewardsmith": "0.1.0"}, "prompt_templates": []})
    cands = {
        "0-0": {"status": "ok", "source": PENDULUM_REWARD.replace("1.5", "1.0"), "fitness": 30.0,
                "fitness_seeds": {"0": 30.0}},
        "0-1": {"status": "rejected", "source": "def compute_reward(state, action, next_state):\n"
                "    return state.nope, {}\n", "stage": "dry_run",
                "error": "the state has no field 'nope'"},
        "1-0": {"status": "ok", "source": PENDULUM_REWARD, "fitness": 70.0,
                "fitness_seeds": {"0": 70.0, "1": 50.0}, "success_rate": 0.2},
    }
    for cid, c in cands.items():
        it, k = map(int, cid.split("-"))
        d = root / "candidates" / cid
        score = float(np.mean(list(c["fitness_seeds"].values()))) if c.get("fitness_seeds") else None
        _write_json(d / "result.json", {"id": cid, "iteration": it, "k": k, "stage": "train",
                                        "error": None, "fitness_seeds": {}, "success_rate": None,
                                        "train": None, "fitness": None, **c, "score": score})
        (d / "reward.py").write_text(c["source"])
        (d / "DONE").write_text("")
    (root / "best").mkdir()
    (root / "best" / "reward.py").write_text(PENDULUM_REWARD)
    _write_json(root / "best" / "evidence.json", {
        "candidate": "1-0", "score": 60.0, "fitness_seeds": {"0": 70.0, "1": 50.0},
        "success_rate": 0.2, "task": "pendulum-balance-v0", "steps": 2048, "baseline": baseline})
    return root


# ======================================================================= the clean process
DRIVER = r'''
import json, sys

class _NoRewardsmith:
    """rewardsmith must not be importable here (site-packages still holds its data folder,
    which would import as an empty namespace package)."""
    def find_spec(self, name, path=None, target=None):
        if name == "rewardsmith" or name.startswith("rewardsmith."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoRewardsmith())
sys.path[:] = [p for p in sys.path if p] + SITE
try:
    import rewardsmith  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("rewardsmith is importable in the clean process")

import importlib.util
import gymnasium as gym
import mujoco
import numpy as np

spec = importlib.util.spec_from_file_location("exported", MODULE)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)

# 1. recorded transitions: set the state, forward, extract, reward
z = np.load(DATA)
env = gym.make(mod.ENV_ID, **mod.ENV_KWARGS)
model = env.unwrapped.model
data = mujoco.MjData(model)

def rows(qpos, qvel, time):
    out = np.empty((len(qpos), mod.STATE_SIZE))
    for i in range(len(qpos)):
        data.qpos[:], data.qvel[:], data.time = qpos[i], qvel[i], time[i]
        mujoco.mj_forward(model, data)
        mod.extract_state(model, data, out[i], dt=float(z["dt"]))
    return out

prev = rows(z["prev_qpos"], z["prev_qvel"], z["prev_time"])
nxt = rows(z["next_qpos"], z["next_qvel"], z["next_time"])
reward, comps = mod.reward_batch(prev, z["actions"], nxt)
one = [mod.reward_batch(prev[i:i + 1], z["actions"][i:i + 1], nxt[i:i + 1])[0][0]
       for i in range(len(prev))]

# 2. the wrapper on the env, from a seed, with given actions
wrapped = mod.RewardWrapper(gym.make(mod.ENV_ID, **mod.ENV_KWARGS))
wrapped.reset(seed=int(z["seed"]))
w_rewards, w_env, w_done, w_comps = [], [], [], []
for a in z["wrapper_actions"]:
    _, r, term, trunc, info = wrapped.step(a)
    w_rewards.append(r)
    w_env.append(info["env_reward"])
    w_comps.append(sorted(info["reward_components"]))
    w_done.append(bool(term or trunc))
    if term or trunc:
        wrapped.reset()
wrapped.close()

# 3. its own self-test
mod.self_test(steps=10)

np.savez(OUT, prev=prev, next=nxt, reward=reward, one=np.asarray(one),
         w_rewards=np.asarray(w_rewards), w_env=np.asarray(w_env), w_done=np.asarray(w_done),
         **{"c_" + k: v for k, v in comps.items()})
json.dump({"components": sorted(comps), "wrapper_components": w_comps,
           "rewardsmith_loaded": any(m.startswith("rewardsmith") for m in sys.modules),
           "path": sys.path}, open(OUT_JSON, "w"))
'''


def _site_dirs() -> list[str]:
    """site-packages without the editable install's path hook (.pth files are not read)."""
    dirs = [d for d in site.getsitepackages() if Path(d).is_dir()]
    repo = str(Path(__file__).resolve().parents[1])
    return [d for d in dirs if Path(d).resolve() != Path(repo)]


def _run_clean(module: Path, data: Path, tmp: Path, python: str = sys.executable) -> tuple[dict, dict]:
    out, out_json = tmp / "out.npz", tmp / "out.json"
    script = tmp / "driver.py"
    consts = (f"SITE = {_site_dirs()!r}\nMODULE = {str(module)!r}\nDATA = {str(data)!r}\n"
              f"OUT = {str(out)!r}\nOUT_JSON = {str(out_json)!r}\n")
    script.write_text(consts + DRIVER)
    # -I: no environment variables, no user site, no script dir; -S: no site-packages .pth files
    p = subprocess.run([python, "-I", "-S", str(script)], cwd=tmp, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr[-4000:]
    assert "steps ok" in p.stdout, p.stdout
    with np.load(out) as z:
        arrays = {k: z[k] for k in z.files}
    info = json.loads(out_json.read_text())
    assert not info["rewardsmith_loaded"]
    repo = str(Path(__file__).resolve().parents[1])
    assert repo not in info["path"]
    return arrays, info


def _record(task, n_steps: int, seed: int, tmp: Path) -> Path:
    """Random-action transitions (qpos, qvel, time before and after) and actions."""
    env = task.make_env()
    env.action_space.seed(seed)
    env.reset(seed=seed)
    d = env.unwrapped.data
    keys = ("prev_qpos", "prev_qvel", "prev_time", "next_qpos", "next_qvel", "next_time", "actions")
    rec: dict[str, list] = {k: [] for k in keys}
    for _ in range(n_steps):
        before = (d.qpos.copy(), d.qvel.copy(), d.time)
        a = env.action_space.sample().astype(np.float32)
        _, _, term, trunc, _ = env.step(a)
        for k, v in zip(keys, (*before, d.qpos.copy(), d.qvel.copy(), d.time, a)):
            rec[k].append(v)
        if term or trunc:
            env.reset()
    env.close()
    rng = np.random.default_rng(seed)
    low, high = env.action_space.low, env.action_space.high
    wrapper_actions = rng.uniform(low, high, size=(40, *low.shape)).astype(np.float32)
    path = tmp / "transitions.npz"
    np.savez(path, **{k: np.asarray(v) for k, v in rec.items()}, dt=task.spec.dt, seed=seed,
             wrapper_actions=wrapper_actions)
    return path


def _reference_rows(task, qpos, qvel, time) -> np.ndarray:
    env = task.make_env()
    model = env.unwrapped.model
    env.close()
    data = mujoco.MjData(model)
    out = np.empty((len(qpos), task.spec.size))
    for i in range(len(qpos)):
        data.qpos[:], data.qvel[:], data.time = qpos[i], qvel[i], time[i]
        mujoco.mj_forward(model, data)
        task.spec.extract(model, data, out[i])
    return out


def _vecenv_rewards(make_venv, task, source: str, actions: np.ndarray, seed: int) -> np.ndarray:
    venv = make_venv(task, program=source, n_envs=1, seed=seed, keep_episodes=False)
    venv.reset()
    out = [venv.step(a[None])[1][0] for a in actions]
    venv.close()
    return np.asarray(out)


def _check_round_trip(task, source: str, module: Path, tmp: Path, make_venv, seed: int = 3) -> dict:
    data = _record(task, 60, seed, tmp)
    got, info = _run_clean(module, data, tmp)
    with np.load(data) as z:
        prev = _reference_rows(task, z["prev_qpos"], z["prev_qvel"], z["prev_time"])
        nxt = _reference_rows(task, z["next_qpos"], z["next_qvel"], z["next_time"])
        actions, wrapper_actions = z["actions"], z["wrapper_actions"]
    # the state view: every field, bit for bit
    np.testing.assert_array_equal(got["prev"], prev)
    np.testing.assert_array_equal(got["next"], nxt)
    # the reward and its components, as rewardsmith computes them
    fn = compile_program(RewardProgram(source, origin="test"))
    reward, comps = fn(task.spec.view(prev), actions, task.spec.view(nxt))
    np.testing.assert_allclose(got["reward"], reward, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["one"], reward, rtol=1e-12, atol=1e-12)
    assert info["components"] == sorted(comps)
    for k, v in comps.items():
        np.testing.assert_allclose(got["c_" + k], np.broadcast_to(v, reward.shape), rtol=1e-12, atol=1e-12)
    # the wrapper: the rewards RewardVecEnv trains on, with the same seed and actions (SB3 keeps
    # rewards in a float32 buffer, hence the tolerance)
    expected = _vecenv_rewards(make_venv, task, source, wrapper_actions, seed)
    np.testing.assert_allclose(got["w_rewards"], expected, rtol=1e-6, atol=1e-6)
    assert all(c == sorted(comps) for c in info["wrapper_components"])
    assert np.all(np.isfinite(got["w_env"]))
    return got


# ================================================================================== tests
def test_exported_best_reward_matches_rewardsmith_without_rewardsmith(pendulum_run, tmp_path, make_venv,
                                                                      load_task):
    path = write_module(pendulum_run, tmp_path / "pendulum_reward.py")
    text = path.read_text()
    assert "import rewardsmith" not in text and "from rewardsmith" not in text
    assert "candidate 1-0 (the run's best)" in " ".join(text.split())  # wrapped where the path ends
    assert "baseline (the task's hand-written reward): 40" in text
    assert "untrained policy: 10" in text
    assert "pendulum-balance-v0" in text and "InvertedPendulum-v5" in text
    got = _check_round_trip(load_task("pendulum-balance-v0"), PENDULUM_REWARD, path, tmp_path, make_venv)
    assert got["w_done"].any()  # the pole falls under random actions: resets are exercised


@pytest.mark.parametrize("task_id", ["hopper-forward-v0", "ant-forward-v0"])
def test_state_view_of_every_field_matches_on_robots_with_contacts(task_id, tmp_path, make_venv, load_task):
    task = load_task(task_id)
    source = _all_fields_reward(task.spec)
    text = render_module(task, source, meta={"run_id": "r", "candidate": "0-0"})
    module = tmp_path / "robot_reward.py"
    module.write_text(text)
    got = _check_round_trip(task, source, module, tmp_path, make_venv)
    contact = [f for n, f in task.spec.fields.items() if n.endswith("_contact")]
    cols = [f.offset for f in contact]
    assert got["next"][:, cols].any(), "no contact in the recorded states: the test would miss it"


def _ruff() -> list[str]:
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    exe = shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff is not installed")
    return [exe]


MESSY = '''
W = [1.0, 2.0]
def helper(x, w=[1, 2]):<TS>
    l = x * 2
    return x
def compute_reward(state, action, next_state):
    """A docstring with a very long line ........................................................ end
    and trailing spaces<TS>
    """
    dt = state.dt
    unused = float(1.0)
    upright = np.abs(next_state.hinge_angle) <= 0.2  # a comment
    alive = np.where(upright, 1.0, 0.0) + 0.0 * np.sum(action ** 2, axis=-1) + 0.0 * helper(next_state.slider_pos)
    return alive, {"alive": alive}
'''.replace("<TS>", "   ")


@pytest.mark.parametrize("flavor", ["numpy", "jax"])
@pytest.mark.parametrize("source", ["best", "messy"])
def test_exported_file_passes_ruff(flavor, source, pendulum_run, tmp_path, load_task):
    ruff = _ruff()
    if source == "best":
        text = export_module(pendulum_run, flavor=flavor)
    else:
        text = render_module(load_task("pendulum-balance-v0"), MESSY, flavor=flavor)
        # the reward's code is kept; lines ruff rejects only gain a noqa comment
        body = text.split("\n# compute_reward(state")[1].split("# --- end of the reward")[0]
        kept = [ln.split(NOQA)[0].rstrip() for ln in body.splitlines()[1:] if ln.strip()]
        assert kept == [ln.rstrip() for ln in MESSY.splitlines() if ln.strip()]
    path = tmp_path / "exported.py"
    path.write_text(text)
    p = subprocess.run(ruff + RUFF_ARGS + [str(path)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_jax_flavor_gives_the_numpy_rewards(pendulum_run, tmp_path):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed (pip install rewardsmith[jax])")
    ns: dict = {}
    for flavor in ("numpy", "jax"):
        path = tmp_path / f"reward_{flavor}.py"
        path.write_text(export_module(pendulum_run, flavor=flavor))
        spec = importlib.util.spec_from_file_location(f"reward_{flavor}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        ns[flavor] = mod
    rng = np.random.default_rng(0)
    prev = rng.normal(size=(16, ns["numpy"].STATE_SIZE))
    nxt = prev + 0.1 * rng.normal(size=prev.shape)
    act = rng.uniform(-3, 3, size=(16, 1))
    r_np, c_np = ns["numpy"].reward_batch(prev, act, nxt)
    r_jx, c_jx = ns["jax"].reward_batch(prev, act, nxt)
    np.testing.assert_allclose(r_jx, r_np, rtol=1e-4, atol=1e-5)
    assert sorted(c_jx) == sorted(c_np)
    assert ns["jax"].self_test(steps=5)


# ------------------------------------------------------------------- a model with everything
XML = """
<mujoco>
  <option timestep="0.01"/>
  <worldbody>
    <geom name="floor" type="plane" size="5 5 0.1"/>
    <body name="base" pos="0 0 0.3">
      <freejoint name="root"/>
      <geom type="box" size="0.2 0.1 0.05" mass="1"/>
      <body name="arm" pos="0.2 0 0">
        <joint name="shoulder" type="ball"/>
        <geom type="capsule" fromto="0 0 0 0.2 0 0" size="0.03"/>
        <body pos="0.2 0 0">
          <joint name="elbow" type="hinge" axis="0 1 0"/>
          <geom name="hand_geom" type="sphere" size="0.05"/>
        </body>
      </body>
      <body name="slider" pos="-0.2 0 0">
        <joint name="rail" type="slide" axis="1 0 0"/>
        <geom type="sphere" size="0.04"/>
      </body>
    </body>
  </worldbody>
</mujoco>
"""


def goal_position(model, data):
    """A task extra written as a function (it is exported with its source)."""
    return np.array([1.0, -0.5, 0.1 * data.time])


GOAL_EXTRA = Extra("goal_pos", (3,), "m", "goal position", goal_position)
DIST_EXTRA = Extra("hand_height", (), "m", "height of the hand",
                   lambda m, d: d.xpos[-2, 2])


def test_state_code_matches_spec_on_free_ball_slide_joints_and_extras():
    model = mujoco.MjModel.from_xml_string(XML)
    data = mujoco.MjData(model)
    spec = StateSpec.from_model(model, 0.05, [GOAL_EXTRA, DIST_EXTRA])
    assert {"base_quat", "shoulder_quat", "shoulder_angvel", "elbow_angle", "rail_pos", "hand_pos",
            "goal_pos", "hand_height"} <= set(spec.fields)
    code = render_state_code(spec, model, "numpy")
    assert "def _extra_goal_pos(model, data):" in code
    assert "def _extra_hand_height(m, d):" in code
    ns = {"np": np, "mujoco": mujoco, "difflib": __import__("difflib"), "math": __import__("math"),
          "ENV_ID": "test", "DT": 0.05}
    exec(compile(code, "<state code>", "exec"), ns)
    rng = np.random.default_rng(1)
    for i in range(30):
        data.qpos[:] = rng.normal(size=model.nq)
        data.qpos[2] = abs(data.qpos[2]) * 0.2  # near the floor: contacts
        data.qpos[3:7] /= np.linalg.norm(data.qpos[3:7])
        data.qpos[7:11] /= np.linalg.norm(data.qpos[7:11])
        data.qvel[:] = rng.normal(size=model.nv)
        data.time = 0.1 * i
        if i % 2:
            mujoco.mj_forward(model, data)
        else:  # after a step the contacts are the ones found before it
            mujoco.mj_step(model, data)
        want = spec.extract(model, data)
        got = ns["extract_state"](model, data, dt=0.05)
        np.testing.assert_array_equal(got, want)
    ns["check_model"](model)
    view = ns["StateView"](np.stack([want, want]))
    assert view.hand_pos.shape == (2, 3) and view.time.shape == (2,)
    with pytest.raises(AttributeError, match="Did you mean hand_pos"):
        view.hand_pso  # noqa: B018
    with pytest.raises(TypeError, match="read-only"):
        view.time = 1.0
    other = mujoco.MjModel.from_xml_string(XML.replace('type="ball"', 'type="hinge"'))
    with pytest.raises(ValueError, match="would not match"):
        ns["check_model"](other)


class _Opaque:
    def __call__(self, model, data):
        return np.zeros(2)


def test_extra_without_source_becomes_a_clear_stub():
    model = mujoco.MjModel.from_xml_string(XML)
    spec = StateSpec.from_model(model, 0.05, [Extra("opaque", (2,), "-", "no source", _Opaque())])
    code = render_state_code(spec, model, "numpy")
    assert "raise NotImplementedError" in code and "'opaque'" in code


# --------------------------------------------------------------------------------- errors
def test_export_errors_say_what_to_do(pendulum_run, tmp_path, load_task):
    with pytest.raises(ExportError, match="rejected"):
        export_module(pendulum_run, candidate="0-1")
    with pytest.raises(ExportError, match="candidates: 0-0, 0-1, 1-0"):
        export_module(pendulum_run, candidate="7-7")
    with pytest.raises(ExportError, match="ITER-K"):
        export_module(pendulum_run, candidate="best")
    with pytest.raises(ExportError, match="unknown flavor"):
        export_module(pendulum_run, flavor="torch")
    target = tmp_path / "r.py"
    target.write_text("# mine\n")
    with pytest.raises(ExportError, match="--force"):
        write_module(pendulum_run, target)
    assert write_module(pendulum_run, target, force=True) == target
    assert "candidate 1-0" in target.read_text()
    clash = "def StateView(x):\n    return x\n\n\ndef compute_reward(state, action, next_state):\n" \
            "    return StateView(state.time), {}\n"
    with pytest.raises(ExportError, match="StateView"):
        render_module(load_task("pendulum-balance-v0"), clash)
    empty = tmp_path / "empty-run"
    empty.mkdir()
    (empty / "manifest.json").write_text(json.dumps({"task": "pendulum-balance-v0"}))
    with pytest.raises(ExportError, match="no best reward"):
        export_module(empty)


def test_the_header_states_the_closing_evaluation(pendulum_run, tmp_path):
    """A run with a closing evaluation: its score, seeds and success rate are the header's (the
    design seeds' figures flatter the best)."""
    import shutil

    from rewardsmith.critic.verdict import verdict

    run = tmp_path / "closed"
    shutil.copytree(pendulum_run, run)
    seeds = {str(s): 50.0 + s for s in range(2, 7)}
    v = verdict(seeds, {s: 40.0 for s in seeds}, [10.0] * 10,
                reward_success={s: 0.4 for s in seeds}, baseline_success={s: 0.2 for s in seeds})
    (run / "closing.json").write_text(json.dumps({"candidate": "1-0", "verdict": v}))
    text = " ".join(export_module(run).split())
    assert "this reward: 54 (mean over 5 seeds: seed 2: 52," in text
    assert "success rate: 0.4 " in text and "baseline (the task's hand-written reward): 40" in text
    assert f"verdict: {v['line']}" in text


def test_export_candidate_and_folder_target(pendulum_run, tmp_path):
    path = write_module(pendulum_run, tmp_path, candidate="0-0")
    assert path.name == "pendulum_balance_v0_reward.py"
    text = path.read_text()
    assert "candidate 0-0 (ok, not the best)" in " ".join(text.split())  # wrapped where the path ends
    assert "upright_weight = 1.0" in text


def test_cli_export(pendulum_run, tmp_path):
    import typer
    from typer.testing import CliRunner

    from rewardsmith.cli.export import register

    app = typer.Typer()
    register(app)
    runner = CliRunner()
    out = tmp_path / "hop.py"
    r = runner.invoke(app, ["export", str(pendulum_run), "--to", str(out)])
    assert r.exit_code == 0, r.output
    assert out.exists() and str(out) in r.output.replace("\n", "")
    r = runner.invoke(app, ["export", str(pendulum_run), "--to", str(out)])
    assert r.exit_code == 2 and "already exists" in r.output
    r = runner.invoke(app, ["export", str(pendulum_run), "--to", str(out), "--candidate", "0-1", "--force"])
    assert r.exit_code == 2 and "rejected" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["export", str(tmp_path / "nope"), "--to", str(out)])
    assert r.exit_code == 2 and "not a run directory" in r.output


def test_textwrap_helpers_keep_long_docs_in_100_columns(load_task):
    text = render_module(load_task("ant-forward-v0"), textwrap.dedent('''
        def compute_reward(state, action, next_state):
            v = next_state.com_vel[:, 0]
            return v, {"forward": v}
    '''))
    assert max(len(line) for line in text.splitlines()) <= 100


# ============================================================== gymnasium's conventions
def _import_module(path: Path, name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # env.spec names the wrapper as NAME:RewardWrapper
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("kind", ["registry", "adhoc"])
def test_exported_wrapper_passes_gymnasium_and_sb3_env_checkers(kind, pendulum_run, tmp_path):
    import gymnasium as gym
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    from rewardsmith import tasks
    from rewardsmith.export import render_module

    if kind == "registry":
        path = write_module(pendulum_run, tmp_path / "pend_checked.py")
    else:
        task = tasks.adhoc("Walker2d-v5", "walk backwards", "-rootx_vel")
        src = ("def compute_reward(state, action, next_state):\n    back_weight = 1.0\n"
               "    back = -back_weight * next_state.rootx_vel\n    return back, {'back': back}\n")
        path = tmp_path / "walker_checked.py"
        path.write_text(render_module(task, src, meta={"run_id": "x", "candidate": "0-0"},
                                      module_name=path.stem))
    mod = _import_module(path, path.stem)
    env = mod.RewardWrapper(gym.make(mod.ENV_ID, **mod.ENV_KWARGS))
    try:
        gym_check(env, skip_render_check=True)  # recreates the env from env.spec too; no display here
        sb3_check(env, warn=True)
    finally:
        env.close()
    assert env.spec.additional_wrappers[-1].entry_point == f"{path.stem}:RewardWrapper"


CLEAN_MAKE = r'''
import json, sys

class _NoRewardsmith:
    def find_spec(self, name, path=None, target=None):
        if name == "rewardsmith" or name.startswith("rewardsmith."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoRewardsmith())
sys.path[:] = [p for p in sys.path if p] + SITE + [MODDIR]
import gymnasium as gym
import hop_backward  # registers the id

env = gym.make("MyPendulumBalance-v0")
env.reset(seed=0)
_, reward, term, trunc, info = env.step(env.action_space.sample())
again = gym.make(env.spec)  # gymnasium recreates it from its spec
json.dump({"components": sorted(info["reward_components"]), "limit": env.spec.max_episode_steps,
           "reward": reward, "again": type(again).__name__,
           "rewardsmith_loaded": any(m.startswith("rewardsmith") for m in sys.modules)},
          open(OUT, "w"))
'''


def test_exported_module_registers_an_env_id_for_gym_make(pendulum_run, tmp_path):
    module = write_module(pendulum_run, tmp_path / "hop_backward.py", env_id="MyPendulumBalance-v0")
    assert "REGISTER_ID = 'MyPendulumBalance-v0'" in module.read_text()
    script, out = tmp_path / "driver.py", tmp_path / "out.json"
    script.write_text(f"SITE = {_site_dirs()!r}\nMODDIR = {str(tmp_path)!r}\nOUT = {str(out)!r}\n"
                      + CLEAN_MAKE)
    p = subprocess.run([sys.executable, "-I", "-S", str(script)], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    info = json.loads(out.read_text())
    assert "upright" in info["components"] and not info["rewardsmith_loaded"]
    assert info["limit"] == 1000 and info["again"] == "RewardWrapper"
    with pytest.raises(ExportError, match="no version"):
        write_module(pendulum_run, tmp_path / "bad.py", env_id="NoVersion")
