"""``rewardsmith report``: one static HTML file that shows what a run did, offline.

The fast tests build a run directory in the design loop's format (two iterations: accepted,
rejected and failed candidates, curves, an evaluation episode, feedback, LLM usage, an evaluate
report and a GIF). The report must show each part, reference no external URL, and render in
headless Chromium to a screenshot that is not blank. One more test does the same on a real
(small) offline design run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from rewardsmith.report import ReportError, load_run, report_compare, write_report

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "",
                             shutil.which("chromium-browser") or "") if p and Path(p).exists()), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (apt-get install -y chromium)")

REWARD_0 = '''def compute_reward(state, action, next_state):
    upright_weight = 1.0
    alive_bonus = 1.0
    upright = upright_weight * next_state.pole_zaxis[:, 2]
    alive = alive_bonus * np.ones_like(next_state.time)
    return upright + alive, {"upright": upright, "alive": alive}
'''
REWARD_1 = '''def compute_reward(state, action, next_state):
    upright_weight = 2.5
    alive_bonus = 1.0
    effort_weight = 0.001
    upright = upright_weight * next_state.pole_zaxis[:, 2]
    alive = alive_bonus * np.where(np.abs(next_state.hinge_angle) < 0.2, 1.0, 0.0)
    effort = -effort_weight * np.sum(np.square(action), axis=-1)
    return upright + alive + effort, {"upright": upright, "alive": alive, "effort": effort}
'''
FEEDBACK = ("We trained policies with the best reward function so far (FEEDBACK-MARKER).\n"
            "Episodes end early: <script>alert('not code')</script> & the pole falls.\n")


def _w(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2))


def _curve(scale: float, comps: list[str], n: int = 8) -> list[dict]:
    out = []
    for i in range(n):
        f = scale * (1 + i) / n * 50 + 5
        out.append({"step": 256 * (i + 1), "episodes": 10, "fitness": f, "success_rate": 0.0,
                    "episode_length": f, "env_return": f - 1, "reward_return": 2 * f,
                    "components": {c: (j + 1) * f / 3 for j, c in enumerate(comps)},
                    "ended_early": 0.5 / scale})
    return out


def build_run(root: Path, *, scale: float = 1.0, run_id: str | None = None, video: bool = True) -> Path:
    """A finished two-iteration run in the format the design loop writes."""
    root.mkdir(parents=True)
    run_id = run_id or root.name
    baseline = {"baseline": {"fitness_mean": 40.0 * scale, "per_seed": [38.0 * scale, 42.0 * scale]},
                "floor": {"fitness_mean": 8.0, "per_seed": [7.0, 9.0]}}
    events: list[dict] = [{"t": 0.0, "event": "run_created"}]
    cands = {
        "0-0": dict(status="ok", source=REWARD_0, fitness=30.0 * scale, fitness_seeds={"0": 30.0 * scale,
                                                                                      "1": 26.0 * scale}),
        "0-1": dict(status="rejected", source="import os\n" + REWARD_0, stage="static",
                    error="line 1: remove the import: `np` is already available"),
        "0-2": dict(status="failed", source=REWARD_0.replace("1.0", "0.0"), stage="train",
                    error="the reward program raised ZeroDivisionError at env step 12: division by zero"),
        "1-0": dict(status="ok", source=REWARD_1, fitness=62.0 * scale,
                    fitness_seeds={"0": 62.0 * scale, "1": 58.0 * scale}, success_rate=0.25),
        "1-1": dict(status="rejected", source="", stage="extract",
                    error="the answer contains no `def compute_reward(state, action, next_state):`"),
    }
    validation = {
        "0-0": {"accepted": True, "stage": "ok", "problems": []},
        "0-1": {"accepted": False, "stage": "static",
                "problems": ["line 1: remove the import: `np` is already available and nothing else "
                             "may be imported"]},
        "0-2": {"accepted": True, "stage": "ok", "problems": []},
        "1-0": {"accepted": True, "stage": "ok", "problems": []},
    }
    results = {}
    for cid, c in cands.items():
        it, k = map(int, cid.split("-"))
        d = root / "candidates" / cid
        d.mkdir(parents=True)
        (d / "response.md").write_text(f"Here is a reward.\n```python\n{c['source']}```\n")
        if c["source"]:
            (d / "reward.py").write_text(c["source"])
        if cid in validation:
            _w(d / "validation.json", {**validation[cid], "timings": {"total_s": 0.5}})
            events.append({"t": 1.0, "event": "candidate_validated", "id": cid, **validation[cid]})
        train = None
        if c["status"] == "ok":
            comps = sorted(re.findall(r'"(\w+)": \w+', c["source"].splitlines()[-1]))
            train = {"task": "pendulum-balance-v0", "backend": "sb3", "seed": 0, "steps": 2048,
                     "fitness": c["fitness"], "fitness_std": 1.0, "success_rate": c.get("success_rate", 0.0),
                     "eval_fitness": [c["fitness"]], "curve": _curve(scale * (it + 1), comps),
                     "policy_path": None, "timings": {"env_steps_per_s": 812.5, "train_s": 2.5},
                     "runtime": {}, "eval_episode_lengths": [40]}
            ep = d / "seed-0" / "train"
            ep.mkdir(parents=True)
            t = np.arange(40)
            arrays = {f"component:{n}": np.sin(t / (5 + j)) + j for j, n in enumerate(comps)}
            np.savez_compressed(ep / "eval_episode_0.npz", states=np.zeros((41, 3)),
                                actions=np.zeros((40, 1)), env_rewards=np.ones(40),
                                rewards=sum(arrays.values()), terminated=np.asarray(True), **arrays)
        seeds = c.get("fitness_seeds") or {}
        score = float(np.mean(list(seeds.values()))) if seeds else c.get("fitness")
        result = {"id": cid, "iteration": it, "k": k, "status": c["status"], "source": c["source"],
                  "stage": c.get("stage", "train"), "error": c.get("error"), "fitness": c.get("fitness"),
                  "fitness_seeds": seeds, "success_rate": c.get("success_rate"), "train": train,
                  "score": score}
        results[cid] = result
        _w(d / "result.json", result)
        (d / "DONE").write_text("")
        events.append({"t": 2.0, "event": "candidate_finished", "id": cid, "status": c["status"]})
    if video:
        from PIL import Image

        frames = [Image.new("RGB", (48, 32), color) for color in ((200, 30, 30), (30, 200, 30), (30, 30, 200))]
        # where rewardsmith.feedback renders them: video.gif and video.mp4 in the candidate folder
        gif = root / "candidates" / "1-0" / "video.gif"
        frames[0].save(gif, save_all=True, append_images=frames[1:], duration=200, loop=0)
        (root / "candidates" / "1-0" / "video.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
        (root / "candidates" / "0-0" / "video.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    for it, best in ((0, "0-0"), (1, "1-0")):
        _w(root / "llm" / f"iteration-{it}.json", {
            "messages": [{"role": "user", "content": "..."}], "n": 3, "temperature": 1.0,
            "llm": "openai:test-model", "model": "test-model", "responses": ["..."] * 3,
            "usage": {"prompt_tokens": 1200, "completion_tokens": 800, "cost_usd": 0.0123},
            "cached": False})
        events.append({"t": 3.0 + it, "event": "llm_call", "iteration": it, "cached": False,
                       "model": "test-model", "prompt_tokens": 1200, "completion_tokens": 800,
                       "cost_usd": 0.0123, "seconds": 4.5, "responses": 3})
        events.append({"t": 3.5 + it, "event": "iteration_finished", "iteration": it, "best": best,
                       "iteration_best": best, "improved": True})
        _w(root / "iterations" / f"{it}.json", {
            "iteration": it, "candidates": [c for c in cands if c.startswith(f"{it}-")],
            "best": results[best], "baseline": baseline,
            "feedback": FEEDBACK.replace("FEEDBACK-MARKER", f"FEEDBACK-MARKER-{it}")})
    events.insert(3, {"t": 2.5, "event": "baseline", **baseline})
    b = results["1-0"]
    (root / "best").mkdir()
    (root / "best" / "reward.py").write_text(REWARD_1)
    _w(root / "best" / "evidence.json", {"candidate": "1-0", "score": b["score"],
                                         "fitness_seeds": b["fitness_seeds"], "success_rate": 0.25,
                                         "task": "pendulum-balance-v0", "steps": 2048,
                                         "baseline": baseline})
    _w(root / "evaluations" / "best-vs-baseline.json", {
        "task": "pendulum-balance-v0", "reward": "best/reward.py", "backend": "sb3", "steps": 4096,
        "seeds": [0, 1, 2], "fitness": {"mean": 77.7, "std": 3.3, "per_seed": [74.0, 78.0, 81.1]},
        "success_rate": 0.5, "env_steps_per_s": 900.0, "wall_s": 30.0, "run_dir": str(root),
        "compare": {"baseline": {"fitness": {"mean": 41.5, "std": 2.0, "per_seed": [40, 41, 43.5]}},
                    "floor": {"fitness": {"mean": 8.5, "std": 0.5, "per_seed": [8, 8.5, 9]}},
                    "normalized_score": {"mean": 2.1234, "std": 0.1, "per_seed": [2.0, 2.1, 2.27]}}})
    summary = {"run_dir": str(root), "task": "pendulum-balance-v0", "status": "finished",
               "stopped_early": None, "iterations": 2, "samples": 3, "steps": 2048,
               "llm": "openai:test-model", "cost_usd": 0.0246,
               "tokens": {"prompt": 2400, "completion": 1600}}
    events.append({"t": 9.0, "event": "run_finished", **summary})
    _w(root / "manifest.json", {
        "task": "pendulum-balance-v0", "task_origin": {"kind": "registry", "id": "pendulum-balance-v0"},
        "config": {"iterations": 2, "samples": 3, "steps": 2048, "seeds": 2, "backend": "sb3"},
        "llm": "openai:test-model", "prompt_templates": ["system_v1", "initial_v1"],
        "status": "finished", "summary": summary, "versions": {"rewardsmith": "0.1.0"},
        "created": "2025-01-01T12:00:00", "run_id": run_id})
    (root / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return build_run(tmp_path_factory.mktemp("runs") / "run-a")


@pytest.fixture(scope="module")
def report(run) -> str:
    return write_report(run).read_text()


@pytest.fixture
def no_plots(monkeypatch):
    """Skip drawing (matplotlib takes ~0.5 s a plot) where a test is about something else."""
    import rewardsmith.report as report_mod

    monkeypatch.setattr(report_mod._Plots, "img", lambda self, draw, alt, size=(8, 4): f"[{alt}]")


# ================================================================================== checks
class _Refs(HTMLParser):
    """Every URL-like attribute and every tag name in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for k, v in attrs:
            if k in ("src", "href", "poster", "data", "action", "srcset", "background") and v is not None:
                self.refs.append((tag, k, v))


