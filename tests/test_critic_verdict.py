"""The verdict's statistics, on fixed numbers: paired by seed, bootstrap intervals that are the
same under a seed, exact tests that say in words when the seeds at hand cannot settle a question,
the untrained policy compared on its episodes, success rates beside scores, and one normalized
score."""

from __future__ import annotations

import pytest

from rewardsmith.critic.verdict import (
    SETTLING_SEEDS,
    above_floor,
    describe,
    from_records,
    normalized,
    paired,
    probability_of_improvement,
    verdict,
)

# the hopper case from a fresh clone: two seeds of the hand-written reward, the untrained policy
# with its episodes (five a seed, means -0.007 and -0.029)
UNTRAINED = [-0.002, -0.011, -0.004, -0.012, -0.006, -0.031, -0.025, -0.034, -0.028, -0.027]
BASELINE = {0: 1.55, 1: 2.29}


def test_a_hundredfold_gap_over_the_untrained_policy_defines_the_normalized_score():
    gate = above_floor(list(BASELINE.values()), UNTRAINED)
    # both seeds above all ten untrained episodes: 1 / C(12, 2) = 1/66
    assert gate["p_value"] == pytest.approx(1 / 66) and gate["beyond_noise"] is True
    n = normalized({0: 5.04, 1: 2.34}, BASELINE, UNTRAINED)
    floor = sum(UNTRAINED) / len(UNTRAINED)
    assert n["defined"] is True
    assert n["value"] == pytest.approx(((5.04 + 2.34) / 2 - floor) / ((1.55 + 2.29) / 2 - floor))
    assert n["low"] is None  # two seeds: the values, not an interval
    assert n["per_seed"] == pytest.approx([(x - floor) / (1.92 - floor) for x in (5.04, 2.34)])


def test_two_seeds_cannot_settle_a_comparison_and_say_so():
    v = verdict({0: 5.04, 1: 2.34}, BASELINE, UNTRAINED)
    vs = v["versus_baseline"]
    assert vs["n"] == 2 and vs["wins"] == 2 and vs["beyond_noise"] is None
    assert vs["p_better"] == pytest.approx(0.25)  # the best two signs can do
    assert v["line"].startswith("2 seeds cannot separate it from the hand-written reward")
    assert f"needs {SETTLING_SEEDS} seeds" in v["line"]
    assert "[" not in v["line"]  # no interval wider (or narrower) than two values can give
    assert v["reward"]["low"] is None and v["normalized"]["defined"]


def test_five_seeds_all_better_is_beyond_noise_with_an_interval():
    best = {0: 5.04, 1: 2.34, 2: 4.1, 3: 3.3, 4: 4.6}
    base = {0: 1.55, 1: 2.29, 2: 1.9, 3: 2.1, 4: 1.7}
    v = verdict(best, base, UNTRAINED * 2 + [-0.01] * 5)
    vs = v["versus_baseline"]
    assert vs["wins"] == 5 and vs["beyond_noise"] is True and vs["direction"] == "better"
    assert vs["p_better"] == pytest.approx(1 / 32)
    diffs = [best[s] - base[s] for s in range(5)]
    assert vs["difference"] == pytest.approx(sum(diffs) / 5)
    # over 5 seeds the test's interval is the range of the differences
    assert (vs["low"], vs["high"]) == pytest.approx((min(diffs), max(diffs)))
    assert vs["prob_improvement"] == pytest.approx(1.0)
    assert v["line"].startswith("better than the hand-written reward on 5 of 5 seeds: +")
    assert "P(improvement) 1.00" in v["line"]
    assert v["reward"]["iqm"] is not None and v["normalized"]["iqm"] is not None
    assert v["normalized"]["low"] < v["normalized"]["value"] < v["normalized"]["high"]


def test_four_of_five_with_a_real_loss_is_not_beyond_noise():
    vs = paired({i: x for i, x in enumerate([3, 3, 3, 3, 0.0])}, {i: 1.0 for i in range(5)})
    assert vs["wins"] == 4 and vs["losses"] == 1
    assert vs["p_better"] > 0.05 and vs["beyond_noise"] is False
    assert verdict({i: x for i, x in enumerate([3, 3, 3, 3, 0.0])}, {i: 1.0 for i in range(5)},
                   UNTRAINED)["line"].startswith("no difference from the hand-written reward beyond noise")


