"""A vision-language judge: does the behaviour match the words? (``--feedback vlm``)

After an iteration, every trained candidate's keyframes (:mod:`rewardsmith.feedback.keyframes`)
go to a vision-language model with the task description. It answers, per candidate, whether the
behaviour does what the description asks and what is wrong, and ranks them. The ranking enters
selection as a person's does (pairwise choices, Bradley-Terry: :func:`rewardsmith.feedback.record`),
combined with the task score by ``weight`` (1: the judge alone; a task without a fitness always
uses the judge alone), and the judge's words go into the next prompt (:func:`feedback_text`).

Backends (:func:`make_judge`):

- ``openai:MODEL``: any OpenAI-compatible server through the LLM backend's client
  (:class:`rewardsmith.llm.openai_backend.OpenAIBackend`), one strip per candidate as a PNG
  ``data:`` URL ``image_url`` part; answers cached in the run's LLM cache (a garbage answer is
  dropped from the cache, so ``--resume`` asks again).
- ``manual``: ``feedback/vlm/iteration-<i>/`` holds ``prompt.md`` and one PNG strip per
  candidate; the run waits for ``answer.md`` (after a garbage answer: ``retry-2.md`` says what was
  wrong and the run waits for ``answer-2.md``), as ``--llm manual`` does.

The answer must hold one JSON block (``prompts/judge_v1.md``); one that does not parse, names
unknown candidates or leaves some out is asked once more with the error, then stops the run with
a clear error: the answers are kept in ``feedback/vlm/iteration-<i>/``, nothing else is lost, and
``--resume`` asks again. An iteration whose ``feedback/iteration-<i>.json`` exists is never asked
again.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from rewardsmith.errors import RewardsmithError
from rewardsmith.llm.base import LLMError, Usage

JUDGE_TEMPLATE = "judge_v1"
FEEDBACK_TEMPLATE = "judge_feedback_v1"
VERDICTS = ("yes", "partly", "no")
HINT = "use --vlm openai:MODEL with a vision-language model (gpt-4o, qwen2.5-vl, ...) or --vlm manual"
TEMPERATURE = 0.0
_IMAGES_REJECTED = re.compile(r"image|vision|multi-?modal|content (part|type)|not support", re.I)


class JudgeError(RewardsmithError):
    """The judge could not give a usable answer; the message says why, the hint what to do."""


class JudgeParseError(JudgeError):
    """An answer that does not hold a valid judgement (said back to the model once)."""


@dataclass
class Shown:
    """One candidate as the judge sees it."""

    id: str
    strip: Path  # the PNG strip
    moments: str  # "start (t=0.00 s), score peak (t=1.20 s), ..."
    label: str = ""  # "previous best"


@dataclass
class Reply:
    text: str
    usage: Usage
    model: str
    cached: bool = False


@dataclass
class Verdict:
    does_what_asked: str  # yes | partly | no
    what_it_does: str
    what_is_wrong: str


@dataclass
class Judgement:
    verdicts: dict[str, Verdict]
    ranking: list[str]  # best first
    summary: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class JudgeBackend(Protocol):
    name: str

    def ask(self, iteration: int, system: str, prompt: str, shown: Sequence[Shown],
            history: Sequence[tuple[str, str]], notify: Callable[[str], None]) -> Reply:
        """One answer to ``prompt`` about ``shown``; ``history``: earlier (answer, correction)."""
        ...

    def forget(self, iteration: int, system: str, prompt: str, shown: Sequence[Shown],
               history: Sequence[tuple[str, str]]) -> None:
        """Drop a cached answer that did not parse, so that a resumed run asks again."""
        ...


# ----------------------------------------------------------------------------- prompt
def build_prompt(task, shown: Sequence[Shown]) -> tuple[str, str]:
    """(system text, user text) of the judge's request; the images follow the user text."""
    from rewardsmith.llm.prompts import render

    ids = ", ".join(json.dumps(s.id) for s in shown)
    text = render(JUDGE_TEMPLATE, robot=getattr(task, "robot", "") or "a robot",
                  description=str(getattr(task, "description", "")).strip(), count=len(shown),
                  first_id=shown[0].id, ids=ids).strip()
    system = "You are a careful judge of robot behaviour. You answer in the JSON format asked for."
    return system, text


def candidate_caption(s: Shown) -> str:
    return (f"Candidate {s.id}" + (f" ({s.label})" if s.label else "")
            + f": frames at {s.moments}.")


def correction(error: str, ids: Sequence[str]) -> str:
    return (f"Your answer could not be used: {error}. Answer again with only the JSON block "
            f"described above, one verdict for each of the candidates {', '.join(ids)} and a "
            "ranking that names each of them exactly once.")


