"""Keyframes: a strip of a few still frames of a candidate's evaluation episode, at the moments the
trajectory summary names (the start, the task score's peak, a flip or a full turn, the largest
tilt, the longest flight, a fall, the end), for a vision-language judge (and the report).

Each candidate folder gets ``keyframes/`` with ``frame-<j>.png`` (one per moment),
``strip.png`` (the frames side by side, each labelled with its moment and time) and
``keyframes.json`` (which episode, which moments, the settings). Frames come from the same
offscreen renderer and replay as the videos (:mod:`rewardsmith.feedback.video`): the recorded
``qpos``/``qvel`` rows set the pose exactly, no policy runs. The episode shown is the median one
by the task score (the first one for a task without a fitness), so the strip is typical of the
candidate rather than its luckiest episode.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.contracts import Episode, episode_files
from rewardsmith.feedback.video import (
    NoOffscreenGL,
    RenderError,
    can_render_here,
    child_main,
    gl_backend,
    render_in_child,
    replay_poses,
    seed_dirs,
)
from rewardsmith.runs.files import atomic_write_json, read_json

FOLDER = "keyframes"
PEAK_POINTS = 24  # prefixes of the episode the task score is computed on, twice (coarse, fine)


@dataclass(frozen=True)
class KeyframeSettings:
    width: int = 224  # each frame (the videos are 320x240)
    height: int = 168
    max_frames: int = 6
    min_frames: int = 4  # fewer named moments: evenly spaced ones fill the strip up to this

    def key(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Moment:
    step: int  # the state row (0: after reset; the episode's length: its last state)
    t: float  # seconds
    label: str  # "start", "score peak", "upside down", "fell (episode ended)", "end", ...


@dataclass
class Keyframes:
    """One candidate's strip (``keyframes/keyframes.json``); paths relative to the candidate."""

    folder: str
    strip: str
    frames: list[str]
    moments: list[Moment]
    episode: str  # the replayed file, relative to the candidate folder
    episode_index: int
    episodes: int  # recorded evaluation episodes the one shown was picked from
    episode_length: int
    terminated: bool
    fitness: float | None  # the shown episode's task score (None without a fitness)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Keyframes:
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        d["moments"] = [Moment(**m) for m in d.get("moments", [])]
        return cls(**d)

    def describe(self) -> str:
        """The moments in words, for a prompt: 'start (t=0.00 s), score peak (t=1.23 s), ...'."""
        return ", ".join(f"{m.label} (t={m.t:.2f} s)" for m in self.moments)


# ---------------------------------------------------------------------------- moments
def _prefix(ep: Episode, k: int) -> Episode:
    """The first ``k`` steps of ``ep`` (states s_0..s_k), as if it had stopped there."""
    return Episode(ep.states[: k + 1], ep.actions[:k], ep.env_rewards[:k], ep.rewards[:k],
                   {n: v[:k] for n, v in ep.components.items()}, False, ep.spec)


def score_peak(ep: Episode, fitness) -> int | None:
    """The step by which the task score of the episode so far is at its highest (the torso's
    highest point for a peak height, the end for a distance), found on prefixes: coarse, then
    refined between the two coarse points around it. None when the score cannot be computed."""
    T = ep.length
    if T < 2 or fitness is None:
        return None

    def best(points: Sequence[int]) -> int | None:
        vals = []
        for k in points:
            try:
                v = float(fitness(_prefix(ep, int(k))))
            except Exception:  # noqa: BLE001 - a score that needs the whole episode has no peak
                return None
            vals.append(v if np.isfinite(v) else -np.inf)
        top = max(vals)
        if not np.isfinite(top):
            return None
        return int(points[next(i for i, v in enumerate(vals) if v >= top)])

    coarse = sorted(set(np.linspace(1, T, PEAK_POINTS).round().astype(int).tolist()))
    k = best(coarse)
    if k is None:
        return None
    i = coarse.index(k)
    lo = coarse[i - 1] + 1 if i > 0 else 1
    fine = sorted(set(np.linspace(lo, k, PEAK_POINTS).round().astype(int).tolist()))
    k2 = best(fine)
    return k if k2 is None else k2


def _finite(a: np.ndarray) -> bool:
    return a.size > 0 and bool(np.all(np.isfinite(a)))


