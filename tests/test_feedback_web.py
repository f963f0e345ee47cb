"""The ranking page, in a real headless Chromium (Debian's ``chromium``, driven by Playwright):
it loads, shows the videos, and a click on "best" and "worst" plus a comment reaches the run
directory and the next prompt; blind by default (shuffled, no scores until the ranking is in).
The server's own rules are tested without a browser."""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from rewardsmith.feedback import blind_order, collect, feedback_path, feedback_text
from rewardsmith.feedback.cards import make_cards
from rewardsmith.feedback.server import FeedbackServer
from rewardsmith.feedback.video import Video, VideoSettings, write_video
from rewardsmith.runs.files import atomic_write_json, read_json

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TASK = "pendulum-balance-v0"


def _source(k: int) -> str:
    return f"def compute_reward(state, action, next_state):\n    r = {k} * next_state.pole_angle\n    return r, {{'r': r}}\n"


def _candidates(run: Path, clips: list[str]) -> list[dict]:
    """Candidate folders with a synthetic clip ("mp4" = MP4 + GIF, "gif" = GIF only, "" = none)
    and a recorded episode's reward components (for the plot); no OpenGL needed."""
    out = []
    for k, clip in enumerate(clips):
        folder = run / "candidates" / f"0-{k}"
        train = folder / "seed-0" / "train"
        train.mkdir(parents=True)
        t = np.arange(40)
        np.savez(train / "eval_episode_0.npz", states=np.zeros((41, 3)), actions=np.zeros((40, 1)),
                 terminated=np.asarray(k == 1),
                 **{"component:upright": np.cos(t / (5 + k)), "component:effort": -0.1 * np.ones(40)})
        if clip:
            frames = [np.full((48, 64, 3), (30 * k + 8 * i) % 255, dtype=np.uint8) for i in range(10)]
            write_video(frames, 10.0, folder / "video.mp4" if clip == "mp4" else None,
                        folder / "video.gif")
            v = Video(folder=str(folder), source="episode", mp4="video.mp4" if clip == "mp4" else None,
                      gif="video.gif", frames=10, fps=10.0, seconds=1.0, steps=40, episode_length=40,
                      terminated=k == 1, seed_dir="seed-0", settings=VideoSettings().key(),
                      episode="eval_episode_0.npz")
            atomic_write_json(folder / "video.json", v.to_json())
        out.append({"id": f"0-{k}", "source": _source(k), "fitness": [1.5, None, -2.0][k % 3],
                    "folder": folder})
    return out


