"""``rewardsmith benchmark``: runs per task, designer and repeat (reused, resumed, failures
recorded while the others go on), suites, and the table's numbers."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import FakeExecutor, ScriptedLLM, answer

from rewardsmith.benchmark import Benchmark, Plan, run_benchmark, suites, write_table
from rewardsmith.benchmark.table import designer_row
from rewardsmith.errors import RewardsmithError
from rewardsmith.llm import LLMError

DESIGN = {"iterations": 1, "samples": 2, "steps": 1000, "seeds": 2, "top_k": 1, "workers": 1,
          "final_seeds": 5, "schedule": "full"}
# designer a's best scores 3 on every seed, b's 0.5; the hand-written reward 1, untrained 0
SCRIPTS = {"a": [[answer(3.0), answer(2.0)]], "b": [[answer(0.5), answer(0.25)]]}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache"))


class Executor(FakeExecutor):
    """The hand-written reward scores 1 on every seed (the untrained policy 0)."""

    def score(self, spec) -> float:
        return 1.0 if spec.label == "baseline" else super().score(spec)


def designers(broken: set[str] = frozenset()):
    asked: list[str] = []

    def make(designer: str, path: Path):
        asked.append(designer)
        if designer in broken:
            raise LLMError(f"{designer}: no API key", "set OPENAI_API_KEY")
        return ScriptedLLM(SCRIPTS[designer])

    make.asked = asked  # type: ignore[attr-defined]
    return make


def new(tmp_path, names=("a", "b"), repeats=2) -> Benchmark:
    from rewardsmith import tasks

    plan = Plan.make([tasks.load("pendulum-balance-v0")], list(names), repeats, DESIGN)
    return Benchmark.create(tmp_path / "bench", plan)


def test_runs_per_designer_and_repeat_and_the_table(tmp_path):
    bench = new(tmp_path)
    ex = Executor()
    states = run_benchmark(bench, ex, designers())
    assert [s.status for s in states] == ["finished"] * 4
    # repeats have their own base seeds; designers of one repeat share them (and the
    # hand-written reward trained on them, from the evaluation cache)
    seeds = {(s.key.designer, s.key.repeat): bench.plan.seed_of(s.key.repeat) for s in states}
    assert seeds[("a", 0)] == seeds[("b", 0)] == 0 and seeds[("a", 1)] == 1000
    baseline_jobs = [j for j in ex.jobs if j.spec.label == "baseline"]
    # the design's 2 seeds, then the closing evaluation's 5 fresh ones
    assert sorted(j.spec.seed for j in baseline_jobs) == [*range(7), *range(1000, 1007)]

    table = write_table(bench)
    a, b = table["by_designer"]
    assert a["designer"] == "a" and a["finished"] == 2 and a["failed"] == 0
    # a: +2 on each of 10 pooled seeds, beyond noise; normalized (3 - 0) / |1 - 0| = 3 on every run
    assert a["win_rate_beyond_noise"] == 1.0 and a["win_rate_by_mean"] == 1.0
    assert a["runs_beyond_noise"] == 2 and a["tasks_beyond_noise"] == ["pendulum-balance-v0"]
    assert a["normalized"]["mean"] == pytest.approx(3.0) and a["normalized"]["n"] == 2
    # b: -0.5 on every seed: no win either way, normalized 0.5
    assert b["win_rate_beyond_noise"] == 0.0 and b["win_rate_by_mean"] == 0.0
    assert b["normalized"]["mean"] == pytest.approx(0.5)
    ta = next(t for t in table["by_task"] if t["designer"] == "a")
    assert ta["pooled"]["n"] == 10 and ta["pooled"]["difference"] == pytest.approx(2.0)
    assert ta["score"]["values"] == [3.0, 3.0] and ta["baseline"]["mean"] == pytest.approx(1.0)
    assert a["tokens"] == 2 * 150 and a["cost_usd"] == pytest.approx(0.02)
    assert table["complete"]
    rows = list(csv.DictReader((bench.path / "designers.csv").open()))
    assert [r["designer"] for r in rows] == ["a", "b"] and float(rows[0]["normalized_mean"]) == 3.0
    runs = list(csv.DictReader((bench.path / "runs.csv").open()))
    assert len(runs) == 4 and {r["status"] for r in runs} == {"finished"}
    assert json.loads((bench.path / "table.json").read_text())["by_designer"][0]["designer"] == "a"
    # the same numbers as Markdown: a beats the hand-written reward on all 10 pooled seeds, b
    # loses on all 10 (p = 1/1024 each way)
    md = (bench.path / "table.md").read_text()
    designers_md = md.split("### Designers")[1].split("###")[0]
    assert "| a | 2/2 | 1 of 1 | 1 of 1 | 3 (2 runs) |" in designers_md
    assert "| b | 2/2 | 0 of 1 | 0 of 1 | 0.5 (2 runs) |" in designers_md
    tasks_md = md.split("### Tasks (over repeats)")[1].split("###")[0]
    assert "| pendulum-balance | a | 2/2 | 3 ± 0 | 1 ± 0 | 3 ± 0 | **+2, p = 0.00098 (10 seeds): better beyond noise** |" in tasks_md
    assert "| pendulum-balance | b | 2/2 | 0.5 ± 0 | 1 ± 0 | 0.5 ± 0 | **-0.5, p(worse) = 0.00098 (10 seeds): worse beyond noise** |" in tasks_md
    runs_md = md.split("### Runs")[1]
    assert runs_md.count("| pendulum-balance | a | ") == 2 and "(5 seeds): better beyond noise" in runs_md
    assert "Unfinished" not in md

    # a second pass reuses every finished run: nothing trained, no designer asked
    again, make = Executor(), designers()
    assert [s.status for s in run_benchmark(Benchmark.open(bench.path), again, make)] == ["finished"] * 4
    assert again.jobs == [] and make.asked == []


def test_a_designer_that_cannot_start_is_marked_failed_and_the_others_go_on(tmp_path):
    bench = new(tmp_path, repeats=1)
    states = run_benchmark(bench, Executor(), designers(broken={"b"}))
    by = {s.key.designer: s for s in states}
    assert by["a"].status == "finished"
    assert by["b"].status == "failed" and "b: no API key" in by["b"].error
    table = write_table(bench)
    b = table["by_designer"][1]
    assert b["failed"] == 1 and b["finished"] == 0 and b["win_rate_beyond_noise"] is None
    assert any("no API key" in e for e in b["errors"])
    row = next(r for r in table["runs"] if r["designer"] == "b")
    assert row["status"] == "failed" and "no API key" in row["error"]
    assert "| pendulum-balance | b | 1 | failed: b: no API key" in (bench.path / "table.md").read_text()
    assert table["complete"]  # every run ended, one of them badly
    # once the designer can start, --resume tries the failed run again
    states = run_benchmark(Benchmark.open(bench.path), Executor(), designers())
    assert [s.status for s in states] == ["finished", "finished"]
    assert write_table(bench)["by_designer"][1]["finished"] == 1


def test_a_run_that_fails_part_way_keeps_its_folder_and_its_reason(tmp_path):
    class Breaks(Executor):
        def run(self, jobs, on_event=None):
            if any(j.label.startswith("0-") for j in jobs):
                raise RuntimeError("the cluster went away")
            return super().run(jobs, on_event)

    bench = new(tmp_path, names=("a",), repeats=1)
    (state,) = run_benchmark(bench, Breaks(), designers())
    assert state.status == "failed" and state.error == "RuntimeError: the cluster went away"
    manifest = json.loads((bench.path / state.key.rel / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "cluster went away" in manifest["error"]


def test_an_interrupted_benchmark_resumes_without_training_anything_twice(tmp_path):
    bench = new(tmp_path, names=("a",))
    first = Executor(interrupt_after=26)  # part way through the second run (the first is 22 jobs)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(bench, first, designers())
    states = bench.states()
    assert [s.status for s in states[:2]] == ["finished", "unfinished"]
    attempts = [json.loads(x) for x in (bench.path / "attempts.jsonl").read_text().splitlines()]
    assert attempts[-1]["status"] == "interrupted"
    second = Executor()
    assert [s.status for s in run_benchmark(Benchmark.open(bench.path), second, designers())] \
        == ["finished"] * 2
    assert not {str(j.dir) for j in first.jobs} & {str(j.dir) for j in second.jobs}
    # the interrupted run's wall time counts both attempts
    assert bench.states()[1].attempts == 2


def test_a_terminated_benchmark_records_its_run_as_interrupted(tmp_path):
    """``kill`` (SIGTERM) ends a command as Ctrl-C does: the run in progress is marked
    interrupted with its wall time, and --resume goes on from there."""
    from rewardsmith.cli.common import stop_signals_interrupt

    class Killed(Executor):
        def _train(self, job):
            if len(self.trained) == 26:  # part way through the second run (the first is 22)
                os.kill(os.getpid(), signal.SIGTERM)
            return super()._train(job)

    bench = new(tmp_path, names=("a",))
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), stop_signals_interrupt():
        run_benchmark(bench, Killed(), designers())
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is put back
    attempts = [json.loads(x) for x in (bench.path / "attempts.jsonl").read_text().splitlines()]
    assert [a["status"] for a in attempts] == ["finished", "interrupted"]
    assert attempts[-1]["wall_s"] is not None
    manifest = json.loads((bench.path / bench.states()[1].key.rel / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert [s.status for s in run_benchmark(Benchmark.open(bench.path), Executor(), designers())] \
        == ["finished"] * 2


def test_the_designer_table_on_fixed_numbers():
    def run(task, norm, beats):
        return {"task": task, "designer": "d", "status": "finished", "verdict": "line",
                "normalized": norm, "beats_beyond_noise": beats, "beats_by_mean": beats,
                "success": 0.5, "baseline_success": 1.0, "tokens": 100, "cost_usd": 0.5,
                "wall_s": 10.0}

    rows = ([run("t1", v, True) for v in (1.0, 2.0, 3.0)]
            + [run("t2", v, False) for v in (4.0, 5.0, 6.0)]
            + [{"task": "t3", "designer": "d", "status": "failed", "error": "boom",
                "verdict": None}])
    tasks = [{"task": "t1", "judged": 3, "beats_beyond_noise": True, "beats_by_mean": True},
             {"task": "t2", "judged": 3, "beats_beyond_noise": False, "beats_by_mean": True},
             {"task": "t3", "judged": 0, "beats_beyond_noise": None, "beats_by_mean": None}]
    d = designer_row("d", tasks, rows)
    assert d["tasks_judged"] == 2 and d["win_rate_beyond_noise"] == 0.5 and d["win_rate_by_mean"] == 1.0
    n = d["normalized"]
    assert n["n"] == 6 and n["tasks"] == 2 and n["mean"] == pytest.approx(3.5)
    assert n["iqm"] == pytest.approx(3.5)  # the mean of the middle four: 2, 3, 4, 5
    # resampling within tasks: the mean of t1's resample is in [1, 3], t2's in [4, 6]
    assert 2.5 <= n["low"] < 3.5 < n["high"] <= 4.5
    assert n["iqm_low"] <= n["iqm"] <= n["iqm_high"]
    assert d["failed"] == 1 and d["errors"] == ["boom"] and d["runs_beyond_noise"] == 3
    assert d["tokens"] == 600 and d["cost_usd"] == pytest.approx(3.0) and d["wall_per_run_s"] == 10.0
    assert d["success"] == 0.5 and d["baseline_success"] == 1.0
    assert n["why"] is None
    # a run in progress has spent time (counted in the total) but is no run's length yet
    going = {"task": "t3", "designer": "d", "status": "unfinished", "verdict": None, "wall_s": 1000.0}
    d = designer_row("d", tasks, [*rows, going])
    assert d["wall_per_run_s"] == 10.0 and d["wall_s"] == pytest.approx(1060.0)
    # part way through the first repeat: one run of each task, so nothing to resample within a
    # task; the interval would be the mean itself, so there is none, and the table says why
    first = [rows[0], rows[3]]
    n = designer_row("d", tasks[:2], first)["normalized"]
    assert n["mean"] == pytest.approx(2.5) and n["low"] is None and n["iqm_low"] is None
    assert "2 of 2 task(s) have one run" in n["why"]
    # once one task has a second run the other still has one: still none
    n = designer_row("d", tasks[:2], [rows[0], rows[1], rows[3]])["normalized"]
    assert n["low"] is None and "1 of 2" in n["why"]


def test_suites_and_unknown_names(tmp_path):
    from rewardsmith import tasks

    grouped = {t for _, ids in suites.SUITES.values() for t in ids}
    assert set(tasks.names()) <= grouped, "every registered task belongs to a suite"
    assert grouped <= set(tasks.names())
    assert [t.id for t in suites.resolve(None, "balance")] == ["pendulum-balance-v0",
                                                               "double-pendulum-balance-v0"]
    assert len(suites.resolve(None, "all")) == len(tasks.names())
    with pytest.raises(RewardsmithError, match="unknown task.*nope-v0") as e:
        suites.resolve(["pendulum-balance-v0", "nope-v0"], None)
    assert "pendulum-balance-v0" in e.value.hint
    with pytest.raises(RewardsmithError, match="unknown suite 'legged'") as e:
        suites.resolve(None, "legged")
    assert "locomotion" in e.value.hint
    with pytest.raises(RewardsmithError, match="one of them"):
        suites.resolve(["pendulum-balance-v0"], "balance")
    folder = tmp_path / "mine"
    folder.mkdir()
    with pytest.raises(RewardsmithError, match="no task files"):
        suites.resolve(None, str(folder))
    src = Path(tasks.load("pendulum-balance-v0").source_file).read_text()
    (folder / "my_pendulum.py").write_text(src.replace('"pendulum-balance-v0"', '"my-pendulum-v0"'))
    assert [t.id for t in suites.resolve(None, str(folder))] == ["my-pendulum-v0"]


def test_plan_checks_itself(tmp_path):
    from rewardsmith import tasks

    t = [tasks.load("pendulum-balance-v0")]
    with pytest.raises(RewardsmithError, match="named twice"):
        Plan.make(t, ["offline", "offline"], 1, DESIGN)
    with pytest.raises(RewardsmithError, match="unknown --schedule"):
        Plan.make(t, ["offline"], 1, {**DESIGN, "schedule": "fast"})
    bench = Benchmark.create(tmp_path / "b", Plan.make(t, ["offline"], 1, DESIGN))
    with pytest.raises(RewardsmithError, match="already holds a benchmark"):
        Benchmark.create(bench.path, bench.plan)
    with pytest.raises(RewardsmithError, match="not a benchmark folder"):
        Benchmark.open(tmp_path)


def cli(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "rewardsmith.cli.main", *args],
                          capture_output=True, text=True, env=env, timeout=timeout)


def invoke(*args):
    from typer.testing import CliRunner

    from rewardsmith.cli.main import app

    return CliRunner().invoke(app, list(args))


def test_the_command_refuses_bad_input_in_one_line(tmp_path):
    r = invoke("benchmark", "--tasks", "pendulum-balance-v0", "nope-v0", "--llm", "offline",
               "--out", str(tmp_path / "b"))
    assert r.exit_code == 2 and "unknown task(s): nope-v0" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "b").exists()
    r = invoke("benchmark", "--suite", "legged", "--llm", "offline")
    assert r.exit_code == 2 and "unknown suite 'legged'" in r.output
    r = invoke("benchmark", "--resume", str(tmp_path / "b"), "--tasks", "pendulum-balance-v0")
    assert r.exit_code == 2 and "runs its own plan" in r.output
    r = invoke("benchmark", "--tasks", "pendulum-balance-v0", "--out", str(tmp_path / "c"))
    assert r.exit_code == 2 and "no designer given" in r.output
    r = invoke("benchmark", "--resume", str(tmp_path))
    assert r.exit_code == 2 and "not a benchmark folder" in r.output


def test_the_report_of_a_benchmark_folder(tmp_path):
    bench = new(tmp_path, repeats=1)
    run_benchmark(bench, Executor(), designers(broken={"b"}))
    r = invoke("report", str(bench.path))
    assert r.exit_code == 0, r.output
    page = Path(r.output.strip())
    assert page == bench.path / "report.html"
    text = page.read_text()
    assert "pendulum-balance-v0" in text and "no API key" in text
    # the verdicts in words, per designer (b failed: it has no judged task)
    assert ("<b>a</b>: better than the hand-written reward beyond noise on 1 of 1 tasks "
            "(pendulum-balance)") in text and "<b>b</b>: better than" not in text
    for section in ("Per-task scores", "Win rate", "Cost and wall time against score"):
        assert section in text
    assert text.count("data:image/png;base64") >= 3 or "matplotlib is not installed" in text
    assert "http://" not in text and "https://" not in text  # self-contained
    assert (bench.path / "table.json").exists()  # brought up to date from the runs
    r = invoke("report", str(bench.path), str(tmp_path), "--compare")
    assert r.exit_code == 2 and "is a benchmark" in r.output
    # its runs are listed from its folder, by their place in it; show points there
    r = invoke("runs", str(bench.path))
    assert r.exit_code == 0 and "runs/pendulum-balance-v0/a/r0" in r.output, r.output
    assert "better beyond noise" in r.output  # a's 3 against the hand-written 1 on 5 seeds
    r = invoke("show", str(bench.path))
    assert r.exit_code == 2 and f"rewardsmith runs {bench.path}" in " ".join(r.output.split())
    r = invoke("report", str(bench.path), "--markdown")  # the table, to paste
    assert r.exit_code == 0, r.output
    assert r.output == (bench.path / "table.md").read_text() and r.output.startswith("## Benchmark ")
    assert "| pendulum-balance | b | 1 | failed: b: no API key" in r.output
    # a run whose normalized score is undefined is left out of the cost plot, by name
    from rewardsmith.benchmark.page import render_page

    table = write_table(bench)
    (judged,) = [x for x in table["runs"] if x.get("verdict")]
    table["runs"].append({**judged, "task": "other-v0", "normalized": None})
    html = render_page(table, bench.path, bench.path)
    assert "Not plotted: 1 run(s) of other-v0, whose normalized score is undefined" in html
    for x in table["runs"]:
        x["normalized"] = None  # on no run: the difference as a share of the hand-written score
    assert "Not plotted" not in render_page(table, bench.path, bench.path)


def _bench(tmp_path, name, *, seed=0, repeats=1, design=DESIGN) -> Benchmark:
    from rewardsmith import tasks

    plan = Plan.make([tasks.load("pendulum-balance-v0")], ["a", "b"], repeats, dict(design), seed=seed)
    bench = Benchmark.create(tmp_path / name, plan)
    run_benchmark(bench, Executor(), designers())
    return bench


def test_repeats_run_apart_merge_into_the_table_of_one_benchmark(tmp_path):
    import shutil

    whole = write_table(_bench(tmp_path, "whole", repeats=2))
    first = _bench(tmp_path, "first", seed=0)
    second = _bench(tmp_path, "second", seed=1000)  # the second repeat, on another machine
    write_table(second)
    copied = tmp_path / "copied"  # only its table came back
    copied.mkdir()
    shutil.copy(second.path / "table.json", copied / "table.json")
    out = tmp_path / "merged"
    r = invoke("benchmark", "--merge", str(first.path), str(copied), "--out", str(out))
    assert r.exit_code == 0, r.output
    merged = json.loads((out / "table.json").read_text())
    assert merged["sources"] == [str(first.path), str(copied)] and merged["repeats"] == 2
    assert [(x["designer"], x["repeat"], x["seed"]) for x in merged["runs"]] == [
        ("a", 0, 0), ("b", 0, 0), ("a", 1, 1000), ("b", 1, 1000)]
    # the same pooled tests, normalized scores and intervals as the benchmark run in one go
    for key, fields in (("by_task", ("pooled", "normalized", "beats_beyond_noise")),
                        ("by_designer", ("normalized", "win_rate_beyond_noise", "runs_beyond_noise"))):
        assert len(merged[key]) == len(whole[key]) == 2
        for m, w in zip(merged[key], whole[key]):
            for k in fields:
                assert m[k] == w[k], (key, k)
    md = (out / "table.md").read_text()
    assert "| a | 2/2 | 1 of 1 | 1 of 1 | 3 (2 runs) |" in md
    assert "**+2, p = 0.00098 (10 seeds): better beyond noise**" in md
    assert (out / "report.html").is_file() and "merged from" in (out / "report.html").read_text()
    assert invoke("report", str(out)).exit_code == 0  # the merged folder's page, from its table
    r = invoke("report", str(copied))  # and a copied table's
    assert r.exit_code == 0 and (copied / "report.html").is_file(), r.output
    r = invoke("runs", str(out))
    assert r.exit_code == 0 and f"rewardsmith report {out}" in " ".join(r.output.split())


def test_merging_refuses_what_would_not_measure_one_thing(tmp_path):
    first = _bench(tmp_path, "first", seed=0)
    again = _bench(tmp_path, "again", seed=0)
    r = invoke("benchmark", "--merge", str(first.path), str(again.path), "--out", str(tmp_path / "m"))
    assert r.exit_code == 2 and "the same run twice" in r.output, r.output
    other = _bench(tmp_path, "other", seed=1000, design={**DESIGN, "steps": 2000})
    r = invoke("benchmark", "--merge", str(first.path), str(other.path), "--out", str(tmp_path / "m"))
    assert r.exit_code == 2 and "different settings (steps: 2000 against 1000)" in r.output, r.output
    faster = _bench(tmp_path, "faster", seed=1000, design={**DESIGN, "workers": 4})
    r = invoke("benchmark", "--merge", str(first.path), str(faster.path), "--out", str(tmp_path / "m"))
    assert r.exit_code == 0, r.output  # workers change the speed, not the measurement
    r = invoke("benchmark", "--merge", str(first.path), str(faster.path))
    assert r.exit_code == 2 and "--merge needs --out" in r.output
    r = invoke("benchmark", "--merge", str(first.path), str(tmp_path / "nothing"), "--out", str(tmp_path / "n"))
    assert r.exit_code == 2 and "is not a benchmark folder" in r.output
    r = invoke("benchmark", "--merge", str(first.path), "--llm", "offline", "--out", str(tmp_path / "n"))
    assert r.exit_code == 2 and "runs nothing" in r.output
    assert not (tmp_path / "n").exists()


@pytest.mark.slow
def test_a_real_benchmark_end_to_end(tmp_path):
    env = {**os.environ, "REWARDSMITH_CACHE": str(tmp_path / "cache")}
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENAI_BASE_URL", None)
    out = tmp_path / "bench"
    p = cli("benchmark", "--tasks", "pendulum-balance-v0", "--llm", "offline", "--repeats", "1",
            "--iterations", "1", "--samples", "2", "--steps", "2048", "--seeds", "1",
            "--final-seeds", "3", "--workers", "2", "--out", str(out), "--json", env=env,
            timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    table = json.loads(p.stdout)
    (run,) = table["runs"]
    assert run["status"] == "finished" and run["verdict"] and len(run["seeds"]) == 3
    assert run["score"] is not None and run["baseline"] is not None and run["wall_s"] > 0
    (d,) = table["by_designer"]
    assert d["finished"] == 1 and d["win_rate_by_mean"] in (0.0, 1.0)
    assert (out / "runs.csv").exists() and (out / "runs" / "pendulum-balance-v0" / "offline" / "r0"
                                            / "closing.json").exists()
    p = cli("report", str(out), env=env)
    assert p.returncode == 0 and (out / "report.html").exists()


def test_time_left_weighs_the_runs_still_to_go_by_their_budgets():
    """The pace of the finished runs (seconds per step of budget) times the budgets to go."""
    from rewardsmith import tasks
    from rewardsmith.benchmark import RunState, time_left

    design = {k: v for k, v in DESIGN.items() if k != "steps"}  # each task's own budget
    plan = Plan.make([tasks.load("pendulum-balance-v0"), tasks.load("hopper-forward-v0")],
                     ["a"], 2, design)
    keys = plan.keys()  # repeat-major: pendulum r0, hopper r0, pendulum r1, hopper r1
    assert [(k.task, k.repeat) for k in keys] == [("pendulum-balance-v0", 0),
                                                  ("hopper-forward-v0", 0),
                                                  ("pendulum-balance-v0", 1),
                                                  ("hopper-forward-v0", 1)]
    assert time_left(plan, [RunState(k, "pending") for k in keys]) is None
    # pendulum (20k steps) finished in 40 s: 2 ms a step of budget; the second run failed and
    # is not counted (it is tried again on --resume)
    states = [RunState(keys[0], "finished", wall_s=40.0), RunState(keys[1], "failed", "x", 5.0),
              RunState(keys[2], "unfinished", wall_s=3.0), RunState(keys[3], "pending")]
    seconds, runs = time_left(plan, states)
    assert runs == 2 and seconds == pytest.approx(0.002 * (20_000 + 100_000))
    # with a fixed --steps every run weighs the same
    fixed = Plan.make([tasks.load("pendulum-balance-v0"), tasks.load("hopper-forward-v0")],
                      ["a"], 2, DESIGN)
    assert time_left(fixed, states) == (pytest.approx(80.0), 2)
    # two at a time: half as long; more at once than runs left counts as one each
    assert time_left(fixed, states, parallel=2) == (pytest.approx(40.0), 2)
    assert time_left(fixed, states, parallel=8) == (pytest.approx(40.0), 2)


def test_the_terminal_says_how_long_the_rest_takes():
    from rich.console import Console
    from rich.progress import Progress

    from rewardsmith.benchmark import RunKey, RunState
    from rewardsmith.cli.benchmark import BenchmarkProgress

    console = Console(record=True, width=200)
    with Progress(console=console) as progress:
        view = BenchmarkProgress(progress, 4, 2, time_left=lambda: (7300.0, 3))
        view(RunKey("hopper-forward-v0", "offline", 0),
             RunState(RunKey("hopper-forward-v0", "offline", 0), "finished", wall_s=330.0))
    text = console.export_text()
    assert "hopper-forward-v0 · offline · repeat 1: finished (6 min); 3 run(s) to go, about " \
           "2 h 02 min at this pace" in text


def test_runs_whose_verdicts_held_the_picking_seeds_are_also_judged_without_them(capsys):
    """Runs from before fresh closing seeds reused the 2 seeds their best was picked on, which
    flatter it: the task's pooled test is made again without them."""
    from rewardsmith.benchmark.table import designer_row, task_row

    def run(repeat, reward, base):
        seeds = [1000 * repeat + s for s in range(5)]
        return {"task": "t", "designer": "d", "status": "finished", "verdict": "...",
                "seeds": [str(s) for s in seeds], "reward_values": reward,
                "baseline_values": base, "selected_on": [str(s) for s in seeds[:2]],
                "score": sum(reward) / 5, "baseline": sum(base) / 5, "normalized": None}

    # better by 2 on the picking seeds, by 0.5 on each of the others: 9 held-out seeds settle
    rows = [run(k, [5, 5, 3.5, 3.5, 3.5], [3, 3, 3, 3, 3]) for k in range(3)]
    t = task_row("t", "d", rows)
    assert t["pooled"]["n"] == 15 and t["held_out"]["n"] == 9
    assert t["held_out"]["difference"] == pytest.approx(0.5) and t["beats_held_out"] is True
    # better only on the picking seeds: beyond noise pooled, not without them
    rows = [run(k, [6, 6, 3, 3.5, 2.5], [3, 3, 3, 3, 3]) for k in range(3)]
    t = task_row("t", "d", rows)
    assert t["beats_beyond_noise"] is True and t["held_out"]["difference"] == pytest.approx(0)
    assert t["beats_held_out"] is False
    d = designer_row("d", [t], rows)
    assert d["win_rate_beyond_noise"] == 1.0 and d["win_rate_held_out"] == 0.0
    # the terminal and the Markdown say both
    from rich.console import Console

    from rewardsmith.benchmark.markdown import to_markdown
    from rewardsmith.cli.benchmark import print_benchmark

    full = [{**r, "repeat": k, "floor": 0.0, "difference": 1.0, "p_better": 0.01,
             "direction": "better", "wall_s": 60.0} for k, r in enumerate(rows)]
    table = {"id": "b", "tasks": ["t"], "designers": ["d"], "repeats": 3, "complete": True,
             "by_designer": [d], "by_task": [t], "runs": full}
    print_benchmark(table, Console(width=250))
    text = capsys.readouterr().out
    assert "100% (0% held out)" in text and "; held out 0 (p=0.66)" in text
    # and in words: better pooled on t, on nothing without the picking seeds
    words = ("better than the hand-written reward beyond noise on 1 of 1 tasks (t), worse beyond "
             "noise on 0; without the seeds the bests were picked on, better on 0 and worse on 0.")
    assert f"d: {words}" in text
    md = to_markdown(table)
    assert f"**d**: {words}" in md
    assert "| beyond noise, held out |" in md and "| 0 of 1 |" in md
    assert "| +0, p = 0.66 (9 seeds) |" in md
    # part way through: runs not ended are counted, not listed
    waiting = {**table, "complete": False,
               "runs": full + [{"task": "t", "designer": "d", "repeat": 3, "status": "pending"}]}
    md = to_markdown(waiting)
    assert "Unfinished: 3 of 4 runs ended" in md and "1 run(s) not ended yet are not listed." in md
    assert md.split("### Runs")[1].count("| t | ") == 3
    # fresh closing seeds: nothing to leave out
    fresh = [{**r, "selected_on": []} for r in rows]
    assert task_row("t", "d", fresh)["held_out"] is None
    assert designer_row("d", [task_row("t", "d", fresh)], fresh)["win_rate_held_out"] is None


