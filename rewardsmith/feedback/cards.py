"""What the person sees of each candidate: its clip, task score, component plot and code."""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.contracts import episode_files

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac")


@dataclass
class Card:
    id: str
    number: int  # 1-based, the key that picks it
    source: str
    fitness: float | None
    mp4: str | None = None  # file name inside the candidate folder
    gif: str | None = None
    video_note: str = ""  # why there is no clip, or what the clip shows
    plot_svg: str = ""
    components: dict[str, float] = field(default_factory=dict)  # episode sums
    episode_length: int | None = None
    terminated: bool | None = None
    seconds: float | None = None
    label: str = ""  # e.g. "previous best", shown beside the id

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _episode_file(folder: Path, video_meta: dict[str, Any] | None) -> Path | None:
    from rewardsmith.feedback.video import seed_dirs

    if video_meta and video_meta.get("episode") and video_meta.get("seed_dir"):
        p = folder / video_meta["seed_dir"] / "train" / video_meta["episode"]
        if p.exists():
            return p
    for d in seed_dirs(folder):
        eps = episode_files(d / "train")
        if eps:
            return eps[0]
    return None


def episode_components(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k.split(":", 1)[1]: np.asarray(z[k], dtype=float).reshape(-1)
                for k in z.files if k.startswith("component:")}


def component_svg(components: dict[str, np.ndarray], dt: float | None = None, *, width: int = 320,
                  height: int = 120, max_lines: int = 6, colors: dict[str, str] | None = None) -> str:
    """A small inline SVG line plot of each reward component over an episode (``colors``: the
    same component in the same colour on every card)."""
    series = {k: v[np.isfinite(v)] for k, v in components.items() if len(v)}
    if not series:
        return ""
    # the components that matter most (largest mean magnitude) first
    names = sorted(series, key=lambda k: -float(np.mean(np.abs(series[k]))))[:max_lines]
    lo = min(float(np.min(series[k])) for k in names)
    hi = max(float(np.max(series[k])) for k in names)
    if hi - lo < 1e-12:
        lo, hi = lo - 1.0, hi + 1.0
    n = max(len(series[k]) for k in names)
    left, right, top, legend_h = 44, 6, 6, 14 * ((len(names) + 1) // 2)
    plot_h = height - top - 14
    total_h = height + legend_h

    def x(i: int) -> float:
        return left + (width - left - right) * (i / max(n - 1, 1))

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - lo) / (hi - lo))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {total_h}" '
             f'width="{width}" height="{total_h}" class="plot" role="img" '
             f'aria-label="reward components over the episode">']
    parts.append(f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{plot_h}" '
                 'fill="none" stroke="#8884"/>')
    if lo < 0 < hi:
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(0):.1f}" y2="{y(0):.1f}" '
                     'stroke="#8886" stroke-dasharray="3 3"/>')
    for v in (hi, lo):
        parts.append(f'<text x="{left - 3}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="9" '
                     f'fill="currentColor">{_num(v)}</text>')
    t_end = f"{(n - 1) * dt:.1f} s" if dt else f"{n - 1} steps"
    parts.append(f'<text x="{width - right}" y="{top + plot_h + 11}" text-anchor="end" font-size="9" '
                 f'fill="currentColor">{t_end}</text>')
    for k, name in enumerate(names):
        v = series[name]
        step = max(1, len(v) // 200)  # at most ~200 points a line
        pts = " ".join(f"{x(i):.1f},{y(float(v[i])):.1f}" for i in range(0, len(v), step))
        color = (colors or {}).get(name) or PALETTE[k % len(PALETTE)]
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{pts}">'
                     f'<title>{html.escape(name)}</title></polyline>')
        lx = left + (k % 2) * ((width - left) // 2)
        ly = height + 14 * (k // 2) + 2
        parts.append(f'<rect x="{lx}" y="{ly}" width="10" height="3" fill="{color}"/>'
                     f'<text x="{lx + 14}" y="{ly + 5}" font-size="10" fill="currentColor">'
                     f'{html.escape(name[:28])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _num(v: float) -> str:
    return f"{v:.2g}" if abs(v) < 1000 else f"{v:.0f}"


def make_cards(candidates: list[dict[str, Any]], videos: dict[str, Any] | None = None,
               dt: float | None = None) -> list[Card]:
    """One card per candidate dict (id, source, fitness, folder); ``videos``: id -> Video or the
    reason there is none."""
    from rewardsmith.feedback.video import Video, existing_video

    cards, episodes = [], []
    for n, c in enumerate(candidates, start=1):
        folder = Path(c["folder"])
        card = Card(id=c["id"], number=n, source=c.get("source") or "", fitness=c.get("fitness"),
                    label=str(c.get("label") or ""))
        v = (videos or {}).get(c["id"])
        if v is None:
            v = existing_video(folder)
        if isinstance(v, Video):
            card.mp4, card.gif = v.mp4, v.gif
            card.episode_length, card.terminated, card.seconds = v.episode_length, v.terminated, v.seconds
            card.video_note = ("replay of an evaluation episode" if v.source == "episode"
                               else "a fresh run of the saved policy")
            meta = v.to_json()
        else:
            card.video_note = f"no video: {v}" if isinstance(v, str) else "no video"
            meta = None
        ep = _episode_file(folder, meta)
        comps: dict[str, np.ndarray] = {}
        if ep is not None:
            comps = episode_components(ep)
            card.components = {k: float(np.sum(a)) for k, a in comps.items()}
            if card.episode_length is None:
                with np.load(ep) as z:
                    card.episode_length = int(z["actions"].shape[0])
                    card.terminated = bool(z["terminated"]) if "terminated" in z.files else None
        cards.append(card)
        episodes.append(comps)
    names = sorted({k for comps in episodes for k in comps})
    colors = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(names)}
    for card, comps in zip(cards, episodes):
        card.plot_svg = component_svg(comps, dt, colors=colors)
    return cards
