"""The run report: one static HTML file that shows what a design run did.

Everything is inside the file (inline CSS, plots as base64 PNG, small videos as data URIs; large
videos are linked by relative path), so it opens without a network and can be mailed around.
It reads only the run directory:

- the task and its description; the fitness of every candidate over the iterations, the best so
  far, and the baseline / untrained-policy lines;
- learning curves of each iteration's best candidate; component statistics over training and
  over an evaluation episode;
- the best reward's code and the diff from the previous best at each iteration;
- the feedback that was sent to the LLM; token use and cost; rejected and failed candidates and
  why; ``rewardsmith evaluate`` reports saved under ``<run>/evaluations/`` (``*.json`` or
  ``*/evaluation.json``); videos found in the run directory.

``report_compare(run_a, run_b)`` puts two runs side by side.
"""

from __future__ import annotations

import base64
import difflib
import html
import io
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardsmith import __version__
from rewardsmith.contracts import episode_files
from rewardsmith.critic.screening import taus
from rewardsmith.errors import RewardsmithError
from rewardsmith.runs.rundir import candidate_key, number, reference_of

VIDEO_SUFFIXES = {".mp4": "video/mp4", ".webm": "video/webm", ".gif": "image/gif"}
MAX_EMBED_VIDEO = 4 * 2**20  # bytes per video embedded as a data URI; larger ones are linked
MAX_EMBED_TOTAL = 24 * 2**20
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


class ReportError(RewardsmithError):
    pass


# ================================================================================ reading
@dataclass
class RunData:
    """Everything the report shows, read from one run directory."""

    path: Path
    manifest: dict[str, Any]
    events: list[dict[str, Any]]
    candidates: list[dict[str, Any]]  # result.json of finished candidates (+ unfinished stubs)
    validations: dict[str, dict[str, Any]]
    iterations: list[dict[str, Any]]
    llm_calls: list[dict[str, Any]]
    best: dict[str, Any] | None
    best_source: str | None
    evaluations: list[tuple[str, dict[str, Any]]]
    videos: list[tuple[str, Path]]  # (candidate id or "", file)
    task_description: str = ""
    task_robot: str = ""
    task_env: str = ""
    fitness_doc: str = ""
    task_note: str = ""
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    verdict: dict[str, Any] | None = None  # the best against the hand-written reward

    def normalized(self) -> float | None:
        """The best's normalized score, as the verdict gives it (None where undefined)."""
        return _num(((self.verdict or {}).get("normalized") or {}).get("value"))

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id") or self.path.name)

    @property
    def baseline(self) -> dict[str, Any]:
        """{"baseline": {"fitness_mean", "per_seed"}, "floor": {...}}, or {}."""
        ref = reference_of(self.best, self.iterations)
        if ref:
            return ref
        for ev in reversed(self.events):
            if ev.get("event") == "baseline":
                return {k: ev.get(k) for k in ("baseline", "floor") if ev.get(k)}
        return {}

    def baseline_value(self, kind: str) -> float | None:
        return _num((self.baseline.get(kind) or {}).get("fitness_mean"))

    def iteration_bests(self) -> dict[int, dict[str, Any]]:
        """Each iteration's best: the loop's choice (its log), else the highest fitness."""
        out: dict[int, dict[str, Any]] = {}
        for ev in self.events:
            if ev.get("event") == "iteration_finished" and ev.get("iteration_best") in self.by_id:
                out[int(ev.get("iteration", 0))] = self.by_id[ev["iteration_best"]]
        chosen = set(out)
        for c in self.candidates:
            if c.get("status") != "ok" or _num(c.get("fitness")) is None:
                continue
            it = int(c.get("iteration", 0))
            if it in chosen:
                continue
            if it not in out or _num(c.get("fitness")) > _num(out[it].get("fitness")):  # type: ignore[operator]
                out[it] = c
        return dict(sorted(out.items()))

    def best_candidate(self) -> dict[str, Any] | None:
        """The loop's choice: the run's best, else the best its latest finished iteration named;
        only a run with no finished iteration falls back to the highest score so far."""
        if self.best and self.best.get("candidate") in self.by_id:
            return self.by_id[self.best["candidate"]]
        for it in reversed(self.iterations):
            chosen = (it.get("best") or {}).get("id")
            if chosen in self.by_id:
                return self.by_id[chosen]
        bests = list(self.iteration_bests().values())
        return max(bests, key=_score) if bests else None

    def best_sequence(self) -> list[tuple[int, dict[str, Any] | None]]:
        """(iteration, best so far after it), from the iteration summaries."""
        out = []
        for it in self.iterations:
            b = it.get("best")
            out.append((int(it.get("iteration", len(out))), b))
        return out