# ------------------------------------------------------------------ runs at once
def run_of(job) -> str | None:
    """``r0``, ``r1``: the repeat whose run folder holds ``job`` (None for the evaluation
    cache's jobs, which live outside the runs)."""
    return next((p for p in job.dir.parts if p[:1] == "r" and p[1:].isdigit()), None)


class Meeting(Executor):
    """Each run's first training job waits until the other run has started one too: the runs
    must be in progress at once (a benchmark that ran them one after the other would break the
    barrier)."""

    def __init__(self, parties: int = 2, **kw):
        import threading

        super().__init__(**kw)
        self.barrier = threading.Barrier(parties, timeout=60)
        self.met: set[str] = set()

    def _train(self, job):
        run = run_of(job)
        if run is not None and run not in self.met:
            self.met.add(run)
            self.barrier.wait()
        return super()._train(job)


def test_runs_at_once_give_what_runs_one_after_the_other_give(tmp_path, monkeypatch):
    one = new(tmp_path / "one", names=("a",))
    run_benchmark(one, Executor(), designers())
    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache2"))  # train the baseline anew
    both = new(tmp_path / "both", names=("a",))
    ex = Meeting()
    states = run_benchmark(both, ex, designers(), parallel=2)
    assert [s.status for s in states] == ["finished"] * 2
    assert ex.met == {"r0", "r1"}  # both were in progress at once
    rows = {(r["repeat"], r["verdict"]) for r in write_table(both)["runs"]}
    assert rows == {(r["repeat"], r["verdict"]) for r in write_table(one)["runs"]}
    baseline = [j.spec.seed for j in ex.jobs if j.spec.label == "baseline"]
    assert sorted(baseline) == [*range(7), *range(1000, 1007)]  # each trained once


