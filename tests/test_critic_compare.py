"""Comparisons over seeds: intervals, a test with its p-value, and a normalized score that is
flagged undefined when the baseline does not beat the untrained policy beyond noise."""

from __future__ import annotations

from rewardsmith.critic.compare import beats, compare, interval, verdict


def test_interval_over_seeds():
    i = interval([1.0, 2.0, 3.0])
    assert i["mean"] == 2.0 and i["low"] < 2.0 < i["high"] and i["n"] == 3
    assert interval([5.0])["low"] is None  # no interval from one seed


def test_a_clear_win_is_beyond_noise_and_a_coin_toss_is_not():
    win = beats([10.0, 11.0, 10.5], [1.0, 1.2, 0.9])
    assert win["beyond_noise"] and win["p_value"] < 0.01
    toss = beats([1.0, 2.0, 1.5], [1.2, 1.9, 1.4])
    assert toss["beyond_noise"] is False and toss["p_value"] > 0.2
    assert beats([1.0], [0.0])["p_value"] is None  # one seed cannot say
    assert beats([1000.0] * 3, [567.0, 600.0, 580.0])["beyond_noise"]


def test_normalized_score_is_undefined_when_the_baseline_does_not_beat_the_floor():
    # the case that printed "141 ± 117": floor 0.089, baseline 0.064 over 3 seeds
    c = compare(reward=[0.12, 0.05, 0.2], baseline=[0.05, 0.07, 0.072],
                floor=[0.09, 0.085, 0.092], normalized_per_seed=[1.3, 0.2, 2.7])
    assert c["baseline_vs_floor"]["beyond_noise"] is False
    assert c["normalized_score"]["defined"] is False and "raw fitness" in c["normalized_score"]["why"]
    assert c["reward"]["mean"] is not None and c["baseline"]["mean"] is not None


def test_normalized_score_is_defined_when_the_baseline_learns():
    c = compare(reward=[900.0, 950.0, 1000.0], baseline=[500.0, 600.0, 550.0],
                floor=[20.0, 25.0, 22.0], normalized_per_seed=[1.6, 1.6, 1.8])
    assert c["normalized_score"]["defined"] and c["normalized_score"]["low"] < 1.67
    assert verdict(c).startswith("beats the baseline beyond noise")


def test_the_design_summary_flags_a_baseline_that_does_not_learn(tmp_path, monkeypatch):
    from fakes import FakeExecutor, ScriptedLLM, answer

    from rewardsmith import tasks
    from rewardsmith.loop.design import DesignConfig, DesignLoop
    from rewardsmith.runs.rundir import RunDir

    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache"))
    task = tasks.load("pendulum-balance-v0")
    run = RunDir.create(tmp_path / "run", {"task": task.id, "config": {}})
    config = DesignConfig(iterations=1, samples=2, steps=1000, seeds=2, workers=1)
    # the fake trains the hand-written baseline and the floor to the same fitness (0): the
    # baseline does not beat the untrained policy, so a normalized score would be noise
    summary = DesignLoop(task, run, config, ScriptedLLM([[answer(3.0), answer(2.0)]]),
                         executor=FakeExecutor()).run_loop()
    best = summary["best"]
    assert best["normalized_score"] is None
    assert best["comparison"]["normalized_score"]["defined"] is False
    assert best["comparison"]["reward_vs_baseline"]["beyond_noise"] is True
    assert best["baseline_fitness"] == 0.0 and best["score"] == 3.0
    # the report says the same
    from rewardsmith.report import write_report

    html = write_report(run.path).read_text()
    assert "Normalized score undefined" in html and "beats the baseline beyond noise" in html
