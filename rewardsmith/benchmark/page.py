"""A benchmark's page: one self-contained HTML file (the run report's style and helpers) with the
table, per-task intervals, the win rate per designer, and cost and wall time against score."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.benchmark.markdown import interval, rate, spread, verdicts_in_words
from rewardsmith.benchmark.runner import Benchmark
from rewardsmith.benchmark.table import read_table, resume_hint, write_table
from rewardsmith.critic.verdict import signed
from rewardsmith.report import COLORS, _e, _f, _page, _Plots, _table, _write


def write_page(path: str | Path, out: str | Path | None = None) -> Path:
    """The table brought up to date from the runs (a folder holding only a table, a merge's,
    as it is), then the page (default ``<benchmark>/report.html``); return its path."""
    path = Path(path)
    table = write_table(Benchmark.open(path)) if Benchmark.is_benchmark(path) else read_table(path)
    out = Path(out) if out else path / "report.html"
    _write(out, render_page(table, path, out.parent))
    return out


def _ci(d: dict[str, Any] | None, key="mean", lo="low", hi="high") -> str:
    return interval(d, key, lo, hi, show=_f)


def _spread(d: dict[str, Any] | None) -> str:
    return spread(d, show=_f, with_interval=True)


def render_page(table: dict[str, Any], root: Path, out_dir: Path) -> str:
    plots = _Plots()
    designers = table["designers"]
    color = {d: COLORS[i % len(COLORS)] for i, d in enumerate(designers)}
    sections = [
        ("summary", "Per designer", _summary(table)),
        ("tasks", "Per-task scores", _tasks(table, plots, color)),
        ("wins", "Win rate", _wins(table, plots, color)),
        ("cost", "Cost and wall time against score", _cost(table, plots, color)),
        ("runs", "Runs", _runs(table, root, out_dir)),
        ("settings", "Settings", _settings(table)),
    ]
    d = table["design"]
    sub = (f"{len(table['tasks'])} task(s) · designers <b>{_e(', '.join(designers))}</b> · "
           f"{table['repeats']} repeat(s) · {d.get('iterations')} iteration(s) x "
           f"{d.get('samples')} sample(s) · closing evaluation on {d.get('final_seeds')} seeds · "
           f"created {_e(table['created'])}")
    return _page(f"rewardsmith benchmark: {table['id']}", sub, sections, plots.unavailable, root)


def _summary(t: dict[str, Any]) -> str:
    rows = []
    for d in t["by_designer"]:
        n = d["normalized"]
        rows.append([_e(d["designer"]), _f(d["tasks_judged"]), rate(d["win_rate_beyond_noise"]),
                     rate(d["win_rate_by_mean"]),
                     _e(_ci(n)) + (f" <span class='note'>({n['n']} runs)</span>" if n["n"] else ""),
                     _e(_ci(n, "iqm", "iqm_low", "iqm_high")),
                     rate(d["success"]) + f" ({rate(d['baseline_success'])})",
                     _f(d["tokens"]), "-" if d["cost_usd"] is None else f"{d['cost_usd']:.4f}",
                     "-" if d["wall_per_run_s"] is None else f"{d['wall_per_run_s']:.0f} s",
                     f"{d['finished']} / {d['failed']}"
                     + (f" / {d['unfinished']} unfinished" if d["unfinished"] else "")])
        if d.get("win_rate_held_out") is not None:  # runs whose verdicts held the picking seeds
            rows[-1][2] += (f" <span class='note'>({rate(d['win_rate_held_out'])} without the "
                            "seeds the bests were picked on)</span>")
    note = ("<p class='note'>Beats the hand-written reward: on a task, the paired test of the "
            "verdict (exact sign-flip, one-sided, 95%) over the closing seeds of every repeat "
            "pooled; by mean: the mean paired difference is above zero; the share of tasks with "
            "at least one judged run. Normalized score (F - F_untrained) / |F_hand-written - "
            "F_untrained| (1.0: as good as the hand-written reward), over every run where it is "
            "defined; intervals: 95% bootstrap, repeats resampled within each task; the IQM from "
            "5 runs. Success: of the best's evaluation episodes (the hand-written reward's).</p>")
    for d in t["by_designer"]:
        if d["normalized"].get("why"):
            note += f"<p class='note'>{_e(d['designer'])}: {_e(d['normalized']['why'])}.</p>"
    words = "".join(f"<p><b>{_e(d)}</b>: {_e(line)}</p>" for d, line in verdicts_in_words(t))
    if not t["complete"]:
        note += (f"<p class='warn'>Some runs have not finished: continue with "
                 f"<code>{_e(resume_hint(t))}</code>.</p>")
    return _table(["designer", "tasks", "beats hand-written (beyond noise)", "beats (by mean)",
                   "normalized mean [95% CI]", "normalized IQM [95% CI]", "success (hand-written)",
                   "tokens", "cost $", "wall time per run", "runs ok / failed"], rows) + words + note


def _tasks(t: dict[str, Any], plots: _Plots, color: dict[str, str]) -> str:
    tasks, designers = t["tasks"], t["designers"]
    by = {(r["task"], r["designer"]): r for r in t["by_task"]}
    runs = t["runs"]
    width = 0.8 / max(len(designers), 1)

    def draw(fig, kind: str):
        ax = fig.add_subplot(111)
        labelled: set[str] = set()
        for j, d in enumerate(designers):
            for i, task in enumerate(tasks):
                y = i + (j - (len(designers) - 1) / 2) * width
                mine = [r for r in runs if r["task"] == task and r["designer"] == d and r.get("verdict")]
                if kind == "normalized":
                    vals = [r["normalized"] for r in mine if r.get("normalized") is not None]
                    s = by[(task, d)]["normalized"]
                    lo, hi = (s or {}).get("low"), (s or {}).get("high")
                    if mine and not vals:  # judged, but the hand-written reward did not learn
                        ax.annotate("undefined (see the table)", (0, y), fontsize=7,
                                    color=color[d], va="center", xytext=(4, 0),
                                    textcoords="offset points")
                else:  # as a share of the hand-written score: tasks' scales differ a thousandfold
                    scale = abs(((by[(task, d)]["baseline"] or {}).get("mean")) or 0.0)
                    if not scale:
                        continue
                    vals = [r["difference"] / scale for r in mine if r.get("difference") is not None]
                    p = by[(task, d)]["pooled"] or {}
                    lo, hi = p.get("low"), p.get("high")
                    lo, hi = (None, None) if lo is None or hi is None else (lo / scale, hi / scale)
                if not vals:
                    continue
                ax.scatter(vals, [y] * len(vals), color=color[d], alpha=0.45, s=18)
                m = float(np.mean(vals))
                label = None if d in labelled else d  # the designer's first point (any task)
                labelled.add(d)
                if lo is not None:
                    ax.errorbar([m], [y], xerr=[[m - lo], [hi - m]], fmt="o", color=color[d],
                                capsize=3, label=label)
                else:
                    ax.plot([m], [y], "o", color=color[d], label=label)
        if kind == "normalized":
            ax.axvline(0, color="#999", ls=":", lw=1)
            ax.axvline(1, color="#444", ls="--", lw=1)
            ax.set_xlabel("normalized score (0: untrained, 1: hand-written)")
        else:
            ax.axvline(0, color="#444", ls="--", lw=1)
            # linear within one hand-written score of it, logarithmic beyond: a task where the
            # hand-written reward barely moves puts the others' differences out of sight otherwise
            ax.set_xscale("symlog", linthresh=1.0)
            ax.set_xlabel("(best - hand-written) / |hand-written|, per seed (symlog axis)")
        ax.set_yticks(range(len(tasks)), tasks)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
        if labelled:
            ax.legend(loc="best", fontsize=8)

    size = (8, 1.2 + 0.55 * len(tasks) * max(1, len(designers) / 2))
    have_norm = any(r.get("normalized") is not None for r in runs)
    parts = []
    if have_norm:
        parts.append(plots.img(lambda f: draw(f, "normalized"), "normalized score per task", size))
    parts.append(plots.img(lambda f: draw(f, "difference"),
                           "difference from the hand-written reward per task", size))
    parts.append("<p class='note'>Dots: runs (repeats); marker: their mean; bars: intervals "
                 "(normalized: 95% bootstrap over repeats, from 3; difference: the paired test's "
                 "own 90% interval over the pooled closing seeds, which holds 0 exactly when the "
                 "difference is not beyond noise). The difference is divided by the size of the hand-written "
                 "reward's mean score on the task (+0.5: half as much again), since the tasks' "
                 "scores range from centimetres to a thousand points, on an axis linear within "
                 "±1 and logarithmic beyond; the table below gives it in the task's own "
                 "units.</p>")
    rows = []
    for r in t["by_task"]:
        yes = {True: "yes", False: "no", None: "-"}
        p, h = r["pooled"] or {}, r.get("held_out")
        held = ("" if not h else
                f"<br><span class='note'>without the seeds its bests were picked on: "
                f"{_e(signed(h['difference']))} over {h['n']} (p = {h['p_better']:.2g}"
                f"{', beyond noise' if h['direction'] == 'better' else ''})</span>")
        rows.append([_e(r["task"]), _e(r["designer"]), f"{r['finished']} / {r['failed']}",
                     yes[r["beats_beyond_noise"]], yes[r["beats_by_mean"]],
                     _e(_ci(p, "difference")) + (f" (p = {p['p_better']:.2g})"
                                                 if p.get("p_better") is not None else "") + held,
                     _e(_spread(r["normalized"])) if r["normalized"] else
                     (f"undefined <span class='note'>{_e(r['normalized_why'])}</span>"
                      if r["judged"] else "-"),
                     _e(_spread(r["score"])), _e(_spread(r["baseline"])), rate(r["success"]),
                     _f(r["tokens"]), "-" if r["wall_s"] is None else f"{r['wall_s']:.0f} s"])
    parts.append(_table(["task", "designer", "ok / failed", "beats (noise)", "beats (mean)",
                         "difference [90%: the test's]", "normalized (over repeats)", "score",
                         "hand-written", "success", "tokens", "wall"], rows))
    return "".join(parts)


def _wins(t: dict[str, Any], plots: _Plots, color: dict[str, str]) -> str:
    ds = t["by_designer"]

    def draw(fig):
        ax = fig.add_subplot(111)
        x = np.arange(len(ds))
        for k, (key, name, alpha) in enumerate((("win_rate_beyond_noise", "beyond noise", 1.0),
                                                 ("win_rate_by_mean", "by mean", 0.45))):
            vals = [d[key] or 0.0 for d in ds]
            bars = ax.bar(x + (k - 0.5) * 0.38, vals, 0.38, color=[color[d["designer"]] for d in ds],
                          alpha=alpha, label=name, edgecolor="#333")
            ax.bar_label(bars, labels=[rate(d[key]) for d in ds], fontsize=8)
        ax.set_xticks(x, [d["designer"] for d in ds])
        ax.set_ylim(0, 1.12)
        ax.set_ylabel("share of tasks")
        ax.set_title("tasks where the best beats\nthe hand-written reward", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)

    lines = "".join(f"<li><b>{_e(d['designer'])}</b>: beyond noise on "
                    f"{_e(', '.join(d['tasks_beyond_noise']) or 'no task')} "
                    f"({d['runs_beyond_noise']} of {d['judged']} runs on their own)</li>"
                    for d in ds)
    return plots.img(draw, "win rate per designer", (max(4, 1.8 * len(ds) + 2), 3.6)) + f"<ul>{lines}</ul>"


def _cost(t: dict[str, Any], plots: _Plots, color: dict[str, str]) -> str:
    """Cost and wall time per run against its normalized score, where that is defined; where it
    is defined on no run, against the difference from the hand-written reward as a share of
    its score (as the per-task plot): the tasks' own units differ a thousandfold."""
    judged = [r for r in t["runs"] if r.get("verdict")]
    if not judged:
        return "<p class='note'>No run has a verdict yet.</p>"
    if any(r.get("normalized") is not None for r in judged):
        label, ref = "normalized score", 1.0

        def y(r):
            return r.get("normalized")
    else:
        label, ref = "(best - hand-written) / |hand-written|", 0.0

        def y(r):
            b, d = r.get("baseline"), r.get("difference")
            return None if not b or d is None else d / abs(b)
    shown = [r for r in judged if y(r) is not None]
    left = sorted({r["task"] for r in judged if y(r) is None})

    def draw(fig):
        for k, (x_key, x_label, scale) in enumerate((("cost_usd", "cost per run (USD)", 1.0),
                                                     ("wall_s", "wall time per run (min)", 1 / 60))):
            ax = fig.add_subplot(1, 2, k + 1)
            for d in t["designers"]:
                mine = [r for r in shown if r["designer"] == d]
                xs = [(r.get(x_key) or 0.0) * scale for r in mine]
                ax.scatter(xs, [y(r) for r in mine], color=color[d], label=d, alpha=0.75)
            ax.set_xlabel(x_label)
            ax.set_ylabel(label)
            ax.axhline(ref, color="#444", ls="--", lw=1)
            ax.grid(alpha=0.3)
            if k == 0 and shown:
                ax.legend(fontsize=8)

    note = ("" if not left else
            f"<p class='note'>Not plotted: {len(judged) - len(shown)} run(s) of "
            f"{_e(', '.join(left))}, whose {label} is undefined"
            + (" (the hand-written reward does not beat the untrained policy beyond noise "
               "there; the tables give their raw scores)" if ref == 1.0 else "")
            + ".</p>")
    return plots.img(draw, "cost and wall time against score", (10, 3.8)) + note