def load_run(path: str | Path) -> RunData:
    from rewardsmith.runs.files import read_jsonl
    from rewardsmith.runs.rundir import RunDir

    run = RunDir.open(Path(path))
    root = run.path
    manifest = run.manifest
    events = read_jsonl(root / "events.jsonl")

    candidates: list[dict[str, Any]] = []
    validations: dict[str, dict[str, Any]] = {}
    cdir = root / "candidates"
    if cdir.is_dir():
        for d in sorted((p for p in cdir.iterdir() if p.is_dir()), key=candidate_key):
            v = _read(d / "validation.json")
            if isinstance(v, dict):
                validations[d.name] = v
            r = _read(d / "result.json") if (d / "DONE").exists() else None
            if isinstance(r, dict):
                r.setdefault("id", d.name)
                candidates.append(r)
            else:
                it, k = candidate_key(d)
                src = (d / "reward.py").read_text() if (d / "reward.py").exists() else ""
                candidates.append({"id": d.name, "iteration": it, "k": k, "status": "unfinished",
                                   "source": src, "stage": "", "error": None})
    iterations = run.iterations()
    llm_calls = [e if e.get("event") == "llm_call" else {**e, "model": f"{e.get('model')} (judge)"}
                 for e in events if e.get("event") in ("llm_call", "judge_call")]
    if not llm_calls:  # older runs: the request files
        for d in run.llm_requests():
            u = d.get("usage") or {}
            llm_calls.append({"iteration": d["iteration"], "model": d.get("model"),
                              "cached": d.get("cached"), **u})
    best = run.best()
    best_source = (root / "best" / "reward.py").read_text() if (root / "best" / "reward.py").exists() else None

    evaluations: list[tuple[str, dict[str, Any]]] = []
    edir = root / "evaluations"
    if edir.is_dir():
        for p in sorted(list(edir.glob("*.json")) + list(edir.glob("*/evaluation.json"))):
            d = _read(p)
            if isinstance(d, dict) and "fitness" in d:
                name = p.parent.name if p.name == "evaluation.json" else p.stem
                evaluations.append((name, d))

    videos: list[tuple[str, Path]] = []
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file():
            rel = p.relative_to(root).parts
            cid = rel[1] if len(rel) > 2 and rel[0] == "candidates" else ""
            videos.append((cid, p))

    data = RunData(root, manifest, events, candidates, validations, iterations, llm_calls, best,
                   best_source, evaluations, videos)
    data.by_id = {c["id"]: c for c in candidates}
    try:
        data.verdict = run.verdict()
    except (OSError, ValueError, KeyError, TypeError):
        data.verdict = None
    try:
        from rewardsmith import tasks

        task = tasks.from_origin(manifest.get("task_origin") or {"kind": "registry", "id": manifest.get("task")})
        data.task_description = task.description
        data.task_robot = task.robot
        data.task_env = task.env_id
        data.fitness_doc = task.fitness.doc if task.fitness else ""
    except (RewardsmithError, KeyError, TypeError) as e:
        data.task_note = f"the task could not be loaded again ({e})"
    return data


def _read(p: Path) -> Any:
    try:
        with open(p) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _score(c: dict[str, Any] | None) -> float | None:
    if not c:
        return None
    s = _num(c.get("score"))
    return s if s is not None else _num(c.get("fitness"))


# ================================================================================ writing
def write_report(run: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of ``run`` (default ``<run>/report.html``); return its path."""
    data = load_run(run)
    out = Path(out) if out else data.path / "report.html"
    text = render_report(data, out.parent)
    _write(out, text)
    return out


def report_compare(run_a: str | Path, run_b: str | Path, out: str | Path | None = None) -> Path:
    """Write a side-by-side report of two runs (default ``<run_a>/compare-<run_b id>.html``)."""
    a, b = load_run(run_a), load_run(run_b)
    if a.path.resolve() == b.path.resolve():
        raise ReportError("both runs are the same directory", "give two different runs")
    out = Path(out) if out else a.path / f"compare-{_slug(b.run_id)}.html"
    _write(out, render_compare(a, b, out.parent))
    return out


def _write(out: Path, text: str) -> None:
    from rewardsmith.runs.files import atomic_write_text

    if out.is_dir():
        raise ReportError(f"{out} is a folder", "give the path of an .html file")
    atomic_write_text(out, text)
    _readable(out)


def _readable(path: Path) -> None:
    """Give the file the usual permissions (the atomic writer creates it private)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in s) or "run"


# ============================================================================== rendering
def render_report(data: RunData, out_dir: Path | None = None) -> str:
    out_dir = out_dir or data.path
    plots = _Plots()
    m = data.manifest
    title = f"rewardsmith report: {data.run_id}"
    sections = [
        ("summary", "Summary", _summary(data)),
        ("task", "Task", _task(data)),
        ("fitness", "Fitness over iterations", _fitness_section(data, plots)),
        ("curves", "Learning curves", _curves_section([(data.run_id, data)], plots)),
        ("components", "Reward components", _components_section(data, plots)),
        ("code", "Best reward and its history", _code_section(data)),
        ("candidates", "Candidates", _candidates_table(data)),
        ("failures", "Validation failures and errors", _failures(data)),
        ("feedback", "Feedback sent to the LLM", _feedback(data)),
        ("llm", "Token use and cost", _llm_usage(data)),
        ("evaluations", "Evaluations", _evaluations(data)),
        ("videos", "Videos", _videos(data, out_dir)),
    ]
    judged = _judge_section(data, out_dir)
    if judged:  # --feedback vlm: the frames beside the judge's words
        sections.insert(sections.index(next(x for x in sections if x[0] == "feedback")),
                        ("judge", "The vision-language judge", judged))
    sub = (f"task <b>{_e(m.get('task'))}</b> · status <b>{_e(m.get('status'))}</b> · "
           f"designer <b>{_e(m.get('llm'))}</b> · created {_e(m.get('created'))}")
    return _page(title, sub, sections, plots.unavailable, data.path)


def render_compare(a: RunData, b: RunData, out_dir: Path | None = None) -> str:
    out_dir = out_dir or a.path
    plots = _Plots()
    title = f"rewardsmith: {a.run_id} vs {b.run_id}"
    note = ""
    if a.manifest.get("task") != b.manifest.get("task"):
        note = (f"<p class='warn'>The runs are on different tasks ({_e(a.manifest.get('task'))} and "
                f"{_e(b.manifest.get('task'))}): their fitness values need not be comparable.</p>")
    both = [(a.run_id, a), (b.run_id, b)]
    sections = [
        ("summary", "Summary", note + _compare_summary(a, b)),
        ("task", "Task", _columns([_task(a), _task(b)], [a.run_id, b.run_id])),
        ("fitness", "Fitness over iterations", _fitness_plot(both, plots)),
        ("curves", "Learning curves of the best candidates", _curves_section(both, plots, only_best=True)),
        ("components", "Reward components of the best candidates",
         _columns([_components_section(a, plots, compact=True), _components_section(b, plots, compact=True)],
                  [a.run_id, b.run_id])),
        ("code", "Best rewards", _compare_code(a, b)),
        ("candidates", "Candidates", _columns([_candidates_table(a, code=False), _candidates_table(b, code=False)],
                                             [a.run_id, b.run_id])),
        ("llm", "Token use and cost", _columns([_llm_usage(a), _llm_usage(b)], [a.run_id, b.run_id])),
        ("evaluations", "Evaluations", _columns([_evaluations(a), _evaluations(b)], [a.run_id, b.run_id])),
        ("videos", "Videos", _columns([_videos(a, out_dir), _videos(b, out_dir)], [a.run_id, b.run_id])),
    ]
    sub = f"<b>{_e(a.path)}</b> (A) and <b>{_e(b.path)}</b> (B)"
    return _page(title, sub, sections, plots.unavailable, None)


