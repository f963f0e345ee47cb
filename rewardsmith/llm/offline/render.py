"""Terms to program text: the ``compute_reward`` source the designer writes, and one sentence that
describes it."""

from __future__ import annotations

from rewardsmith.llm.offline.terms import Const, Designer, Term, round_sig

MARKER = "# Written by rewardsmith's offline designer: rule-based, not an LLM."
PLAN_PREFIX = "# plan:"


def fmt_number(v: float) -> str:
    s = repr(round_sig(v)) if abs(v) >= 1e-4 or v == 0 else f"{v:.3g}"
    return s


def render(terms: list[Term], designer: Designer) -> str:
    shared = designer.shared_defs()
    consts: dict[str, Const] = {}
    for t in terms:
        for c in t.consts:
            consts.setdefault(c.name, c)
    body = [MARKER, f"{PLAN_PREFIX} " + " ".join(t.spec for t in terms)]
    body += [f"{c.name} = {fmt_number(c.value)}" for c in consts.values()]
    body.append("")
    emitted: list[str] = []
    for t in terms:
        for s in t.shared:
            if s not in emitted and s in shared:
                emitted.append(s)
                body.append(shared[s])
    for t in terms:
        body += t.lines
    body.append("")
    body.append("reward = " + " + ".join(t.key for t in terms))
    comps = ", ".join(f'"{t.key}": {t.key}' for t in terms)
    body.append(f"return reward, {{{comps}}}")
    return "def compute_reward(state, action, next_state):\n" + "\n".join(
        ("    " + ln) if ln else "" for ln in body) + "\n"


def describe(terms: list[Term]) -> str:
    parts = [f"{t.doc} (`{t.key}`)" for t in terms]
    return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