def external_refs(text: str) -> list[str]:
    p = _Refs()
    p.feed(text)
    bad = [f"<{t} {k}={v[:80]!r}>" for t, k, v in p.refs
           if re.match(r"\s*(https?:|//|ftp:)", v, re.I)]
    bad += [f"<{t}>" for t in p.tags & {"script", "link", "iframe", "embed", "object", "base"}]
    bad += re.findall(r"url\(\s*['\"]?(?:https?:|//)[^)]*\)", text, re.I)
    bad += re.findall(r"@import", text)
    return bad


def screenshot(page: Path, out: Path, size: str = "1200,2000") -> Path:
    profile = out.parent / "chromium-profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={profile}", f"--screenshot={out}", f"--window-size={size}",
           page.resolve().as_uri()]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert out.exists(), f"chromium wrote no screenshot (exit {p.returncode}): {p.stderr[-2000:]}"
    return out


def assert_not_blank(png: Path) -> None:
    from PIL import Image

    with Image.open(png) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=float)
    assert rgb.shape[0] > 500 and rgb.shape[1] > 500
    gray = rgb.mean(axis=-1)
    assert gray.std() > 15, f"screenshot looks blank (pixel std {gray.std():.1f})"
    colors = len(np.unique(rgb.reshape(-1, 3)[::7], axis=0))
    assert colors > 50, f"screenshot has only {colors} colours"