# ------------------------------------------------------------------------------- sections
def _summary(d: RunData) -> str:
    s = d.manifest.get("summary") or {}
    best = d.best_candidate()
    base, floor = d.baseline_value("baseline"), d.baseline_value("floor")
    score = _score(best)
    cards = [
        ("best reward", best["id"] if best else "none yet"),
        ("fitness (mean over seeds)", _f(score)),
        ("seeds", ", ".join(f"{k}: {_f(v)}" for k, v in (best or {}).get("fitness_seeds", {}).items()) or "-"),
        ("baseline (hand-written)", _f(base)),
        ("untrained policy", _f(floor)),
        ("normalized score", _f(d.normalized())),
        ("success rate", _f((best or {}).get("success_rate"))),
    ]
    counts: dict[str, int] = {}
    for c in d.candidates:
        counts[c.get("status", "?")] = counts.get(c.get("status", "?"), 0) + 1
    cfg = d.manifest.get("config") or {}
    cards += [
        ("candidates", ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "0"),
        ("iterations", f"{len(d.iterations)} of {cfg.get('iterations', '?')}"),
        ("env steps per candidate", _f(s.get("steps") or cfg.get("steps"))),
        ("cost", f"${_cost(d):.4f}"),
        ("tokens", f"{_tokens(d)[0] + _tokens(d)[1]:,}"),
    ]
    extra = ""
    v = d.verdict
    if v:  # the closing evaluation's (or the best's own seeds'): the words every command prints
        extra += f"<p class='verdict'><b>Verdict: {_e(v['line'])}</b></p>"
        extra += "".join(f"<p class='warn'>Warning: {_e(w)}</p>" for w in v.get("warnings") or [])
        extra += "<ul class='details'>" + "".join(f"<li>{_e(x)}</li>" for x in v.get("details") or []) + "</ul>"
        if not v["normalized"]["defined"]:
            cards[5] = ("normalized score", "undefined")
        elif v["normalized"].get("low") is not None:
            n = v["normalized"]
            cards[5] = ("normalized score", f"{_f(n['value'])} [{_f(n['low'])}, {_f(n['high'])}]")
        if v.get("seeds"):
            cards[1] = (f"fitness (mean over {len(v['seeds'])} seeds)", _f(v["reward"]["mean"]))
            if (v.get("success") or {}).get("reward") is not None:  # over the same seeds
                cards[6] = (f"success rate ({len(v['seeds'])} seeds)", _f(v["success"]["reward"]))
            cards[3] = ("baseline (hand-written)", _f(v["baseline"]["mean"]))
            cards[4] = ("untrained policy", _f(v["floor"]["mean"]))
    if s.get("stopped_early"):
        extra += f"<p class='warn'>Stopped early: {_e(s['stopped_early'])}</p>"
    if d.manifest.get("error"):
        extra += f"<p class='warn'>The run failed: {_e(d.manifest['error'])}</p>"
    if any(d.path.glob("candidates/*/seed-*/train/tb")):
        extra += (f"<p class='note'>Training curves of every candidate (task score, return, episode "
                  f"length, each reward component) in TensorBoard: "
                  f"<code>tensorboard --logdir {_e(str(d.path))}</code></p>")
    extra += ("<p class='note'>Normalized score = (F − F<sub>untrained</sub>) / |F<sub>baseline</sub> − "
              "F<sub>untrained</sub>|: 1.0 is as good as the hand-written reward.</p>")
    versions = d.manifest.get("versions") or {}
    cfg_txt = ", ".join(f"{k}={v}" for k, v in cfg.items())
    extra += (f"<details><summary>configuration and versions</summary><pre>{_e(cfg_txt)}\n"
              f"{_e(', '.join(f'{k} {v}' for k, v in versions.items()))}\n"
              f"prompt templates: {_e(', '.join(d.manifest.get('prompt_templates') or []))}</pre></details>")
    html_cards = "".join(f"<div class='card'><div class='k'>{_e(k)}</div><div class='v'>{_e(v)}</div></div>"
                         for k, v in cards)
    return f"<div class='cards'>{html_cards}</div>{extra}"


def _task(d: RunData) -> str:
    m = d.manifest
    rows = [("id", m.get("task")), ("robot", d.task_robot or "-"), ("env", d.task_env or "-")]
    out = "<table class='kv'>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    out += "</table>"
    if d.task_description:
        out += f"<p class='desc'>{_e(d.task_description)}</p>"
    if d.fitness_doc:
        out += f"<p><b>Fitness</b> (the ground truth; never shown to the LLM): {_e(d.fitness_doc)}</p>"
    if d.task_note:
        out += f"<p class='warn'>{_e(d.task_note)}</p>"
    return out


def _fitness_section(d: RunData, plots: _Plots) -> str:
    out = _fitness_plot([(d.run_id, d)], plots)
    seq = d.best_sequence()
    if seq:
        rows = []
        for it, b in seq:
            ib = d.iteration_bests().get(it)
            rows.append([str(it), _e(ib["id"]) if ib else "-", _f(_score(ib)),
                         _e((b or {}).get("id", "-")), _f(_score(b))])
        out += _table(["iteration", "iteration's best", "its score", "best so far", "best score"], rows)
        out += "<p class='note'>Score: mean fitness over the seeds a candidate was trained on.</p>"
    return out


