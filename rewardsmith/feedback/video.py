"""Videos of what a candidate's policy does: offscreen MuJoCo, a camera that tracks the robot.

Two ways to get the frames:

- ``episode`` (the default when a recorded evaluation episode exists): replay it by setting
  ``qpos``/``qvel`` from the saved state rows. Exact, needs no policy, and works for any
  training backend that records episodes.
- ``policy``: load the saved SB3 policy (and its observation statistics) and run it again.

Each candidate folder gets ``video.mp4`` (H.264, for the page), ``video.gif`` (small, for
anywhere) and ``video.json`` (how it was made). The OpenGL backend is chosen once, when MuJoCo is
imported, from ``MUJOCO_GL``; rewardsmith probes ``egl`` then ``osmesa`` in a child process and
renders in-process when MuJoCo was imported with a working one, in a child process otherwise.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.contracts import episode_files
from rewardsmith.errors import RewardsmithError
from rewardsmith.runs.files import atomic_write_json, read_json

GL_BACKENDS = ("egl", "osmesa")
GL_HINT = ("install an offscreen OpenGL: EGL (apt-get install -y libegl1 libgl1-mesa-dri) or "
           "OSMesa (apt-get install -y libosmesa6); MUJOCO_GL=egl or MUJOCO_GL=osmesa picks one")
VIDEO_FILES = ("video.mp4", "video.gif", "video.json")


class RenderError(RewardsmithError):
    """A video could not be made (no offscreen OpenGL, no policy, no recorded episode)."""


class NoOffscreenGL(RenderError):
    """No offscreen OpenGL works here: no candidate can be rendered until one is installed."""


@dataclass(frozen=True)
class VideoSettings:
    width: int = 320
    height: int = 240
    fps: float = 30.0  # aimed at; the real rate is 1 / (dt * whole steps per frame)
    seconds: float = 6.0  # at most; an episode that ends earlier gives a shorter clip
    gif_width: int = 160
    gif_fps: float = 10.0
    hold_last_s: float = 0.5  # the final pose stays on screen for a moment

    def key(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Video:
    """One rendered clip and how it was made (``video.json``)."""

    folder: str
    source: str  # "episode" | "policy"
    mp4: str | None
    gif: str | None
    frames: int
    fps: float
    seconds: float
    steps: int  # simulator steps shown
    episode_length: int
    terminated: bool
    seed_dir: str
    settings: dict[str, Any] = field(default_factory=dict)
    episode: str | None = None  # the replayed file
    episode_return: float | None = None
    gl: str = ""
    mp4_error: str | None = None  # MP4 could not be written (no imageio-ffmpeg): the GIF still is

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Video:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


# ---------------------------------------------------------------------------- OpenGL
_PROBE = """
import mujoco, sys
m = mujoco.MjModel.from_xml_string(
    "<mujoco><worldbody><light pos='0 0 3'/><geom type='box' size='.3 .3 .3'/></worldbody></mujoco>")
r = mujoco.Renderer(m, height=32, width=32)
d = mujoco.MjData(m)
mujoco.mj_forward(m, d)
r.update_scene(d)
px = r.render()
r.close()
sys.stdout.write("ok %.3f" % float(px.std()))
"""


def _gl_env(backend: str) -> dict[str, str]:
    env = dict(os.environ)
    env["MUJOCO_GL"] = backend
    env["PYOPENGL_PLATFORM"] = backend
    return env


def _probe(backend: str) -> str | None:
    """None when ``backend`` renders in a fresh process; otherwise the reason it does not."""
    try:
        p = subprocess.run([sys.executable, "-c", _PROBE], env=_gl_env(backend),
                           capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "timed out"
    if p.returncode == 0 and p.stdout.startswith("ok"):
        return None
    lines = [ln for ln in (p.stderr or p.stdout).strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else f"exit code {p.returncode}"


@functools.lru_cache(maxsize=1)
def _working_backends() -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    asked = os.environ.get("MUJOCO_GL", "").strip().lower()
    order = [asked] if asked in GL_BACKENDS else []
    order += [b for b in GL_BACKENDS if b not in order]
    ok, failed = [], []
    for b in order:
        why = _probe(b)
        if why is None:
            ok.append(b)
            break  # one is enough
        failed.append((b, why))
    return tuple(ok), tuple(failed)


def gl_backend() -> str:
    """The offscreen OpenGL backend MuJoCo can render with here (``egl`` or ``osmesa``).

    Raises :class:`RenderError` naming the packages to install when none works.
    """
    ok, failed = _working_backends()
    if ok:
        return ok[0]
    tried = "; ".join(f"MUJOCO_GL={b}: {why}" for b, why in failed)
    raise NoOffscreenGL(f"MuJoCo cannot render offscreen here ({tried})", GL_HINT)


def prepare_gl() -> str:
    """Pick the backend before MuJoCo is imported (so this process can render itself)."""
    backend = gl_backend()
    if "mujoco" not in sys.modules:
        os.environ["MUJOCO_GL"] = backend
        os.environ.setdefault("PYOPENGL_PLATFORM", backend)
    return backend


def can_render_here() -> bool:
    """Whether this process's MuJoCo was imported with a working offscreen backend."""
    backend = gl_backend()
    if "mujoco" not in sys.modules:
        prepare_gl()
        return True
    ctx = sys.modules.get("mujoco.rendering.classic.gl_context")
    imported = getattr(ctx, "_MUJOCO_GL", None)
    return imported == backend


