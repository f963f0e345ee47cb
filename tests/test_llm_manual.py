"""The manual backend: prompts to files, answers from files."""

from __future__ import annotations

import io
import threading
import time

import pytest
from rich.console import Console

from rewardsmith.llm import LLMError, extract_code, make_llm
from rewardsmith.llm.manual import ManualLLM

MESSAGES = [{"role": "system", "content": "You write rewards."},
            {"role": "user", "content": "Task: make the hopper hop forward."}]
ANSWER = "Reward speed.\n```python\ndef compute_reward(state, action, next_state):\n    r = next_state.rootx_vel\n    return r, {'speed': r}\n```\n"


def manual(tmp_path, **kw) -> tuple[ManualLLM, io.StringIO]:
    buf = io.StringIO()
    kw.setdefault("poll_s", 0.02)
    return ManualLLM(tmp_path, console=Console(file=buf, width=200), **kw), buf


def test_answers_already_there_are_used_at_once(tmp_path):
    llm, screen = manual(tmp_path, timeout=0.0)
    folder = llm.request_dir(MESSAGES, 3, 1.0)
    folder.mkdir(parents=True)
    for i in range(1, 4):
        (folder / f"answer_{i}.md").write_text(ANSWER.replace("Reward speed", f"Answer {i}"))
    out = llm.complete(MESSAGES, 3, 1.0)
    assert [t.split(".")[0] for t in out.texts] == ["Answer 1", "Answer 2", "Answer 3"]
    assert out.usage.cost_usd == 0.0 and screen.getvalue() == ""  # no instructions needed
    prompt = (folder / "prompt.md").read_text()
    assert "## System" in prompt and "## User" in prompt and "make the hopper hop forward" in prompt
    assert "answer_1.md" in prompt
    assert folder.parent == tmp_path / "llm" / "manual"
    assert "compute_reward" in extract_code(out.texts[0])


def test_single_answer_file_name(tmp_path):
    llm, _ = manual(tmp_path, timeout=0.0)
    folder = llm.request_dir(MESSAGES, 1, 0.5)
    folder.mkdir(parents=True)
    (folder / "answer.md").write_text(ANSWER)
    assert llm.complete(MESSAGES, 1, 0.5).texts == [ANSWER]


def test_waits_for_answers_and_shows_instructions(tmp_path):
    llm, screen = manual(tmp_path, timeout=10.0)
    folder = llm.request_dir(MESSAGES, 2, 1.0)

    def user():
        while not (folder / "prompt.md").exists():
            time.sleep(0.01)
        time.sleep(0.05)
        (folder / "answer_1.md").write_text(ANSWER)
        (folder / "answer_2.md").write_text(ANSWER.replace("speed", "pace"))

    t = threading.Thread(target=user)
    t.start()
    out = llm.complete(MESSAGES, 2, 1.0)
    t.join()
    assert len(out.texts) == 2 and "pace" in out.texts[1]
    text = screen.getvalue()
    assert "prompt.md" in text and "answer_1.md" in text and "Manual LLM" in text


def test_timeout_names_the_missing_files(tmp_path):
    llm, _ = manual(tmp_path, timeout=0.1)
    folder = llm.request_dir(MESSAGES, 2, 1.0)
    folder.mkdir(parents=True)
    (folder / "answer_1.md").write_text(ANSWER)
    with pytest.raises(LLMError, match="answer_2.md"):
        llm.complete(MESSAGES, 2, 1.0)


def test_make_llm_manual_needs_a_run_dir(tmp_path):
    with pytest.raises(LLMError, match="run directory"):
        make_llm("manual", cache=False)
    llm = make_llm("manual", run_dir=tmp_path, cache_dir=tmp_path / "cache", timeout=0.0)
    assert llm.name == "manual"