def test_runs_of_one_task_and_repeat_never_run_at_once(tmp_path):
    """They train the hand-written reward on the same seeds: the second takes it from the
    evaluation cache instead of training it beside the first."""
    import threading

    bench = new(tmp_path)  # designers a and b, 2 repeats
    live: set[tuple[str, int]] = set()
    overlaps: list[tuple] = []
    lock = threading.Lock()

    def observer(key, event):
        from rewardsmith.benchmark import RunState

        with lock:
            if isinstance(event, RunState):
                live.discard((key.designer, key.repeat))
                return
            live.add((key.designer, key.repeat))
            same = [d for d, r in live if r == key.repeat and d != key.designer]
            if same:
                overlaps.append((key, same))

    ex = Executor()
    states = run_benchmark(bench, ex, designers(), observer=observer, parallel=2)
    assert [s.status for s in states] == ["finished"] * 4
    assert overlaps == []
    baseline = [j.spec.seed for j in ex.jobs if j.spec.label == "baseline"]
    assert sorted(baseline) == [*range(7), *range(1000, 1007)]


def test_an_interrupt_stops_every_run_in_progress_and_resume_finishes_them(tmp_path):
    import threading

    stop = threading.Event()

    class Stopping(Meeting):
        def _train(self, job):
            mine = sum(run_of(j) == run_of(job) for j in self.jobs)
            if run_of(job) == "r0" and mine == 4:
                raise KeyboardInterrupt  # in one run; the other stops at its next event
            if run_of(job) == "r1" and mine == 2:
                assert stop.wait(timeout=60)  # held until the interrupt has stopped the runs
            return super()._train(job)

    bench = new(tmp_path, names=("a",))
    first = Stopping()
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(bench, first, designers(), parallel=2, stop=stop)
    attempts = [json.loads(x) for x in (bench.path / "attempts.jsonl").read_text().splitlines()]
    assert sorted((a["run"], a["status"]) for a in attempts) == [
        (s.key.rel, "interrupted") for s in bench.states()]
    for s in bench.states():
        assert s.status == "unfinished"
        assert json.loads((bench.path / s.key.rel / "manifest.json").read_text())["status"] \
            == "interrupted"
    second = Executor()
    assert [s.status for s in run_benchmark(Benchmark.open(bench.path), second, designers(),
                                            parallel=2)] == ["finished"] * 2
    assert not {str(j.dir) for j in first.jobs} & {str(j.dir) for j in second.jobs}