# ---------------------------------------------------------------------------- camera
def _robot_radius(model, data, root: int) -> float:
    """How far the robot's geoms reach from its centre of mass (metres), at the current pose."""
    bodies = [b for b in range(1, model.nbody) if root == 0 or model.body_rootid[b] == root]
    geoms = [g for g in range(model.ngeom) if model.geom_bodyid[g] in bodies]
    if not geoms:
        return float(model.stat.extent) / 2
    centre = data.subtree_com[root] if root > 0 else np.mean(data.xipos[bodies], axis=0)
    reach = [np.linalg.norm(data.geom_xpos[g] - centre) + model.geom_rbound[g] for g in geoms]
    return float(max(reach))


def _camera(model, data, cam_config: dict[str, Any] | None):
    """A camera that follows the robot's root body (a fixed one for robots bolted down)."""
    import mujoco

    cfg = dict(cam_config or {})
    cam = mujoco.MjvCamera()
    free_or_slide = (int(mujoco.mjtJoint.mjJNT_FREE), int(mujoco.mjtJoint.mjJNT_SLIDE))
    moves = any(model.body_parentid[model.jnt_bodyid[j]] == 0 and int(model.jnt_type[j]) in free_or_slide
                for j in range(model.njnt))
    track = cfg.get("trackbodyid")
    if track is None:
        track = 1 if (moves and model.nbody > 1) else 0
    elif track > 0:
        track = int(model.body_rootid[track])
    if track > 0:
        cam.type = mujoco.mjtCamera.mjCAMERA_TRACKING
        cam.trackbodyid = track
    else:
        cam.type = mujoco.mjtCamera.mjCAMERA_FREE
        cam.lookat[:] = np.asarray(cfg.get("lookat", model.stat.center), dtype=float)
    cam.distance = float(cfg.get("distance", max(1.5, 3.0 * _robot_radius(model, data, track))))
    cam.elevation = float(cfg.get("elevation", -20.0 if track > 0 else -30.0))
    cam.azimuth = float(cfg.get("azimuth", 90.0))
    return cam


class FrameRenderer:
    """``mujoco.Renderer`` with shadows and reflections off (3-4x faster in software GL)."""

    def __init__(self, model, width: int, height: int, cam_config: dict[str, Any] | None = None):
        import mujoco

        width = min(int(width), int(model.vis.global_.offwidth))
        height = min(int(height), int(model.vis.global_.offheight))
        try:
            self.renderer = mujoco.Renderer(model, height=height, width=width)
        except Exception as e:  # ImportError from a missing GL context, mujoco.FatalError, ...
            raise NoOffscreenGL(f"MuJoCo cannot render offscreen: {type(e).__name__}: {e}",
                                GL_HINT) from None
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION):
            self.renderer.scene.flags[flag] = False
        self.camera = None
        self.cam_config = cam_config
        self.model = model

    def __call__(self, data) -> np.ndarray:
        if self.camera is None:  # sized on the first pose shown
            self.camera = _camera(self.model, data, self.cam_config)
        self.renderer.update_scene(data, self.camera)
        return self.renderer.render().copy()

    def close(self) -> None:
        self.renderer.close()


