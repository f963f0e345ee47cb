"""The ``offline`` backend: :class:`OfflineDesigner` answers a request the way an LLM would (a
sentence of reasoning and a ```python block), from the design context or, without one, from the
prompt text."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import replace
from typing import Any

import numpy as np

from rewardsmith.llm.base import (
    Completion,
    DesignContext,
    LLMError,
    Usage,
    canonical_json,
)
from rewardsmith.llm.offline.improve import Part, Plan, improve
from rewardsmith.llm.offline.render import describe, render
from rewardsmith.llm.offline.robot import Robot, read_intent
from rewardsmith.llm.offline.source import (
    TEMPLIKE,
    THRESHLIKE,
    WEIGHTLIKE,
    component_constants,
    guess_role,
    read_constants,
    read_plan,
    substitute_constants,
)
from rewardsmith.llm.offline.terms import Const, Designer, Term, jitter, round_sig
from rewardsmith.reward.program import fingerprint


class OfflineDesigner:
    """The ``offline`` backend. Not an LLM: a rule-based reward designer (see module doc)."""

    name = "offline"
    uses_context = True
    prices_known = True  # free

    def complete(self, messages: list[dict], n: int, temperature: float,
                 context: DesignContext | None = None) -> Completion:
        if context is None:
            context = context_from_messages(messages)
        robot = Robot.from_context(context)
        intent = read_intent(context.description, robot)
        designer = Designer(robot, intent)
        base = hashlib.sha256(canonical_json({"messages": messages, "n": n, "t": float(temperature),
                                              "ctx": context.to_json()}).encode()).hexdigest()
        spread = 0.5 + 0.5 * max(0.0, min(float(temperature), 2.0))
        texts: list[str] = []
        # never a program this run has already seen, nor one given twice in this answer
        tried: set[str] = set(context.tried)
        for k in range(n):
            for attempt in range(200):
                seed = int(hashlib.sha256(f"{base}:{k}:{attempt}".encode()).hexdigest()[:16], 16)
                rng = np.random.default_rng(seed)
                # past 40 attempts the neighbourhood is used up: explore further out
                wider = spread * (1.0 + max(0, attempt - 40) / 20.0)
                text, source = self._sample(designer, context, k, attempt, rng, wider)
                fp = fingerprint(source)
                if fp not in tried:
                    break
            tried.add(fp)
            texts.append(text)
        return Completion(texts=texts, usage=Usage(0, 0, 0.0), model="offline-designer-v1")

    # ------------------------------------------------------------------------ samples
    def _sample(self, d: Designer, ctx: DesignContext, k: int, attempt: int,
                rng: np.random.Generator, spread: float) -> tuple[str, str]:
        best = ctx.best
        failed = [o for o in ctx.others if o.error]
        if best is None or best.error or not _usable(best.source):
            why = ""
            if best is not None and best.error:
                why = f"The best candidate failed ({_first_line(best.error)}), so I fall back to a safe template. "
            elif failed and ctx.iteration > 0:
                why = (f"{len(failed)} earlier candidate(s) failed ({_first_line(failed[0].error or '')}), so I "
                       "start again from a safe template. ")
            return self._initial(d, k + attempt, rng, spread, why)
        if attempt >= 30:  # the best program cannot be varied more: new designs
            return self._initial(d, k + attempt, rng, spread, "")
        own = read_plan(best.source, d)
        if own is not None:
            return self._improve_own(d, ctx, own, k, attempt, rng, spread)
        return self._improve_foreign(d, ctx, k, attempt, rng, spread)

    def _initial(self, d: Designer, k: int, rng: np.random.Generator, spread: float,
                 why: str) -> tuple[str, str]:
        terms = d.canonical() if k == 0 else d.sampled(rng, spread)
        source = render(terms, d)
        kind = d.intent.kind
        text = (f"{why}The description asks me to {d.intent.why}, so this is a {kind} reward: "
                f"{describe(terms)}. (Offline designer: rule-based, not an LLM.)\n\n"
                f"```python\n{source}```\n")
        return text, source

    def _improve_own(self, d: Designer, ctx: DesignContext, terms: list[Term], k: int, attempt: int,
                     rng: np.random.Generator, spread: float) -> tuple[str, str]:
        assert ctx.best is not None
        parts = [Part(t.key, t.role, t.weight.name if t.weight else None,
                      next((c.name for c in t.consts if c.kind == "temperature"), None)) for t in terms]
        plan = improve(parts, ctx.best, ctx, d.intent, d.robot)
        if k % 2 == 1 and not ctx.human_text:
            # every other sample stays with the best design as it is and only varies it: the
            # rules read a training report, and when they misjudge it these still explore
            plan = Plan(reasons=["I keep the best design as it is"])
        terms = [t for t in terms if t.key not in plan.drop or t.role == "task"]
        req, opt = d.menu()
        present = {t.key for t in terms}
        for maker in plan.add:
            entry = next((e for e in req + opt if e[1] == maker and e[0] not in present), None)
            if entry is not None and (t := d.first_term(*entry)) is not None:
                terms.append(t)
                present.add(t.key)
        terms = [replace(t, consts=[Const(c.name, round_sig(min(max(c.value * plan.factors.get(c.name, 1.0),
                                                                      -1e6), 1e6)), c.kind)
                                    for c in t.consts]) for t in terms]
        reasons = list(plan.reasons)
        if k + attempt > 0:
            # explore around the adjusted design: jitter the constants, sometimes change a term
            if rng.random() < 0.35:
                spare = [e for e in opt if e[0] not in present]
                droppable = [t for t in terms if t.role == "shaping"]
                if spare and (not droppable or rng.random() < 0.6):
                    e = spare[int(rng.integers(len(spare)))]
                    t = d.make(e[0], e[1], e[2][int(rng.integers(len(e[2])))])
                    if t is not None:
                        terms.append(t)
                        reasons.append(f"I also try a `{t.key}` term")
                elif droppable:
                    t = droppable[int(rng.integers(len(droppable)))]
                    terms = [x for x in terms if x is not t]
                    reasons.append(f"I also try without `{t.key}`")
            terms = [jitter(t, rng, 0.5 * spread) for t in terms]
            reasons.append("and vary the weights around that")
        source = render(terms, d)
        return _answer(reasons, source, ctx), source

    def _improve_foreign(self, d: Designer, ctx: DesignContext, k: int, attempt: int,
                         rng: np.random.Generator, spread: float) -> tuple[str, str]:
        assert ctx.best is not None
        src = ctx.best.source
        consts = read_constants(src)
        comp = component_constants(src)
        parts = []
        for key, names in comp.items():
            weights = [c for c in names if WEIGHTLIKE.search(c)] or \
                      [c for c in names if not TEMPLIKE.search(c) and not THRESHLIKE.search(c)]
            temps = [c for c in names if TEMPLIKE.search(c)]
            parts.append(Part(key, guess_role(key), weights[0] if weights else None,
                              temps[0] if temps else None))
        plan = improve(parts, ctx.best, ctx, d.intent, d.robot, can_add=False)
        for key in plan.drop:  # cannot remove code safely: turn it down instead
            p = next((p for p in parts if p.key == key), None)
            if p is not None:
                plan.scale(p.weight, 0.2)
        values = {name: v * plan.factors.get(name, 1.0) for name, (v, _) in consts.items()}
        reasons = plan.reasons or ["I fine-tune the named constants"]
        if k + attempt > 0:
            for name in values:
                if TEMPLIKE.search(name):
                    values[name] *= math.exp(rng.normal(0.0, 0.2 * spread))
                elif not THRESHLIKE.search(name) or WEIGHTLIKE.search(name):
                    values[name] *= math.exp(rng.normal(0.0, 0.25 * spread))
            reasons.append("and vary the weights around that")
        source = substitute_constants(src, {n: round_sig(v) for n, v in values.items()}, consts)
        return _answer(reasons, source, ctx), source


def _usable(source: str) -> bool:
    from rewardsmith.rules.static import check_source

    return not check_source(source)


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "no message"
    return line[:120]


def _answer(reasons: list[str], source: str, ctx: DesignContext) -> str:
    best = ctx.best
    fit = f" (fitness {best.fitness:.4g})" if best is not None and best.fitness is not None else ""
    text = "; ".join(reasons)
    return (f"Starting from the best reward so far{fit}: {text}. "
            f"(Offline designer: rule-based, not an LLM.)\n\n```python\n{source.rstrip()}\n```\n")


# ====================================================================== without a context
_SCHEMA_LINE = re.compile(r"^([A-Za-z]\w*)\s+\((\d*(?:,\s*\d+)*,?)\)\s+(\S+)\s+(.*)$")


def context_from_messages(messages: list[dict]) -> DesignContext:
    """Rebuild the design context from the prompt text (the schema listing is machine-readable)."""
    text = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") != "system")
    fields: dict[str, tuple[tuple[int, ...], str, str]] = {}
    initial: dict[str, float | list[float]] = {}
    for line in text.splitlines():
        m = _SCHEMA_LINE.match(line.strip())
        if m:
            shape = tuple(int(x) for x in m.group(2).replace(" ", "").split(",") if x)
            doc = m.group(4).strip()
            fields.setdefault(m.group(1), (shape, m.group(3), doc))
            value = _typical_reset(doc)  # the typical value at reset, where the line gives one
            if value is not None and m.group(1) not in initial:
                initial[m.group(1)] = value
    if not fields:
        raise LLMError("the offline designer found no state schema in the prompt",
                       "pass context=DesignContext.from_task(task) to complete()")
    desc = re.search(r"^Task:\s*(.+)$", text, re.MULTILINE)
    act = re.search(r"Action: shape \(B, (\d+)\)", text)
    env = re.search(r"simulator env ([\w.-]+)", text)
    limit = re.search(r"An episode lasts at most (\d+) steps", text)
    return DesignContext(task_id="prompt", description=desc.group(1) if desc else "",
                         env_id=env.group(1) if env else "", fields=fields,
                         action_dim=int(act.group(1)) if act else 1, iteration=0,
                         initial=initial, episode_limit=int(limit.group(1)) if limit else None)


_NUM = r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?"
_RESET = re.compile(rf"\[(?:(?:reset|fixed at) ({_NUM}|\(({_NUM}(?:, {_NUM})*)\))[;\] ]|= ({_NUM})[\] ])")


def _typical_reset(doc: str) -> float | list[float] | None:
    """The value at reset from a field line's typical-values note: ``[reset 1.25; 0.7..1.3]``,
    ``[reset (0, 0, 1.25); ...]``, ``[= 0.008]`` or ``[= 0 at every reset and random step:
    ...]`` (a height-only ``[z: reset ...]`` gives none)."""
    m = _RESET.search(doc)
    if not m:
        return None
    if m.group(2):
        return [float(x) for x in m.group(2).split(", ")]
    return float(m.group(1) or m.group(3))


def factory(model: str | None = None, **_: Any) -> OfflineDesigner:
    return OfflineDesigner()