# ----------------------------------------------------------------------------- parse
_BLOCK = re.compile(r"```[ \t]*(?:json)?[ \t]*\n(.*?)```", re.S | re.I)


def parse(text: str, ids: Sequence[str]) -> Judgement:
    """The judgement in ``text`` (its JSON block), checked against the candidates ``ids``.
    Raises :class:`JudgeParseError` saying what is wrong."""
    blocks = _BLOCK.findall(text or "")
    if not blocks:
        stripped = (text or "").strip()
        if not stripped.startswith("{"):
            raise JudgeParseError("it holds no ```json block")
        blocks = [stripped]
    try:
        data = json.loads(blocks[-1])
    except ValueError as e:
        raise JudgeParseError(f"its JSON block is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise JudgeParseError("its JSON block is not an object with \"candidates\" and \"ranking\"")
    known = list(ids)
    ranking = data.get("ranking")
    if not isinstance(ranking, list) or not all(isinstance(r, str) for r in ranking):
        raise JudgeParseError("\"ranking\" is not a list of candidate ids")
    ranking = [r.strip() for r in ranking]
    unknown = [r for r in ranking if r not in known]
    if unknown:
        raise JudgeParseError(f"the ranking names unknown candidate(s) {', '.join(unknown)} "
                              f"(the candidates are {', '.join(known)})")
    twice = sorted({r for r in ranking if ranking.count(r) > 1})
    if twice:
        raise JudgeParseError(f"the ranking names {', '.join(twice)} more than once")
    missing = [i for i in known if i not in ranking]
    if missing:
        raise JudgeParseError(f"the ranking leaves out {', '.join(missing)}")
    entries = data.get("candidates")
    if isinstance(entries, dict):  # {"id": {...}} is as clear as a list
        entries = [{"id": k, **v} if isinstance(v, dict) else {"id": k} for k, v in entries.items()]
    if not isinstance(entries, list):
        raise JudgeParseError("\"candidates\" is not a list of verdicts")
    verdicts: dict[str, Verdict] = {}
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("id"), str):
            raise JudgeParseError("a verdict in \"candidates\" has no \"id\"")
        cid = e["id"].strip()
        if cid not in known:
            raise JudgeParseError(f"\"candidates\" names unknown candidate {cid} "
                                  f"(the candidates are {', '.join(known)})")
        ok = e.get("does_what_asked")
        if isinstance(ok, bool):
            ok = "yes" if ok else "no"
        ok = str(ok).strip().lower() if ok is not None else ""
        if ok not in VERDICTS:
            raise JudgeParseError(f"candidate {cid}: \"does_what_asked\" is {e.get('does_what_asked')!r}, "
                                  "not \"yes\", \"partly\" or \"no\"")
        verdicts[cid] = Verdict(ok, str(e.get("what_it_does") or "").strip(),
                                str(e.get("what_is_wrong") or "").strip())
    missing = [i for i in known if i not in verdicts]
    if missing:
        raise JudgeParseError(f"\"candidates\" has no verdict for {', '.join(missing)}")
    return Judgement(verdicts, ranking, str(data.get("summary") or "").strip())


# ----------------------------------------------------------------------------- backends
def data_url(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(png).read_bytes()).decode("ascii")


class OpenAIJudge:
    """The judge on an OpenAI-compatible server (the LLM backend's client, retries and prices)."""

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 cache_dir: Path | None = None, **settings: Any):
        from rewardsmith.llm.cache import CachedLLM
        from rewardsmith.llm.openai_backend import OpenAIBackend

        self.backend = OpenAIBackend(model, base_url=base_url, api_key=api_key, **settings)
        self.name = self.backend.name
        self.llm = CachedLLM(self.backend, cache_dir, report_paid=True) if cache_dir else None

    def messages(self, system: str, prompt: str, shown: Sequence[Shown],
                 history: Sequence[tuple[str, str]]) -> list[dict]:
        parts: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
        for s in shown:
            parts.append({"type": "text", "text": candidate_caption(s)})
            parts.append({"type": "image_url", "image_url": {"url": data_url(s.strip)}})
        out = [{"role": "system", "content": system}, {"role": "user", "content": parts}]
        for answer, fix in history:
            out += [{"role": "assistant", "content": answer}, {"role": "user", "content": fix}]
        return out

    def ask(self, iteration, system, prompt, shown, history, notify) -> Reply:
        messages = self.messages(system, prompt, shown, history)
        try:
            out = (self.llm or self.backend).complete(messages, n=1, temperature=TEMPERATURE)
        except LLMError as e:
            status = getattr(e, "status", None)
            if status in (400, 415, 422) and _IMAGES_REJECTED.search(e.message):
                raise JudgeError(f"the judge {self.name} at {self.backend.base_url} rejects images: "
                                 f"{e.message}", HINT) from None
            raise JudgeError(f"the judge {self.name} could not answer: {e.message}",
                             e.hint or "continue with --resume once the server answers") from None
        return Reply(out.texts[0] if out.texts else "", out.usage, out.model, out.cached)

    def forget(self, iteration, system, prompt, shown, history) -> None:
        if self.llm is not None:
            key = self.llm.key(self.messages(system, prompt, shown, history), 1, TEMPERATURE)
            self.llm.path(key).unlink(missing_ok=True)