def _cam_config(env) -> dict[str, Any] | None:
    r = getattr(env.unwrapped, "mujoco_renderer", None)
    cfg = getattr(r, "default_cam_config", None)
    return dict(cfg) if cfg else None


def _stride(dt: float, fps: float) -> int:
    return max(1, int(round(1.0 / (dt * fps))))


# ---------------------------------------------------------------------------- frames
def seed_dirs(folder: Path) -> list[Path]:
    """A candidate's training jobs (``seed-<s>``), lowest seed first."""

    def key(p: Path) -> int:
        try:
            return int(p.name.split("-", 1)[1])
        except (IndexError, ValueError):
            return 10**9

    return sorted((p for p in Path(folder).glob("seed-*") if p.is_dir()), key=key)


def _pick_seed_dir(folder: Path, need: str) -> Path:
    dirs = seed_dirs(folder)
    for d in dirs:
        train = d / "train"
        if need == "episode" and any(train.glob("eval_episode_*.npz")):
            return d
        if need == "policy" and (train / "policy.zip").exists():
            return d
    what = {"episode": "recorded evaluation episode (eval_episode_*.npz)",
            "policy": "saved policy (policy.zip)",
            "auto": "recorded evaluation episode and no saved policy"}[need]
    raise RenderError(f"candidate {folder.name} has no {what}",
                      "was it trained? rejected and failed candidates have no video")


def replay_poses(task, states: np.ndarray, rows: Sequence[int], width: int, height: int,
                 times: Sequence[float] | None = None,
                 renderer_factory: Callable[..., FrameRenderer] = FrameRenderer) -> list[np.ndarray]:
    """Frames of ``task``'s env set exactly to the recorded state rows ``rows`` of ``states``
    (their ``qpos``/``qvel``; ``times[i]``, when given, the simulation time of the i-th): no
    policy and no physics step runs. The videos' replay and the keyframes both draw with it."""
    import mujoco

    spec = task.spec
    for name in ("qpos", "qvel"):
        if name not in spec.fields:
            raise RenderError(f"task {task.id}: the state view has no raw {name} to replay from")
    view = spec.view(states)
    qpos, qvel = np.asarray(view.qpos), np.asarray(view.qvel)
    env = task.make_env()
    try:
        model, data = env.unwrapped.model, env.unwrapped.data
        rend = renderer_factory(model, width, height, _cam_config(env))
        frames = []
        try:
            for i, row in enumerate(rows):
                if task.restore_scene is not None:
                    task.restore_scene(model, view, row)
                data.qpos[:] = qpos[row]
                data.qvel[:] = qvel[row]
                if times is not None:
                    data.time = float(times[i])
                mujoco.mj_forward(model, data)
                frames.append(rend(data))
        finally:
            rend.close()
    finally:
        env.close()
    return frames


