"""The adversarial corpus: every program is rejected or contained, with a clear reason, the
checks carry on, and nothing is written outside the candidate's folder."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest

from rewardsmith import tasks
from rewardsmith.reward.program import RewardProgram
from rewardsmith.rules.static import check_source
from rewardsmith.sandbox import jail
from rewardsmith.sandbox.dryrun import DryRunSettings, check_program, dry_run

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _load_corpus():
    spec = importlib.util.spec_from_file_location("adversarial_corpus",
                                                  HERE / "adversarial" / "corpus.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["adversarial_corpus"] = mod  # dataclasses look the module up
    spec.loader.exec_module(mod)
    return mod


CORPUS = _load_corpus()
CASES = CORPUS.CASES
PWNED = CORPUS.PWNED
# Short limits keep the suite fast; what is measured is the kind of ending, not its length.
FAST = DryRunSettings(call_timeout_s=0.5, wall_s=3.0)

REQUIRED_CATEGORIES = {
    "imports", "class walk", "frame walk", "format leak", "built names", "globals/vars", "match",
    "infinite loop", "recursion", "big integer (C)", "allocation", "file write", "file read",
    "network", "sleep", "stdout flood", "exit", "NaN", "inf", "magnitude", "shape", "type",
    "dtype", "components", "mutation", "randomness", "rare branch",
}


@pytest.fixture(scope="module")
def task():
    return tasks.load("hopper-forward-v0")


def _pwned_files(*roots: Path) -> list[Path]:
    found = []
    for root in roots:
        try:
            found += [p for p in root.iterdir() if PWNED in p.name]
        except OSError:
            pass
    return found


WATCHED = [Path("/tmp"), Path(os.path.expanduser("~")), REPO, Path.cwd()]


def _source(case) -> str:
    return case.source.replace("{REPO}", str(REPO))


def test_corpus_is_large_and_covers_every_category():
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)
    missing = REQUIRED_CATEGORIES - {c.category for c in CASES}
    assert not missing, missing
    assert sum(c.unsafe for c in CASES) >= 8  # contained by the jail, not only by static checks


@pytest.mark.parametrize("case", [c for c in CASES if not c.unsafe], ids=lambda c: c.name)
def test_rejected_with_a_clear_reason(case, task, tmp_path):
    cand = tmp_path / "cand"
    cand.mkdir()
    before = set(tmp_path.rglob("*"))
    report = check_program(RewardProgram(_source(case), origin=case.name), task, workdir=cand,
                           settings=FAST)
    assert not report.accepted, report
    assert re.fullmatch(case.stage, report.stage), (report.stage, report.problems)
    text = "\n".join(report.problems)
    assert re.search(case.match, text, re.I | re.S), text
    assert all(len(p) < 1500 for p in report.problems)
    if case.stage == "static":
        assert check_source(_source(case), free_names=())  # the same verdict, without a process
    # nothing written but the dry run's own folder
    after = set(tmp_path.rglob("*"))
    assert all(cand / "dryrun" in p.parents or p == cand / "dryrun" for p in after - before)
    assert not _pwned_files(*WATCHED, tmp_path, cand)


def _skip_unless(needs: str) -> None:
    iso = jail.isolation()
    if needs == "fs" and not iso.filesystem_confined:
        pytest.skip(f"needs bubblewrap's confined file system; this machine: {iso.mode}")
    if needs == "net" and not iso.network_blocked:
        pytest.skip(f"needs a network namespace; this machine: {iso.mode}")


@pytest.mark.parametrize("case", [c for c in CASES if c.unsafe], ids=lambda c: c.name)
def test_contained_without_the_static_layer(case, task, tmp_path):
    _skip_unless(case.needs)
    cand = tmp_path / "cand"
    cand.mkdir()
    report = dry_run(RewardProgram(_source(case), origin=case.name), task, workdir=cand,
                     settings=FAST, _unsafe_skip_static=True)
    assert re.fullmatch(case.stage, report.stage), (report.stage, report.problems)
    text = "\n".join(report.problems)
    if case.match:
        assert re.search(case.match, text, re.I | re.S), text
    if report.stage != "ok":
        assert report.problems and not report.accepted
    assert report.timings["dry_run_s"] < FAST.wall_s + 3.0
    assert not _pwned_files(*WATCHED, tmp_path, cand), "wrote outside the jail's folder"


def test_network_is_unreachable_from_the_dry_run(task, tmp_path):
    """A program that escaped the static layer cannot reach even the host's loopback."""
    _skip_unless("net")
    import socket

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(0.2)
    port = srv.getsockname()[1]
    src = CORPUS.ESCAPE + CORPUS.prog(
        f"    s = imp('socket').socket()\n    s.settimeout(1.0)\n"
        f"    s.connect(('127.0.0.1', {port}))\n    s.sendall(b'secret')\n" + CORPUS.OK_BODY)
    report = dry_run(src, task, workdir=tmp_path, settings=FAST, _unsafe_skip_static=True)
    assert not report.accepted
    assert re.search(r"raised (ConnectionRefusedError|OSError|TimeoutError)",
                     "\n".join(report.problems))
    with pytest.raises(socket.timeout):
        srv.accept()
    srv.close()


def test_secrets_do_not_reach_the_worker(task, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-rewardsmith-test-secret")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-rewardsmith-test-secret")
    src = CORPUS.ESCAPE + CORPUS.prog(
        "    env = find('environ')\n    o = imp('builtins').open\n"
        "    o('env.txt', 'w').write(imp('builtins').repr(dict(env)))\n" + CORPUS.OK_BODY)
    report = dry_run(src, task, workdir=tmp_path, settings=FAST, _unsafe_skip_static=True)
    assert report.accepted, report.problems
    dumped = (tmp_path / "dryrun" / "env.txt").read_text()
    assert "rewardsmith-test-secret" not in dumped
    assert "PATH" in dumped


def test_the_checks_carry_on_after_every_kind_of_failure(task, tmp_path):
    good = CORPUS.prog(CORPUS.OK_BODY)
    sequence = [c for c in CASES if c.name in ("import_os", "nan_reward", "toplevel_error")]
    for i, case in enumerate(sequence):
        bad = check_program(_source(case), task, workdir=tmp_path / f"b{i}", settings=FAST)
        assert not bad.accepted
        ok = check_program(good, task, workdir=tmp_path / f"g{i}", settings=FAST)
        assert ok.accepted, ok.problems