# =================================================================================== tests
def test_report_shows_every_part_of_the_run(run, report):
    assert (run / "report.html").exists()
    # task and description, summary numbers
    assert "Balance the pole upright on the cart" in report
    assert "number of steps the pole stays within 0.2 rad" in report  # the fitness
    assert ">1-0<" in report and ">60<" in report and ">40<" in report  # best, its score, baseline
    # plots: fitness over iterations, learning curves, components over training and an episode
    imgs = re.findall(r"<img class='plot' alt='([^']*)' src='data:image/png;base64,", report)
    assert any("fitness of every candidate" in a for a in imgs)
    assert any("learning curves" in a for a in imgs)
    assert any("components of 1-0 over training" in a for a in imgs)
    assert any("evaluation episode" in a for a in imgs)
    # the best code and the diff from the previous best, escaped
    assert "upright_weight = 2.5" in report
    assert "<span class='del'>-    upright_weight = 1.0</span>" in report
    assert "<span class='add'>+    upright_weight = 2.5</span>" in report
    assert "0-0 → 1-0" in report
    # each iteration's best at the end of training, with the share of episodes that ended early
    assert "<th>ended early</th>" in report and "<td>50%</td>" in report and "<td>25%</td>" in report
    # the feedback to the LLM, escaped
    assert "FEEDBACK-MARKER-0" in report and "FEEDBACK-MARKER-1" in report
    assert "&lt;script&gt;alert(&#x27;not code&#x27;)&lt;/script&gt;" in report
    # tokens and cost
    assert "2,400" in report and "1,600" in report and "$0.0246" in report
    # validation failures and errors, with why
    assert "remove the import: `np` is already available" in report
    assert "ZeroDivisionError at env step 12" in report
    assert "the answer contains no `def compute_reward" in report
    # the evaluate report and the video
    assert "best-vs-baseline" in report and "77.7" in report and "2.12" in report
    assert "data:image/gif;base64," in report and "1-0: video.gif" in report
    assert "<a href='candidates/1-0/video.mp4'>video.mp4</a>" in report  # next to its GIF
    assert "<video controls preload='metadata' src='data:video/mp4;base64," in report  # 0-0: no GIF


