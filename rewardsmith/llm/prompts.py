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
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from rewardsmith.errors import RewardsmithError

if TYPE_CHECKING:
    from rewardsmith.tasks.task import Task

# The template each builder renders. The run manifest records these (see templates_used()).
TEMPLATES: dict[str, str] = {
    "system": "system_v1",
    "initial": "initial_v4",
    "reflection": "reflection_v3",
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


def initial_messages(task: Task, backend: str = "sb3", steps: int | None = None, *,
                     show_fitness: bool = True, compact: bool = False,
                     typical_for: Collection[str] = (),
                     eval_episodes: int | None = None, reference: str = "") -> list[dict]:
    """The first request for a task: the coding rules, then the task's description and schema,
    how candidates are scored (the task score and the success test in words, unless
    ``show_fitness`` is False), and how its rewards are trained (``backend`` with ``steps`` env
    steps; default: the task's budget) and what the policy sees. ``compact``: the state table
    as name, shape and unit only (the requests after the first, which carry feedback), with
    the typical values of the fields in ``typical_for``. ``eval_episodes``: how many
    evaluation episodes score a policy (default: the task's budget's). ``reference``: the
    hand-written reward's scores for scale, said after how candidates are scored."""
    from rewardsmith.train import budget_for

    episodes = eval_episodes or budget_for(task, backend).eval_episodes
    return [system_message(),
            {"role": "user", "content": render(TEMPLATES["initial"],
                                               context=task.llm_context(compact=compact,
                                                                        typical_for=typical_for),
                                               scoring=scoring_text(task, show_fitness, episodes)
                                               + (f"\n{reference}" if reference else ""),
                                               training=training_context(task, backend, steps),
                                               advice=design_advice(task, show_fitness),
                                               ).strip()}]


def design_advice(task: Task, show_fitness: bool = True) -> str:
    """What to write, for this task: reward the behaviour directly, with the shaping that helps.
    A robot that can fall (a floating base, or an env that ends episodes early) is told to keep
    it up; one that cannot (an arm on a fixed base whose episodes always run to the limit) is
    told it needs no such term. Where the task score is sparse (:attr:`Fitness.sparse`, and
    shown), the trade-off is said: a dense term that leads towards it can help, but a policy can
    settle for near (the score's own reward beat every shaped one on reacher-hard at 200k
    steps: 409 against 152 for a strong designer's best, over 5 seeds)."""
    from rewardsmith.tasks.context import NEVER_ENDS

    ctx = task.robot_context
    can_fall = ctx is None or ctx.floating or bool(ctx.bounds or ctx.episode_lengths) or (
        bool(ctx.known_termination) and ctx.known_termination != NEVER_ENDS)
    shaping = ("staying healthy or upright where the robot can fall, a small penalty on effort"
               if can_fall else "a small penalty on effort; this robot's base cannot fall over "
               "and no episode ends early, so no bonus for staying alive is needed")
    lines = ["Write a reward function for this task. Reward the behaviour the task describes "
             f"directly, and add only the shaping terms that help a policy find it ({shaping}). "
             "Think about the scale of each term: the terms that express the task should "
             "dominate."]
    fit = task.fitness
    if show_fitness and fit is not None and fit.sparse:
        lines.append("This task's score is sparse: a policy earns none of it until it first "
                     "gets there. A dense term that grows on the way can lead it there sooner; "
                     "keep that term's peak inside the region the score pays for, and the "
                     "score's own condition worth more than being near it, so that near is "
                     "never good enough.")
    return " ".join(lines)


# the later requests repeat the state table in full where that costs at most this many
# characters (about 1k tokens) more than its compact form: a hopper's or an arm's table is
# kept whole (designers missed the typical values of fields no reward had read yet), an
# ant's or a pusher's (10k characters more) is not
FULL_TABLE_EXTRA_CHARS = 4000


def compact_pays(task: Task) -> bool:
    """Whether the requests after the first send the compact state table: only where the full
    one is more than :data:`FULL_TABLE_EXTRA_CHARS` longer."""
    return len(task.llm_context()) - len(task.llm_context(compact=True)) > FULL_TABLE_EXTRA_CHARS


def scoring_text(task: Task, show: bool = True, episodes: int | None = None) -> str:
    """How each trained policy is scored, in words: on how many evaluation ``episodes`` (where
    given), the task's ``Fitness.doc`` and its success test; with ``show`` False (``design
    --hide-fitness``) only that a hidden score ranks them."""
    fit = task.fitness
    if fit is None:
        return ("How candidates are compared: this task has no task score of its own; the "
                "candidates are ranked by the simulator's own return or by a person.")
    if not show:
        return ("How candidates are compared: each trained policy gets a task score (higher is "
                "better) whose definition is not shown here: reward the behaviour the task "
                "describes.")
    fields = task.score_fields
    reads = (f", computed from the field{'s' if len(fields) > 1 else ''} {', '.join(fields)}"
             if fields else "")
    on = (f"{episodes} episode{'s' if episodes != 1 else ''} of its deterministic actions (the "
          "mean action, without exploration noise)" if episodes else "a few episodes")
    lines = [f"How candidates are compared: each trained policy is evaluated on {on}; "
             f"its task score (higher is better) is the mean over them of: {fit.doc}{reads}."]
    if fit.success is not None and fit.success_doc:
        lines.append(f"The success test of an evaluation episode: {fit.success_doc}; the "
                     "success rate is the share of evaluation episodes that pass it.")
    lines.append("The score is computed from the recorded episodes, not from your reward. It "
                 "also depends on the training seed: at these short budgets one reward can score "
                 "far apart on two seeds, so judge a change by a clear gap, not a small one.")
    return " ".join(lines)


def reflection_message(best_id: str, best_source: str, reflection: str, iteration: str,
                       history: str = "") -> str:
    """Feedback on the best program so far (its code, once, and what the critic saw), on
    every candidate of the last iteration and, in a line each, on those of every earlier
    iteration (``history``), with how to act on it."""
    return render(TEMPLATES["reflection"], best_id=best_id, best_source=best_source.strip(),
                  reflection=reflection.strip(), iteration=iteration.strip(),
                  history=history_block(history)).strip()


def history_block(history: str) -> str:
    """The earlier iterations' paragraph of a feedback message ("" when there were none)."""
    if not history.strip():
        return ""
    return ("\n\nEarlier iterations (each candidate: [its components], then its task score):\n"
            + history.strip())


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


def training_context(task: Task, backend: str = "sb3", steps: int | None = None) -> str:
    """What the prompt says about training and observation: how fields are read (with an
    example from this robot), the episode's length, the trainer's budget, discount and
    normalization (from the backend's ``training_summary`` where it has one), and which
    positions the policy cannot see."""
    from rewardsmith.train import budget_for
    from rewardsmith.train import load as load_backend

    spec = task.spec
    example = next((n for n, f in spec.fields.items() if n.endswith("_pos") and f.shape == (3,)),
                   next(iter(spec.fields)))
    f = spec.fields[example]
    read = (f"next_state.{example}[:, 2]" if f.shape == (3,) else f"next_state.{example}")
    lines = [f"Fields are read as attributes, each with the batch axis first: `{read}` is "
             + (f"the height (z) of the {example[:-4]} after the step, shape (B,)."
                if f.shape == (3,) else f"{example} after the step.")]
    facts = _episode_facts(task)
    if facts:
        lines.append(facts)
    steps = steps or budget_for(task, backend).steps
    module = load_backend(backend)
    if hasattr(module, "training_summary"):
        lines.append(module.training_summary(task, steps))
    else:
        lines.append(f"The {backend} backend trains each reward for {int(steps):,} env steps.")
    return "\n".join(lines)


def _episode_facts(task: Task) -> str:
    """The episode's time limit, and the positions left out of the policy's observation
    (gymnasium's MuJoCo envs drop the root's x (and y) position by default)."""
    try:
        env = task.make_env()
    except RewardsmithError:
        return ""
    try:
        out = []
        limit = task.max_episode_steps or (env.spec.max_episode_steps if env.spec else None)
        if limit:
            out.append(f"An episode lasts at most {limit} steps ({limit * task.spec.dt:g} s).")
        u = env.unwrapped
        out.append(_termination(task, u))
        out = [x for x in out if x]
        if getattr(u, "_exclude_current_positions_from_observation", False):
            import mujoco

            free = u.model.njnt > 0 and u.model.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE
            what = "x and y position" if free else "x position"  # a 3D robot: both
            out.append(f"The policy observes the joint angles and velocities but not the robot's "
                       f"{what}: a reward on distance from the start is invisible to it, so reward "
                       "velocity or progress per step instead.")
        return " ".join(out)
    except Exception:  # noqa: BLE001 - an unusual env: the prompt goes without these facts
        return ""
    finally:
        env.close()


def _termination(task: Task, u) -> str:
    """When the env ends an episode early: its own rule where gymnasium's env is known (see
    :func:`rewardsmith.tasks.context.termination`), else what random-action episodes showed."""
    from rewardsmith.tasks.context import termination

    robot = task.robot_context
    return robot.termination() if robot else termination(u)