def _fitness_plot(runs: list[tuple[str, RunData]], plots: _Plots) -> str:
    def draw(fig):
        ax = fig.add_subplot()
        for i, (label, d) in enumerate(runs):
            color = COLORS[i % len(COLORS)]
            pre = f"{label}: " if len(runs) > 1 else ""
            xs, ys, bad_x, early = [], [], [], []
            for c in d.candidates:
                it = int(c.get("iteration", 0))
                jitter = 0.08 * (int(c.get("k", 0)) % 7 - 3) + (0.1 * i if len(runs) > 1 else 0)
                f = _num(c.get("fitness"))
                if c.get("status") == "ok" and f is not None:
                    xs.append(it + jitter)
                    ys.append(f)
                elif c.get("status") == "stopped" and f is not None:
                    early.append((it + jitter, f))
                elif c.get("status") in ("rejected", "failed"):
                    bad_x.append(it + jitter)
            ax.scatter(xs, ys, s=22, alpha=0.55, color=color, label=f"{pre}candidates (first seed)")
            if early:  # successive halving: fitness when they stopped, part way through
                ax.scatter([x for x, _ in early], [y for _, y in early], s=22, alpha=0.55,
                           facecolors="none", edgecolors=color,
                           label=f"{pre}stopped early ({len(early)}, partial budget)")
            seq = [(it, _score(b)) for it, b in d.best_sequence() if _score(b) is not None]
            if seq:
                ax.plot([x for x, _ in seq], [y for _, y in seq], "-o", color=color, lw=2,
                        label=f"{pre}best so far (mean over its design seeds)")
            closing = d.verdict if (d.verdict or {}).get("seeds") else None
            on = " on the design seeds" if closing else ""
            for kind, style in (("baseline", "--"), ("floor", ":")):
                v = d.baseline_value(kind)
                if v is not None:
                    name = "baseline reward" if kind == "baseline" else "untrained policy"
                    ax.axhline(v, ls=style, color=color if len(runs) > 1 else "#555", lw=1.3,
                               label=f"{pre}{name}{on} ({v:.3g})")
            if closing:  # the claim: the best and the hand-written reward on the closing seeds
                x = max([int(c.get("iteration", 0)) for c in d.candidates] or [0]) + 0.4
                n = len(closing["seeds"])
                for who, dx, marker, fill in (("reward", 0.0, "D", color), ("baseline", 0.12, "s", "none")):
                    m = closing[who]
                    if m.get("mean") is None:
                        continue
                    err = None
                    if m.get("low") is not None and m.get("high") is not None:
                        err = [[m["mean"] - m["low"]], [m["high"] - m["mean"]]]
                    name = "the best" if who == "reward" else "hand-written"
                    ax.errorbar([x + dx], [m["mean"]], yerr=err, fmt=marker, color=color,
                                mfc=fill, capsize=3, label=f"{pre}{name}, closing evaluation "
                                f"({n} seeds: mean, 95% interval) {m['mean']:.3g}")
            if bad_x:
                lo = min(ys + [v for v in (d.baseline_value("floor"),) if v is not None] or [0.0])
                ax.scatter(bad_x, [lo] * len(bad_x), marker="x", color="#999",
                           label=f"{pre}rejected / failed ({len(bad_x)})")
        ax.set_xlabel("iteration")
        ax.set_ylabel("fitness (higher is better)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")

    if not any(d.candidates for _, d in runs):
        return "<p>No candidates yet.</p>"
    return plots.img(draw, "fitness of every candidate and the best so far, per iteration")


def _curves_section(runs: list[tuple[str, RunData]], plots: _Plots, only_best: bool = False) -> str:
    series: list[tuple[str, list[dict], str, float]] = []  # label, curve, color, line width
    for i, (label, d) in enumerate(runs):
        best = d.best_candidate()
        pre = f"{label} " if len(runs) > 1 else ""
        chosen = [best] if only_best and best else list(d.iteration_bests().values())
        n = max(1, len(chosen))
        for j, c in enumerate(chosen):
            curve = (c.get("train") or {}).get("curve") or []
            if not curve:
                continue
            is_best = best is not None and c["id"] == best["id"]
            color = COLORS[i % len(COLORS)] if len(runs) > 1 else _shade(j, n)
            series.append((f"{pre}{c['id']}" + (" (best)" if is_best else ""), curve, color,
                           2.4 if is_best else 1.2))
    if not series:
        return "<p>No training curves yet.</p>"

    def draw(fig):
        ax = fig.add_subplot()
        for label, curve, color, lw in series:
            pts = [(p.get("step"), _num(p.get("fitness"))) for p in curve]
            pts = [(x, y) for x, y in pts if x is not None and y is not None]
            ax.plot([x for x, _ in pts], [y for _, y in pts], color=color, lw=lw, label=label)
        for i, (label, d) in enumerate(runs):
            v = d.baseline_value("baseline")
            if v is not None:
                ax.axhline(v, ls="--", lw=1, color=COLORS[i % len(COLORS)] if len(runs) > 1 else "#555",
                           label=(f"{label} " if len(runs) > 1 else "") + "baseline reward (evaluation)")
        ax.set_xlabel("env steps")
        ax.set_ylabel("fitness of training episodes")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")

    text = ("<p class='note'>Fitness of the training episodes that ended in each window of training "
            "(the stochastic policy); the baseline line is the evaluation fitness of the "
            "hand-written reward.</p>")
    what = "the best candidate" if only_best else "each iteration's best candidate"
    return text + plots.img(draw, f"learning curves of {what}")