def _runs(t: dict[str, Any], root: Path, out_dir: Path) -> str:
    import os

    rows = []
    for r in t["runs"]:
        folder = (Path(r["source"]) if r.get("source") else root) / r["run"]
        rel = os.path.relpath(folder, out_dir)
        link = (f"<a href='{_e(rel)}/report.html'>{_e(r['run'])}</a>"
                if (folder / "report.html").exists() else _e(r["run"]))
        status = f"<span class='st-{'ok' if r['status'] == 'finished' else r['status']}'>{_e(r['status'])}</span>"
        what = r.get("verdict") or r.get("error") or r.get("note") or ""
        rows.append([_e(r["task"]), _e(r["designer"]), str(r["repeat"] + 1), str(r["seed"]),
                     status, _e(r.get("best") or "-"), _f(r.get("score")), _f(r.get("baseline")),
                     _f(r.get("normalized")), _f(r.get("tokens")),
                     "-" if r.get("cost_usd") is None else f"{r['cost_usd']:.4f}",
                     "-" if not r.get("wall_s") else f"{r['wall_s']:.0f} s", _e(what), link])
    return _table(["task", "designer", "repeat", "base seed", "status", "best", "score",
                   "hand-written", "normalized", "tokens", "cost $", "wall", "verdict or reason",
                   "folder"],
                  rows) + ("<p class='note'>A run's own report: <code>rewardsmith report "
                           f"{_e(root)}/runs/TASK/DESIGNER/rK</code>.</p>")


def _settings(t: dict[str, Any]) -> str:
    rows = [[_e(k), _e(v)] for k, v in sorted(t["design"].items())]
    if t.get("sources"):
        rows.append(["merged from", _e(", ".join(t["sources"]))])
    else:
        rows.append(["base seed", _e(f"{t['seed']} (repeat k: + 1000 k)")])
    return _table(["setting", "value"], rows)