class _Waiting:
    """``collect`` in a thread, as the design loop calls it; the URL comes from its notice."""

    def __init__(self, run, iteration, task, cands, **kw):
        self.notes: list[str] = []
        self.result: dict = {}

        def go():
            try:
                self.result["fb"] = collect("human", "web", run, iteration, task, cands, videos=False,
                                            port=0, open_browser=False, notify=self.notes.append,
                                            timeout=90, **kw)
            except BaseException as e:  # noqa: BLE001 - reported by the test
                self.result["error"] = e

        self.thread = threading.Thread(target=go, daemon=True)
        self.thread.start()

    def url(self) -> str:
        deadline = time.time() + 30
        while time.time() < deadline:
            for n in self.notes:
                m = re.search(r"http://127\.0\.0\.1:\d+/", n)
                if m:
                    return m.group(0)
            assert "error" not in self.result, self.result.get("error")
            time.sleep(0.05)
        raise AssertionError(f"no URL announced: {self.notes}")

    def answer(self):
        self.thread.join(30)
        assert not self.thread.is_alive(), "collect() did not return after the answer"
        assert "error" not in self.result, self.result.get("error")
        return self.result["fb"]


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; it drives the system chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def test_page_shows_videos_and_a_best_worst_pick_with_comment_reaches_the_run(tmp_path, browser, load_task):
    task = load_task(TASK)
    cands = _candidates(tmp_path, ["mp4", "gif", ""])
    cands[2]["label"] = "previous best"
    waiting = _Waiting(tmp_path, 0, task, cands)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(waiting.url())
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    assert task.description in page.inner_text("#description")
    # works offline: everything the page loads comes from the local server
    origin = waiting.url().split("/", 3)[:3]
    assert requested and all(u.split("/", 3)[:3] == origin for u in requested), requested

    # the videos, with the right sources; the MP4 really plays (or falls back to its GIF)
    assert page.eval_on_selector_all("video", "vs => vs.map(v => v.getAttribute('src'))") == [
        "/media/0-0/video.mp4"]
    assert "/media/0-1/video.gif" in page.eval_on_selector_all("img", "is => is.map(i => i.getAttribute('src'))")
    page.wait_for_function(
        "() => { const v = document.querySelector('#card-0-0 video');"
        " const i = document.querySelector('#card-0-0 img');"
        " return (v && v.readyState >= 2 && v.videoWidth === 64) || (i && i.naturalWidth > 0); }",
        timeout=15000)
    page.wait_for_function("() => document.querySelector('#card-0-1 img').naturalWidth === 64")
    assert "no video" in page.inner_text("#card-0-2") and "previous best" in page.inner_text("#card-0-2")
    assert page.locator(".card svg polyline").count() == 6  # two components on each of 3 plots
    assert "task score" not in page.inner_text("#card-0-0")  # blind: not before the ranking

    assert page.is_disabled("#submit")
    page.click("#card-0-2 .pick-best")
    page.click("#card-0-0 .pick-worst")
    assert page.get_attribute("#card-0-2 .pick-best", "aria-pressed") == "true"
    assert "BEST" in page.inner_text("#card-0-2") and "WORST" in page.inner_text("#card-0-0")
    page.fill("#comment", "keep the pole up but stop drifting to the right")
    page.click("#submit")
    page.wait_for_selector("#status.done", timeout=15000)
    assert page.is_disabled("#card-0-1 .pick-best")
    # ranked: the scores are shown now
    page.wait_for_function("() => document.querySelector('#card-0-0').innerText.includes('task score 1.500')")
    assert errors == []

    fb = waiting.answer()
    assert (fb.best, fb.worst, fb.source, fb.ui) == ("0-2", "0-0", "human", "web")
    assert fb.comment == "keep the pole up but stop drifting to the right"
    saved = read_json(feedback_path(tmp_path, 0))
    assert saved["best"] == "0-2" and saved["worst"] == "0-0" and saved["comment"] == fb.comment
    assert saved["scores"]["0-2"] > saved["scores"]["0-1"] > saved["scores"]["0-0"]
    # ... and the next prompt
    text = feedback_text(fb, {c["id"]: c for c in cands})
    assert fb.comment in text and "r = 2 * next_state.pole_angle" in text
    assert "r = 0 * next_state.pole_angle" in text

    # a restart does not ask again
    notes: list[str] = []
    again = collect("human", "web", tmp_path, 0, task, cands, videos=False, port=0,
                    open_browser=False, notify=notes.append, timeout=1)
    assert again == fb and notes == []
    page.close()


def test_keyboard_full_ordering(tmp_path, browser, load_task):
    task = load_task(TASK)
    cands = _candidates(tmp_path, ["gif", "gif", "gif"])
    waiting = _Waiting(tmp_path, 3, task, cands)
    page = browser.new_page()
    page.goto(waiting.url())
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    shown = _shown(page)  # the keys pick by position, in the shuffled order
    assert shown == blind_order(["0-0", "0-1", "0-2"], 0, 3)
    page.keyboard.press("1")  # best: 1
    page.keyboard.press("Shift+Digit2")  # worst: 2
    assert page.inner_text("#best-label").startswith("1") and page.inner_text("#worst-label").startswith("2")
    page.keyboard.press("o")  # order them all instead: 3 > 1 > (2 implied)
    page.keyboard.press("3")
    page.keyboard.press("2")
    page.keyboard.press("Backspace")
    assert page.inner_text("#order-label") == "3"
    page.keyboard.press("1")
    assert page.inner_text("#order-label") == "3 > 1 > 2"
    page.keyboard.press("c")
    page.keyboard.type("3 is calm")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#status.done", timeout=15000)
    fb = waiting.answer()
    assert fb.order == [shown[2], shown[0], shown[1]] and fb.full_order and fb.comment == "3 is calm"
    assert fb.iteration == 3 and fb.shown_order == shown
    page.close()


def _shown(page) -> list[str]:
    return page.eval_on_selector_all(".card", "cs => cs.map(c => c.dataset.id)")


# seed 0, iteration 0 shuffles four candidates away from the order they are passed in
BLIND_SEED, BLIND_IT = 0, 0
FITNESS = [3.25, 2.5, 1.75, 0.5]  # passed best first, as the design loop does
SHOWN_SCORES = ["task score 3.250", "task score 2.500", "task score 1.750", "task score 0.500"]


def _by_fitness(run: Path) -> list[dict]:
    cands = _candidates(run, ["gif", "gif", "gif", "gif"])
    for c, f in zip(cands, FITNESS):
        c["fitness"] = f
    return cands