class ManualJudge:
    """The judge is a person with a chat window: frames and ``prompt.md`` in a folder of the run,
    the answer read from ``answer.md`` (``answer-<n>.md`` after ``retry-<n>.md``)."""

    name = "manual"

    def __init__(self, run_dir: Path, *, timeout: float | None = None, poll_s: float = 1.0):
        self.root = Path(run_dir) / "feedback" / "vlm"
        self.timeout = timeout
        self.poll_s = poll_s

    def folder(self, iteration: int) -> Path:
        return self.root / f"iteration-{iteration}"

    @staticmethod
    def answer_name(attempt: int) -> str:
        return "answer.md" if attempt == 1 else f"answer-{attempt}.md"

    def ask(self, iteration, system, prompt, shown, history, notify) -> Reply:
        import shutil

        from rewardsmith.runs.files import atomic_write_text

        folder = self.folder(iteration)
        folder.mkdir(parents=True, exist_ok=True)
        attempt = len(history) + 1
        if attempt == 1:
            for s in shown:
                target = folder / f"{s.id}.png"
                if not target.exists():
                    shutil.copyfile(s.strip, target)
            images = "\n\n".join(f"{candidate_caption(s)}\n\n![{s.id}]({s.id}.png)" for s in shown)
            text = ("# rewardsmith: a request for the vision-language judge\n\n"
                    "Give everything below the line to a chat with a vision-language model, and "
                    f"attach the {len(shown)} image(s) of this folder "
                    f"({', '.join(f'{s.id}.png' for s in shown)}) in the order given. Save its "
                    f"whole answer, JSON block included, as `answer.md` next to this file.\n\n---\n\n"
                    f"{system}\n\n{prompt}\n\n{images}\n")
            if not (folder / "prompt.md").exists():
                atomic_write_text(folder / "prompt.md", text)
            what = folder / "prompt.md"
        else:
            what = folder / f"retry-{attempt}.md"
            if not what.exists():
                atomic_write_text(what, "# rewardsmith: the judge's answer could not be used\n\n"
                                  f"{history[-1][1]}\n\nPaste this into the same chat and save its "
                                  f"new answer as `{self.answer_name(attempt)}` next to this file.\n")
        answer = folder / self.answer_name(attempt)
        text = self._read(answer)
        if text is None:
            notify(f"the judge's request is waiting in {what}: save the answer as {answer} "
                   "(Ctrl-C stops the run; --resume picks up again)")
            text = self._wait(answer)
        return Reply(text, Usage(0, 0, 0.0), "manual")

    def forget(self, iteration, system, prompt, shown, history) -> None:
        pass  # the file stays: the next attempt reads its own file

    @staticmethod
    def _read(path: Path) -> str | None:
        try:
            text = path.read_text()
        except (FileNotFoundError, UnicodeDecodeError):
            return None
        return text if text.strip() else None

    def _wait(self, path: Path) -> str:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        last = None
        while True:
            text = self._read(path)
            if text is not None:
                st = path.stat()
                sig = (st.st_size, st.st_mtime_ns)
                if sig == last:  # unchanged since the last look: written completely
                    return text
                last = sig
            elif deadline is not None and time.monotonic() >= deadline:
                raise JudgeError(f"no answer in {path} after {self.timeout:g} s",
                                 "save the judge's answer there, then run again with --resume")
            time.sleep(self.poll_s)