def _segments(mask: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(int)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _events(ep: Episode, task) -> list[tuple[int, str, int]]:
    """(state row, label, priority) of the notable moments the trajectory summary names
    (rewardsmith.critic.reflect.events): a full turn, upside down or the largest tilt, the
    longest flight. Lower priority is kept first when there are too many."""
    out: list[tuple[int, str, int]] = []
    spec, T = task.spec, ep.length
    if T < 1:
        return out
    states = spec.view(ep.states)
    for name in spec.fields:
        if name.startswith("rooty") and name.endswith("_angle") and \
                spec.fields[name].group.startswith("joint root"):
            a = np.asarray(states[name], dtype=float)
            if _finite(a):
                rel = np.abs(a - a[0])
                if rel.max() >= 2 * np.pi:
                    out.append((int(np.argmax(rel >= 2 * np.pi)), "full turn", 2))
            break
    zaxes = [n for n in spec.fields if n.endswith("_zaxis")]
    if zaxes:
        up = np.asarray(states[zaxes[0]], dtype=float)[:, 2]
        if _finite(up):
            if np.any(up < 0):
                a, b = _segments(up < 0)[0]
                out.append((a, "upside down", 2))
                if b - a > 4:
                    out.append(((a + b - 1) // 2, "still upside down", 5))
            else:
                tilt = np.degrees(np.arccos(np.clip(up, -1.0, 1.0)))
                i = int(np.argmax(tilt))
                if tilt[i] >= 30.0:
                    out.append((i, f"most tilted ({tilt[i]:.0f} deg)", 4))
    contact = [n for n in spec.fields if n.endswith("_contact")]
    if contact:
        c = np.stack([np.asarray(states[n], dtype=float) for n in contact], axis=-1)
        if _finite(c):
            airborne = np.all(c == 0, axis=-1)
            flights = _segments(airborne) if not airborne.all() else []  # never touching: no ground
            if flights:
                a, b = max(flights, key=lambda p: p[1] - p[0])
                if b - a > 1:
                    out.append(((a + b - 1) // 2, "mid-flight", 4))
    return out


def moments(ep: Episode, task, settings: KeyframeSettings = KeyframeSettings()) -> list[Moment]:
    """The moments to show, in time order, at most ``settings.max_frames``."""
    T = ep.length
    fitness = getattr(task, "fitness", None)
    wanted: list[tuple[int, str, int]] = [(0, "start", 0)]
    end = "fell (ended early)" if ep.terminated else "end"
    wanted.append((T, end, 0))
    peak = score_peak(ep, fitness)
    if peak is not None and peak < T:
        wanted.append((peak, "score peak", 1))
    wanted += _events(ep, task)
    gap = max(1, T // 50)  # two moments closer than 2% of the episode show one frame
    kept: list[tuple[int, str, int]] = []
    for step, label, prio in sorted(wanted, key=lambda w: (w[2], w[0])):
        if len(kept) >= settings.max_frames:
            break
        near = next((i for i, k in enumerate(kept) if abs(k[0] - step) < gap), None)
        if near is not None:
            s, lab, p = kept[near]
            if label not in lab and "still" not in label:
                kept[near] = (s, f"{lab}; {label}", p)
            continue
        kept.append((step, label, prio))
    fill = min(settings.min_frames, settings.max_frames, T + 1)
    for step in np.linspace(0, T, fill + 2)[1:-1].round().astype(int).tolist():
        if len(kept) >= fill:
            break
        if all(abs(k[0] - step) >= gap for k in kept):
            kept.append((int(step), "", 9))
    times = _times(ep, task)
    return [Moment(step=s, t=round(float(times[s]), 4), label=lab or f"t={times[s]:.2f} s")
            for s, lab, _ in sorted(kept)]


def _times(ep: Episode, task) -> np.ndarray:
    spec = task.spec
    if "time" in spec.fields:
        t = np.asarray(spec.view(ep.states).time, dtype=float)
        if _finite(t):
            return t
    return np.arange(ep.length + 1) * float(spec.dt)


# ---------------------------------------------------------------------------- rendering
def pick_episode(task, folder: Path) -> tuple[Path, int, int, Episode, float | None]:
    """The median episode by the task score of the candidate's first seed that recorded any:
    (file, its index, how many, the episode, its score)."""
    for d in seed_dirs(folder):
        files = episode_files(d / "train")
        if not files:
            continue
        eps = [Episode.load(p, task.spec) for p in files]
        fit = getattr(task, "fitness", None)
        scores: list[float | None] = [None] * len(eps)
        if fit is not None:
            try:
                scores = [float(fit(e)) for e in eps]
            except Exception:  # noqa: BLE001 - shown without a score
                scores = [None] * len(eps)
        if all(s is not None for s in scores):
            order = sorted(range(len(eps)), key=lambda i: (scores[i], i))
            i = order[(len(order) - 1) // 2]
        else:
            i = 0
        return files[i], i, len(files), eps[i], scores[i]
    raise RenderError(f"candidate {Path(folder).name} has no recorded evaluation episode "
                      "(eval_episode_*.npz)", "was it trained? rejected and failed candidates have none")


def existing(folder: Path, settings: KeyframeSettings | None = None) -> Keyframes | None:
    """The strip already in ``folder`` (made with the same settings), or None."""
    meta = Path(folder) / FOLDER / "keyframes.json"
    try:
        k = Keyframes.from_json(read_json(meta))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if settings is not None and k.settings != settings.key():
        return None
    if not all((Path(folder) / p).exists() for p in [k.strip, *k.frames]):
        return None
    return k


def render_one(task, folder: Path, settings: KeyframeSettings | None = None,
               force: bool = False) -> Keyframes:
    """Render one candidate's keyframes in this process (see :func:`render_keyframes`)."""
    settings = settings or KeyframeSettings()
    folder = Path(folder)
    if not force:
        k = existing(folder, settings)
        if k is not None:
            return k
    path, index, count, ep, score = pick_episode(task, folder)
    marks = moments(ep, task, settings)
    frames = replay_poses(task, ep.states, [m.step for m in marks], settings.width,
                          settings.height, [m.t for m in marks])
    out = folder / FOLDER
    out.mkdir(parents=True, exist_ok=True)
    names = [f"{FOLDER}/frame-{j}.png" for j in range(len(frames))]
    for name, f in zip(names, frames):
        _save_png(f, folder / name)
    _save_png(strip_image(frames, [m.label if m.label.startswith("t=") else f"{m.label}, t={m.t:.2f} s"
                                   for m in marks]), out / "strip.png")
    k = Keyframes(folder=str(folder), strip=f"{FOLDER}/strip.png", frames=names, moments=marks,
                  episode=path.relative_to(folder).as_posix(), episode_index=index,
                  episodes=count, episode_length=ep.length, terminated=bool(ep.terminated),
                  fitness=score, settings=settings.key())
    atomic_write_json(out / "keyframes.json", k.to_json())  # written last
    return k


def strip_image(frames: Sequence[np.ndarray], labels: Sequence[str]) -> np.ndarray:
    """The frames side by side, a 2-pixel gap between them, each with its label beneath."""
    from PIL import Image, ImageDraw

    h, w = frames[0].shape[:2]
    band, gap = 14, 2
    img = Image.new("RGB", (len(frames) * w + (len(frames) - 1) * gap, h + band), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for j, (f, label) in enumerate(zip(frames, labels)):
        x = j * (w + gap)
        img.paste(Image.fromarray(np.ascontiguousarray(f)), (x, 0))
        text = label if draw.textlength(label) <= w - 4 else label[: max(1, (w - 4) // 6)] + "."
        draw.text((x + 2, h + 1), text, fill=(0, 0, 0))
    return np.asarray(img)


def _save_png(a: np.ndarray, path: Path) -> None:
    from PIL import Image

    tmp = path.with_name(f".{path.stem}.tmp.png")
    Image.fromarray(np.ascontiguousarray(a)).save(tmp, format="PNG", optimize=True)
    tmp.replace(path)


def render_keyframes(task, folders: Sequence[Path], settings: KeyframeSettings | None = None,
                     force: bool = False) -> dict[Path, Keyframes | str]:
    """Every folder's keyframes: folder -> Keyframes, or folder -> why there are none.

    Strips already there (same settings) are reused. Renders in this process when its MuJoCo
    can, else in a child process with a working OpenGL; raises :class:`NoOffscreenGL` (naming the
    packages to install) only when no offscreen OpenGL works at all.
    """
    settings = settings or KeyframeSettings()
    folders = [Path(f) for f in folders]
    out: dict[Path, Keyframes | str] = {}
    todo = []
    for f in folders:
        k = None if force else existing(f, settings)
        if k is not None:
            out[f] = k
        else:
            todo.append(f)
    if not todo:
        return out
    gl_backend()
    if can_render_here():
        for f in todo:
            try:
                out[f] = render_one(task, f, settings, force)
            except NoOffscreenGL:
                raise
            except (RenderError, OSError, ValueError, KeyError) as e:
                out[f] = str(e)
        return out
    job = {"settings": settings.key(), "force": force}
    out.update(render_in_child("rewardsmith.feedback.keyframes", task, todo, job,
                               Keyframes.from_json))
    return out


def _child_main() -> int:
    """``python -m rewardsmith.feedback.keyframes``: a job as JSON on stdin, JSON lines out."""
    def load(task, job: dict[str, Any]):
        settings = KeyframeSettings(**job["settings"])
        return lambda f: render_one(task, f, settings, job["force"])

    return child_main(load)


if __name__ == "__main__":
    sys.exit(_child_main())
