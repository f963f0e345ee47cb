"""Prompt templates and the messages the loop sends.

Templates live in ``prompts/<name>_v<N>.md`` (the packaged copy in ``rewardsmith/_data/prompts``)
and use ``$var`` placeholders (``string.Template``; ``$$`` is a literal dollar). A template is
never edited once a run used it: a change is a new version, and :data:`TEMPLATES` pins the
versions the message builders use, so a resumed run renders the same text.
"""

from __future__ import annotations

import hashlib
import re
import string
from pathlib import Path
from typing import TYPE_CHECKING

from rewardsmith.errors import RewardsmithError

if TYPE_CHECKING:
    from rewardsmith.tasks.task import Task

# The template each builder renders. The run manifest records these (see templates_used()).
TEMPLATES: dict[str, str] = {
    "system": "system_v1",
    "initial": "initial_v1",
    "reflection": "reflection_v2",
    "error": "error_v1",
    "human": "human_v1",
}
TEMPLATES_USED: list[str] = list(TEMPLATES.values())

_VERSIONED = re.compile(r"^(?P<base>[a-z0-9_]+?)_v(?P<version>\d+)$")


class PromptError(RewardsmithError):
    pass


def template_dirs() -> list[Path]:
    here = Path(__file__).resolve().parent.parent  # rewardsmith/
    return [d for d in (here.parent / "prompts", here / "_data" / "prompts") if d.is_dir()]


def _available() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in template_dirs():
        for p in sorted(d.glob("*.md")):
            found.setdefault(p.stem, p)
    return found


def template_path(name: str) -> Path:
    """The file of template ``name``: ``"reflection_v1"``, or ``"reflection"`` for its latest version."""
    name = name.removesuffix(".md")
    found = _available()
    if name in found:
        return found[name]
    versions = [(int(m["version"]), stem) for stem in found
                if (m := _VERSIONED.match(stem)) and m["base"] == name]
    if versions:
        return found[max(versions)[1]]
    from rewardsmith.registry import unknown_name_message

    raise PromptError(unknown_name_message("prompt template", name, list(found)),
                      f"templates are looked up in {', '.join(map(str, template_dirs())) or 'prompts/'}")


def placeholders(text: str) -> set[str]:
    """The ``$var`` names a template uses."""
    out = set()
    for m in string.Template.pattern.finditer(text):
        name = m.group("named") or m.group("braced")
        if name:
            out.add(name)
    return out


def render(name: str, **vars: object) -> str:
    """Render template ``name`` with ``vars``; every placeholder must be given."""
    text = template_path(name).read_text()
    missing = sorted(placeholders(text) - set(vars))
    if missing:
        raise PromptError(f"prompt template {name!r} needs {', '.join(missing)}; "
                          f"got {', '.join(sorted(vars)) or 'nothing'}")
    try:
        return string.Template(text).substitute({k: str(v) for k, v in vars.items()})
    except ValueError as e:  # a stray `$` in the template
        raise PromptError(f"prompt template {name!r} is malformed: {e}",
                          "write a literal dollar sign as $$") from None


def templates_used() -> list[str]:
    """Names of the templates the message builders render (for the run manifest)."""
    return list(TEMPLATES.values())


def template_fingerprints() -> dict[str, str]:
    """name -> sha256 prefix of the template text, to record exactly what a run sent."""
    return {n: hashlib.sha256(template_path(n).read_bytes()).hexdigest()[:16] for n in templates_used()}


# --------------------------------------------------------------------------- builders
def system_message() -> dict:
    return {"role": "system", "content": render(TEMPLATES["system"]).strip()}


def initial_messages(task: Task) -> list[dict]:
    """The first request for a task: the coding rules, then the task's description and schema."""
    return [system_message(),
            {"role": "user", "content": render(TEMPLATES["initial"], context=task.llm_context()).strip()}]


def reflection_message(best_id: str, best_source: str, reflection: str, iteration: str) -> str:
    """Feedback on the best program so far (its code, once, and what the critic saw) and on
    every candidate of the last iteration, with how to act on it."""
    return render(TEMPLATES["reflection"], best_id=best_id, best_source=best_source.strip(),
                  reflection=reflection.strip(), iteration=iteration.strip()).strip()


def error_message(source: str, error: str) -> str:
    """A candidate was rejected or crashed: show it and the error, ask for a fix."""
    return render(TEMPLATES["error"], source=source.strip(), error=error.strip()).strip()


def human_message(preferred_source: str, rejected_source: str, comment: str) -> str:
    """A person preferred one behaviour over another and said why."""
    return render(TEMPLATES["human"], preferred_source=preferred_source.strip(),
                  rejected_source=rejected_source.strip(),
                  comment=(comment or "(no comment)").strip()).strip()


def feedback_messages(task: Task, feedback: str) -> list[dict]:
    """The initial conversation followed by one feedback message (reflection, error or human)."""
    return [*initial_messages(task), {"role": "user", "content": feedback}]


def render_messages(messages: list[dict]) -> str:
    """Messages as readable Markdown (the manual backend's prompt file, logs)."""
    parts = []
    for m in messages:
        role = str(m.get("role", "user")).capitalize()
        content = m.get("content", "")
        if isinstance(content, list):  # content parts
            content = "\n".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
        parts.append(f"## {role}\n\n{str(content).strip()}\n")
    return "\n".join(parts)
