"""Everything a design run reports, as types, in one place.

The loop builds one of these for each thing that happens and hands it to ``DesignLoop.emit``:
an event whose ``LOGGED`` is true is appended to the run's ``events.jsonl`` as
``{"event": KIND, **event.data()}`` (the format readers of old runs know), and every event goes
to the observer (the live view), which dispatches on its type. Progress and job ends are for
the screen only; the log has the candidate's own records for those.

To add one: a frozen dataclass below with its ``KIND`` and fields, emitted by the loop, and (if
the screen shows it) a handler in :class:`rewardsmith.cli.design.LiveView`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    KIND: ClassVar[str] = ""
    LOGGED: ClassVar[bool] = True  # written to events.jsonl
    # fields left out of the JSON while they hold their default (older logs did not have them)
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    def data(self) -> dict[str, Any]:
        """The event's JSON (without ``event`` and ``t``, which the run adds)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in self.OPTIONAL and v == f.default:
                continue
            if f.name == "extra":  # a report carried whole: its keys at the top level
                out.update(v)
            else:
                out[f.name] = v
        return out


Observer = Callable[[Event], None]


# ------------------------------------------------------------------------------ the loop
@dataclass(frozen=True)
class LoopStarted(Event):
    KIND: ClassVar[str] = "loop_started"
    iterations: int
    samples: int
    steps: int


@dataclass(frozen=True)
class IterationStarted(Event):
    KIND: ClassVar[str] = "iteration_started"
    iteration: int


@dataclass(frozen=True)
class IterationReused(Event):
    """An iteration that finished before a resume: its summary is read, nothing runs."""

    KIND: ClassVar[str] = "iteration_reused"
    iteration: int


@dataclass(frozen=True)
class BudgetExhausted(Event):
    KIND: ClassVar[str] = "budget_exhausted"
    reason: str


@dataclass(frozen=True)
class LoopStopped(Event):
    """The loop stops before its last iteration (solved, or out of patience)."""

    KIND: ClassVar[str] = "loop_stopped"
    iteration: int
    reason: str


@dataclass(frozen=True)
class IterationFinished(Event):
    KIND: ClassVar[str] = "iteration_finished"
    iteration: int
    best: str | None
    best_score: float | None
    iteration_best: str | None
    iteration_best_score: float | None
    improved: bool
    ok: int
    rejected: int
    failed: int
    duplicate: int


@dataclass(frozen=True)
class RunFinished(Event):
    KIND: ClassVar[str] = "run_finished"
    extra: Mapping[str, Any]  # the run's summary (without its candidate counts)


# --------------------------------------------------------------------------- the designer
@dataclass(frozen=True)
class LlmRequest(Event):
    KIND: ClassVar[str] = "llm_request"
    iteration: int
    n: int
    llm: str


@dataclass(frozen=True)
class LlmCall(Event):
    KIND: ClassVar[str] = "llm_call"
    iteration: int
    cached: bool
    recovered: bool
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    seconds: float
    prompt_tokens_estimate: int
    responses: int
    total_cost_usd: float


@dataclass(frozen=True)
class JudgeCall(Event):
    """The vision-language judge answered (--feedback vlm); its tokens count with the LLM's."""

    KIND: ClassVar[str] = "judge_call"
    iteration: int
    cached: bool
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    total_cost_usd: float


# ----------------------------------------------------------------------------- candidates
@dataclass(frozen=True)
class CandidateValidating(Event):
    KIND: ClassVar[str] = "candidate_validating"
    id: str


@dataclass(frozen=True)
class CandidateValidated(Event):
    KIND: ClassVar[str] = "candidate_validated"
    id: str
    extra: Mapping[str, Any]  # the sandbox's report (accepted, stage, problems, feedback, timings)

    @property
    def accepted(self) -> bool:
        return bool(self.extra.get("accepted"))


@dataclass(frozen=True)
class AgreementAfterTraining(Event):
    """A candidate screened again once its iteration trained (on episodes holding its own)."""
    KIND: ClassVar[str] = "agreement_after_training"
    id: str
    tau: float | None
    episodes: int
    before: float | None