def test_report_references_no_external_urls(report):
    assert external_refs(report) == []
    assert "<script" not in report  # the feedback's <script> is text


@needs_chromium
def test_report_renders_in_headless_chromium(run, report, tmp_path):
    png = screenshot(run / "report.html", tmp_path / "report.png")
    assert_not_blank(png)


def test_compare_report_puts_two_runs_side_by_side(run, tmp_path):
    other = build_run(tmp_path / "run-b", scale=1.5, video=False)
    path = report_compare(run, other)
    assert path == run / "compare-run-b.html"
    text = path.read_text()
    assert "run-a vs run-b" in text
    assert external_refs(text) == []
    assert text.count("class='col'") >= 8
    assert "Diff from A's best to B's best" in text
    assert "93" in text  # B's best score: (62 + 58) / 2 * 1.5
    with pytest.raises(ReportError, match="same directory"):
        report_compare(run, run)
    if CHROMIUM:
        assert_not_blank(screenshot(path, tmp_path / "compare.png"))


def test_report_of_a_run_that_has_just_started(tmp_path):
    root = tmp_path / "fresh"
    (root / "candidates" / "0-0").mkdir(parents=True)
    (root / "candidates" / "0-0" / "reward.py").write_text(REWARD_0)
    (root / "manifest.json").write_text(json.dumps({
        "task": "pendulum-balance-v0", "task_origin": {"kind": "registry", "id": "pendulum-balance-v0"},
        "status": "running", "config": {"iterations": 3}, "llm": "offline", "run_id": "fresh"}))
    text = write_report(root).read_text()
    assert "unfinished" in text and "No best reward yet." in text
    assert "No training curves yet." in text
    assert external_refs(text) == []


def test_the_summary_and_the_fitness_plot_show_the_closing_evaluation(tmp_path, monkeypatch):
    """The claim is the closing evaluation's: its fitness and success over its seeds in the
    cards, and the best's and the hand-written reward's closing means beside the iterations."""
    from rewardsmith.critic.verdict import verdict

    root = build_run(tmp_path / "closed", video=False)
    seeds = {str(s): 50.0 + s for s in range(2, 7)}
    v = verdict(seeds, {s: 40.0 for s in seeds}, [8.0] * 10,
                reward_success={s: 0.4 for s in seeds}, baseline_success={s: 0.2 for s in seeds})
    (root / "closing.json").write_text(json.dumps({"candidate": "1-0", "verdict": v}))
    drawn = []
    import rewardsmith.report as R

    real = R._Plots.img

    def spy(self, draw, alt, **kw):
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

        fig = Figure()
        draw(fig)
        drawn.append([t.get_text() for ax in fig.axes if ax.get_legend()
                      for t in ax.get_legend().get_texts()])
        return real(self, draw, alt, **kw)

    monkeypatch.setattr(R._Plots, "img", spy)
    text = write_report(root).read_text()
    assert "success rate (5 seeds)" in text and "fitness (mean over 5 seeds)" in text
    legend = next(x for x in drawn if any("closing evaluation" in t for t in x))
    assert "the best, closing evaluation (5 seeds: mean, 95% interval) 54" in legend
    assert "hand-written, closing evaluation (5 seeds: mean, 95% interval) 40" in legend
    assert any(t.startswith("baseline reward on the design seeds") for t in legend)