def test_blind_page_shuffles_and_hides_the_scores_until_the_ranking_is_sent(tmp_path, browser, load_task):
    task = load_task(TASK)
    cands = _by_fitness(tmp_path)
    ids = [c["id"] for c in cands]
    expected = blind_order(ids, BLIND_SEED, BLIND_IT)
    assert expected != ids  # the seed is one whose shuffle differs from the fitness order
    waiting = _Waiting(tmp_path, BLIND_IT, task, cands, seed=BLIND_SEED)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(waiting.url())
    page.wait_for_selector("body[data-ready='1']", timeout=15000)

    shown = _shown(page)
    assert shown == expected and shown != ids
    # numbered in the order shown, so the keys and numbers say nothing about the fitness either
    assert [page.inner_text(f"#card-{cid} .num") for cid in shown] == ["1", "2", "3", "4"]
    text = page.inner_text("body")
    assert "task score" not in text
    assert not any(f"{f:.3f}" in text for f in FITNESS), text
    assert "random order" in page.inner_text("#blind-note")
    # nor in the data behind the page
    state = page.evaluate("() => fetch('/api/state').then(r => r.json())")
    assert state["scores_hidden"] and all(c["fitness"] is None for c in state["candidates"])

    page.keyboard.press("4")  # best: the fourth shown
    page.keyboard.press("Shift+Digit1")  # worst: the first shown
    page.click("#submit")
    page.wait_for_selector("#status.done", timeout=15000)
    page.wait_for_function("() => document.body.innerText.includes('task score')")
    for cid, score in zip(ids, SHOWN_SCORES):
        assert score in page.inner_text(f"#card-{cid}")
    assert "shown now" in page.inner_text("#blind-note")
    assert errors == []

    fb = waiting.answer()
    assert (fb.best, fb.worst) == (shown[3], shown[0])
    assert fb.shown_order == shown and fb.blind
    saved = read_json(feedback_path(tmp_path, BLIND_IT))
    assert saved["shown_order"] == shown and saved["blind"] is True
    assert saved["candidates"] == ids  # as passed
    page.close()


def test_show_scores_shows_them_from_the_start(tmp_path, browser, load_task):
    task = load_task(TASK)
    cands = _by_fitness(tmp_path)
    ids = [c["id"] for c in cands]
    waiting = _Waiting(tmp_path, BLIND_IT, task, cands, seed=BLIND_SEED, show_scores=True)
    page = browser.new_page()
    page.goto(waiting.url())
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    assert _shown(page) == blind_order(ids, BLIND_SEED, BLIND_IT)  # still shuffled
    for cid, score in zip(ids, SHOWN_SCORES):
        assert score in page.inner_text(f"#card-{cid}")
    assert page.is_hidden("#blind-note")
    page.keyboard.press("1")
    page.keyboard.press("Shift+Digit2")
    page.click("#submit")
    page.wait_for_selector("#status.done", timeout=15000)
    fb = waiting.answer()
    assert not fb.blind and fb.shown_order == _shown(page)
    page.close()


# ------------------------------------------------------------------ the server, without a browser
def _req(url, data=None, headers=None, method=None):
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_server_rules(tmp_path):
    cands = _candidates(tmp_path, ["mp4", "gif"])
    cards = make_cards(cands, dt=0.04)
    got = []
    server = FeedbackServer(cards, {c["id"]: c["folder"] for c in cands}, iteration=0, title="t",
                            on_submit=lambda a: got.append(a) or {**a, "path": "x"}, port=0)
    with server:
        base = server.url
        status, _, body = _req(base)
        assert status == 200 and b"/app.js" in body
        state = json.loads(_req(base + "api/state")[2])
        assert [c["id"] for c in state["candidates"]] == ["0-0", "0-1"]
        assert state["candidates"][0]["mp4"] == "video.mp4" and state["candidates"][1]["mp4"] is None
        # ranges, so the browser can seek
        size = (cands[0]["folder"] / "video.mp4").stat().st_size
        status, headers, body = _req(base + "media/0-0/video.mp4", headers={"Range": "bytes=10-19"})
        assert status == 206 and len(body) == 10 and headers["Content-Range"] == f"bytes 10-19/{size}"
        # only the clips of known candidates
        assert _req(base + "media/0-0/reward.py")[0] == 404
        assert _req(base + "media/../video.json")[0] == 404
        assert _req(base + "media/9-9/video.mp4")[0] == 404
        # another host name (DNS rebinding) is refused
        assert _req(base + "api/state", headers={"Host": "evil.example:80"})[0] == 403
        answer = json.dumps({"best": "0-0", "worst": "0-1", "comment": "x"}).encode()
        assert _req(base + "api/submit", answer, {"Content-Type": "text/plain"})[0] == 415
        bad = json.dumps({"best": "0-0", "worst": "0-0"}).encode()
        status, _, body = _req(base + "api/submit", bad, {"Content-Type": "application/json"})
        assert status == 422 and b"different" in body
        assert got == [] and server.wait(timeout=0.3) is None
        status, _, body = _req(base + "api/submit", answer, {"Content-Type": "application/json"})
        assert status == 200 and json.loads(body)["ok"]
        assert server.wait(timeout=5)["best"] == "0-0"
        assert got == [{"best": "0-0", "worst": "0-1", "order": [], "comment": "x"}]
        assert json.loads(_req(base + "api/state")[2])["submitted"] is True


