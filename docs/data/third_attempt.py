"""The third attempt's figure over all 63 runs, from what remains of it: the table its folder's
report printed at 54 runs (``offline-all-lost/table.md``; the folder itself was lost with its
machine) and the ``table.json`` of the benchmarks that ran the 9 runs it lacked from the same
commit and seeds (``offline-all-r3-*``, with ``--seed 2000 --repeats 1``: repeat 3's base
seed). Prints Markdown for docs/BENCHMARK.md.

Per run everything is as the report printed it. Over runs, the normalized score's mean and IQM
and their intervals are computed as the benchmark's table computes them
(:func:`rewardsmith.benchmark.table._stratified`) from the printed normalized scores (3
significant digits). Per task, the pooled paired test needs every closing seed's score, which
the printout lacks for the first two repeats of the 9 tasks completed later: for those, the
mean difference over the 15 seeds (and over the 9 held out) is the seed-weighted mean of the
printed differences, and the exact sign-flip p-value is given only where it follows from the
printout (every difference of the first two repeats on one side, p = 1/1024 over 10 seeds, and
the third repeat's five on the same side: then only the all-same-sign assignment reaches the
observed sum, p = 2^-15); elsewhere it says so.

    python docs/data/third_attempt.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from rewardsmith.benchmark.table import _stratified
from rewardsmith.critic.verdict import fmt

HERE = Path(__file__).parent
ONE_SIDE_10 = 1 / 1024  # an exact sign-flip p over 10 seeds that only all-one-sign gives
ONE_SIDE_6 = 1 / 64


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _section(text: str, title: str) -> list[list[str]]:
    part = text.split(title, 1)[1].split("\n\n", 2)[1]
    return [_cells(x) for x in part.splitlines()[2:] if x.startswith("|")]


def _num(s: str) -> float | None:
    s = s.replace("*", "").strip()
    return None if s in ("undefined", "-", "") else float(s)


def _test(cell: str) -> dict:
    """'**+0.0522, p = 0.00098 (10 seeds): better beyond noise**' -> its parts."""
    c = cell.replace("*", "")
    m = re.match(r"([+-][\d.e+-]+), p(\(worse\))? = ([\d.e-]+) \((\d+) seeds\)(?:: (\w+))?", c)
    if not m:
        raise ValueError(f"cannot read {cell!r}")
    return {"difference": float(m.group(1)), "worse_side": bool(m.group(2)),
            "p": float(m.group(3)), "n": int(m.group(4)), "direction": m.group(5)}


def lost() -> tuple[list[dict], dict[str, dict]]:
    text = (HERE / "offline-all-lost" / "table.md").read_text()
    runs = []
    for c in _section(text, "#### Runs"):
        t = _test(c[6])
        runs.append({"task": c[0], "repeat": int(c[1]), "score": _num(c[2]),
                     "baseline": _num(c[3]), "floor": _num(c[4]), "normalized": _num(c[5]),
                     "difference": t["difference"], "direction": t["direction"], "wall": c[7]})
    tasks = {}
    for c in _section(text, "#### Tasks (over repeats)"):
        tasks[c[0]] = {"runs": c[1], "pooled": _test(c[5]), "held_out": _test(c[6]),
                       "pooled_cell": c[5], "held_out_cell": c[6]}
    return runs, tasks


def rest() -> list[dict]:
    """The runs of every ``offline-all-r3-*`` folder's table (repeat 3's base seed, 2000)."""
    out = []
    for r in [r for f in sorted(HERE.glob("offline-all-r3-*/table.json"))
              for r in json.loads(f.read_text())["runs"]]:
        if r["status"] != "finished" or not r.get("verdict"):
            continue
        d = np.asarray(r["reward_values"]) - np.asarray(r["baseline_values"])
        held = [x for s, x in zip(r["seeds"], d) if s not in set(r.get("selected_on") or [])]
        out.append({"task": r["task"].removesuffix("-v0"), "repeat": 3, "score": r["score"],
                    "baseline": r["baseline"], "floor": r["floor"],
                    "normalized": r["normalized"], "difference": float(d.mean()),
                    "direction": r["direction"] or None, "diffs": d.tolist(),
                    "held_diffs": held, "wall_s": r["wall_s"], "line": r["verdict"]})
    return out


def _seconds(wall: str) -> float:
    """'13 min' or '72 s' (the printout's rounding) in seconds."""
    n, unit = wall.replace("*", "").split()[:2]
    return float(n) * (60.0 if unit.startswith("min") else 1.0)


def _fmt(x: float) -> str:
    return f"{x:+.3g}"


def _combined(first: dict, diffs: list[float], ones: float) -> str:
    """The test over the first two repeats (printed) and the third's own differences."""
    n = first["n"] + len(diffs)
    mean = (first["difference"] * first["n"] + sum(diffs)) / n
    smallest = abs(first["p"] - ones) < 0.05 * ones  # printed to 2 digits; the next is 2x
    all_up = smallest and not first["worse_side"] and all(x > 0 for x in diffs)
    all_down = smallest and first["worse_side"] and all(x < 0 for x in diffs)
    if all_up:
        return f"**{_fmt(mean)}, p = {2.0 ** -n:.2g} ({n} seeds): better beyond noise**"
    if all_down:
        return f"**{_fmt(mean)}, p(worse) = {2.0 ** -n:.2g} ({n} seeds): worse beyond noise**"
    if not any(diffs):  # a zero difference flips to itself: the test is the first repeats'
        side = "p(worse)" if first["worse_side"] else "p"
        verdict = f": {first['direction']} beyond noise" if first["direction"] else ""
        cell = f"{_fmt(mean)}, {side} = {first['p']:.2g} ({n} seeds){verdict}"
        return f"**{cell}**" if verdict else cell
    return f"{_fmt(mean)} ({n} seeds; p not computable from what remains)"


def main() -> None:
    lost_runs, lost_tasks = lost()
    new = rest()
    done = {(r["task"], r["repeat"]) for r in lost_runs}
    new = [r for r in new if (r["task"], 3) not in done]  # the reproduction check aside
    runs = lost_runs + new
    order = list(lost_tasks)
    print(f"{len(runs)} runs ({len(lost_runs)} from the lost folder's printout, {len(new)} run "
          "again from the same commit and seeds).\n")
    by_task = [[r["normalized"] for r in runs if r["task"] == t and r["normalized"] is not None]
               for t in order]
    agg = _stratified(by_task)
    better = sum(r["direction"] == "better" for r in runs)
    worse = sum(r["direction"] == "worse" for r in runs)
    by_mean = sum(r["difference"] > 0 for r in runs)
    walls = [_seconds(r["wall"]) if "wall" in r else r["wall_s"] for r in runs]
    print(f"Wall time per run on 2 cores: {np.mean(walls) / 60:.1f} min on average (the printout's "
          f"times rounded to the minute), {min(walls) / 60:.1f} to {max(walls) / 60:.0f} min; "
          f"{sum(walls) / 3600:.1f} h in all.\n")
    print(f"Runs: better than the hand-written reward beyond noise on their own 5 seeds in "
          f"{better} of {len(runs)}, worse in {worse}, better by mean in {by_mean}. Normalized "
          f"score mean {agg['mean']:.3g} [{agg['low']:.3g}, {agg['high']:.3g}], IQM "
          f"{agg['iqm']:.3g} [{agg['iqm_low']:.3g}, {agg['iqm_high']:.3g}] over {agg['n']} runs "
          f"({len(runs) - agg['n']} undefined).\n")
    print("| task | the best (± sd over 3 repeats) | hand-written | normalized | "
          "best - hand-written, pooled seeds | held out (without the picking seeds) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for t in order:
        mine = [r for r in runs if r["task"] == t]
        third = next((r for r in new if r["task"] == t), None)
        lt = lost_tasks[t]
        if third is None:
            pooled, held = lt["pooled_cell"], lt["held_out_cell"]
        else:
            pooled = _combined(lt["pooled"], third["diffs"], ONE_SIDE_10)
            held = _combined(lt["held_out"], third["held_diffs"], ONE_SIDE_6)
        s = np.array([r["score"] for r in mine])
        b = np.array([r["baseline"] for r in mine])
        nz = [r["normalized"] for r in mine if r["normalized"] is not None]
        print(f"| {t} | {fmt(s.mean())} ± {fmt(s.std(ddof=1))} | {fmt(b.mean())} ± "
              f"{fmt(b.std(ddof=1))} | {fmt(np.mean(nz))} ± {fmt(np.std(nz, ddof=1))} | {pooled} "
              f"| {held} |")
    if new:
        print("\nThe runs that completed the third repeat:\n")
        print("| task | the best | hand-written | untrained | normalized | verdict | wall |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for r in new:
            n = "undefined" if r["normalized"] is None else f"{r['normalized']:.3g}"
            print(f"| {r['task']} | {fmt(r['score'])} | {fmt(r['baseline'])} | {fmt(r['floor'])} | {n} "
                  f"| {r['line']} | {r['wall_s'] / 60:.0f} min |")


if __name__ == "__main__":
    main()
