"""``--feedback-ui cli``: the terminal fallback, answered with simulated input; blind by
default (shuffled, no task scores until the answer is in)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from rewardsmith.errors import RewardsmithError
from rewardsmith.feedback import blind_order, collect, feedback_path, load
from rewardsmith.feedback.cards import make_cards
from rewardsmith.feedback.terminal import ask
from rewardsmith.runs.files import read_json

TASK = "pendulum-balance-v0"


def _candidates(run: Path, n: int) -> list[dict]:
    out = []
    for k in range(n):
        folder = run / "candidates" / f"0-{k}"
        train = folder / "seed-0" / "train"
        train.mkdir(parents=True)
        np.savez(train / "eval_episode_0.npz", states=np.zeros((11, 3)), actions=np.zeros((10, 1)),
                 terminated=np.asarray(False), **{"component:upright": np.full(10, float(k))})
        out.append({"id": f"0-{k}", "source": f"def compute_reward(s, a, n):\n    return {k}, {{}}\n",
                    "fitness": float(10 * k), "folder": folder})
    return out


def _console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=160, force_terminal=False, color_system=None), buf


def _ask(run: Path, n: int, typed: str) -> tuple[dict, str]:
    cands = _candidates(run, n)
    console, buf = _console()
    folders = {c["id"]: c["folder"] for c in cands}
    answer = ask(make_cards(cands, dt=0.04), folders, console=console, stream=io.StringIO(typed))
    return answer, buf.getvalue()


def test_cli_best_then_worst_then_comment_is_recorded(tmp_path, load_task):
    task = load_task(TASK)
    cands = _candidates(tmp_path, 4)
    console, buf = _console()
    fb = collect("human", "cli", tmp_path, 0, task, cands, videos=False, console=console,
                 input_stream=io.StringIO("3\n1\nswing less, stay centred\n"), notify=lambda m: None)
    shown = blind_order([c["id"] for c in cands], 0, 0)  # numbered in the shuffled order
    assert (fb.best, fb.worst, fb.ui) == (shown[2], shown[0], "cli")
    assert fb.comment == "swing less, stay centred" and not fb.full_order
    assert fb.order[0] == shown[2] and fb.order[-1] == shown[0]
    out = buf.getvalue()
    for cid in ("0-0", "0-1", "0-2", "0-3"):
        assert cid in out  # the table lists every candidate
    assert "upright" in out and "30" in out  # components and task score
    saved = read_json(feedback_path(tmp_path, 0))
    assert saved["ui"] == "cli" and saved["best"] == shown[2] and saved["shown_order"] == shown
    # resumed: answered already, no input is read
    again = collect("human", "cli", tmp_path, 0, task, cands, videos=False, console=console,
                    input_stream=io.StringIO(""))
    assert again == fb == load(tmp_path, 0)


def test_cli_full_order_with_the_last_one_implied(tmp_path):
    answer, _ = _ask(tmp_path, 3, "2 3\n\n")
    assert answer["order"] == ["0-1", "0-2", "0-0"] and answer["comment"] == ""


def test_cli_two_candidates_need_only_the_best(tmp_path):
    answer, _ = _ask(tmp_path, 2, "2\nok\n")
    assert (answer["best"], answer["worst"], answer["comment"]) == ("0-1", "0-0", "ok")


def test_cli_asks_again_after_a_wrong_answer(tmp_path):
    answer, out = _ask(tmp_path, 3, "7\nbest\n1\n1\n1\n2\n\n")
    assert (answer["best"], answer["worst"]) == ("0-0", "0-1")
    assert "there is no candidate 7" in out and "candidate numbers" in out and "different" in out


def test_cli_end_of_input_is_an_error_not_a_hang(tmp_path):
    with pytest.raises(RewardsmithError, match="input ended"):
        _ask(tmp_path, 3, "1\n")


def _scored(run: Path) -> list[dict]:
    """Passed best first, with scores no other number on the screen looks like."""
    cands = _candidates(run, 3)
    for c, f in zip(cands, (8642.0, 5310.0, 1234.0)):
        c["fitness"] = f
    return cands


SCORES = ("8,642", "5,310", "1,234")


def test_cli_hides_the_task_scores_until_the_answer_is_recorded(tmp_path, load_task):
    task = load_task(TASK)
    cands = _scored(tmp_path)
    console, buf = _console()
    fb = collect("human", "cli", tmp_path, 1, task, cands, videos=False, console=console,
                 input_stream=io.StringIO("1\n2\n\n"), notify=lambda m: None)
    out = buf.getvalue()
    before, prompt, after = out.partition("Best candidate 1-3")
    assert prompt, out
    assert "task score" not in before.split("blind ranking")[0]  # no such column
    assert "random order" in before
    assert not any(s in before for s in SCORES), before
    # the table's rows are in the shuffled order, numbered 1..3
    shown = blind_order(["0-0", "0-1", "0-2"], 0, 1)
    assert shown != ["0-0", "0-1", "0-2"]
    rows = [re.search(r"^\W*(\d)\W+(0-\d)\b", ln) for ln in before.splitlines()]
    assert [(m.group(1), m.group(2)) for m in rows if m] == [("1", shown[0]), ("2", shown[1]),
                                                              ("3", shown[2])]
    assert (fb.best, fb.worst) == (shown[0], shown[1]) and fb.blind
    # once recorded, the scores are shown
    assert "task scores:" in after and all(s in after for s in SCORES), after


def test_cli_show_scores_puts_them_in_the_table(tmp_path, load_task):
    task = load_task(TASK)
    cands = _scored(tmp_path)
    console, buf = _console()
    fb = collect("human", "cli", tmp_path, 1, task, cands, videos=False, console=console,
                 input_stream=io.StringIO("1\n2\n\n"), notify=lambda m: None, show_scores=True)
    before = buf.getvalue().partition("Best candidate 1-3")[0]
    assert "task score" in before and all(s in before for s in SCORES), before
    assert "blind ranking" not in before and not fb.blind