@pytest.mark.slow  # ~14 s: a whole design run, its clips rendered, the page answered in Chromium
def test_a_design_loop_takes_the_pages_answer_into_its_next_prompt(tmp_path, browser, load_task,
                                                                    monkeypatch):
    """The whole path: a design run with --feedback human renders the clips, serves the page,
    waits; a click on best and worst plus a comment in Chromium lets it go on, and the next
    iteration's prompt holds the comment and both programs."""
    from dataclasses import asdict

    from rewardsmith.feedback import video as video_mod
    from rewardsmith.llm import make_llm
    from rewardsmith.loop.design import DesignConfig, DesignLoop
    from rewardsmith.runs.rundir import RunDir

    try:
        video_mod.gl_backend()
    except video_mod.RenderError as e:
        pytest.skip(f"no offscreen OpenGL for MuJoCo here: {e}")
    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache"))
    task = load_task(TASK)
    # schedule full: successive halving would stop the weaker of two near-equal candidates
    # early (the training is not bit-exact), leaving one clip to rank
    cfg = DesignConfig(iterations=2, samples=2, steps=1024, seeds=1, workers=2,
                       compare_baseline=False, feedback="human", feedback_ui="web",
                       schedule="full")
    run = RunDir.create(tmp_path / "run", {"task": task.id, "task_origin": dict(task.origin),
                                           "config": asdict(cfg)})
    notes: list[str] = []
    result: dict = {}

    def observer(event):
        from rewardsmith.loop.events import FeedbackNotice

        if isinstance(event, FeedbackNotice):
            notes.append(event.message)

    def go():
        try:
            loop = DesignLoop(task, run, cfg, make_llm("offline", cache=False), observer=observer)
            result["summary"] = loop.run_loop()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            result["error"] = e

    thread = threading.Thread(target=go, daemon=True)
    thread.start()

    def page_url(seen: int) -> str:
        deadline = time.time() + 240
        while time.time() < deadline:
            urls = [m.group(0) for n in notes for m in [re.search(r"http://127\.0\.0\.1:\d+/", n)] if m]
            if len(urls) > seen:
                return urls[seen]
            assert "error" not in result, result.get("error")
            time.sleep(0.2)
        raise AssertionError(f"no page announced: {notes}")

    comment = "the second one sways less; keep that and push the pole higher"
    for it in range(2):
        page = browser.new_page()
        page.goto(page_url(it))
        page.wait_for_selector("body[data-ready='1']", timeout=15000)
        # the clips rendered from the policies
        assert page.locator("video, img").count() >= 2, (notes, page.inner_text("body"))
        page.click("#card-0-1 .pick-best" if it == 0 else ".card >> nth=0 >> .pick-best")
        page.click("#card-0-0 .pick-worst" if it == 0 else ".card >> nth=1 >> .pick-worst")
        page.fill("#comment", comment if it == 0 else "fine")
        page.click("#submit")
        page.wait_for_selector("#status.done", timeout=15000)
        page.close()
    thread.join(240)
    assert not thread.is_alive() and "error" not in result, result.get("error")
    assert result["summary"]["best"] is not None

    saved = read_json(feedback_path(run.path, 0))
    assert (saved["best"], saved["worst"], saved["comment"]) == ("0-1", "0-0", comment)
    prompt = read_json(run.path / "llm" / "iteration-1.json")["messages"][-1]["content"]
    assert comment in prompt
    for cid in ("0-1", "0-0"):  # both programs, verbatim: their named constants differ
        src = (run.path / "candidates" / cid / "reward.py").read_text()
        consts = re.findall(r"^ +\w+ = [-+0-9.e]+$", src, re.M)
        assert consts and all(c in prompt for c in consts), (cid, consts)
    assert (run.path / "candidates" / "0-1" / "video.mp4").exists()
