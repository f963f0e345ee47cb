"""The run directory: the single source of truth of a design run.

```
runs/<run-id>/
  manifest.json          config, task, versions, prompt template names (atomic write)
  events.jsonl           append-only log of everything that happened
  llm/                   requests, responses, token counts (and the run's own response cache)
  candidates/<iter>-<k>/ reward.py, validation.json, seed-<s>/ (training jobs), result.json, DONE
  iterations/<i>.json    each finished iteration: its candidates, the best, the feedback sent next
  feedback/              a person's (or a judge's) answers per iteration, preferences.json
  best/                  the best reward so far and its evidence
  closing.json           the closing evaluation: the best and the hand-written reward on the
                         same seeds, the untrained policy, and the verdict
```
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardsmith import __version__
from rewardsmith.errors import RewardsmithError
from rewardsmith.runs.files import (
    append_jsonl,
    atomic_write_json,
    atomic_write_text,
    read_json,
    read_jsonl,
)
from rewardsmith.runs.records import Candidate


def versions() -> dict[str, str]:
    from rewardsmith.versions import package_versions

    out = {"rewardsmith": __version__, "python": platform.python_version()}
    # the simulators' own packages too (dm_control's physics and task code shape a dmc task)
    found = package_versions(("numpy", "gymnasium", "mujoco", "stable-baselines3", "torch",
                              "openai", "jax", "brax", "dm_control", "shimmy",
                              "gymnasium-robotics"))
    out.update({k: v for k, v in found.items() if v is not None})
    return out


@dataclass
class RunDir:
    path: Path

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, path: Path, manifest: dict[str, Any]) -> RunDir:
        path = Path(path)
        if (path / "manifest.json").exists():
            raise RewardsmithError(f"{path} already holds a run", f"resume it with --resume {path}, or pick another --run-dir")
        path.mkdir(parents=True, exist_ok=True)
        run = cls(path)
        manifest = {**manifest, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "status": "running",
                    "versions": versions(), "run_id": path.name}
        run.write_manifest(manifest)
        run.event("run_created", config=manifest.get("config"))
        return run

    @classmethod
    def open(cls, path: Path) -> RunDir:
        path = Path(path)
        if not (path / "manifest.json").exists():
            raise RewardsmithError(f"{path} is not a run directory (no manifest.json)",
                                   f"list the runs in it or below it with `rewardsmith runs {path}`"
                                   if path.is_dir() else "list runs with `rewardsmith runs`")
        return cls(path)

    # ------------------------------------------------------------------ manifest
    @property
    def manifest(self) -> dict[str, Any]:
        return read_json(self.path / "manifest.json")

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_json(self.path / "manifest.json", manifest)

    def update_manifest(self, **changes: Any) -> dict[str, Any]:
        m = self.manifest
        m.update(changes)
        self.write_manifest(m)
        return m

    # -------------------------------------------------------------------- events
    def event(self, kind: str, **data: Any) -> None:
        append_jsonl(self.path / "events.jsonl", {"t": time.time(), "event": kind, **data})

    def events(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path / "events.jsonl")

    # ---------------------------------------------------------------- candidates
    def candidate_dir(self, iteration: int, k: int) -> Path:
        return self.path / "candidates" / f"{iteration}-{k}"

    def candidate_done(self, iteration: int, k: int) -> bool:
        return (self.candidate_dir(iteration, k) / "DONE").exists()

    def finish_candidate(self, iteration: int, k: int, result: dict[str, Any]) -> None:
        d = self.candidate_dir(iteration, k)
        atomic_write_json(d / "result.json", result)
        atomic_write_text(d / "DONE", "")  # written last

    def candidate_result(self, iteration: int, k: int) -> dict[str, Any] | None:
        d = self.candidate_dir(iteration, k)
        if not (d / "DONE").exists():
            return None
        return read_json(d / "result.json")

    def write_candidate(self, c: Candidate) -> None:
        """A candidate's record (``result.json``, then ``DONE``)."""
        self.finish_candidate(c.iteration, c.k, c.to_json())

    def candidate_record(self, iteration: int, k: int) -> Candidate | None:
        r = self.candidate_result(iteration, k)
        return None if r is None else Candidate.from_json(r)

    def candidate_records(self) -> list[Candidate]:
        """Every finished candidate, typed, in order."""
        return [Candidate.from_json(r) for r in self.candidates()]

    def candidates(self) -> list[dict[str, Any]]:
        out = []
        root = self.path / "candidates"
        if not root.is_dir():
            return out
        for d in sorted(root.iterdir(), key=candidate_key):
            if (d / "DONE").exists():
                try:
                    out.append(read_json(d / "result.json"))
                except (OSError, ValueError):
                    continue
        return out

    def train_folder(self, c: Candidate, seed: int | None = None) -> Path:
        """Where candidate ``c``'s first seed's results and evaluation episodes are (``seed``:
        the run's base seed, read from the manifest when not given)."""
        if seed is None:
            seed = (self.manifest.get("config") or {}).get("seed", 0)
        return self.candidate_dir(c.iteration, c.k) / (c.train_dir or f"seed-{seed}/train")

    def seed_folder(self, c: Candidate, seed: int | str) -> Path:
        """Where candidate ``c``'s results and evaluation episodes on training seed ``seed`` are
        (each seed its own folder; see :meth:`train_folder` for the first seed's)."""
        return self.candidate_dir(c.iteration, c.k) / f"seed-{seed}" / "train"

    def trained_episodes(self, before: int | None = None
                         ) -> list[tuple[str, Path, list[float]]]:
        """Every candidate that trained (of the iterations before ``before``), the latest
        first, as (its id, the folder of its first seed's evaluation episodes, their task
        scores)."""
        seed = (self.manifest.get("config") or {}).get("seed", 0)
        out = [(c.id, self.train_folder(c, seed), list(c.train.get("eval_fitness") or []))
               for c in self.candidate_records()
               if c.status in ("ok", "stopped") and c.train
               and (before is None or c.iteration < before)]
        return out[::-1]

    def earlier_runs(self, task_id: str) -> list[RunDir]:
        """The other runs of task ``task_id`` in the same folder, the most recent first."""
        found = []
        for d in self.path.parent.iterdir() if self.path.parent.is_dir() else ():
            if d == self.path or not (d / "manifest.json").is_file():
                continue
            try:
                m = read_json(d / "manifest.json")
            except (OSError, ValueError):
                continue
            if isinstance(m, dict) and m.get("task") == task_id:
                found.append((str(m.get("created") or ""), RunDir(d)))
        return [r for _, r in sorted(found, key=lambda x: x[0], reverse=True)]

    # ---------------------------------------------------------------- iterations
    def write_iteration(self, iteration: int, summary: dict[str, Any]) -> None:
        """A finished iteration (written last: a resumed run reuses it whole)."""
        atomic_write_json(self.path / "iterations" / f"{iteration}.json", summary)

    def iteration(self, iteration: int) -> dict[str, Any] | None:
        p = self.path / "iterations" / f"{iteration}.json"
        return read_json(p) if p.exists() else None

    def iterations(self) -> list[dict[str, Any]]:
        """Every finished iteration's summary, in order (unreadable ones skipped), each with
        its ``iteration`` number."""
        out = []
        for p in sorted((self.path / "iterations").glob("*.json"), key=lambda p: number(p.stem)):
            try:
                d = read_json(p)
            except (OSError, ValueError):
                continue
            if isinstance(d, dict):
                d.setdefault("iteration", number(p.stem))
                out.append(d)
        return out

    def reference(self) -> dict[str, Any] | None:
        """What the hand-written reward and the untrained policy scored in the loop (per seed,
        and the untrained policy per episode), from the best's evidence or the latest
        iteration."""
        return reference_of(self.best(), self.iterations())

    # ------------------------------------------------------------------- LLM calls
    def write_llm_request(self, iteration: int, record: dict[str, Any]) -> None:
        """An iteration's request to the designer, its answers and token counts."""
        atomic_write_json(self.path / "llm" / f"iteration-{iteration}.json", record)

    def llm_requests(self) -> list[dict[str, Any]]:
        """Every iteration's request record, in order, each with its ``iteration`` number."""
        out = []
        for p in sorted((self.path / "llm").glob("iteration-*.json"),
                        key=lambda p: number(p.stem.split("-")[-1])):
            try:
                d = read_json(p)
            except (OSError, ValueError):
                continue
            if isinstance(d, dict):
                d.setdefault("iteration", number(p.stem.split("-")[-1]))
                out.append(d)
        return out

    # -------------------------------------------------------------------- feedback
    def preferences(self) -> dict[str, Any]:
        """Preference scores per candidate (Bradley-Terry and Elo), or {} without feedback."""
        p = self.path / "feedback" / "preferences.json"
        return (read_json(p).get("scores") or {}) if p.exists() else {}

    # ---------------------------------------------------------------------- best
    def write_best(self, source: str, evidence: dict[str, Any]) -> None:
        d = self.path / "best"
        atomic_write_text(d / "reward.py", source)
        atomic_write_json(d / "evidence.json", evidence)

    def best(self) -> dict[str, Any] | None:
        p = self.path / "best" / "evidence.json"
        return read_json(p) if p.exists() else None

    # ------------------------------------------------------------------- verdict
    def write_closing(self, closing: dict[str, Any]) -> None:
        atomic_write_json(self.path / "closing.json", closing)

    def closing(self) -> dict[str, Any] | None:
        p = self.path / "closing.json"
        return read_json(p) if p.exists() else None

    def verdict(self) -> dict[str, Any] | None:
        """What the run says about its best reward against the hand-written one: the closing
        evaluation's verdict, or (a run without one: stopped before it, run with
        ``--final-seeds 0``, or older) the one its best candidate's own seeds give."""
        closing = self.closing()
        if closing and closing.get("verdict"):
            return closing["verdict"]
        best = self.best()
        if not best:
            return None
        if best.get("verdict"):
            return best["verdict"]
        from rewardsmith.critic.verdict import from_records

        try:
            record = self.candidate_result(*map(int, str(best["candidate"]).split("-"))) or best
        except ValueError:
            record = best
        return from_records({**best, **{k: record[k] for k in ("fitness_seeds", "success_seeds")
                                        if record.get(k)}}, self.reference())