@dataclass(frozen=True)
class CandidateReused(Event):
    """A candidate finished before a resume."""

    KIND: ClassVar[str] = "candidate_reused"
    id: str
    status: str
    fitness: float | None


@dataclass(frozen=True)
class CandidateFinished(Event):
    KIND: ClassVar[str] = "candidate_finished"
    id: str
    status: str
    stage: str
    error: str | None
    fitness: float | None
    success_rate: float | None
    duplicate_of: str | None


@dataclass(frozen=True)
class CandidatePromoted(Event):
    """Successive halving: the candidate's slice was in the better half; it trains on."""

    KIND: ClassVar[str] = "candidate_promoted"
    id: str
    rung: int
    fitness: float
    steps: int


@dataclass(frozen=True)
class CandidateStopped(CandidatePromoted):
    """Successive halving: weaker than the others part way; it stops with its partial results."""

    KIND: ClassVar[str] = "candidate_stopped"


@dataclass(frozen=True)
class CandidateScored(Event):
    """A candidate's score over every seed it trained on."""

    KIND: ClassVar[str] = "candidate_scored"
    id: str
    score: float | None
    fitness_seeds: Mapping[str, float]


@dataclass(frozen=True)
class Reevaluating(Event):
    KIND: ClassVar[str] = "reevaluating"
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"early"})
    candidates: list[str]
    seeds: list[int]
    early: bool = False  # queued as the candidate's first seed ended, beside the iteration


@dataclass(frozen=True)
class ReevaluationFailed(Event):
    KIND: ClassVar[str] = "reevaluation_failed"
    id: str
    seed: int
    error: str | None


@dataclass(frozen=True)
class NewBest(Event):
    KIND: ClassVar[str] = "new_best"
    id: str
    score: float | None


@dataclass(frozen=True)
class Baseline(Event):
    """What the hand-written reward and the untrained policy scored (per seed, per episode)."""

    KIND: ClassVar[str] = "baseline"
    extra: Mapping[str, Any]

    @property
    def baseline_fitness(self) -> float | None:
        return (self.extra.get("baseline") or {}).get("fitness_mean")


# -------------------------------------------------------------------------------- jobs
@dataclass(frozen=True)
class TrainingStarted(Event):
    KIND: ClassVar[str] = "training_started"
    id: str  # the job's label
    job: str  # its folder


@dataclass(frozen=True)
class TrainingReused(TrainingStarted):
    """A job whose folder held DONE: its results are read, it does not train again."""

    KIND: ClassVar[str] = "training_reused"


@dataclass(frozen=True)
class Progress(Event):
    KIND: ClassVar[str] = "candidate_progress"
    LOGGED: ClassVar[bool] = False
    id: str
    done: int = 0
    total: int = 0
    fitness: float | None = None


@dataclass(frozen=True)
class JobFinished(Event):
    KIND: ClassVar[str] = "job_finished"
    LOGGED: ClassVar[bool] = False
    id: str
    ok: bool | None
    fitness: float | None = None
    error: str | None = None
    cancelled: bool = False


# ---------------------------------------------------------------------------- feedback
@dataclass(frozen=True)
class FeedbackWaiting(Event):
    KIND: ClassVar[str] = "feedback_waiting"
    iteration: int
    mode: str
    ui: str
    candidates: list[str]


@dataclass(frozen=True)
class FeedbackNotice(Event):
    KIND: ClassVar[str] = "feedback_notice"
    LOGGED: ClassVar[bool] = False
    message: str


@dataclass(frozen=True)
class HumanFeedback(Event):
    KIND: ClassVar[str] = "human_feedback"
    iteration: int
    best: str
    worst: str | None
    order: list[str]
    comment: str
    scores: Mapping[str, Any]
    source: str


# ------------------------------------------------------------------ the closing evaluation
@dataclass(frozen=True)
class ClosingStarted(Event):
    KIND: ClassVar[str] = "closing_started"
    candidate: str
    seeds: list[int]
    jobs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ClosingFinished(Event):
    KIND: ClassVar[str] = "closing_finished"
    candidate: str
    line: str
    warnings: list[str]
    failed_seeds: list[str]
    # the means over the closing seeds: the best's and the hand-written reward's, side by side
    score: float | None = None
    baseline: float | None = None
    seeds: int = 0