def test_the_local_pool_is_split_between_runs_at_once(tmp_path):
    from rewardsmith.executors import LocalExecutor

    shares = LocalExecutor(5).share(3)
    assert [e.workers for e in shares] == [2, 2, 1]
    assert [e.gpus for e in shares] == [[], [], []] or all(e.gpus for e in shares)
    two_gpus = LocalExecutor(4, gpus=["0", "1"]).share(3)
    assert [(e.gpus, e.gpu_share) for e in two_gpus] == [(["0"], 2), (["1"], 1), (["0"], 2)]
    four = LocalExecutor(4, gpus=["0", "1", "2", "3"]).share(2)
    assert [(e.gpus, e.gpu_share) for e in four] == [(["0", "2"], 1), (["1", "3"], 1)]
    with pytest.raises(RewardsmithError, match="cannot share 2 local worker"):
        LocalExecutor(2).share(3)
    r = invoke("benchmark", "--tasks", "pendulum-balance-v0", "--llm", "offline", "--workers", "2",
               "--parallel-runs", "3", "--out", str(tmp_path / "b"))
    assert r.exit_code == 2 and "--parallel-runs 3 cannot share 2 local worker(s)" in r.output
    assert not (tmp_path / "b").exists()  # refused before anything is written


def test_a_run_waiting_on_its_designer_is_stopped_too(tmp_path, monkeypatch):
    """A run that sees no event (its designer has not answered) is stopped by an interrupt
    raised in its thread once the others have had their grace, and recorded as interrupted."""
    import threading

    from rewardsmith.benchmark import runner

    monkeypatch.setattr(runner, "STOP_GRACE_S", 0.0)
    stop = threading.Event()
    waiting: list[str] = []
    lock = threading.Lock()

    class Silent(ScriptedLLM):
        def complete(self, messages, n, temperature, context=None):
            import time

            with lock:
                waiting.append(threading.current_thread().name)
                if len(waiting) == 2:  # both runs wait on their designer: Ctrl-C now
                    stop.set()
            while True:  # a server that never answers
                time.sleep(0.01)

    bench = new(tmp_path, names=("a",))
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(bench, Executor(), lambda d, path: Silent(SCRIPTS["a"]), parallel=2,
                      stop=stop)
    attempts = [json.loads(x) for x in (bench.path / "attempts.jsonl").read_text().splitlines()]
    assert sorted((a["run"], a["status"]) for a in attempts) == [
        (s.key.rel, "interrupted") for s in bench.states()]
    assert not [t for t in threading.enumerate() if t.name.startswith("benchmark ")]