def reference_of(best: dict[str, Any] | None, iterations: list[dict[str, Any]]
                 ) -> dict[str, Any] | None:
    """The loop's reference results, from a run's best evidence or else its latest iteration
    that has them (for readers that hold those already)."""
    if best and best.get("baseline"):
        return best["baseline"]
    for it in reversed(iterations):
        if it.get("baseline"):
            return it["baseline"]
    return None


def number(s: str) -> int:
    """A file's number (``iterations/3.json`` -> 3); names that are not numbers sort last."""
    try:
        return int(s)
    except ValueError:
        return 10**9


def candidate_key(d: Path) -> tuple[int, int]:
    """Sort key of a candidate folder named <iteration>-<k>; other names sort last."""
    try:
        a, b = d.name.split("-")
        return int(a), int(b)
    except ValueError:
        return (10**9, 0)


def list_runs(root: Path, depth: int = 4) -> list[RunDir]:
    """The run directories below ``root``, newest first: its folders that hold a manifest, and
    those in folders below it down to ``depth`` levels (a benchmark's
    ``runs/<task>/<designer>/r<k>``); a run's own folders are not searched."""
    root = Path(root)
    found: list[RunDir] = []

    def walk(folder: Path, left: int) -> None:
        try:
            children = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
        except OSError:
            return
        for p in children:
            if (p / "manifest.json").exists():
                found.append(RunDir(p))
            elif left > 1:
                walk(p, left - 1)

    if root.is_dir():
        walk(root, depth)
    return sorted(found, key=lambda r: r.path.stat().st_mtime, reverse=True)