def _shade(j: int, n: int) -> str:
    import colorsys

    h = 0.6 - 0.55 * (j / max(1, n - 1))
    r, g, b = colorsys.hsv_to_rgb(h, 0.75, 0.8)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def _components_section(d: RunData, plots: _Plots, compact: bool = False) -> str:
    best = d.best_candidate()
    if best is None:
        return "<p>No trained candidate yet.</p>"
    curve = (best.get("train") or {}).get("curve") or []
    names = sorted({k for p in curve for k in (p.get("components") or {})})
    out = f"<p>Candidate <b>{_e(best['id'])}</b>.</p>"
    if curve:
        def draw(fig):
            axes = fig.subplots(1, 2)
            steps = [p.get("step") for p in curve]
            for i, n in enumerate(names):
                axes[0].plot(steps, [_nan(p.get("components", {}).get(n)) for p in curve],
                             color=COLORS[i % len(COLORS)], label=n)
            axes[0].set_title("components (mean episode sum)", fontsize=10)
            axes[0].set_xlabel("env steps")
            axes[0].grid(alpha=0.3)
            if names:
                axes[0].legend(fontsize=8)
            axes[1].plot(steps, [_nan(p.get("episode_length")) for p in curve], color="#333",
                         label="episode length")
            axes[1].set_xlabel("env steps")
            axes[1].set_title("episode length and returns", fontsize=10)
            ax2 = axes[1].twinx()
            ax2.plot(steps, [_nan(p.get("reward_return")) for p in curve], color=COLORS[0], ls="--",
                     label="return of this reward")
            ax2.plot(steps, [_nan(p.get("env_return")) for p in curve], color=COLORS[1], ls=":",
                     label="return of the env's reward")
            axes[1].grid(alpha=0.3)
            lines = axes[1].get_lines() + ax2.get_lines()
            axes[1].legend(lines, [ln.get_label() for ln in lines], fontsize=8)

        out += plots.img(draw, f"components of {best['id']} over training", size=(10, 3.6))
    ep = _first_episode(d, best)
    if ep is not None:
        comps, rewards = ep
        def draw_ep(fig):
            ax = fig.add_subplot()
            for i, (n, v) in enumerate(sorted(comps.items())):
                ax.plot(v, color=COLORS[i % len(COLORS)], lw=1.2, label=n)
            ax.plot(rewards, color="#000", lw=1.6, ls="--", label="reward")
            ax.set_xlabel("step of the evaluation episode")
            ax.set_ylabel("per-step value")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)

        out += plots.img(draw_ep, f"components over an evaluation episode of {best['id']}")
    if not compact:
        rows, lasts = [], []
        for it, c in d.iteration_bests().items():
            last = ((c.get("train") or {}).get("curve") or [{}])[-1]
            comp = last.get("components") or {}
            lasts.append(last)
            rows.append([str(it), _e(c["id"]), _f(_score(c)), _f(last.get("episode_length")),
                         _e(", ".join(f"{k} {_f(v)}" for k, v in sorted(comp.items())))])
        head = ["iteration", "candidate", "fitness", "episode length", "components"]
        if any(last.get("ended_early") is not None for last in lasts):
            head.insert(4, "ended early")
            for row, last in zip(rows, lasts):
                early = last.get("ended_early")
                row.insert(4, "" if early is None else f"{early:.0%}")
        if rows:
            out += ("<p>At the end of training (mean episode sums; ended early: the share of "
                    "training episodes a termination rule ended), each iteration's best:</p>")
            out += _table(head, rows)
    return out


def _nan(x: Any) -> float:
    v = _num(x)
    return float("nan") if v is None else v


def _first_episode(d: RunData, c: dict[str, Any]) -> tuple[dict[str, Any], Any] | None:
    import numpy as np

    cdir = d.path / "candidates" / c["id"]
    for seed_dir in sorted(cdir.glob("seed-*")):
        files = episode_files(seed_dir / "train")
        if not files:
            continue
        try:
            with np.load(files[0]) as z:
                comps = {k.split(":", 1)[1]: np.asarray(z[k]) for k in z.files if k.startswith("component:")}
                rewards = np.asarray(z["rewards"]) if "rewards" in z.files else np.zeros(0)
        except (OSError, ValueError, KeyError):
            return None
        return comps, rewards
    return None


def _code_section(d: RunData) -> str:
    best = d.best_candidate()
    src = d.best_source or (best or {}).get("source")
    if not src:
        return "<p>No best reward yet.</p>"
    out = (f"<p>The best reward, candidate <b>{_e((best or {}).get('id', '?'))}</b> "
           f"(<code>{_e(d.path / 'best' / 'reward.py')}</code>; export it with "
           f"<code>rewardsmith export {_e(d.path)} --to reward.py</code>):</p>")
    out += f"<pre class='code'>{_e(src)}</pre>"
    prev: dict[str, Any] | None = None
    diffs = []
    for it, b in d.best_sequence():
        if not b:
            continue
        if prev is None:
            diffs.append(f"<h3>after iteration {it}: first best {_e(b.get('id'))} "
                         f"(fitness {_f(_score(b))})</h3>")
        elif b.get("id") != prev.get("id"):
            diffs.append(f"<h3>after iteration {it}: {_e(prev.get('id'))} → {_e(b.get('id'))} "
                         f"(fitness {_f(_score(prev))} → {_f(_score(b))})</h3>"
                         + _diff(prev.get("source") or "", b.get("source") or "",
                                 prev.get("id", ""), b.get("id", "")))
        else:
            diffs.append(f"<p class='note'>after iteration {it}: no improvement; the best stays "
                         f"{_e(b.get('id'))}.</p>")
        prev = b
    if diffs:
        out += "<h3 class='sub'>How the best reward changed</h3>" + "".join(diffs)
    return out


def _diff(a: str, b: str, name_a: str, name_b: str) -> str:
    lines = list(difflib.unified_diff(a.splitlines(), b.splitlines(), name_a, name_b, lineterm="", n=3))
    if not lines:
        return "<p class='note'>identical code</p>"
    out = []
    for line in lines:
        cls = ("hdr" if line.startswith(("---", "+++", "@@")) else "add" if line.startswith("+")
               else "del" if line.startswith("-") else "ctx")
        out.append(f"<span class='{cls}'>{_e(line)}</span>")
    return "<pre class='diff'>" + "\n".join(out) + "</pre>"


