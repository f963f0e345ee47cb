"""Blind ranking: the order shown is a seeded shuffle, the task scores stay off the page until
the ranking is in, and the page's URL is printed on stderr whatever the output is. No browser."""

from __future__ import annotations

import io
import json
import re
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
from rich.console import Console

from rewardsmith.feedback import blind_order, collect, feedback_path, load
from rewardsmith.feedback.cards import make_cards
from rewardsmith.feedback.server import FeedbackServer
from rewardsmith.runs.files import read_json

TASK = "pendulum-balance-v0"
IDS = [f"0-{k}" for k in range(6)]


def test_the_shuffle_is_fixed_by_seed_and_iteration():
    first = blind_order(IDS, 7, 2)
    assert first == blind_order(IDS, 7, 2)  # a resumed run shows the same order
    assert sorted(first) == IDS
    assert first == blind_order(list(reversed(IDS)), 7, 2)  # whatever order they are passed in
    assert blind_order(IDS, 7, 3) != first  # another iteration, another order
    assert blind_order(IDS, 8, 2) != first  # another run seed, another order
    assert len({tuple(blind_order(IDS, 7, it)) for it in range(20)}) > 15
    # every position is a candidate's about equally often: no place for the fittest
    firsts = [blind_order(IDS, 0, it)[0] for it in range(600)]
    assert all(60 <= firsts.count(i) <= 140 for i in IDS), {i: firsts.count(i) for i in IDS}


def test_a_known_shuffle_stays_the_same_across_versions():
    # recorded orders must still match what a resumed run (maybe on a newer Python) shows
    assert blind_order(["0-0", "0-1", "0-2", "0-3"], 0, 0) == ["0-2", "0-0", "0-1", "0-3"]


def _candidates(run: Path, fitness: list[float]) -> list[dict]:
    out = []
    for k, f in enumerate(fitness):
        folder = run / "candidates" / f"0-{k}"
        train = folder / "seed-0" / "train"
        train.mkdir(parents=True)
        np.savez(train / "eval_episode_0.npz", states=np.zeros((11, 3)), actions=np.zeros((10, 1)),
                 terminated=np.asarray(False), **{"component:upright": np.full(10, 0.5)})
        out.append({"id": f"0-{k}", "source": f"def compute_reward(s, a, n):\n    return {k}, {{}}\n",
                    "fitness": f, "folder": folder})
    return out


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_the_server_sends_no_score_until_the_ranking_is_in(tmp_path):
    cands = _candidates(tmp_path, [9.5, 4.25])
    folders = {c["id"]: c["folder"] for c in cands}
    with FeedbackServer(make_cards(cands), folders, iteration=0, title="t", port=0) as server:
        state = _get(server.url + "api/state")
        assert state["blind"] and state["scores_hidden"]
        assert [c["fitness"] for c in state["candidates"]] == [None, None]
        reply = _post(server.url + "api/submit", {"best": "0-1", "worst": "0-0"})
        assert reply["ok"] and reply["scores"] == {"0-0": 9.5, "0-1": 4.25}
        state = _get(server.url + "api/state")
        assert not state["scores_hidden"]
        assert [c["fitness"] for c in state["candidates"]] == [9.5, 4.25]
    with FeedbackServer(make_cards(cands), folders, iteration=0, title="t", port=0,
                        show_scores=True) as server:
        state = _get(server.url + "api/state")
        assert not state["blind"] and not state["scores_hidden"]
        assert [c["fitness"] for c in state["candidates"]] == [9.5, 4.25]


def test_the_pages_url_is_a_plain_line_on_stderr(tmp_path, load_task, capfd):
    task = load_task(TASK)
    cands = _candidates(tmp_path, [3.0, 2.0, 1.0])
    notes: list[str] = []
    result: dict = {}

    def go():
        try:
            result["fb"] = collect("human", "web", tmp_path, 1, task, cands, videos=False, port=0,
                                   open_browser=False, notify=notes.append, timeout=60, seed=5)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            result["error"] = e

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not notes and time.time() < deadline and "error" not in result:
        time.sleep(0.05)
    assert notes, result
    url = re.search(r"http://127\.0\.0\.1:\d+/", notes[-1]).group(0)
    err = capfd.readouterr().err
    lines = [ln for ln in err.splitlines() if url in ln]
    assert len(lines) == 1 and lines[0].startswith("rewardsmith: rank the behaviours of iteration 2 at ")
    assert "\x1b" not in lines[0]  # plain text, not a terminal's markup

    state = _get(url + "api/state")
    shown = [c["id"] for c in state["candidates"]]
    assert shown == blind_order(["0-0", "0-1", "0-2"], 5, 1)
    _post(url + "api/submit", {"order": shown})
    thread.join(30)
    assert "error" not in result, result.get("error")
    fb = result["fb"]
    assert fb.order == shown and fb.shown_order == shown and fb.blind
    assert load(tmp_path, 1) == fb


def test_the_default_notice_prints_the_url_once(tmp_path, load_task, capfd):
    task = load_task(TASK)
    cands = _candidates(tmp_path, [3.0, 2.0])
    result: dict = {}

    def go():
        try:
            result["fb"] = collect("human", "web", tmp_path, 0, task, cands, videos=False, port=0,
                                   open_browser=False, timeout=60)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            result["error"] = e

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    deadline, err = time.time() + 30, ""
    while time.time() < deadline and "error" not in result:
        err += capfd.readouterr().err
        if "http://" in err:
            break
        time.sleep(0.05)
    urls = re.findall(r"http://127\.0\.0\.1:\d+/", err)
    assert len(urls) == 1, err
    _post(urls[0] + "api/submit", {"best": "0-0", "worst": "0-1"})
    thread.join(30)
    assert "error" not in result, result.get("error")


def test_the_oracle_is_not_shuffled_or_blinded(tmp_path, load_task):
    task = load_task(TASK)
    cands = _candidates(tmp_path, [1.0, 3.0, 2.0])
    fb = collect("oracle", "web", tmp_path, 0, task, cands, seed=0)
    assert fb.order == ["0-1", "0-2", "0-0"] and fb.source == "oracle"
    assert fb.shown_order == [] and not fb.blind


def test_the_terminal_records_what_it_showed(tmp_path, load_task):
    task = load_task(TASK)
    cands = _candidates(tmp_path, [3.0, 2.0, 1.0])
    console = Console(file=io.StringIO(), width=160, force_terminal=False, color_system=None)
    fb = collect("human", "cli", tmp_path, 4, task, cands, videos=False, console=console, seed=3,
                 input_stream=io.StringIO("1 2 3\n\n"), notify=lambda m: None)
    shown = blind_order(["0-0", "0-1", "0-2"], 3, 4)
    assert fb.order == shown and fb.shown_order == shown and fb.blind
    assert read_json(feedback_path(tmp_path, 4))["shown_order"] == shown