def _held_by_another_process(folder: Path) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                          "from rewardsmith.runs.lock import exclusive\n"
                          "with exclusive(sys.argv[1]):\n"
                          "    print('held', flush=True)\n    time.sleep(600)\n", str(folder)],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_run_another_process_holds_is_marked_failed_untouched_and_the_others_go_on(tmp_path):
    """A benchmark resumed while a `design --resume` of one of its runs still goes."""
    bench = new(tmp_path, names=("a",))
    busy = bench.run_path(bench.plan.keys()[1])
    hold = _held_by_another_process(busy)
    try:
        states = run_benchmark(bench, Executor(), designers())
        assert [s.status for s in states] == ["finished", "failed"]
        assert f"is in use by process {hold.pid}" in states[1].error
        assert sorted(p.name for p in busy.iterdir()) == [".lock"]  # nothing written there
    finally:
        hold.kill()
        hold.wait()
    assert [s.status for s in run_benchmark(Benchmark.open(bench.path), Executor(),
                                            designers())] == ["finished"] * 2


def test_a_second_process_on_a_benchmark_is_refused(tmp_path):
    bench = new(tmp_path, names=("a",))
    hold = _held_by_another_process(bench.path)
    try:
        with pytest.raises(RewardsmithError, match=f"benchmark {bench.path} is in use by process "
                                                   f"{hold.pid}"):
            run_benchmark(bench, Executor(), designers())
        assert not (bench.path / "attempts.jsonl").exists()
    finally:
        hold.kill()
        hold.wait()