def _candidates_table(d: RunData, code: bool = True) -> str:
    if not d.candidates:
        return "<p>No candidates yet.</p>"
    best = d.best_candidate()
    rows = []
    for c in d.candidates:
        seeds = c.get("fitness_seeds") or {}
        t = (c.get("train") or {}).get("timings") or {}
        err = (c.get("error") or "")
        if c.get("duplicate_of"):
            err = f"the same program as {c['duplicate_of']}, not trained again"
        cell = _e(err[:300] + ("…" if len(err) > 300 else ""))
        for flag in (c.get("signals") or {}).get("flags", []):  # reward-hacking signals
            cell += f"<div class='warn'>⚠ {_e(flag['text'])}</div>"
        if code and c.get("source"):
            cell += f"<details><summary>code</summary><pre class='code'>{_e(c['source'])}</pre></details>"
        star = " ★" if best and c["id"] == best["id"] else ""
        agree = c.get("screening_after") or c.get("screening") or {}
        agree_cell = (f"<span title='{_e(agree.get('text') or '')}'>{_e(taus(c))}</span>"
                      if agree else "-")
        rows.append([f"<b>{_e(c['id'])}</b>{star}", f"<span class='st-{_e(c.get('status'))}'>"
                     f"{_e(c.get('status'))}</span>", _e(c.get("stage") or ""), agree_cell,
                     _f(c.get("fitness")),
                     f"{_f(_score(c))}" + (f" ({len(seeds)} seeds)" if len(seeds) > 1 else ""),
                     _f(c.get("success_rate")), _f(t.get("env_steps_per_s")), cell])
    return _table(["id", "status", "stage", "agreement (tau, before → after training)", "fitness (seed 0)",
                   "score", "success", "steps/s", "error / code"], rows)


def _failures(d: RunData) -> str:
    rows = []
    for c in d.candidates:
        v = d.validations.get(c["id"])
        if v is not None and not v.get("accepted", True):
            problems = v.get("problems") or []
            rows.append([_e(c["id"]), "rejected", _e(v.get("stage")),
                         "<ul>" + "".join(f"<li>{_e(p)}</li>" for p in problems) + "</ul>"
                         if problems else _e(c.get("error") or "")])
        elif c.get("status") in ("rejected", "failed"):
            rows.append([_e(c["id"]), _e(c["status"]), _e(c.get("stage")),
                         f"<pre class='err'>{_e(c.get('error') or '(no message)')}</pre>"])
    for ev in d.events:
        if ev.get("event") == "reevaluation_failed":
            rows.append([_e(ev.get("id")), "re-evaluation failed", f"seed {_e(ev.get('seed'))}",
                         f"<pre class='err'>{_e(ev.get('error'))}</pre>"])
    if not rows:
        return "<p>Every candidate passed validation and trained.</p>"
    return _table(["candidate", "outcome", "stage", "why"], rows)


def _feedback(d: RunData) -> str:
    items = []
    for it in d.iterations:
        fb = it.get("feedback")
        if not fb:
            continue
        i = it.get("iteration")
        items.append(f"<details{' open' if not items else ''}><summary>after iteration {_e(i)} "
                     f"(sent with the request for iteration {_e(number(str(i)) + 1)}, {len(fb):,} "
                     f"characters)</summary><pre class='fb'>{_e(fb)}</pre></details>")
    if not items:
        return "<p>No feedback was sent (a single iteration, or none finished).</p>"
    return "".join(items)


def _tokens(d: RunData) -> tuple[int, int]:
    p = sum(int(c.get("prompt_tokens") or 0) for c in d.llm_calls if not c.get("cached"))
    q = sum(int(c.get("completion_tokens") or 0) for c in d.llm_calls if not c.get("cached"))
    return p, q


def _cost(d: RunData) -> float:
    return sum(float(c.get("cost_usd") or 0.0) for c in d.llm_calls if not c.get("cached"))


def _llm_usage(d: RunData) -> str:
    if not d.llm_calls:
        return "<p>No LLM calls recorded.</p>"
    rows = []
    for c in d.llm_calls:
        rows.append([_e(c.get("iteration")), _e(c.get("model") or d.manifest.get("llm")),
                     "yes" if c.get("cached") else "no", f"{int(c.get('prompt_tokens') or 0):,}",
                     f"{int(c.get('completion_tokens') or 0):,}", f"${float(c.get('cost_usd') or 0):.4f}",
                     _f(c.get("seconds")), _e(c.get("responses", ""))])
    p, q = _tokens(d)
    rows.append(["<b>total</b>", "", "", f"<b>{p:,}</b>", f"<b>{q:,}</b>", f"<b>${_cost(d):.4f}</b>", "", ""])
    out = _table(["iteration", "model", "cached", "prompt tokens", "completion tokens", "cost",
                  "seconds", "answers"], rows)
    out += "<p class='note'>Cached answers cost nothing and are not counted in the totals.</p>"
    if str(d.manifest.get("llm", "")).startswith("offline"):
        out += ("<p class='note'>The offline designer is rule-based, not an LLM: it uses no tokens.</p>")
    return out


def _evaluations(d: RunData) -> str:
    if not d.evaluations:
        return ("<p class='note'>None. Results of <code>rewardsmith evaluate ... --compare baseline</code> "
                "saved under <code>" + _e(d.path / "evaluations") + "/</code> appear here.</p>")
    rows = []
    for name, r in d.evaluations:
        f = r.get("fitness") or {}
        comp = r.get("compare") or {}
        base = ((comp.get("baseline") or {}).get("fitness") or {})
        floor = ((comp.get("floor") or {}).get("fitness") or {})
        ns = ((comp.get("verdict") or {}).get("normalized") or {})
        ns = {"mean": ns.get("value")} if ns else (comp.get("normalized_score") or {})
        rows.append([_e(name), _e(r.get("reward")), _f(r.get("steps")), _e(len(r.get("seeds") or [])),
                     f"{_f(f.get('mean'))} ± {_f(f.get('std'))}",
                     _e(", ".join(_f(x) for x in f.get("per_seed") or [])),
                     _f(r.get("success_rate")),
                     f"{_f(base.get('mean'))} ± {_f(base.get('std'))}" if base else "-",
                     _f(floor.get("mean")) if floor else "-",
                     _f(ns.get("mean")) if ns else "-"])
    return _table(["evaluation", "reward", "steps", "seeds", "fitness", "per seed", "success",
                   "baseline", "untrained", "normalized"], rows)


