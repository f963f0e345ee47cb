"""MJX environments for the ``brax`` backend, built from the gymnasium tasks' own MuJoCo models.

:class:`RewardEnv` is a Brax ``Env`` (one robot; Brax's wrappers vmap it) whose physics is the
MuJoCo model of the task's gymnasium env (the same XML, the same ``env_kwargs``), stepped with
MJX, and whose frame skip, reset noise, observation, termination and time limit are those of the
gymnasium v5 env (a "port", see :data:`PORTS`). Its reward is the task's reward program, compiled
with ``np`` bound to ``jax.numpy`` and called inside the step with a leading batch axis of 1. The
env's own reward, the program's components and a non-finite flag go into ``state.metrics``; the
flat state-view row after the step into ``state.info["row"]``.

:func:`wrap_for_training` is Brax's training wrapper with one change: an episode that ends is
reset with fresh reset noise (as gymnasium does), not to the env's first state.
:func:`make_rollout` records deterministic evaluation episodes in one jitted loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardsmith.contracts import Episode
from rewardsmith.errors import RewardsmithError
from rewardsmith.reward.program import CompiledReward, RewardProgram, RewardProgramError
from rewardsmith.reward.traceable import traceable_message
from rewardsmith.state.mjx_view import (
    MjxStateExtractor,
    import_jax,
    import_mjx,
    quiet_brax_imports,
)

# gymnasium MujocoEnv arguments that change nothing a port computes (the model itself comes from
# the gymnasium env, so xml_file and frame_skip are honoured through it).
_PASSTHROUGH = {"xml_file", "frame_skip", "default_camera_config", "render_mode", "width",
                "height", "camera_id", "camera_name", "visual_options", "max_geom",
                "max_episode_steps"}


class PortError(RewardsmithError):
    """The task's env has no MJX port (yet), or uses settings the port does not implement."""


# ----------------------------------------------------------------------------------- ports
class Port:
    """The gymnasium v5 behaviour of one env, in JAX: reset noise, observation, own reward,
    termination. ``defaults`` are the env's constructor arguments the port implements."""

    env_id: str = ""
    defaults: Mapping[str, Any] = {}
    needs_cfrc = False  # compute cfrc_ext after the step (mj_rnePostConstraint)

    def __init__(self, cfg: Mapping[str, Any], model: Any):
        self.cfg = dict(cfg)

    # reset noise: uniform on qpos; uniform (or normal, see qvel_normal) on qvel
    qvel_normal = False

    def reset(self, q0, v0, key):
        jax, _ = import_jax()
        s = self.cfg["reset_noise_scale"]
        kq, kv = jax.random.split(key)
        q = q0 + jax.random.uniform(kq, q0.shape, minval=-s, maxval=s)
        if self.qvel_normal:
            v = v0 + s * jax.random.normal(kv, v0.shape)
        else:
            v = v0 + jax.random.uniform(kv, v0.shape, minval=-s, maxval=s)
        return q, v

    def obs(self, d):
        raise NotImplementedError

    def env_reward(self, d0, d1, action, dt):
        raise NotImplementedError

    def terminated(self, d, obs):
        _, jnp = import_jax()
        return jnp.zeros((), dtype=bool)


def _ctrl_cost(weight, action):
    _, jnp = import_jax()
    return weight * jnp.sum(jnp.square(action))


def _between(x, lo, hi, strict=True):
    _, jnp = import_jax()
    if strict:
        return (lo < x) & (x < hi)
    return (lo <= x) & (x <= hi)


class InvertedPendulum(Port):
    env_id = "InvertedPendulum-v5"
    defaults = {"reset_noise_scale": 0.01}

    def obs(self, d):
        _, jnp = import_jax()
        return jnp.concatenate([d.qpos, d.qvel])

    def terminated(self, d, obs):
        _, jnp = import_jax()
        return ~jnp.all(jnp.isfinite(obs)) | (jnp.abs(obs[1]) > 0.2)

    def env_reward(self, d0, d1, action, dt):
        _, jnp = import_jax()
        alive = jnp.where(self.terminated(d1, self.obs(d1)), 0.0, 1.0)
        return alive, {"reward_survive": alive}


