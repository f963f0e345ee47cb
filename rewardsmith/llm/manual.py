"""The ``manual`` backend: prompts go to files, answers come from files.

For people who paste prompts into a chat window. Each request gets a folder
``<run_dir>/llm/manual/<request-key>/`` holding ``prompt.md``; the backend waits for
``answer.md`` (n = 1) or ``answer_1.md`` ... ``answer_n.md``. Answers already there are used
at once, so a resumed run does not ask again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rewardsmith.llm.base import Completion, DesignContext, LLMError, Usage, request_key
from rewardsmith.llm.prompts import render_messages
from rewardsmith.runs.files import atomic_write_text


class ManualLLM:
    name = "manual"
    uses_context = False
    prices_known = False  # answers pasted from a chat window: no usage, no prices

    def __init__(self, run_dir: str | Path, *, timeout: float | None = None, poll_s: float = 1.0,
                 console: Any = None):
        self.root = Path(run_dir) / "llm" / "manual"
        self.timeout = timeout  # None: wait until the answers come (Ctrl-C stops the run)
        self.poll_s = poll_s
        self._console = console

    @property
    def console(self):
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True)
        return self._console

    @staticmethod
    def answer_names(n: int) -> list[str]:
        return ["answer.md"] if n == 1 else [f"answer_{i}.md" for i in range(1, n + 1)]

    def request_dir(self, messages: list[dict], n: int, temperature: float,
                    iteration: int | None = None) -> Path:
        """One folder per request and design iteration: answers written for one iteration never
        answer a later one that happens to send the same text."""
        return self.root / request_key(self.name, messages, n, temperature,
                                       iteration=iteration)[:16]

    def complete(self, messages: list[dict], n: int, temperature: float,
                 context: DesignContext | None = None) -> Completion:
        folder = self.request_dir(messages, n, temperature,
                                  context.iteration if context is not None else None)
        names = self.answer_names(n)
        prompt = folder / "prompt.md"
        if not prompt.exists():
            atomic_write_text(prompt, self._prompt_text(messages, n, names))
        texts = self._ready(folder, names)
        if texts is None:
            self._instructions(folder, prompt, names)
            texts = self._wait(folder, names)
        return Completion(texts=texts, usage=Usage(0, 0, 0.0), model="manual")

    # ------------------------------------------------------------------------ files
    def _candidates(self, folder: Path, name: str) -> list[Path]:
        if name == "answer.md":  # n = 1 also accepts answer_1.md
            return [folder / "answer.md", folder / "answer_1.md"]
        return [folder / name]

    def _read(self, folder: Path, name: str) -> tuple[str, tuple[int, int]] | None:
        for p in self._candidates(folder, name):
            try:
                st = p.stat()
                text = p.read_text()
            except (FileNotFoundError, UnicodeDecodeError):
                continue
            if text.strip():
                return text, (st.st_size, st.st_mtime_ns)
        return None

    def _ready(self, folder: Path, names: list[str]) -> list[str] | None:
        """All answers if every file is already there (a resumed run), else None."""
        texts = []
        for name in names:
            got = self._read(folder, name)
            if got is None:
                return None
            texts.append(got[0])
        return texts

    def _wait(self, folder: Path, names: list[str]) -> list[str]:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        last: dict[str, tuple[int, int]] = {}
        while True:
            texts, signature, complete = [], {}, True
            for name in names:
                got = self._read(folder, name)
                if got is None:
                    complete = False
                    break
                texts.append(got[0])
                signature[name] = got[1]
            if complete and signature == last:
                return texts
            last = signature if complete else {}
            if deadline is not None and time.monotonic() >= deadline:
                have = [n for n in names if self._read(folder, n) is not None]
                want = [n for n in names if n not in have]
                raise LLMError(
                    f"no answer in {folder} after {self.timeout:g} s (missing: {', '.join(want)})",
                    "paste each answer into its file, then run again with --resume",
                )
            time.sleep(self.poll_s)

    # --------------------------------------------------------------------- on screen
    def _prompt_text(self, messages: list[dict], n: int, names: list[str]) -> str:
        many = (f"Ask for {n} different answers (for example, {n} separate chats or "
                "'regenerate'), and save each one to its own file.") if n > 1 else ""
        return (
            "# rewardsmith: prompt for the manual LLM backend\n\n"
            "Paste everything below the line into a chat with an LLM (the system part first, or "
            "all of it as one message). Save the whole answer, code block included, as "
            f"{' / '.join(names) if n <= 3 else f'{names[0]} ... {names[-1]}'} next to this file. "
            f"{many}\n\n---\n\n" + render_messages(messages)
        )

    def _instructions(self, folder: Path, prompt: Path, names: list[str]) -> None:
        from rich.panel import Panel

        files = ", ".join(names) if len(names) <= 4 else f"{names[0]} ... {names[-1]}"
        self.console.print(Panel.fit(
            f"[bold]Manual LLM[/bold]: a prompt is waiting for you.\n"
            f"1. Open  [cyan]{prompt}[/cyan]\n"
            f"2. Paste it into your chat window and get {len(names)} answer(s).\n"
            f"3. Save each answer in [cyan]{folder}[/cyan] as [green]{files}[/green].\n"
            "The run continues by itself once every file is there "
            "(Ctrl-C stops it; --resume picks up again).",
            title="rewardsmith", border_style="yellow"))


def factory(model: str | None = None, *, run_dir: str | Path | None = None, base_url: Any = None,
            api_key: Any = None, **settings: Any) -> ManualLLM:
    if run_dir is None:
        raise LLMError("the manual LLM backend needs a run directory to write prompts to",
                       "pass run_dir= (the design command does this)")
    return ManualLLM(run_dir, **settings)