def replay_frames(task, episode_path: Path, settings: VideoSettings,
                  renderer_factory: Callable[..., FrameRenderer] = FrameRenderer
                  ) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Frames of a recorded episode, replayed exactly from its ``qpos``/``qvel`` rows."""
    spec = task.spec
    with np.load(episode_path) as z:
        states = np.asarray(z["states"])
        env_rewards = np.asarray(z["env_rewards"]) if "env_rewards" in z.files else None
        terminated = bool(z["terminated"]) if "terminated" in z.files else False
    stride = _stride(spec.dt, settings.fps)
    limit = int(round(settings.seconds / spec.dt))
    idx = list(range(0, min(len(states), limit + 1), stride))
    times = None
    if "time" in spec.fields:
        recorded = np.asarray(spec.view(states).time)
        times = [recorded[t] for t in idx]
    frames = replay_poses(task, states, idx, settings.width, settings.height, times, renderer_factory)
    info = {"steps": idx[-1] if idx else 0, "fps": 1.0 / (spec.dt * stride),
            "episode_length": len(states) - 1, "terminated": terminated,
            "episode_return": float(env_rewards.sum()) if env_rewards is not None else None}
    return frames, info


def _policy(task, seed_dir: Path):
    """The saved policy in ``seed_dir/train``, loaded by the backend that trained it."""
    from rewardsmith.train import load as load_backend

    spec = read_json(seed_dir / "job.json") if (seed_dir / "job.json").exists() else {}
    name = spec.get("backend", "sb3")
    backend = load_backend(name)
    if not hasattr(backend, "load_policy"):
        raise RenderError(f"the {name} backend cannot run a saved policy again",
                          "use --from episode to replay its recorded episodes")
    return backend.load_policy(task, Path(seed_dir) / "train", spec.get("overrides") or {})


def policy_frames(task, seed_dir: Path, settings: VideoSettings, seed: int = 0,
                  renderer_factory: Callable[..., FrameRenderer] = FrameRenderer
                  ) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Frames of a fresh deterministic episode of the saved policy in ``seed_dir/train``."""
    act = _policy(task, Path(seed_dir))
    env = task.make_env()
    spec = task.spec
    try:
        u = env.unwrapped
        stride = _stride(spec.dt, settings.fps)
        limit = int(round(settings.seconds / spec.dt))
        rend = renderer_factory(u.model, settings.width, settings.height, _cam_config(env))
        frames, ret, t, terminated = [], 0.0, 0, False
        try:
            obs, _ = env.reset(seed=seed)
            frames.append(rend(u.data))
            while t < limit:
                obs, r, term, trunc, _ = env.step(act(obs))
                ret += float(r)
                t += 1
                if t % stride == 0 or term or trunc:
                    frames.append(rend(u.data))
                if term or trunc:
                    terminated = bool(term)
                    break
        finally:
            rend.close()
    finally:
        env.close()
    info = {"steps": t, "fps": 1.0 / (spec.dt * stride), "episode_length": t,
            "terminated": terminated, "episode_return": ret}
    return frames, info


# ---------------------------------------------------------------------------- files
def write_video(frames: Sequence[np.ndarray], fps: float, mp4: Path | None, gif: Path | None,
                settings: VideoSettings = VideoSettings()) -> str | None:
    """Write MP4 (H.264, yuv420p) and a small looping GIF. Returns why the MP4 failed, if it did."""
    if not frames:
        raise RenderError("no frames to write")
    hold = int(round(settings.hold_last_s * fps))
    frames = list(frames) + [frames[-1]] * hold
    mp4_error = None
    if mp4 is not None:
        mp4_error = _write_mp4(frames, fps, Path(mp4))
    if gif is not None:
        _write_gif(frames, fps, Path(gif), settings)
    return mp4_error


def _write_mp4(frames: list[np.ndarray], fps: float, path: Path) -> str | None:
    try:
        import imageio.v2 as iio
        import imageio_ffmpeg  # noqa: F401 - imageio needs it for MP4
    except ImportError:
        return "MP4 needs imageio-ffmpeg (pip install imageio-ffmpeg); the GIF was written"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    h, w = frames[0].shape[:2]
    # H.264 in yuv420p wants even sizes: pad by one row/column where needed
    ph, pw = h % 2, w % 2
    writer = iio.get_writer(str(tmp), fps=fps, codec="libx264", pixelformat="yuv420p",
                            macro_block_size=1, quality=7,
                            ffmpeg_params=["-movflags", "+faststart"], ffmpeg_log_level="error")
    try:
        for f in frames:
            if ph or pw:
                f = np.pad(f, ((0, ph), (0, pw), (0, 0)), mode="edge")
            writer.append_data(np.ascontiguousarray(f))
    finally:
        writer.close()
    os.replace(tmp, path)
    return None


def _write_gif(frames: list[np.ndarray], fps: float, path: Path, settings: VideoSettings) -> None:
    from PIL import Image

    step = max(1, int(round(fps / settings.gif_fps)))
    picked = frames[::step]
    h, w = picked[0].shape[:2]
    gw = min(settings.gif_width, w)
    gh = max(1, int(round(h * gw / w)))
    imgs = [Image.fromarray(f).resize((gw, gh), Image.BILINEAR).quantize(colors=128) for f in picked]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:],
                 duration=int(round(1000 * step / fps)), loop=0, optimize=True)
    os.replace(tmp, path)