class _Planar(Port):
    """Hopper, Walker2d, HalfCheetah, Swimmer: forward velocity of qpos[0], effort cost."""

    exclude = 1  # leading qpos entries left out of the observation
    clip_qvel = False

    def obs(self, d):
        _, jnp = import_jax()
        pos = d.qpos[self.exclude:] if self.cfg["exclude_current_positions_from_observation"] else d.qpos
        vel = jnp.clip(d.qvel, -10.0, 10.0) if self.clip_qvel else d.qvel
        return jnp.concatenate([pos, vel])

    def healthy(self, d):
        _, jnp = import_jax()
        return jnp.ones((), dtype=bool)

    def env_reward(self, d0, d1, action, dt):
        _, jnp = import_jax()
        xvel = (d1.qpos[0] - d0.qpos[0]) / dt
        forward = self.cfg["forward_reward_weight"] * xvel
        ctrl = _ctrl_cost(self.cfg["ctrl_cost_weight"], action)
        info = {"reward_forward": forward, "reward_ctrl": -ctrl}
        reward = forward - ctrl
        if "healthy_reward" in self.cfg:
            alive = jnp.where(self.healthy(d1), self.cfg["healthy_reward"], 0.0)
            info["reward_survive"] = alive
            reward = reward + alive
        return reward, info

    def terminated(self, d, obs):
        _, jnp = import_jax()
        if not self.cfg.get("terminate_when_unhealthy", False):
            return jnp.zeros((), dtype=bool)
        return ~self.healthy(d)


class Hopper(_Planar):
    env_id = "Hopper-v5"
    clip_qvel = True
    defaults = {"forward_reward_weight": 1.0, "ctrl_cost_weight": 1e-3, "healthy_reward": 1.0,
                "terminate_when_unhealthy": True, "healthy_state_range": (-100.0, 100.0),
                "healthy_z_range": (0.7, float("inf")), "healthy_angle_range": (-0.2, 0.2),
                "reset_noise_scale": 5e-3, "exclude_current_positions_from_observation": True}

    def healthy(self, d):
        _, jnp = import_jax()
        c = self.cfg
        state = jnp.concatenate([d.qpos, d.qvel])[2:]
        ok_state = jnp.all(_between(state, *c["healthy_state_range"]))
        ok_z = _between(d.qpos[1], *c["healthy_z_range"])
        ok_angle = _between(d.qpos[2], *c["healthy_angle_range"])
        return ok_state & ok_z & ok_angle


class Walker2d(_Planar):
    env_id = "Walker2d-v5"
    clip_qvel = True
    defaults = {"forward_reward_weight": 1.0, "ctrl_cost_weight": 1e-3, "healthy_reward": 1.0,
                "terminate_when_unhealthy": True, "healthy_z_range": (0.8, 2.0),
                "healthy_angle_range": (-1.0, 1.0), "reset_noise_scale": 5e-3,
                "exclude_current_positions_from_observation": True}

    def healthy(self, d):
        c = self.cfg
        return _between(d.qpos[1], *c["healthy_z_range"]) & _between(d.qpos[2], *c["healthy_angle_range"])


class HalfCheetah(_Planar):
    env_id = "HalfCheetah-v5"
    qvel_normal = True
    defaults = {"forward_reward_weight": 1.0, "ctrl_cost_weight": 0.1, "reset_noise_scale": 0.1,
                "exclude_current_positions_from_observation": True}


class Swimmer(_Planar):
    env_id = "Swimmer-v5"
    exclude = 2
    defaults = {"forward_reward_weight": 1.0, "ctrl_cost_weight": 1e-4, "reset_noise_scale": 0.1,
                "exclude_current_positions_from_observation": True}