def _videos(d: RunData, out_dir: Path) -> str:
    """One figure per folder: the GIF where there is one (small; it plays anywhere) with a link
    to the MP4, else the MP4/WebM in a player. Small files are embedded, large ones linked."""
    if not d.videos:
        return "<p class='note'>No videos were rendered for this run.</p>"
    folders: dict[Path, dict[str, Any]] = {}
    for cid, p in d.videos:
        entry = folders.setdefault(p.parent, {"cid": cid, "files": {}})
        entry["files"].setdefault(p.suffix.lower(), p)
    budget = [MAX_EMBED_TOTAL]

    def src(p: Path, embed: bool = True) -> str:
        size = p.stat().st_size
        if embed and size <= MAX_EMBED_VIDEO and size <= budget[0]:
            budget[0] -= size
            return f"data:{VIDEO_SUFFIXES[p.suffix.lower()]};base64,{base64.b64encode(p.read_bytes()).decode()}"
        return Path(os.path.relpath(p, out_dir)).as_posix()

    parts = []
    for folder, entry in folders.items():
        files = entry["files"]
        label = entry["cid"] or Path(os.path.relpath(folder, d.path)).as_posix()
        gif = files.get(".gif")
        movie = files.get(".mp4") or files.get(".webm")
        if gif is not None:
            media = f"<img src='{_e(src(gif))}' alt='{_e(label)}: {_e(gif.name)}'>"
            names = gif.name
            if movie is not None:
                media += f"<br><a href='{_e(src(movie, embed=False))}'>{_e(movie.name)}</a>"
        elif movie is not None:
            media = f"<video controls preload='metadata' src='{_e(src(movie))}'></video>"
            names = movie.name
        else:
            continue
        parts.append(f"<figure class='video'>{media}<figcaption>{_e(label)}: {_e(names)}"
                     f"</figcaption></figure>")
    return "<div class='videos'>" + "".join(parts) + "</div>"


MAX_EMBED_FRAMES = 12 * 2**20  # bytes of keyframe strips embedded; the rest are linked


def _judge_section(d: RunData, out_dir: Path) -> str:
    """Per iteration judged by a vision-language model (``feedback/iteration-<i>.json`` with
    source ``vlm``): each candidate's keyframe strip beside the judge's verdict, in its ranking,
    with the one selected marked. Empty for runs without a judge."""
    files = sorted((d.path / "feedback").glob("iteration-*.json"),
                   key=lambda p: number(p.stem.split("-", 1)[1]))
    budget = [MAX_EMBED_FRAMES]

    def img(rel: str, alt: str) -> str:
        p = d.path / rel
        if not p.is_file():
            return f"<p class='note'>(frames missing: {_e(rel)})</p>"
        size = p.stat().st_size
        if size <= budget[0]:
            budget[0] -= size
            src = "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode()
        else:
            src = Path(os.path.relpath(p, out_dir)).as_posix()
        return (f"<img class='strip' style='max-width:720px;width:100%' src='{_e(src)}' "
                f"alt='{_e(alt)}' title='{_e(rel)}'>")

    parts = []
    for f in files:
        fb = _read(f)
        if not isinstance(fb, dict) or fb.get("source") != "vlm":
            continue
        judge = fb.get("judge") or {}
        pick = fb.get("selected") or fb.get("best")
        weight = fb.get("weight")
        how = ("the judge's ranking alone" if weight is None or weight >= 1 else
               f"the judge's ranking (weight {_f(weight)}) with the task score")
        rows = []
        for r, cid in enumerate(fb.get("order") or [], 1):
            v = (fb.get("verdicts") or {}).get(cid, {})
            frames = (judge.get("frames") or {}).get(cid)
            rows.append([
                f"{r}", f"<b>{_e(cid)}</b>" + (" &#9733; selected" if cid == pick else ""),
                img(frames, f"keyframes of {cid}") + f"<div class='note'>{_e((judge.get('moments') or {}).get(cid, ''))}</div>"
                if frames else "-",
                f"<b>{_e(v.get('does_what_asked', '?'))}</b>",
                _e(v.get("what_it_does", "")), _e(v.get("what_is_wrong", "")),
                _f((fb.get("combined") or {}).get(cid))])
        unseen = judge.get("unseen") or {}
        note = "".join(f"<p class='note'>{_e(c)}: not shown to the judge ({_e(why)})</p>"
                       for c, why in unseen.items())
        parts.append(
            f"<h3>iteration {_e(fb.get('iteration'))}</h3><p>{_e(judge.get('model') or fb.get('ui'))}"
            f" ranked {len(rows)} candidate(s); selected by {how}: <b>{_e(pick)}</b>."
            + (f" Its summary: {_e(fb.get('comment'))}" if fb.get("comment") else "") + "</p>"
            + _table(["rank", "candidate", "keyframes", "does what is asked", "what it does",
                      "what is wrong", "combined"], rows) + note)
    return "".join(parts)


# --------------------------------------------------------------------------- comparison
def _compare_summary(a: RunData, b: RunData) -> str:
    def vals(d: RunData) -> list[str]:
        best = d.best_candidate()
        s = _score(best)
        base, floor = d.baseline_value("baseline"), d.baseline_value("floor")
        cfg = d.manifest.get("config") or {}
        p, q = _tokens(d)
        return [_e(d.manifest.get("task")), _e(d.manifest.get("llm")), _e(d.manifest.get("status")),
                _e(best["id"]) if best else "-", _f(s),
                _e(", ".join(_f(v) for v in (best or {}).get("fitness_seeds", {}).values()) or "-"),
                _f(base), _f(floor), _f(d.normalized()),
                f"{len(d.candidates)} ({sum(c.get('status') == 'ok' for c in d.candidates)} ok)",
                f"{len(d.iterations)} of {cfg.get('iterations', '?')}",
                _f((d.manifest.get('summary') or {}).get('steps') or cfg.get('steps')),
                f"{p + q:,}", f"${_cost(d):.4f}", _e(d.manifest.get("created")),
                _e((d.verdict or {}).get("line") or "-")]

    names = ["task", "designer", "status", "best reward", "fitness (mean over seeds)", "per seed",
             "baseline", "untrained", "normalized score", "candidates", "iterations",
             "env steps per candidate", "tokens", "cost", "created", "verdict"]
    va, vb = vals(a), vals(b)
    rows = [[_e(n), x, y] for n, x, y in zip(names, va, vb)]
    return _table(["", f"A: {_e(a.run_id)}", f"B: {_e(b.run_id)}"], rows, raw_header=True)