def make_judge(spec: str | None, *, run_dir: Path, base_url: str | None = None,
               api_key: str | None = None, cache: bool = True, **settings: Any) -> JudgeBackend:
    """The judge named by ``spec``: ``openai:MODEL`` (``openai``: $REWARDSMITH_MODEL or the
    default model) or ``manual``."""
    from rewardsmith.llm.base import DEFAULT_OPENAI_MODEL

    if not spec:
        raise JudgeError("--feedback vlm needs a judge that can see images", HINT)
    name, _, model = spec.strip().partition(":")
    if name == "openai":
        return OpenAIJudge(model or os.environ.get("REWARDSMITH_MODEL") or DEFAULT_OPENAI_MODEL,
                           base_url=base_url, api_key=api_key,
                           cache_dir=Path(run_dir) / "llm" / "cache" if cache else None, **settings)
    if name == "manual":
        return ManualJudge(Path(run_dir), **{k: v for k, v in settings.items()
                                             if k in ("timeout", "poll_s")})
    if name == "offline":
        raise JudgeError("the offline designer cannot look at images, so it cannot judge them", HINT)
    raise JudgeError(f"unknown judge {spec!r}", HINT)


# ----------------------------------------------------------------------------- judging
def judge(backend: JudgeBackend, task, iteration: int, shown: Sequence[Shown], folder: Path,
          notify: Callable[[str], None], on_reply: Callable[[Reply], None] | None = None
          ) -> tuple[Judgement, list[Reply]]:
    """Ask ``backend`` to judge ``shown``; one more try with the error after an answer that
    cannot be used, then :class:`JudgeError`. Every answer is kept in ``folder``."""
    from rewardsmith.runs.files import atomic_write_text

    system, prompt = build_prompt(task, shown)
    folder.mkdir(parents=True, exist_ok=True)
    ids = [s.id for s in shown]
    history: list[tuple[str, str]] = []
    replies: list[Reply] = []
    for attempt in (1, 2):
        reply = backend.ask(iteration, system, prompt, shown, history, notify)
        replies.append(reply)
        if on_reply is not None:
            on_reply(reply)
        atomic_write_text(folder / f"reply-{attempt}.md", reply.text)
        try:
            return parse(reply.text, ids), replies
        except JudgeParseError as e:
            backend.forget(iteration, system, prompt, shown, history)
            if attempt == 2:
                raise JudgeError(
                    f"the judge {backend.name} answered twice without a usable judgement of "
                    f"iteration {iteration + 1}: {e.message}",
                    f"its answers are in {folder}; continue with --resume to ask again, or use "
                    "another model (--vlm)") from None
            notify(f"the judge's answer could not be used ({e.message}); asking again")
            history.append((reply.text, correction(e.message, ids)))
    raise AssertionError("unreachable")


def _minmax(values: Mapping[str, float]) -> dict[str, float]:
    lo, hi = min(values.values()), max(values.values())
    return {k: (v - lo) / (hi - lo) if hi > lo else 0.5 for k, v in values.items()}


def combine(judge_scores: Mapping[str, float], fitness: Mapping[str, float | None],
            weight: float) -> tuple[dict[str, float], float]:
    """Each candidate's ``weight * judge + (1 - weight) * task score``, both scaled to [0, 1]
    over the candidates judged (the judge's by their Bradley-Terry strength). Without a task
    score for every candidate, the judge's alone. Returns (scores, the judge's weight used)."""
    if weight < 1.0 and fitness and all(fitness.get(i) is not None for i in judge_scores):
        j = _minmax(judge_scores)
        f = _minmax({i: float(fitness[i]) for i in judge_scores})  # type: ignore[arg-type]
        return {i: round(weight * j[i] + (1 - weight) * f[i], 9) for i in judge_scores}, weight
    return {i: round(v, 9) for i, v in _minmax(judge_scores).items()}, 1.0