def existing_video(folder: Path, settings: VideoSettings | None = None,
                   source: str | None = None) -> Video | None:
    """The clip already in ``folder`` (made with the same settings and source), or None."""
    meta = Path(folder) / "video.json"
    if not meta.exists():
        return None
    try:
        v = Video.from_json(read_json(meta))
    except (OSError, ValueError, TypeError):
        return None
    if settings is not None and v.settings != settings.key():
        return None
    if source not in (None, "auto") and v.source != source:
        return None
    files = [p for p in (v.mp4, v.gif) if p]
    if not files or not all((Path(folder) / p).exists() for p in files):
        return None
    return v


def render_candidate(task, folder: Path, *, source: str = "auto", settings: VideoSettings | None = None,
                     seed: int = 0, force: bool = False) -> Video:
    """Render one candidate (in this process; see :func:`render_candidates` for the safe way)."""
    settings = settings or VideoSettings()
    folder = Path(folder)
    if source not in ("auto", "episode", "policy"):
        raise RenderError(f"unknown video source {source!r}; use auto, episode or policy")
    if not force:
        v = existing_video(folder, settings, source)
        if v is not None:
            return v
    episode = None
    if source in ("auto", "episode"):
        try:
            seed_dir = _pick_seed_dir(folder, "episode")
            episode = episode_files(seed_dir / "train")[0]
            frames, info = replay_frames(task, episode, settings)
            used = "episode"
        except RenderError as e:
            if source == "episode" or isinstance(e, NoOffscreenGL):
                raise
            episode = None
    if episode is None:
        try:
            seed_dir = _pick_seed_dir(folder, "policy")
        except RenderError:
            if source == "auto":
                _pick_seed_dir(folder, "auto")  # raises, naming both
            raise
        frames, info = policy_frames(task, seed_dir, settings, seed=seed)
        used = "policy"
    mp4_error = write_video(frames, info["fps"], folder / "video.mp4", folder / "video.gif", settings)
    ctx = sys.modules.get("mujoco.rendering.classic.gl_context")
    v = Video(folder=str(folder), source=used, mp4=None if mp4_error else "video.mp4", gif="video.gif",
              frames=len(frames), fps=info["fps"], seconds=len(frames) / info["fps"],
              steps=info["steps"], episode_length=info["episode_length"],
              terminated=info["terminated"], seed_dir=seed_dir.name, settings=settings.key(),
              episode=episode.name if episode is not None else None,
              episode_return=info.get("episode_return"), gl=str(getattr(ctx, "_MUJOCO_GL", "")),
              mp4_error=mp4_error)
    atomic_write_json(folder / "video.json", v.to_json())
    return v


def render_candidates(task, folders: Sequence[Path], *, source: str = "auto",
                      settings: VideoSettings | None = None, seed: int = 0, force: bool = False,
                      on_done: Callable[[Path, Video | None, str | None], None] | None = None,
                      ) -> dict[Path, Video | str]:
    """Render every folder's clip; returns folder -> Video, or folder -> the reason it failed.

    Raises :class:`RenderError` only when no offscreen OpenGL works at all. Folders whose clip is
    already there (same settings) are not rendered again unless ``force``.
    """
    settings = settings or VideoSettings()
    folders = [Path(f) for f in folders]
    out: dict[Path, Video | str] = {}
    todo = []
    for f in folders:
        v = None if force else existing_video(f, settings, source)
        if v is not None:
            out[f] = v
            if on_done:
                on_done(f, v, None)
        else:
            todo.append(f)
    if not todo:
        return out
    gl_backend()  # raises with the packages to install when nothing works
    if can_render_here():
        for f in todo:
            try:
                v = render_candidate(task, f, source=source, settings=settings, seed=seed, force=force)
                out[f] = v
                if on_done:
                    on_done(f, v, None)
            except NoOffscreenGL:
                raise
            except RenderError as e:
                out[f] = str(e)
                if on_done:
                    on_done(f, None, str(e))
        return out
    for f, res in _render_in_child(task, todo, source, settings, seed, force, on_done).items():
        out[f] = res
    return out


def _render_in_child(task, folders: list[Path], source: str, settings: VideoSettings, seed: int,
                     force: bool, on_done) -> dict[Path, Video | str]:
    def done(f: Path, res: Video | str) -> None:
        if on_done:
            on_done(f, res if isinstance(res, Video) else None, None if isinstance(res, Video) else res)

    job = {"source": source, "settings": settings.key(), "seed": seed, "force": force}
    return render_in_child("rewardsmith.feedback.video", task, folders, job, Video.from_json, done)