def test_the_differences_interval_is_the_tests_own_and_agrees_with_its_verdict():
    """Bootstrap intervals over five seeds excluded 0 beside "no difference beyond noise" (a
    run: +22 [3.2, 55.4], p = 0.062); the test's own interval cannot."""
    import numpy as np
    from scipy import stats

    from rewardsmith.critic.verdict import SignFlips

    vs = paired({i: x for i, x in enumerate([139, 59, 103, 167, 60])},
                {i: x for i, x in enumerate([117, 63, 81, 145, 38])})  # 4 of 5 better by 22
    assert vs["p_better"] == pytest.approx(1 / 16) and vs["beyond_noise"] is False
    assert vs["low"] == pytest.approx(-4) and vs["high"] == pytest.approx(22)
    assert vs["level"] == pytest.approx(0.9)
    rng = np.random.default_rng(0)
    for n in (3, 5, 8, 12):
        for _ in range(10):
            d = rng.normal(1.0, 1.5, n).round(1)
            flips = SignFlips(d)
            for got, alt in zip(flips.p_values(), ("greater", "less")):  # scipy's exact p-values
                want = stats.permutation_test((d,), lambda x, axis=-1: np.mean(x, axis=axis),
                                              permutation_type="samples", vectorized=True,
                                              alternative=alt, n_resamples=np.inf).pvalue
                assert got == pytest.approx(want, abs=1e-12)
            ci = flips.interval()
            if n < SETTLING_SEEDS:
                assert ci is None  # nothing can be rejected: no interval
            else:
                assert (not ci[0] <= 0 <= ci[1]) == (min(flips.p_values()) < 0.05), (d, ci)
                assert min(flips.p_values(ci[0])) >= 0.05 and min(flips.p_values(ci[1])) >= 0.05
    # past 16 seeds, random sign patterns, the same under a seed
    many = rng.normal(0.3, 1.0, 20)
    assert SignFlips(many).interval() == SignFlips(many).interval()


def test_worse_beyond_noise_is_said_as_worse():
    v = verdict({i: 1.0 + 0.1 * i for i in range(6)}, {i: 3.0 for i in range(6)}, UNTRAINED)
    assert v["versus_baseline"]["direction"] == "worse"
    assert v["line"].startswith("worse than the hand-written reward on 6 of 6 seeds")


def test_the_bootstrap_is_reproducible_and_moves_with_its_seed():
    vals = [1.0, 2.5, 1.7, 3.1, 2.2]
    assert describe(vals) == describe(vals)
    many = [1.0, 2.5, 1.7, 3.1, 2.2, 0.3, 4.4, 2.9, 1.1, 3.8, 2.05, 0.7]
    a, b = describe(many, seed=0), describe(many, seed=1)
    assert (a["low"], a["high"]) != (b["low"], b["high"])
    assert a["low"] >= min(many) and a["high"] <= max(many)  # never wider than the data
    assert describe([1.0, 2.0])["low"] is None  # two seeds: no interval
    assert describe(vals)["iqm"] == pytest.approx(sum(sorted(vals)[1:4]) / 3, rel=0.2)


def test_the_normalized_score_is_undefined_when_the_baseline_does_not_learn():
    # the case that once printed "141 ± 117": untrained 0.089, hand-written 0.064
    n = normalized({0: 0.12, 1: 0.05, 2: 0.2}, {0: 0.05, 1: 0.07, 2: 0.072},
                   [0.09, 0.085, 0.092, 0.088, 0.091, 0.087])
    assert n["defined"] is False and n["value"] is None
    assert "does not beat the untrained policy" in n["why"] and "raw scores" in n["why"]
    # one seed of the hand-written reward cannot show it beats five untrained episodes
    one = normalized({0: 3.0}, {0: 2.0}, [0.0, 0.01, -0.01, 0.02, -0.02])
    assert one["defined"] is False and "1 seed(s) cannot show" in one["why"]


def test_ties_between_the_baseline_and_the_floor_are_not_a_win():
    # the pendulum's ceiling: every episode 1000 steps up, trained or not
    gate = above_floor([1000.0, 1000.0, 1000.0], [1000.0] * 10)
    assert gate["p_value"] == 1.0 and gate["beyond_noise"] is False
    gate = above_floor([1000.0, 1000.0, 1000.0], [22.0, 22.0, 30.0, 1000.0, 25.0, 21.0, 24.0, 26.0, 23.0, 27.0])
    assert gate["beyond_noise"] is True


def test_success_is_compared_beside_the_score_and_a_worse_rate_is_a_warning():
    # the unseen walker task: the best by score beat the hand-written reward 5.3 to 1.55 while
    # succeeding on 0% of episodes against its 33%
    best = {0: 5.4, 1: 5.1, 2: 5.4}
    base = {0: 1.5, 1: 1.6, 2: 1.55}
    v = verdict(best, base, [0.1, 0.0, 0.2, 0.1, 0.05, 0.1],
                reward_success={0: 0.0, 1: 0.0, 2: 0.0},
                baseline_success={0: 0.2, 1: 0.4, 2: 0.4})
    assert v["success"]["reward"] == 0.0 and v["success"]["baseline"] == pytest.approx(1 / 3)
    assert v["success"]["versus_baseline"]["losses"] == 3
    (w,) = v["warnings"]
    assert "succeeds less often than the hand-written reward: 0% against 33%" in w
    assert "3 seeds cannot say" in w
    assert any(d.startswith("success: the best 0%, hand-written 33%") for d in v["details"])
    # and none when it succeeds as often
    same = verdict(best, base, [0.0], reward_success={0: 0.4, 1: 0.4, 2: 0.4},
                   baseline_success={0: 0.2, 1: 0.4, 2: 0.4})
    assert same["warnings"] == []


