"""A design run's outputs, byte for byte (after removing times, paths and versions), against a
recorded snapshot: the run folder, the report and the exported module. Refactoring the middle of
the house (jobs, executors, the run folder's reader and writer, events) must leave them as they
were. When a change is meant to alter them, record the snapshot again and say why in the commit:

    python tests/test_run_snapshot.py --record
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

SNAPSHOT = Path(__file__).parent / "data" / "design_run_snapshot.json"

# the run: two iterations of three answers (one garbage, one a repeat), two seeds, the closing
# evaluation on three, the hand-written reward and the untrained policy, on a fake executor
SCRIPT_WEIGHTS = [[3.0, 2.0, None], [1.0, 4.0, 3.0]]
TIMING = re.compile(r'"(t|seconds|created|[a-z_]*_s|[a-z_]*_time|env_steps_per_s)": [-0-9.e+]+')


def make_run(root: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).parent))
    from fakes import FakeExecutor, ScriptedLLM, answer

    from rewardsmith import tasks
    from rewardsmith.loop.design import DesignConfig, DesignLoop
    from rewardsmith.runs.rundir import RunDir

    task = tasks.load("pendulum-balance-v0")
    script = [[answer(w) if w is not None else "no code here" for w in ws] for ws in SCRIPT_WEIGHTS]
    config = DesignConfig(iterations=2, samples=3, steps=1000, seeds=2, top_k=2, workers=1,
                          final_seeds=3, schedule="full")
    run = RunDir.create(root / "run", {"task": task.id, "task_origin": tasks.recorded_origin(task),
                                       "config": config.__dict__, "llm": "scripted"})
    DesignLoop(task, run, config, ScriptedLLM(script), executor=FakeExecutor()).run_loop()
    return run.path


def snapshot(run: Path) -> dict[str, str]:
    """Every text file of the run, the report and the export, with times, paths and versions
    taken out."""
    from rewardsmith.export import export_module
    from rewardsmith.report import write_report

    for p in list(run.rglob("*.json")) + list(run.rglob("*.jsonl")):  # times, before the report reads them
        p.write_text(TIMING.sub(lambda m: f'"{m.group(1)}": 0', p.read_text()))
    write_report(run)
    files = {}
    for p in sorted(run.rglob("*")):
        rel = p.relative_to(run).as_posix()
        if not p.is_file() or p.suffix in (".npz", ".zip", ".log") or "/tb/" in f"/{rel}" \
                or rel.startswith("llm/cache/") or p.name in ("DONE", ".lock"):
            continue
        files[rel] = p.read_text()
    files["<export>"] = export_module(run)
    out = {}
    for name, text in files.items():
        text = text.replace(str(run.resolve()), "<RUN>").replace(str(run), "<RUN>")
        text = text.replace(str(run.parent), "<ROOT>")
        text = TIMING.sub(lambda m: f'"{m.group(1)}": 0', text)
        text = re.sub(r'"versions": \{[^}]*\}', '"versions": {}', text)
        text = re.sub(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d)?", "<DATE>", text)
        text = re.sub(r"rewardsmith [0-9][0-9a-z.+]*", "rewardsmith <VERSION>", text)
        if name == "<export>":  # its header wraps lines holding the run's path
            text = re.sub(r"\s+", " ", text)
        if name == "report.html":  # times in words and the figures' random ids
            text = re.sub(r"\d+(\.\d+)? s\b", "<S> s", text)
            text = re.sub(r'id="[a-z]+-[0-9a-f]{6,}"', 'id="<ID>"', text)
            # the installed packages' versions (which extras are installed is the machine's)
            text = re.sub(r"\n[^\n]*\bpython 3\.[^\n]*\n", "\n<VERSIONS>\n", text)
        out[name] = text
    return out


def test_a_design_runs_outputs_match_the_recorded_snapshot(tmp_path, monkeypatch):
    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path / "cache"))
    got = snapshot(make_run(tmp_path))
    want = json.loads(SNAPSHOT.read_text())
    assert sorted(got) == sorted(want), "files differ"
    for name in want:
        assert got[name] == want[name], f"{name} differs from the recorded snapshot"


if __name__ == "__main__":  # python tests/test_run_snapshot.py --record
    import os
    import tempfile

    assert sys.argv[1:] == ["--record"], __doc__
    with tempfile.TemporaryDirectory() as d:
        os.environ["REWARDSMITH_CACHE"] = str(Path(d) / "cache")
        snap = snapshot(make_run(Path(d)))
    SNAPSHOT.parent.mkdir(exist_ok=True)
    SNAPSHOT.write_text(json.dumps(snap, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(snap)} files in {SNAPSHOT}")
