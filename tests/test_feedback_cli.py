"""``--feedback-ui cli``: the terminal fallback, answered with simulated input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from rewardsmith.errors import RewardsmithError
from rewardsmith.feedback import collect, feedback_path, load
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
    assert (fb.best, fb.worst, fb.ui) == ("0-2", "0-0", "cli")
    assert fb.comment == "swing less, stay centred" and not fb.full_order
    assert fb.order[0] == "0-2" and fb.order[-1] == "0-0"
    out = buf.getvalue()
    for cid in ("0-0", "0-1", "0-2", "0-3"):
        assert cid in out  # the table lists every candidate
    assert "upright" in out and "30" in out  # components and task score
    saved = read_json(feedback_path(tmp_path, 0))
    assert saved["ui"] == "cli" and saved["best"] == "0-2"
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
