"""The benchmark's table as Markdown (``table.md``), for a README, a paper's draft or an issue:
per designer, per task (over repeats, with the pooled and held-out tests) and per run (its
closing verdict). Every number is read from :func:`rewardsmith.benchmark.table.build_table`'s
table; nothing is computed here but the wording."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MISSING = "-"


def num(x: float | None) -> str:
    """Three significant digits, whole numbers from 1000 on, "-" for none."""
    if x is None:
        return MISSING
    x = float(x)
    if x != x:
        return "nan"
    return f"{x:.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def rate(x: float | None) -> str:
    """A fraction as a whole percentage, "-" for none."""
    return MISSING if x is None else f"{x:.0%}"


def interval(d: dict[str, Any] | None, key: str = "mean", lo: str = "low", hi: str = "high",
             show: Callable[[Any], str] = num) -> str:
    """``d[key] [d[lo], d[hi]]``, the interval left out where the table has none."""
    if not d or d.get(key) is None:
        return MISSING
    s = show(d[key])
    if d.get(lo) is not None and d.get(hi) is not None:
        s += f" [{show(d[lo])}, {show(d[hi])}]"
    return s


def spread(d: dict[str, Any] | None, show: Callable[[Any], str] = num,
           show_std: Callable[[Any], str] | None = None, with_interval: bool = False) -> str:
    """Over repeats: mean ± std where there are two or more, and the interval if asked."""
    if not d or d.get("mean") is None:
        return MISSING
    s = show(d["mean"])
    if (d.get("n") or 0) > 1 and d.get("std") is not None:
        s += f" ± {(show_std or show)(d['std'])}"
    if with_interval and d.get("low") is not None and d.get("high") is not None:
        s += f" [{show(d['low'])}, {show(d['high'])}]"
    return s


def _wall(seconds: float | None) -> str:
    if not seconds:
        return MISSING
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _test(p: dict[str, Any] | None) -> str:
    """A paired test: the difference, the p-value that the best is better (that it is worse,
    where it is worse beyond noise), on how many seeds."""
    if not p or p.get("difference") is None:
        return MISSING
    worse = p.get("direction") == "worse" and p.get("p_worse") is not None
    s = f"{p['difference']:+.3g}"
    if worse:
        s += f", p(worse) = {p['p_worse']:.2g}"
    elif p.get("p_better") is not None:
        s += f", p = {p['p_better']:.2g}"
    if p.get("n"):
        s += f" ({p['n']} seeds)"
    if p.get("direction") in ("better", "worse"):
        s = f"**{s}: {p['direction']} beyond noise**"
    return s


def _cells(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [_cells(header), _cells(["---"] * len(header)), *(_cells(r) for r in rows)]


def _short(task: str) -> str:
    return task.removesuffix("-v0")


def designers_section(table: dict[str, Any]) -> list[str]:
    rows = []
    held = any(d.get("win_rate_held_out") is not None for d in table["by_designer"])
    for d in table["by_designer"]:
        n, judged = d["normalized"], d["tasks_judged"]
        beyond = f"{len(d['tasks_beyond_noise'])} of {judged}" if judged else MISSING
        by_mean = (f"{round(d['win_rate_by_mean'] * judged)} of {judged}"
                   if d["win_rate_by_mean"] is not None else MISSING)
        row = [d["designer"], f"{d['finished']}/{d['runs']}" + (f" ({d['failed']} failed)" if d["failed"] else ""),
               beyond, by_mean]
        if held:
            row.append(f"{len(d.get('tasks_held_out') or [])} of {judged}"
                       if d.get("win_rate_held_out") is not None else MISSING)
        row += [interval(n) + (f" ({n['n']} runs)" if n["n"] else ""),
                interval(n, "iqm", "iqm_low", "iqm_high"),
                MISSING if d["success"] is None
                else f"{rate(d['success'])} ({rate(d['baseline_success'])})",
                num(d["tokens"]) if d["tokens"] else "0",
                MISSING if d["cost_usd"] is None else f"{d['cost_usd']:.4f}",
                _wall(d["wall_per_run_s"])]
        rows.append(row)
    header = ["designer", "runs finished", "tasks beaten beyond noise", "by mean"]
    if held:
        header.append("beyond noise, held out")
    header += ["normalized mean [95% CI]", "normalized IQM [95% CI]",
               "success (hand-written)", "tokens", "cost $", "wall/run"]
    out = _table(header, rows)
    for d in table["by_designer"]:
        if d["normalized"].get("why"):
            out += ["", f"{d['designer']}: {d['normalized']['why']}."]
    return out


def _named(tasks: list[str], of: int | None = None) -> str:
    """``3 of 21 (a, b, c)``: how many, and which."""
    n = f"{len(tasks)}" + (f" of {of} tasks" if of is not None else "")
    return n + (f" ({', '.join(_short(t) for t in tasks)})" if tasks else "")


def _where(rows: list[dict[str, Any]], test: str, direction: str) -> list[str]:
    return [t["task"] for t in rows if (t.get(test) or {}).get("direction") == direction]


def verdicts_in_words(table: dict[str, Any]) -> list[tuple[str, str]]:
    """Per designer, ``(designer, sentence)``: the tasks it beats the hand-written reward on
    beyond noise and those it loses on (the pooled test), and the same without the seeds the
    bests were picked on where the table has that test. The Markdown, the page and the
    terminal all say it so."""
    out = []
    for designer in table["designers"]:
        rows = [t for t in table["by_task"] if t["designer"] == designer and t["judged"]]
        if not rows:
            continue
        line = (f"better than the hand-written reward beyond noise on "
                f"{_named(_where(rows, 'pooled', 'better'), len(rows))}, worse beyond noise on "
                f"{_named(_where(rows, 'pooled', 'worse'))}")
        if any(t.get("held_out") for t in rows):
            line += (f"; without the seeds the bests were picked on, better on "
                     f"{_named(_where(rows, 'held_out', 'better'))} and worse on "
                     f"{_named(_where(rows, 'held_out', 'worse'))}")
        out.append((designer, line + "."))
    return out


def summary(table: dict[str, Any]) -> list[str]:
    return [x for d, line in verdicts_in_words(table) for x in (f"**{d}**: {line}", "")]


def tasks_section(table: dict[str, Any]) -> list[str]:
    held = any(t.get("held_out") for t in table["by_task"])
    multi = len(table["designers"]) > 1
    rows = []
    for t in table["by_task"]:
        judged = t["judged"]
        norm = (spread(t["normalized"]) if t["normalized"]
                else ("undefined" if judged else MISSING))
        row = [_short(t["task"])] + ([t["designer"]] if multi else []) + [
            f"{t['finished']}/{t['runs']}" + (f" ({t['failed']} failed)" if t["failed"] else ""),
            spread(t["score"]), spread(t["baseline"]), norm, _test(t["pooled"])]
        if held:
            row.append(_test(t.get("held_out")))
        row += [rate(t["success"]), _wall(t["wall_per_run_s"])]
        rows.append(row)
    header = ["task"] + (["designer"] if multi else []) + [
        "runs", "the best (± sd over repeats)", "hand-written", "normalized",
        "best - hand-written, pooled seeds"]
    if held:
        header.append("held out (without the picking seeds)")
    header += ["success", "wall/run"]
    out = _table(header, rows)
    undefined = [t for t in table["by_task"] if t["judged"] and not t["normalized"]]
    for t in undefined:
        why = f": {t['normalized_why']}" if t.get("normalized_why") else ""
        out += ["", f"{_short(t['task'])}: normalized score undefined{why}."]
    return out


def runs_section(table: dict[str, Any]) -> list[str]:
    multi = len(table["designers"]) > 1
    rows = []
    ended = [r for r in table["runs"] if r["status"] in ("finished", "failed")]
    for r in ended:
        if r["status"] == "failed":
            result = [f"failed: {r.get('error') or 'see attempts.jsonl'}", "", "", "", ""]
        elif not r.get("verdict"):
            result = [r.get("note") or r["status"], "", "", "", ""]
        else:
            norm = num(r["normalized"]) if r.get("normalized") is not None else "undefined"
            result = [num(r["score"]), num(r["baseline"]), num(r["floor"]), norm,
                      _test({"difference": r["difference"], "p_better": r["p_better"],
                             "p_worse": r.get("p_worse"), "n": len(r.get("seeds") or []),
                             "direction": r.get("direction")})]
        rows.append([_short(r["task"])] + ([r["designer"]] if multi else []) +
                    [str(r["repeat"] + 1)] + result + [_wall(r.get("wall_s"))])
    header = ["task"] + (["designer"] if multi else []) + [
        "repeat", "the best", "hand-written", "untrained", "normalized",
        "best - hand-written", "wall"]
    waiting = len(table["runs"]) - len(ended)
    return _table(header, rows) + ([f"\n{waiting} run(s) not ended yet are not listed."]
                                   if waiting else [])


def to_markdown(table: dict[str, Any]) -> str:
    """The whole table: a heading, the designers, the tasks, the runs."""
    runs = table["runs"]
    done = sum(r["status"] in ("finished", "failed") for r in runs)
    lines = [f"## Benchmark {table['id']}: {len(table['tasks'])} task(s) x "
             f"{len(table['designers'])} designer(s) x {table['repeats']} repeat(s)", ""]
    if not table["complete"]:
        lines += [f"Unfinished: {done} of {len(runs)} runs ended; the figures cover those.", ""]
    lines += ["Each run's best against the hand-written reward on its closing seeds (paired by "
              "seed, exact sign-flip test, one-sided at 5%; p: that the best is better); normalized: (best - untrained) / "
              "|hand-written - untrained|.", ""]
    lines += summary(table)
    lines += ["### Designers", ""]
    lines += designers_section(table)
    lines += ["", "### Tasks (over repeats)", ""]
    lines += tasks_section(table)
    lines += ["", "### Runs", ""]
    lines += runs_section(table)
    return "\n".join(lines) + "\n"