class Ant(Port):
    env_id = "Ant-v5"
    qvel_normal = True
    defaults = {"forward_reward_weight": 1.0, "ctrl_cost_weight": 0.5, "contact_cost_weight": 5e-4,
                "healthy_reward": 1.0, "main_body": 1, "terminate_when_unhealthy": True,
                "healthy_z_range": (0.2, 1.0), "contact_force_range": (-1.0, 1.0),
                "reset_noise_scale": 0.1, "exclude_current_positions_from_observation": True,
                "include_cfrc_ext_in_observation": True}
    needs_cfrc = True

    def __init__(self, cfg, model):
        super().__init__(cfg, model)
        body = self.cfg["main_body"]
        if isinstance(body, str):
            import mujoco

            body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, body)
        self.body = int(body)

    def healthy(self, d):
        _, jnp = import_jax()
        state = jnp.concatenate([d.qpos, d.qvel])
        return jnp.all(jnp.isfinite(state)) & _between(d.qpos[2], *self.cfg["healthy_z_range"],
                                                       strict=False)

    def contact_forces(self, d):
        _, jnp = import_jax()
        return jnp.clip(d._impl.cfrc_ext, *self.cfg["contact_force_range"])

    def obs(self, d):
        _, jnp = import_jax()
        pos = d.qpos[2:] if self.cfg["exclude_current_positions_from_observation"] else d.qpos
        parts = [pos, d.qvel]
        if self.cfg["include_cfrc_ext_in_observation"]:
            parts.append(self.contact_forces(d)[1:].ravel())
        return jnp.concatenate(parts)

    def env_reward(self, d0, d1, action, dt):
        _, jnp = import_jax()
        c = self.cfg
        # gymnasium reads xpos straight after mj_step: from the last substep's kinematics
        xvel = (d1.xpos[self.body, 0] - d0.xpos[self.body, 0]) / dt
        forward = c["forward_reward_weight"] * xvel
        alive = jnp.where(self.healthy(d1), c["healthy_reward"], 0.0)
        ctrl = _ctrl_cost(c["ctrl_cost_weight"], action)
        contact = c["contact_cost_weight"] * jnp.sum(jnp.square(self.contact_forces(d1)))
        info = {"reward_forward": forward, "reward_ctrl": -ctrl, "reward_contact": -contact,
                "reward_survive": alive}
        return forward + alive - ctrl - contact, info

    def terminated(self, d, obs):
        _, jnp = import_jax()
        if not self.cfg["terminate_when_unhealthy"]:
            return jnp.zeros((), dtype=bool)
        return ~self.healthy(d)


class InvertedDoublePendulum(Port):
    env_id = "InvertedDoublePendulum-v5"
    qvel_normal = True
    defaults = {"healthy_reward": 10.0, "reset_noise_scale": 0.1}

    def obs(self, d):
        _, jnp = import_jax()
        return jnp.concatenate([
            d.qpos[:1], jnp.sin(d.qpos[1:]), jnp.cos(d.qpos[1:]), jnp.clip(d.qvel, -10, 10),
            jnp.clip(d.qfrc_constraint, -10, 10)[:1]])

    def terminated(self, d, obs):
        return d.site_xpos[0, 2] <= 1

    def env_reward(self, d0, d1, action, dt):
        _, jnp = import_jax()
        x, y = d1.site_xpos[0, 0], d1.site_xpos[0, 2]
        v1, v2 = d1.qvel[1], d1.qvel[2]
        dist = 0.01 * x**2 + (y - 2) ** 2
        vel = 1e-3 * v1**2 + 5e-3 * v2**2
        alive = jnp.where(y <= 1, 0.0, self.cfg["healthy_reward"])
        return alive - dist - vel, {"reward_survive": alive, "distance_penalty": -dist,
                                    "velocity_penalty": -vel}


class Reacher(Port):
    env_id = "Reacher-v5"
    defaults = {"reward_dist_weight": 1.0, "reward_control_weight": 1.0}

    def __init__(self, cfg, model):
        super().__init__(cfg, model)
        import mujoco

        self.tip = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "fingertip")
        self.target = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "target")

    def reset(self, q0, v0, key):
        jax, jnp = import_jax()
        kq, kg, kv = jax.random.split(key, 3)
        q = q0 + jax.random.uniform(kq, q0.shape, minval=-0.1, maxval=0.1)
        # gymnasium draws the goal uniformly in [-0.2, 0.2]^2 until it lies inside the disc of
        # radius 0.2: a uniform point in that disc
        kr, ka = jax.random.split(kg)
        r = 0.2 * jnp.sqrt(jax.random.uniform(kr, ()))
        a = jax.random.uniform(ka, (), minval=0.0, maxval=2 * math.pi)
        q = q.at[-2:].set(jnp.stack([r * jnp.cos(a), r * jnp.sin(a)]).astype(q.dtype))
        v = v0 + jax.random.uniform(kv, v0.shape, minval=-0.005, maxval=0.005)
        return q, v.at[-2:].set(0.0)

    def obs(self, d):
        _, jnp = import_jax()
        theta = d.qpos[:2]
        return jnp.concatenate([jnp.cos(theta), jnp.sin(theta), d.qpos[2:], d.qvel[:2],
                                (d.xpos[self.tip] - d.xpos[self.target])[:2]])

    def env_reward(self, d0, d1, action, dt):
        _, jnp = import_jax()
        vec = d1.xpos[self.tip] - d1.xpos[self.target]
        dist = -jnp.linalg.norm(vec) * self.cfg["reward_dist_weight"]
        ctrl = -jnp.sum(jnp.square(action)) * self.cfg["reward_control_weight"]
        return dist + ctrl, {"reward_dist": dist, "reward_ctrl": ctrl}