def collect(run_dir: Path, iteration: int, task, candidates: list[dict], backend: JudgeBackend,
            *, weight: float = 0.5, seed: int = 0, notify: Callable[[str], None] | None = None,
            on_reply: Callable[[Reply], None] | None = None, keyframe_settings=None):
    """Judge ``candidates`` (dicts with ``id``, ``source``, ``fitness``, ``folder``, optional
    ``label``) and record it as :func:`rewardsmith.feedback.record` records a person's ranking,
    with the candidate the combined score selects (``selected``), the verdicts and the scores."""
    from rewardsmith.feedback import _ensure_logged, blind_order, load, record
    from rewardsmith.feedback.keyframes import render_keyframes
    from rewardsmith.feedback.preference import bradley_terry, pairs_from_order

    run_dir = Path(run_dir)
    if not 0.0 <= weight <= 1.0:
        raise JudgeError(f"--feedback-weight {weight} is not between 0 and 1",
                         "1: the judge alone; 0: the task score alone (the judge's words still "
                         "go to the LLM)")
    prior = load(run_dir, iteration)
    if prior is not None:
        _ensure_logged(run_dir, prior, prior.order)
        return prior
    notify = notify or (lambda m: print(f"rewardsmith: {m}", file=sys.stderr, flush=True))
    by_id = {c["id"]: c for c in candidates}
    notify(f"rendering keyframes of {len(candidates)} candidate(s) for the judge...")
    strips = render_keyframes(task, [Path(c["folder"]) for c in candidates], keyframe_settings)
    shown, unseen = [], {}
    for cid in blind_order(list(by_id), seed, iteration):
        c = by_id[cid]
        k = strips.get(Path(c["folder"]))
        if isinstance(k, str) or k is None:
            unseen[cid] = k or "not rendered"
            notify(f"  {cid}: no keyframes ({unseen[cid]}); the judge cannot see it")
            continue
        shown.append(Shown(cid, Path(c["folder"]) / k.strip, k.describe(), c.get("label", "")))
    if not shown:
        raise JudgeError(f"iteration {iteration}: no candidate could be rendered for the judge",
                         "see the reasons above; --feedback oracle or human work without frames")
    folder = run_dir / "feedback" / "vlm" / f"iteration-{iteration}"
    folder.mkdir(parents=True, exist_ok=True)
    judgement, replies = judge(backend, task, iteration, shown, folder, notify, on_reply)
    ids = [s.id for s in shown]
    bt = bradley_terry(pairs_from_order(judgement.ranking), ids)
    combined, used = combine(bt, {i: by_id[i].get("fitness") for i in ids}, weight)
    rank = {cid: r for r, cid in enumerate(judgement.ranking)}
    selected = max(ids, key=lambda i: (combined[i], -rank[i]))
    usage = Usage(0, 0, 0.0)
    for r in replies:
        usage = usage + r.usage
    extra = {"judge": {"backend": backend.name, "model": replies[-1].model,
                       "attempts": len(replies), "template": JUDGE_TEMPLATE,
                       "weight_asked": weight, "unseen": unseen,
                       "frames": {s.id: str(s.strip.relative_to(run_dir)) if s.strip.is_relative_to(run_dir)
                                  else str(s.strip) for s in shown},
                       "moments": {s.id: s.moments for s in shown},
                       "usage": asdict(usage), "cached": all(r.cached for r in replies)}}
    return record(run_dir, iteration, ids, {"order": judgement.ranking, "comment": judgement.summary},
                  "vlm", ui=backend.name, extra=extra, shown_order=ids, blind=True,
                  selected=selected, verdicts={i: asdict(v) for i, v in judgement.verdicts.items()},
                  combined=combined, weight=used)


def feedback_text(fb, candidates_by_id: Mapping[str, Any], source: Callable[[Any], str]) -> str:
    """The next prompt's user message: the selected reward and the judge's last (or first, when
    the last is the one selected), and what the judge saw of each candidate."""
    from rewardsmith.llm.prompts import render

    def src(cid: str | None) -> str:
        c = candidates_by_id.get(cid) if cid else None
        return source(c).strip() if c is not None else ""

    pick = fb.selected or fb.best
    rejected = fb.order[-1] if len(fb.order) > 1 else None
    if rejected == pick:
        rejected = fb.order[0]
    lines = []
    for r, cid in enumerate(fb.order, 1):
        v = fb.verdicts.get(cid, {})
        mark = " (selected)" if cid == pick else ""
        does = (v.get("what_it_does") or "(not said)").rstrip(".")
        wrong = v.get("what_is_wrong") or "nothing it could see"
        lines.append(f"{r}. {cid}{mark}: does what the description asks: "
                     f"{v.get('does_what_asked', '?')}. What it does: {does}. What is wrong: {wrong}")
    if fb.comment:
        lines.append(f"\nThe judge's summary: {fb.comment}")
    if fb.weight is not None and fb.weight < 1.0:
        selection = (f"The candidate selected combines the judge's ranking (weight {fb.weight:g}) "
                     f"with the task score (weight {1 - fb.weight:g}); it is {pick}.")
    else:
        selection = f"The candidate selected is the judge's first, {pick}."
    return render(FEEDBACK_TEMPLATE, preferred_source=src(pick),
                  rejected_source=src(rejected) or "# (there was no other candidate to compare it with)",
                  verdicts="\n".join(lines), selection=selection).strip()


__all__ = ["JudgeError", "JudgeParseError", "Judgement", "ManualJudge", "OpenAIJudge", "Reply",
           "Shown", "Verdict", "collect", "combine", "feedback_text", "make_judge", "parse"]