def test_unknown_task_is_noted_not_fatal(tmp_path, no_plots):
    root = build_run(tmp_path / "odd", video=False)
    m = json.loads((root / "manifest.json").read_text())
    m["task_origin"] = {"kind": "registry", "id": "no-such-task-v9"}
    (root / "manifest.json").write_text(json.dumps(m))
    text = write_report(root).read_text()
    assert "could not be loaded again" in text and "upright_weight = 2.5" in text


def test_large_videos_are_linked_by_relative_path(run, tmp_path, monkeypatch, no_plots):
    import rewardsmith.report as report_mod

    monkeypatch.setattr(report_mod, "MAX_EMBED_VIDEO", 10)
    out = tmp_path / "elsewhere" / "r.html"
    out.parent.mkdir()
    text = write_report(run, out).read_text()
    assert "data:image/gif" not in text
    rel = os.path.relpath(run / "candidates" / "1-0" / "video.gif", out.parent)
    assert f"src='{rel}'" in text
    rel = os.path.relpath(run / "candidates" / "0-0" / "video.mp4", out.parent)
    assert f"src='{rel}'" in text
    assert external_refs(text) == []


def test_loaded_run_picks_the_loops_choices(run):
    d = load_run(run)
    assert [c["id"] for c in d.iteration_bests().values()] == ["0-0", "1-0"]
    assert d.best_candidate()["id"] == "1-0"
    assert d.baseline_value("baseline") == 40.0 and d.baseline_value("floor") == 8.0
    assert [name for name, _ in d.evaluations] == ["best-vs-baseline"]


def test_cli_report(run, tmp_path, no_plots):
    import typer
    from typer.testing import CliRunner

    from rewardsmith.cli.export import register

    app = typer.Typer()
    register(app)
    runner = CliRunner()
    r = runner.invoke(app, ["report", str(run)])
    assert r.exit_code == 0, r.output
    assert r.output.strip() == str(run / "report.html")
    other = build_run(tmp_path / "run-c", video=False)
    r = runner.invoke(app, ["report", str(run), str(other), "--compare", "--out", str(tmp_path / "c.html")])
    assert r.exit_code == 0, r.output
    assert r.output.strip() == str(tmp_path / "c.html")
    r = runner.invoke(app, ["report", str(run), str(other)])
    assert r.exit_code == 2 and "--compare" in r.output
    r = runner.invoke(app, ["report", str(run), "--markdown"])
    assert r.exit_code == 2 and "prints a benchmark's table" in r.output
    r = runner.invoke(app, ["report", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "not a run directory" in r.output and "Traceback" not in r.output


# ============================================================================ a real run
@pytest.mark.slow  # a real design run (~30 s); the fast suite's real run is test_design's
@needs_chromium
def test_report_and_export_of_a_real_offline_run(tmp_path):
    """A real (small) offline design run: report renders, export runs without rewardsmith."""
    run_dir = tmp_path / "real-run"
    env = {**os.environ, "REWARDSMITH_CACHE": str(tmp_path / "cache")}
    p = subprocess.run([sys.executable, "-m", "rewardsmith.cli.main", "design", "--task",
                        "pendulum-balance-v0", "--llm", "offline", "--iterations", "2", "--samples", "2",
                        "--steps", "2048", "--seeds", "1", "--workers", "2", "--run-dir", str(run_dir)],
                       capture_output=True, text=True, timeout=900, env=env)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    text = write_report(run_dir).read_text()
    assert external_refs(text) == []
    assert text.count("<img class='plot'") >= 4
    assert_not_blank(screenshot(run_dir / "report.html", tmp_path / "real.png"))

    from rewardsmith.export import write_module

    module = write_module(run_dir, tmp_path / "real_reward.py")
    q = subprocess.run([sys.executable, "-I", str(module)], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert q.returncode == 0 and "steps ok" in q.stdout, q.stderr[-2000:]