PORTS: dict[str, type[Port]] = {p.env_id: p for p in (
    InvertedPendulum, Hopper, Walker2d, HalfCheetah, Swimmer, Ant, InvertedDoublePendulum, Reacher)}


def port_for(task) -> type[Port]:
    port = PORTS.get(task.env_id)
    if port is None:
        raise PortError(
            f"task {task.id}: env {task.env_id} has no MJX port for the brax backend yet",
            f"use the sb3 backend for this task, or add a Port to rewardsmith/train/brax_env.py "
            f"(ported: {', '.join(sorted(PORTS))})",
        )
    return port


def port_config(task, port: type[Port]) -> dict[str, Any]:
    kwargs = dict(task.env_kwargs)
    unknown = sorted(k for k in kwargs if k not in port.defaults and k not in _PASSTHROUGH)
    if unknown:
        raise PortError(
            f"task {task.id}: the MJX port of {task.env_id} does not implement the env setting(s) "
            f"{', '.join(unknown)}",
            f"it implements {', '.join(sorted(port.defaults)) or 'none'}; use the sb3 backend",
        )
    return {**port.defaults, **{k: v for k, v in kwargs.items() if k in port.defaults}}


# ------------------------------------------------------------------------------ the env
@dataclass(frozen=True)
class SimSettings:
    """MJX solver settings. ``None`` keeps the model's own value.

    The gymnasium models ask for up to 100 solver iterations; in float32 MJX's Newton solver
    stops improving after a few, so the default caps them (same trajectories here, ~2x faster).
    """

    solver_iterations: int | None = 8
    ls_iterations: int | None = 8
    integrator: str | None = None  # "euler" | "rk4" | "implicitfast"; None: the model's
    fresh_resets: bool = True  # see wrap_for_training


_INTEGRATORS = {"euler": 0, "rk4": 1, "implicit": 2, "implicitfast": 3}


def _brax_base():
    quiet_brax_imports()
    try:
        from rewardsmith.train.jax_compat import apply as jax_compat

        jax_compat()  # brax 0.14.2 on JAX >= 0.10 (see jax_compat)
        from brax.envs.base import Env, State, Wrapper
    except ImportError as e:
        raise RewardsmithError(f"the brax backend needs brax ({e.name or e} is missing)",
                               "install with pip install 'rewardsmith[jax]'") from None
    return Env, State, Wrapper


def compile_jax_program(program: RewardProgram | CompiledReward | None) -> CompiledReward | None:
    """The program with ``np`` bound to ``jax.numpy`` (None or "env": the env's own reward)."""
    if program is None:
        return None
    if isinstance(program, CompiledReward):
        program = program.program
    if program.source.strip() == "env":
        return None
    _, jnp = import_jax()
    from rewardsmith.reward.program import compile_program

    return compile_program(program, xp=jnp)


