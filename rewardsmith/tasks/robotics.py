"""Env ids from gymnasium-robotics (the optional ``robotics`` extra): imported on demand when an
id is not registered, made to run on the MuJoCo the project installs, and wrapped so that the
training backends and the state view see what they expect.

Which families work is listed in docs/MANIPULATION.md. In short, with gymnasium-robotics 1.4.2
and MuJoCo 4: Adroit, PointMaze and AntMaze run as they are; Fetch, Shadow Hand (HandReach,
HandManipulate*) and FrankaKitchen run with :func:`install_compat`; the oldest versions of each
family (``FetchReach-v1``, ``Ant-v3``...) need ``mujoco_py`` and are refused with a hint to use
the newest version.
"""

from __future__ import annotations

import re
from typing import Any

from rewardsmith.errors import RewardsmithError

# the families' name prefixes, known even when the package is not installed
PREFIXES = ("Adroit", "Fetch", "HandReach", "HandManipulate", "FrankaKitchen", "PointMaze",
            "AntMaze")
INSTALL_HINT = ("install the optional extra: pip install 'rewardsmith[robotics]' "
                "(gymnasium-robotics; see docs/MANIPULATION.md for the families that run)")

_READY = False


class RoboticsError(RewardsmithError):
    pass


def looks_like_robotics(env_id: str) -> bool:
    name = env_id.split(":", 1)[-1]
    return env_id.startswith("gymnasium_robotics:") or name.startswith(PREFIXES)


def ensure_registered(env_id: str) -> None:
    """Make ``env_id`` known to gymnasium: nothing to do for a registered id; otherwise import
    gymnasium-robotics (if installed) and register its envs. An id of one of its families without
    the package raises :class:`RoboticsError` saying how to install it."""
    import gymnasium as gym

    name = env_id.split(":", 1)[-1]
    if name in gym.registry and not looks_like_robotics(env_id):
        return  # gymnasium's own (or another package's, already imported)
    try:
        import gymnasium_robotics
    except ImportError:
        if looks_like_robotics(env_id):
            raise RoboticsError(f"{name} is a gymnasium-robotics env, and gymnasium-robotics is "
                                "not installed", INSTALL_HINT) from None
        return  # an unknown id: gym.make says so
    global _READY
    if not _READY:
        gym.register_envs(gymnasium_robotics)
        install_compat()
        _READY = True


def is_robotics_env(env) -> bool:
    return type(env.unwrapped).__module__.startswith("gymnasium_robotics")


def newest_version(env_id: str) -> str | None:
    """The newest registered version of ``env_id``'s family (``FetchReach-v1`` -> ``FetchReach-v4``)."""
    import gymnasium as gym

    m = re.match(r"(?:.*:)?(.+)-v(\d+)$", env_id)
    if not m:
        return None
    versions = [int(v.group(1)) for i in gym.registry
                if (v := re.fullmatch(re.escape(m.group(1)) + r"-v(\d+)", i))]
    return f"{m.group(1)}-v{max(versions)}" if versions else None


def explain_failure(env_id: str, error: Exception) -> RoboticsError | None:
    """A clear error for a gymnasium-robotics env that cannot be made here, or None."""
    text = f"{type(error).__name__}: {error}"
    if "mujoco_py" in text:
        newest = newest_version(env_id)
        hint = (f"use the newest version, {newest}, which runs on the mujoco bindings"
                if newest and newest != env_id.split(":", 1)[-1] else
                "use a version of this env that runs on the mujoco bindings (see docs/MANIPULATION.md)")
        return RoboticsError(f"{env_id} needs mujoco_py (MuJoCo 2.1, the old bindings), which "
                             "rewardsmith does not support", hint)
    return None


# ---------------------------------------------------------------------------- compatibility
def install_compat() -> bool:
    """gymnasium-robotics' joint helpers (``utils.mujoco_utils.{get,set}_joint_q{pos,vel}``)
    test ``model.jnt_type[i] in (mjtJoint.mjJNT_HINGE, mjtJoint.mjJNT_SLIDE)``; from MuJoCo 4
    on, an ``mjtJoint`` no longer equals a numpy integer from that side, so every hinge or slide
    joint fails the assertion, and Fetch, Shadow Hand and FrankaKitchen cannot reset. The
    helpers are wrapped to see plain Python ints. Only where the problem exists; returns
    whether it wrapped them."""
    import mujoco
    import numpy as np

    if mujoco.mjtJoint.mjJNT_HINGE == np.int32(int(mujoco.mjtJoint.mjJNT_HINGE)):
        return False
    from gymnasium_robotics.utils import mujoco_utils as mu

    for fname in ("get_joint_qpos", "get_joint_qvel", "set_joint_qpos", "set_joint_qvel"):
        orig = getattr(mu, fname, None)
        if orig is None or getattr(orig, "_rewardsmith_compat", False):
            continue
        setattr(mu, fname, _with_int_joint_types(orig))
    return True


class _IntJointTypes:
    """A model seen through: ``jnt_type`` as plain ints, everything else the model's own."""

    __slots__ = ("_model", "jnt_type")

    def __init__(self, model):
        self._model = model
        self.jnt_type = [int(t) for t in model.jnt_type]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def _with_int_joint_types(fn):
    def wrapped(model, data, name, *args, **kwargs):
        return fn(_IntJointTypes(model), data, name, *args, **kwargs)

    wrapped._rewardsmith_compat = True  # type: ignore[attr-defined]
    wrapped.__wrapped__ = fn  # type: ignore[attr-defined]
    wrapped.__doc__ = fn.__doc__
    return wrapped


# --------------------------------------------------------------------------------- wrappers
def wrap(env):
    """What training and the state view need from a gymnasium-robotics env: the goal of a
    goal-conditioned env (Fetch, Shadow Hand) written into the simulator after every reset and
    step (it is otherwise only drawn when rendering, so the state view would not see it), and a
    dict observation flattened into one vector."""
    import gymnasium as gym

    u = env.unwrapped
    if hasattr(u, "goal") and hasattr(u, "_render_callback"):
        env = GoalIntoSimulator(env)
    if isinstance(env.observation_space, gym.spaces.Dict):
        env = gym.wrappers.FlattenObservation(env)
    return env


def _goal_wrapper_base():
    import gymnasium as gym

    return gym.Wrapper


class GoalIntoSimulator(_goal_wrapper_base()):  # type: ignore[misc]
    """Calls the env's ``_render_callback`` (which moves the target site or body to the goal and
    runs ``mj_forward``) after reset and step, so ``target0_pos`` (Fetch) or the target object
    (Shadow Hand) in the state view is the goal the episode is after."""

    def reset(self, **kwargs):
        out = self.env.reset(**kwargs)
        self.env.unwrapped._render_callback()
        return out

    def step(self, action):
        out = self.env.step(action)
        self.env.unwrapped._render_callback()
        return out
