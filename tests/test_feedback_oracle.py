"""The synthetic preference oracle, ``collect`` in oracle mode, resume, and the prompt text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rewardsmith.contracts import Episode
from rewardsmith.errors import RewardsmithError
from rewardsmith.feedback import HumanFeedback, collect, feedback_path, feedback_text, load
from rewardsmith.feedback.oracle import PreferenceOracle
from rewardsmith.runs.files import read_json

TASK = "pendulum-balance-v0"


def _source(k: int) -> str:
    return (f"def compute_reward(state, action, next_state):\n    w = {k}.0\n"
            f"    r = w * np.cos(next_state.pole_angle)\n    return r, {{'upright': r}}\n")


def _candidates(run: Path, task, heights: list[float], fitness: list[float | None]) -> list[dict]:
    """Candidates whose one recorded episode keeps the cart at ``heights[k]`` (a hidden quantity)."""
    spec = task.spec
    out = []
    for k, (h, f) in enumerate(zip(heights, fitness)):
        folder = run / "candidates" / f"0-{k}"
        train = folder / "seed-0" / "train"
        train.mkdir(parents=True)
        states = np.zeros((11, spec.size))
        states[:, spec.fields["qpos"].offset] = h  # slider position
        Episode(states, np.zeros((10, 1)), np.ones(10), np.ones(10), {"upright": np.ones(10)},
                False, spec).save(train / "eval_episode_0.npz")
        out.append({"id": f"0-{k}", "source": _source(k), "fitness": f, "folder": folder})
    return out


def test_oracle_ranks_exactly_by_fitness_without_noise():
    cands = [{"id": f"0-{k}", "fitness": f, "folder": "."} for k, f in enumerate([1.0, 5.0, 3.0, -2.0])]
    assert PreferenceOracle(noise=0.0).rank(cands) == ["0-1", "0-2", "0-0", "0-3"]


def test_oracle_noise_is_reproducible_and_scales_with_its_level():
    cands = [{"id": f"c{k}", "fitness": float(k), "folder": "."} for k in range(8)]
    exact = [f"c{k}" for k in reversed(range(8))]
    small = [PreferenceOracle(noise=0.01, seed=s).rank(cands, it) for s in range(5) for it in range(4)]
    assert all(r == exact for r in small)  # a hundredth of the spread never swaps neighbours 1 apart
    big = PreferenceOracle(noise=3.0, seed=1)
    assert big.rank(cands, 0) == big.rank(cands, 0)  # same seed and iteration: same draw
    draws = [tuple(PreferenceOracle(noise=3.0, seed=s).rank(cands, 0)) for s in range(10)]
    assert any(d != tuple(exact) for d in draws) and len(set(draws)) > 1


def test_oracle_needs_a_fitness():
    cands = [{"id": "0-0", "fitness": None, "folder": "/nonexistent"}]
    with pytest.raises(RewardsmithError, match="no fitness"):
        PreferenceOracle().rank(cands)


def test_collect_oracle_with_hidden_fitness_over_episodes(tmp_path, load_task):
    task = load_task(TASK)
    # the candidates' own fitness says 0-0 is best; the hidden oracle fitness (cart position)
    # says 0-2 > 0-0 > 0-1: the oracle must follow the hidden one
    cands = _candidates(tmp_path, task, heights=[0.1, -0.3, 0.5], fitness=[9.0, 1.0, 2.0])
    calls = []

    def hidden(ep: Episode) -> float:
        calls.append(1)
        return float(np.mean(ep.field("qpos")[:, 0]))

    fb = collect("oracle", "web", tmp_path, 0, task, cands, oracle_fitness=hidden)
    assert isinstance(fb, HumanFeedback) and fb.source == "oracle"
    assert fb.order == ["0-2", "0-0", "0-1"] and fb.full_order
    assert fb.best == "0-2" and fb.worst == "0-1"
    assert fb.scores["0-2"] > fb.scores["0-0"] > fb.scores["0-1"]
    saved = read_json(feedback_path(tmp_path, 0))
    assert saved["best"] == "0-2" and saved["candidates"] == ["0-0", "0-1", "0-2"]
    assert saved["oracle"]["fitness"] == "oracle_fitness"
    prefs = read_json(tmp_path / "feedback" / "preferences.json")
    assert prefs["scores"]["0-2"]["wins"] == 2

    # resume: the answer is on disk, the oracle is not asked again
    n = len(calls)
    again = collect("oracle", "web", tmp_path, 0, task, cands, oracle_fitness=hidden, noise=5.0)
    assert again == fb and len(calls) == n
    assert load(tmp_path, 1) is None


def test_collect_oracle_uses_task_fitness_by_default(tmp_path, load_task):
    task = load_task(TASK)
    cands = _candidates(tmp_path, task, heights=[0, 0, 0], fitness=[3.0, 7.0, 5.0])
    fb = collect("oracle", "cli", tmp_path, 2, task, cands)
    assert fb.order == ["0-1", "0-2", "0-0"] and fb.iteration == 2


def test_collect_rejects_bad_arguments(tmp_path, load_task):
    task = load_task(TASK)
    with pytest.raises(RewardsmithError, match="unknown feedback mode"):
        collect("crowd", "web", tmp_path, 0, task, [])
    with pytest.raises(RewardsmithError, match="unknown feedback ui"):
        collect("human", "tv", tmp_path, 0, task, [])
    with pytest.raises(RewardsmithError, match="no trained candidate"):
        collect("oracle", "web", tmp_path, 0, task, [])


def test_feedback_text_carries_code_comment_and_what_changed():
    cands = {f"1-{k}": {"id": f"1-{k}", "source": _source(k)} for k in range(3)}
    fb = HumanFeedback(best="1-2", worst="1-0", order=["1-2", "1-1", "1-0"],
                       comment="it balances but drifts off the rail", scores={}, source="human")
    text = feedback_text(fb, cands, previous_best_source=_source(7))
    assert "w = 2.0" in text and "w = 0.0" in text  # preferred and rejected code
    assert text.index("w = 2.0") < text.index("w = 0.0")  # preferred first
    assert "it balances but drifts off the rail" in text
    assert "What changed between iterations" in text
    assert "-    w = 7.0" in text and "+    w = 2.0" in text
    same = feedback_text(fb, cands, previous_best_source=_source(2))
    assert "nothing" in same
    plain = feedback_text(HumanFeedback("1-1", None, ["1-1"], "", {}, "human"), cands)
    assert "no other candidate" in plain and "(no comment)" in plain
