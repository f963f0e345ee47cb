"""A scripted design run whose prompts are kept: ``run_prompts(task_id, ...)`` runs the loop with a
scripted LLM and an executor that records real evaluation episodes (see fakes.EpisodeExecutor) and
returns every request it sent. Run as a script, it prints each request's size:

    python tests/prompt_run.py [TASK] [ITERATIONS] [SAMPLES] [EPISODES] [STEPS]

(EPISODES evaluation episodes a candidate, of at most STEPS steps; default 2 and 200.)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

# each answer's components, so that candidates differ in their idea and not only in a weight
IDEAS = [("forward", "alive"), ("speed", "upright", "effort"), ("progress", "height"),
         ("velocity", "posture", "smooth"), ("forward", "stability"), ("drive", "balance")]


def scripted_answer(w: float, names: tuple[str, ...]) -> str:
    """An answer whose program's fake fitness is ``w`` and whose components are ``names``."""
    terms = "\n".join(f"    {n} = {0.1 * (i + 1)} * keep" for i, n in enumerate(names))
    comps = ", ".join(f'"{n}": {n}' for n in names)
    total = " + ".join(names)
    return ("I reward the task directly.\n\n```python\n"
            "def compute_reward(state, action, next_state):\n"
            f"    W = {w}\n"
            "    keep = W + 0.0 * np.sum(action, axis=-1)\n"
            f"{terms}\n"
            f"    return {total}, {{{comps}}}\n```\n")


def run_prompts(task_id: str, root: Path, iterations: int = 3, samples: int = 4,
                episodes: int = 2, steps: int = 200, **config) -> tuple[list[list[dict]], Path]:
    from fakes import EpisodeExecutor, ScriptedLLM

    from rewardsmith import tasks
    from rewardsmith.loop.design import DesignConfig, DesignLoop
    from rewardsmith.runs.rundir import RunDir

    task = tasks.load(task_id)
    script = [[scripted_answer(1.0 + it + 0.5 * k - (0.8 * k if k % 2 else 0.0),
                               IDEAS[(it * samples + k) % len(IDEAS)])
               for k in range(samples)] for it in range(iterations)]
    cfg = DesignConfig(**{"iterations": iterations, "samples": samples, "steps": 1000, "seeds": 1,
                          "workers": 1, "final_seeds": 0, "compare_baseline": False, **config})
    run = RunDir.create(root / "run", {"task": task.id, "config": cfg.__dict__, "llm": "scripted"})
    llm = ScriptedLLM(script)
    DesignLoop(task, run, cfg, llm, executor=EpisodeExecutor(task, episodes, steps)).run_loop()
    return llm.requests, run.path


def sizes(requests: list[list[dict]]) -> list[dict]:
    """Each request's size: characters, and tokens (tiktoken's o200k_base where installed, else
    characters / 4)."""
    try:
        import tiktoken

        enc = tiktoken.get_encoding("o200k_base")
        count, how = (lambda s: len(enc.encode(s))), "tiktoken o200k_base"
    except Exception:  # noqa: BLE001 - not installed, or its encoding cannot be downloaded here
        count, how = (lambda s: len(s) // 4), "chars/4"
    out = []
    for msgs in requests:
        text = "\n".join(str(m["content"]) for m in msgs)
        out.append({"chars": len(text), "tokens": count(text), "counted_by": how,
                    "last_message_chars": len(str(msgs[-1]["content"]))})
    return out


if __name__ == "__main__":
    import os
    import tempfile

    args = sys.argv[1:]
    task_id = args[0] if args else "ant-forward-v0"
    its, n = (int(args[1]), int(args[2])) if len(args) > 2 else (3, 4)
    eps, steps = (int(args[3]), int(args[4])) if len(args) > 4 else (2, 200)
    with tempfile.TemporaryDirectory() as d:
        os.environ["REWARDSMITH_CACHE"] = str(Path(d) / "cache")
        requests, run = run_prompts(task_id, Path(d), its, n, eps, steps)
        for i, s in enumerate(sizes(requests)):
            print(f"request {i}: {s['chars']} chars, {s['tokens']} tokens ({s['counted_by']}); "
                  f"its last message {s['last_message_chars']} chars")
        if os.environ.get("PROMPT_DUMP"):
            out = Path(os.environ["PROMPT_DUMP"])
            out.mkdir(parents=True, exist_ok=True)
            from rewardsmith.llm.prompts import render_messages

            for i, msgs in enumerate(requests):
                (out / f"request-{i}.md").write_text(render_messages(msgs))