def _make_class():
    Env, State, _ = _brax_base()

    class _RewardEnv(Env):
        """A gymnasium MuJoCo task on MJX, rewarded by a reward program (see the module doc)."""

        def __init__(self, task, program: RewardProgram | CompiledReward | None = None,
                     sim: SimSettings | None = None, episode_length: int | None = None):
            jax, jnp = import_jax()
            mjx = import_mjx()
            sim = sim or SimSettings()
            port_cls = port_for(task)
            cfg = port_config(task, port_cls)
            gym_env = task.make_env()
            try:
                u = gym_env.unwrapped
                model = u.model
                self.frame_skip = int(u.frame_skip)
                self.dt = float(u.dt)
                init_qpos = np.array(u.init_qpos, dtype=np.float64)
                init_qvel = np.array(u.init_qvel, dtype=np.float64)
                limit = task.max_episode_steps or getattr(gym_env.spec, "max_episode_steps", None)
            finally:
                gym_env.close()
            if sim.solver_iterations is not None:
                model.opt.iterations = min(int(model.opt.iterations), int(sim.solver_iterations))
            if sim.ls_iterations is not None:
                model.opt.ls_iterations = min(int(model.opt.ls_iterations), int(sim.ls_iterations))
            if sim.integrator is not None:
                if sim.integrator not in _INTEGRATORS or sim.integrator == "implicit":
                    raise RewardsmithError(f"unknown MJX integrator {sim.integrator!r}",
                                           "use euler, rk4 or implicitfast")
                model.opt.integrator = _INTEGRATORS[sim.integrator]
            self.task = task
            self.sim = sim
            self.model = model
            self.mx = mjx.put_model(model)
            self.port = port_cls(cfg, model)
            self.spec = task.spec
            self.extractor = MjxStateExtractor(self.spec, model)
            self.episode_length = int(episode_length or limit or 1000)
            lo, hi = np.asarray(model.actuator_ctrlrange, dtype=np.float64).T
            self.ctrl_low, self.ctrl_high = lo, hi
            self._init_qpos = init_qpos
            self._init_qvel = init_qvel
            self.reward_fn = compile_jax_program(program)
            self.component_names = self._component_names()
            self._obs_size = int(jax.eval_shape(lambda k: self.reset(k).obs,
                                                jax.random.PRNGKey(0)).shape[-1])

        # -------------------------------------------------------------- brax Env API
        @property
        def observation_size(self) -> int:
            return self._obs_size

        @property
        def action_size(self) -> int:
            return int(self.model.nu)

        @property
        def backend(self) -> str:
            return "mjx"

        def ctrl(self, action):
            """Policy actions in [-1, 1] to the env's control range (what gymnasium gets)."""
            _, jnp = import_jax()
            a = jnp.clip(action, -1.0, 1.0)
            lo = jnp.asarray(self.ctrl_low, a.dtype)
            hi = jnp.asarray(self.ctrl_high, a.dtype)
            return lo + (a + 1.0) * 0.5 * (hi - lo)

        def row(self, d):
            """The flat state-view row of one ``mjx.Data``."""
            return self.extractor(self.mx, d)

        def reset(self, rng):
            _, jnp = import_jax()
            mjx = import_mjx()
            dtype = jnp.result_type(float)
            q, v = self.port.reset(jnp.asarray(self._init_qpos, dtype),
                                   jnp.asarray(self._init_qvel, dtype), rng)
            d = mjx.make_data(self.mx).replace(qpos=q.astype(dtype), qvel=v.astype(dtype))
            d = mjx.forward(self.mx, d)
            obs = self.port.obs(d).astype(jnp.float32)
            zero = jnp.zeros((), jnp.float32)
            metrics = {"env_reward": zero, "nonfinite": zero,
                       **{f"component/{k}": zero for k in self.component_names}}
            info = {"row": self.row(d)}
            return State(d, obs, zero, zero, metrics, info)

        def step(self, state, action):
            jax, jnp = import_jax()
            mjx = import_mjx()
            d0 = state.pipeline_state
            prev_row = state.info["row"]  # the row after the last step (or reset)
            ctrl = self.ctrl(action).astype(d0.ctrl.dtype)
            d = d0.replace(ctrl=ctrl)
            d = jax.lax.fori_loop(0, self.frame_skip, lambda _, x: mjx.step(self.mx, x), d)
            if self.port.needs_cfrc:
                d = mjx.rne_postconstraint(self.mx, d)
            obs = self.port.obs(d)
            terminated = self.port.terminated(d, obs)
            env_reward, _ = self.port.env_reward(d0, d, ctrl, self.dt)
            next_row = self.row(d)
            if self.reward_fn is None:
                reward, comps = env_reward, {}
            else:
                reward, comps = self.reward(prev_row, ctrl, next_row)
            f32 = jnp.float32
            finite = jnp.isfinite(reward)
            metrics = {**state.metrics,  # keys wrappers added (Brax's EvalWrapper: "reward")
                       "env_reward": jnp.asarray(env_reward, f32),
                       "nonfinite": jnp.where(finite, 0.0, 1.0).astype(f32),
                       **{f"component/{k}": jnp.asarray(comps[k], f32) for k in self.component_names}}
            info = {**state.info, "row": next_row}
            return state.replace(
                pipeline_state=d, obs=obs.astype(f32),
                reward=jnp.where(finite, reward, 0.0).astype(f32),
                done=terminated.astype(f32), metrics=metrics, info=info)

        # ---------------------------------------------------------------- rewards
        def reward(self, prev_row, action, next_row):
            """The program on one transition: called with a batch axis of 1, squeezed after."""
            spec = self.spec
            r, comps = self.reward_fn(spec.view(prev_row[None]), action[None],
                                      spec.view(next_row[None]))
            return r[0], {k: v[0] for k, v in comps.items()}

        def _component_names(self) -> tuple[str, ...]:
            if self.reward_fn is None:
                return ()
            jax, jnp = import_jax()
            row = jax.ShapeDtypeStruct((self.spec.size,), jnp.result_type(float))
            act = jax.ShapeDtypeStruct((self.action_size,), jnp.result_type(float))
            try:
                _, comps = jax.eval_shape(self.reward, row, act, row)
            except RewardsmithError:
                raise
            except Exception as e:
                raise RewardProgramError(traceable_message(e)) from None
            return tuple(sorted(comps))

        # --------------------------------------------------------------- episodes
        def episodes(self, out: Mapping[str, Any], n: int | None = None) -> list[Episode]:
            """Host-side Episodes from what :func:`make_rollout` returned."""
            out = {k: np.asarray(v) for k, v in out.items()}
            lengths = out["length"].astype(int)
            count = len(lengths) if n is None else min(n, len(lengths))
            eps = []
            for i in range(count):
                L = int(lengths[i])
                eps.append(Episode(
                    states=out["rows"][: L + 1, i].astype(np.float64),
                    actions=out["actions"][:L, i].astype(np.float64),
                    env_rewards=out["env_rewards"][:L, i].astype(np.float64),
                    rewards=out["rewards"][:L, i].astype(np.float64),
                    components={k: out["components"][:L, i, j].astype(np.float64)
                                for j, k in enumerate(self.component_names)},
                    terminated=bool(out["terminated"][i]),
                    spec=self.spec,
                ))
            return eps

    return _RewardEnv