def _compare_code(a: RunData, b: RunData) -> str:
    sa = a.best_source or (a.best_candidate() or {}).get("source") or ""
    sb = b.best_source or (b.best_candidate() or {}).get("source") or ""
    out = _columns([f"<pre class='code'>{_e(sa) or '(none)'}</pre>",
                    f"<pre class='code'>{_e(sb) or '(none)'}</pre>"], [a.run_id, b.run_id])
    if sa and sb:
        out += "<h3 class='sub'>Diff from A's best to B's best</h3>" + _diff(sa, sb, a.run_id, b.run_id)
    return out


def _columns(parts: list[str], labels: list[str]) -> str:
    cols = "".join(f"<div class='col'><h3 class='colh'>{_e(lab)}</h3>{p}</div>"
                   for lab, p in zip(labels, parts))
    return f"<div class='cols'>{cols}</div>"


# ================================================================================== HTML
def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _f(x: Any) -> str:
    v = _num(x)
    if v is None:
        return "-"
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    if abs(v) >= 100:
        return f"{v:,.1f}"
    return f"{v:.3g}"


def _table(header: list[str], rows: list[list[str]], raw_header: bool = False) -> str:
    h = "".join(f"<th>{x if raw_header else _e(x)}</th>" for x in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<div class='tw'><table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table></div>"


class _Plots:
    """Draws matplotlib figures (Agg, no pyplot) into base64 PNG ``<img>`` tags."""

    def __init__(self) -> None:
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
            from matplotlib.figure import Figure  # noqa: F401

            self.unavailable = ""
        except ImportError:
            self.unavailable = "matplotlib is not installed, so the report has no plots (pip install matplotlib)"

    def img(self, draw, alt: str, size: tuple[float, float] = (8, 4)) -> str:
        if self.unavailable:
            return f"<p class='note'>[plot: {_e(alt)}: {_e(self.unavailable)}]</p>"
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=size, dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        try:
            draw(fig)
        except Exception as e:  # a plot must never take the whole report down
            return f"<p class='warn'>[plot {_e(alt)} failed: {_e(type(e).__name__)}: {_e(e)}]</p>"
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        data = base64.b64encode(buf.getvalue()).decode()
        return f"<img class='plot' alt='{_e(alt)}' src='data:image/png;base64,{data}'>"


CSS = """
:root { --fg: #1d2330; --muted: #5b6474; --line: #dde2ea; --bg: #f6f7fa; --acc: #1f5fbf; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; color: var(--fg); background: var(--bg); }
header { background: #1d2330; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header .sub { color: #c9d2e3; }
header .sub b { color: #fff; }
nav { background: #fff; border-bottom: 1px solid var(--line); padding: 8px 28px; position: sticky;
  top: 0; z-index: 1; }
nav a { color: var(--acc); margin-right: 14px; text-decoration: none; font-size: 13px; }
main { max-width: 1280px; margin: 0 auto; padding: 8px 28px 40px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 20px;
  margin: 18px 0; }
h2 { margin: 0 0 10px; font-size: 18px; }
h3 { font-size: 14px; margin: 14px 0 6px; }
h3.sub { font-size: 15px; margin-top: 20px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; background: #fbfcfe; }
.card .k { color: var(--muted); font-size: 12px; }
.card .v { font-size: 17px; font-weight: 600; overflow-wrap: anywhere; }
.note { color: var(--muted); font-size: 13px; }
.warn { color: #8a3b00; background: #fff4e5; padding: 6px 10px; border-radius: 4px; }
.desc { font-size: 15px; padding: 8px 12px; border-left: 4px solid var(--acc); background: #f2f6fd; }
.tw { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
thead th { background: #f0f2f6; }
table.kv { width: auto; }
table.kv th { background: none; color: var(--muted); font-weight: normal; }
pre { background: #f7f8fa; border: 1px solid var(--line); border-radius: 5px; padding: 10px;
  overflow-x: auto; font: 12px/1.45 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
pre.fb { white-space: pre-wrap; }
pre.err { white-space: pre-wrap; margin: 0; color: #8a1f11; }
pre.diff .add { color: #116329; background: #e6ffec; }
pre.diff .del { color: #82071e; background: #ffebe9; }
pre.diff .hdr { color: #6639ba; }
img.plot { max-width: 100%; height: auto; display: block; margin: 8px 0; }
details { margin: 6px 0; }
summary { cursor: pointer; color: var(--acc); }
.st-ok { color: #116329; font-weight: 600; }
.st-rejected, .st-failed { color: #82071e; font-weight: 600; }
.st-stopped, .st-duplicate { color: #6e7781; }
.st-unfinished { color: var(--muted); }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.col { min-width: 0; }
.colh { border-bottom: 2px solid var(--acc); padding-bottom: 2px; }
.videos { display: flex; flex-wrap: wrap; gap: 12px; }
figure.video { margin: 0; }
figure.video video, figure.video img { width: 360px; max-width: 100%; border: 1px solid var(--line); }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 10px; }
"""


def _page(title: str, sub: str, sections: list[tuple[str, str, str]], plots_note: str,
          run_path: Path | None) -> str:
    nav = "".join(f"<a href='#{sid}'>{_e(name)}</a>" for sid, name, _ in sections)
    body = "".join(f"<section id='{sid}'><h2>{_e(name)}</h2>{content}</section>"
                   for sid, name, content in sections)
    warn = f"<p class='warn'>{_e(plots_note)}</p>" if plots_note else ""
    where = f" from {_e(run_path)}" if run_path else ""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{_e(title)}</h1><div class='sub'>{sub}</div></header>"
        f"<nav>{nav}</nav><main>{warn}{body}</main>"
        f"<footer>made by rewardsmith {_e(__version__)}{where} on {_e(time.strftime('%Y-%m-%d %H:%M'))}"
        "</footer></body></html>\n"
    )