def test_seeds_are_paired_by_name_and_the_selection_seeds_are_named():
    v = verdict({"0": 3.0, "1": 2.0, "7": 9.0}, {0: 1.0, 1: 1.5}, UNTRAINED, selected_on=[0, 7])
    assert v["seeds"] == ["0", "1"] and v["versus_baseline"]["differences"] == [2.0, 0.5]
    assert v["selected_on"] == ["0"]
    assert any("selected on" in d and "optimistic" in d for d in v["details"])


def test_probability_of_improvement_counts_ties_half():
    assert probability_of_improvement([1, 2], [1, 0]) == pytest.approx((0.5 + 1 + 1 + 1) / 4)
    assert probability_of_improvement([], [1]) is None


def test_from_records_reads_old_and_new_reference_records():
    best = {"fitness_seeds": {"0": 3.0, "1": 3.5}, "success_seeds": {}}
    new = {"baseline": {"seeds": {"0": 1.0, "1": 1.2}, "per_seed": [1.0, 1.2]},
           "floor": {"per_seed": [0.0, 0.01], "episodes": [0.0, 0.01, -0.01, 0.02, 0.0, 0.01]}}
    v = from_records(best, new)
    assert v["seeds"] == ["0", "1"] and v["floor"]["n_episodes"] == 6
    old = {"baseline": {"per_seed": [1.0, 1.2]}, "floor": {"per_seed": [0.0, 0.01]}}
    v = from_records(best, old)  # before per-seed records: the floor's seed means stand in
    assert v["seeds"] == ["0", "1"] and v["floor"]["n_episodes"] == 2
    assert from_records(best, None) is None


def test_the_design_summary_flags_a_baseline_that_does_not_learn(tmp_path, monkeypatch):
    from fakes import FakeExecutor, ScriptedLLM, answer

    from rewardsmith import tasks
    from rewardsmith.loop.design import DesignConfig, DesignLoop
    from rewardsmith.runs.rundir import RunDir

    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache"))
    task = tasks.load("pendulum-balance-v0")
    run = RunDir.create(tmp_path / "run", {"task": task.id, "config": {}})
    config = DesignConfig(iterations=1, samples=2, steps=1000, seeds=2, workers=1, final_seeds=5)
    # the fake trains the hand-written baseline and the floor to the same fitness (0): the
    # baseline does not beat the untrained policy, so a normalized score would be noise
    summary = DesignLoop(task, run, config, ScriptedLLM([[answer(3.0), answer(2.0)]]),
                         executor=FakeExecutor()).run_loop()
    best = summary["best"]
    assert best["normalized_score"] is None
    v = best["verdict"]
    assert v["normalized"]["defined"] is False
    assert v["versus_baseline"]["beyond_noise"] is True and v["versus_baseline"]["wins"] == 5
    assert best["baseline_fitness"] == 0.0 and best["score"] == 3.0
    # the report, show and the export say the same
    from rewardsmith.report import write_report

    html = write_report(run.path).read_text()
    assert "normalized score undefined" in html
    assert "better than the hand-written reward on 5 of 5 seeds" in html
    assert run.verdict() == v


def test_a_score_that_is_not_a_number_is_left_out_and_said_not_counted_as_a_win():
    """A NaN score (a simulation that broke down) once compared as a win on every sign
    pattern: p = 0, "better beyond noise"."""
    nan = float("nan")
    vs = paired({0: 1.0, 1: nan, 2: 3.0, 3: 2.0, 4: 2.5}, {0: 0.5, 1: 1.0, 2: 2.0, 3: 3.0, 4: 2.0})
    assert vs["n"] == 4 and vs["seeds"] == ["0", "2", "3", "4"]
    assert vs["p_better"] > 0.05 and vs["direction"] is None
    v = verdict({i: x for i, x in enumerate([4.0, 4.0, nan, 4.0, 4.0, 4.0])},
                {i: 1.0 for i in range(6)}, UNTRAINED + [nan])
    assert v["versus_baseline"]["n"] == 5 and v["reward"]["mean"] == pytest.approx(4.0)
    assert v["floor"]["n_episodes"] == len(UNTRAINED)
    assert ("the best scored no finite number on seed(s) 2 (the simulation or the score broke "
            "down there): left out of every figure") in v["warnings"]
    assert "1 of the untrained policy's episodes scored no finite number: left out" in v["warnings"]