_CLASS: Any = None


def RewardEnv(task, program=None, sim: SimSettings | None = None,  # noqa: N802
              episode_length: int | None = None):
    """Build the MJX env of ``task`` rewarded by ``program`` (None: the env's own reward)."""
    global _CLASS
    if _CLASS is None:
        _CLASS = _make_class()
    return _CLASS(task, program, sim, episode_length)


# ------------------------------------------------------------------------- tracing errors
# ---------------------------------------------------------------------------- wrappers
def wrap_for_training(env, episode_length: int = 1000, action_repeat: int = 1,
                      randomization_fn: Callable | None = None, fresh_resets: bool | None = None):
    """Brax's training wrapper (vmap, episode limit, auto-reset), with fresh resets: a finished
    episode restarts from a new draw of the reset noise, as gymnasium's envs do, instead of
    from the env's first state."""
    from brax.envs.wrappers.training import EpisodeWrapper, VmapWrapper

    _, _, Wrapper = _brax_base()
    if randomization_fn is not None:
        raise RewardsmithError("domain randomisation is not supported by the brax backend")
    fresh = env.unwrapped.sim.fresh_resets if fresh_resets is None else fresh_resets
    wrapped = EpisodeWrapper(VmapWrapper(env), episode_length, action_repeat)

    class AutoResetWrapper(Wrapper):
        """Resets finished episodes: to a new draw of the reset noise (``fresh``), or to the
        episode's first state (Brax's own behaviour). Resets the state-view row with them."""

        def reset(self, rng):
            jax, _ = import_jax()
            state = self.env.reset(rng)
            if fresh:
                state.info["reset_key"] = jax.vmap(lambda k: jax.random.fold_in(k, 7))(rng)
            else:
                state.info["first"] = (state.pipeline_state, state.obs, state.info["row"])
            return state

        def step(self, state, action):
            jax, jnp = import_jax()
            if "steps" in state.info:
                state.info["steps"] = jnp.where(state.done, jnp.zeros_like(state.info["steps"]),
                                                state.info["steps"])
            state = state.replace(done=jnp.zeros_like(state.done))
            state = self.env.step(state, action)
            info = dict(state.info)
            if fresh:
                keys = jax.vmap(jax.random.split)(state.info["reset_key"])
                new = jax.vmap(self.env.unwrapped.reset)(keys[:, 1])
                first = (new.pipeline_state, new.obs, new.info["row"])
                info["reset_key"] = keys[:, 0]
            else:
                first = state.info["first"]
            done = state.done

            def where_done(x, y):
                if done.shape and x.shape[:1] != done.shape:
                    return y
                mask = jnp.reshape(done, done.shape + (1,) * (x.ndim - done.ndim)) > 0.5
                return jnp.where(mask, x, y)

            pipeline_state, obs, row = jax.tree.map(
                where_done, first, (state.pipeline_state, state.obs, state.info["row"]))
            info["row"] = row
            return state.replace(pipeline_state=pipeline_state, obs=obs, info=info)

    return AutoResetWrapper(wrapped)


