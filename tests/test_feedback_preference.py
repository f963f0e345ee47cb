"""Pairwise preferences to scores: Bradley-Terry (MM) and Elo recover the ordering."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from rewardsmith.errors import RewardsmithError
from rewardsmith.feedback.preference import (
    PreferenceLog,
    bradley_terry,
    elo,
    pairs_from_choice,
    pairs_from_order,
    ranking,
)

IDS = ["0-0", "0-1", "0-2", "0-3"]


def test_pairs_from_best_worst_pick():
    pairs = pairs_from_choice(IDS, best="0-2", worst="0-0")
    assert ("0-2", "0-0") in pairs and ("0-2", "0-1") in pairs and ("0-2", "0-3") in pairs
    assert ("0-1", "0-0") in pairs and ("0-3", "0-0") in pairs
    assert len(pairs) == 5  # best beats 3, two middles beat the worst
    assert pairs_from_choice(["a", "b"], "b") == [("b", "a")]
    with pytest.raises(RewardsmithError, match="same"):
        pairs_from_choice(IDS, "0-1", "0-1")
    with pytest.raises(RewardsmithError, match="unknown candidate"):
        pairs_from_choice(IDS, "9-9")


def test_pairs_from_full_order():
    pairs = pairs_from_order(["c", "a", "b"])
    assert pairs == [("c", "a"), ("c", "b"), ("a", "b")]
    with pytest.raises(RewardsmithError, match="twice"):
        pairs_from_order(["a", "a"])


@pytest.mark.parametrize("score", [bradley_terry, elo])
def test_scores_recover_a_full_ordering(score):
    order = ["0-3", "0-1", "0-0", "0-2"]
    s = score(pairs_from_order(order), IDS)
    assert ranking(s) == order


@pytest.mark.parametrize("score", [bradley_terry, elo])
def test_best_worst_pick_puts_best_first_and_worst_last(score):
    s = score(pairs_from_choice(IDS, best="0-1", worst="0-3"), IDS)
    r = ranking(s)
    assert r[0] == "0-1" and r[-1] == "0-3"
    assert set(s) == set(IDS)


def test_bradley_terry_matches_known_strengths_from_noisy_comparisons():
    # candidates with known strengths; sample many noisy pairwise outcomes; BT recovers them
    rng = random.Random(0)
    strength = {"a": 4.0, "b": 2.0, "c": 1.0, "d": 0.5}
    pairs = []
    for i, j in itertools.combinations(strength, 2):
        for _ in range(200):
            p = strength[i] / (strength[i] + strength[j])
            pairs.append((i, j) if rng.random() < p else (j, i))
    s = bradley_terry(pairs, prior=0.01)
    assert ranking(s) == ["a", "b", "c", "d"]
    # log-strength differences are ln 2 apart, to within sampling noise
    for hi, lo in (("a", "b"), ("b", "c"), ("c", "d")):
        assert s[hi] - s[lo] == pytest.approx(math.log(2), abs=0.25)
    assert sum(s.values()) == pytest.approx(0.0, abs=1e-6)  # centred


def test_uncompared_candidate_scores_zero_and_scores_stay_finite():
    s = bradley_terry([("a", "b")], ["a", "b", "c"])
    assert s["a"] > s["c"] > s["b"]
    assert s["c"] == pytest.approx(0.0, abs=1e-6)
    assert all(math.isfinite(v) for v in s.values())
    assert elo([], ["x"]) == {"x": 1500.0}


def test_preference_log_is_per_candidate_and_idempotent(tmp_path):
    log = PreferenceLog(tmp_path / "preferences.json")
    log.add(0, ["0-0", "0-1"], [("0-1", "0-0")], "human")
    log.add(1, ["1-0", "1-1", "1-2"], pairs_from_order(["1-2", "1-0", "1-1"]), "human")
    log.add(1, ["1-0", "1-1", "1-2"], pairs_from_order(["1-2", "1-0", "1-1"]), "human")  # again
    log.save()
    again = PreferenceLog(tmp_path / "preferences.json")
    sc = again.scores()
    assert set(sc) == {"0-0", "0-1", "1-0", "1-1", "1-2"}
    assert sc["1-2"]["wins"] == 2 and sc["1-2"]["losses"] == 0
    assert sc["1-1"]["losses"] == 2
    assert sc["0-1"]["bradley_terry"] > sc["0-0"]["bradley_terry"]
    assert sc["1-2"]["elo"] > sc["1-0"]["elo"] > sc["1-1"]["elo"]