def _child_main() -> int:
    """``python -m rewardsmith.feedback.video``: a render job as JSON on stdin, JSON lines out."""
    def load(task, job: dict[str, Any]) -> Callable[[Path], Video]:
        settings = VideoSettings(**job["settings"])
        return lambda f: render_candidate(task, f, source=job["source"], settings=settings,
                                          seed=job["seed"], force=job["force"])

    return child_main(load)


# ------------------------------------------------------------------ the render child's protocol
# Where this process's MuJoCo cannot render offscreen, videos and keyframes are rendered by
# ``python -m <module>`` started with a working MUJOCO_GL. The job goes as one JSON object on
# stdin: the task's origin (to load it again), the folders, and the module's own settings. The
# child answers one JSON line per folder as it finishes it, {"folder", "result": <to_json()>}
# or {"folder", "error"} (one broken candidate does not hide the others), or one {"fatal"} line
# (no offscreen OpenGL, a task that cannot be loaded) and exit code 2.

def render_in_child(module: str, task, folders: Sequence[Path], job: dict[str, Any],
                    from_json: Callable[[dict[str, Any]], Any],
                    on_result: Callable[[Path, Any], None] | None = None) -> dict[Path, Any]:
    """Render ``folders`` in a child ``python -m module`` (which calls :func:`child_main`): folder
    -> ``from_json`` of its result, or folder -> why it failed, each also given to ``on_result``
    as it comes. Raises :class:`NoOffscreenGL` or :class:`RenderError` on the child's fatal line."""
    import tempfile

    if not task.origin:
        raise RenderError(f"task {task.id} cannot be loaded again in a child process to render it",
                          "set MUJOCO_GL=egl (or osmesa) before starting rewardsmith")
    folders = list(folders)
    job = {"task": dict(task.origin), "folders": [str(f) for f in folders], **job}
    out: dict[Path, Any] = {}

    def got(f: Path, res: Any) -> None:
        out[f] = res
        if on_result:
            on_result(f, res)

    fatal = None
    with tempfile.TemporaryFile("w+") as err:  # a file, not a pipe: a long stderr cannot stall it
        proc = subprocess.Popen([sys.executable, "-m", module], env=_gl_env(gl_backend()),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                text=True)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(job))
        proc.stdin.close()
        for line in proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "fatal" in msg:
                fatal = msg["fatal"]
            elif msg.get("result"):
                got(Path(msg["folder"]), from_json(msg["result"]))
            else:
                got(Path(msg["folder"]), msg.get("error", "failed"))
        proc.wait()
        err.seek(0)
        stderr = err.read()
    if fatal:
        if "offscreen" in fatal:
            raise NoOffscreenGL(fatal, GL_HINT)
        raise RenderError(fatal)
    for f in folders:
        if f not in out:
            tail = stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
            got(f, f"the renderer process failed: {tail[0][:300]}")
    return out


def child_main(load: Callable[[Any, dict[str, Any]], Callable[[Path], Any]]) -> int:
    """The child's side of :func:`render_in_child`: reads the job on stdin, loads its task,
    ``load(task, job)`` gives the function that renders one folder (its result has ``to_json()``),
    and answers one JSON line per folder. Returns the exit code."""
    import warnings

    warnings.filterwarnings("ignore")
    job = json.loads(sys.stdin.read())
    try:
        from rewardsmith import tasks

        render = load(tasks.from_origin(job["task"]), job)
    except RewardsmithError as e:
        print(json.dumps({"fatal": str(e)}), flush=True)
        return 2
    for f in job["folders"]:
        try:
            print(json.dumps({"folder": f, "result": render(Path(f)).to_json()}), flush=True)
        except NoOffscreenGL as e:
            print(json.dumps({"fatal": e.message}), flush=True)
            return 2
        except RenderError as e:
            print(json.dumps({"folder": f, "error": str(e)}), flush=True)
        except Exception as e:  # noqa: BLE001 - one broken candidate must not hide the others
            print(json.dumps({"folder": f, "error": f"{type(e).__name__}: {e}"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