# ---------------------------------------------------------------------------- rollouts
def make_rollout(env, n: int, episode_length: int | None = None):
    """``run(policy, key) -> dict`` of arrays for ``n`` episodes in parallel, in one
    ``lax.while_loop`` (stops when every episode has ended, or at the time limit).

    ``policy(obs (n, obs_size), key) -> (actions in [-1, 1], extras)``. The dict holds ``rows``
    (T+1, n, D), ``actions`` (T, n, A) in env units, ``rewards``, ``env_rewards`` (T, n),
    ``components`` (T, n, K), ``length``, ``terminated`` (n,) and ``nonfinite`` (the count of
    non-finite rewards); :meth:`RewardEnv.episodes` turns it into Episodes on the host.
    """
    jax, jnp = import_jax()
    T = int(episode_length or env.episode_length)
    D, A, K = env.spec.size, env.action_size, len(env.component_names)
    names = [f"component/{k}" for k in env.component_names]
    f32 = jnp.float32

    def run(policy, key):
        k_reset, k_act = jax.random.split(key)
        state = jax.vmap(env.reset)(jax.random.split(k_reset, n))
        rows = jnp.zeros((T + 1, n, D), state.info["row"].dtype).at[0].set(state.info["row"])
        buf = {
            "rows": rows,
            "actions": jnp.zeros((T, n, A), f32),
            "rewards": jnp.zeros((T, n), f32),
            "env_rewards": jnp.zeros((T, n), f32),
            "components": jnp.zeros((T, n, K), f32),
        }
        alive = jnp.ones((n,), bool)
        length = jnp.full((n,), T, jnp.int32)
        terminated = jnp.zeros((n,), bool)
        nonfinite = jnp.zeros((), f32)

        def cond(c):
            t, _, alive, *_ = c
            return (t < T) & jnp.any(alive)

        def body(c):
            t, state, alive, length, terminated, nonfinite, buf, key = c
            key, k = jax.random.split(key)
            action, _ = policy(state.obs, k)
            nstate = jax.vmap(env.step)(state, action)
            comps = (jnp.stack([nstate.metrics[m] for m in names], axis=-1) if K
                     else jnp.zeros((n, 0), f32))
            buf = {
                "rows": buf["rows"].at[t + 1].set(nstate.info["row"]),
                "actions": buf["actions"].at[t].set(jax.vmap(env.ctrl)(action).astype(f32)),
                "rewards": buf["rewards"].at[t].set(nstate.reward),
                "env_rewards": buf["env_rewards"].at[t].set(nstate.metrics["env_reward"]),
                "components": buf["components"].at[t].set(comps),
            }
            done = nstate.done > 0.5
            ended = alive & done
            length = jnp.where(ended, t + 1, length)
            terminated = terminated | ended
            nonfinite = nonfinite + jnp.sum(jnp.where(alive, nstate.metrics["nonfinite"], 0.0))
            alive = alive & ~done
            return t + 1, nstate, alive, length, terminated, nonfinite, buf, key

        c = (jnp.zeros((), jnp.int32), state, alive, length, terminated, nonfinite, buf, k_act)
        _, _, _, length, terminated, nonfinite, buf, _ = jax.lax.while_loop(cond, body, c)
        return {**buf, "length": length, "terminated": terminated, "nonfinite": nonfinite}

    return run
