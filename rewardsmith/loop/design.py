"""The design loop: prompt, sample, validate, train in parallel, select, reflect, repeat.

Every step leaves its trace in the run directory before the next one starts, so a run killed at
any moment resumes where it stopped: finished candidates are not trained again (their DONE
markers), and LLM answers come from the run's own response cache.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Set
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rewardsmith.contracts import Episode, JobSpec, TrainResult, episode_files
from rewardsmith.critic.reflect import silent_terms
from rewardsmith.critic.screening import Screening
from rewardsmith.errors import RewardsmithError
from rewardsmith.executors import Cancel, Executor, Job, LocalExecutor, Outcome
from rewardsmith.loop import events as E
from rewardsmith.loop.evaluate import reference_jobs, reference_record
from rewardsmith.loop.events import Observer
from rewardsmith.loop.schedule import Cohort
from rewardsmith.reward.program import fingerprint
from rewardsmith.runs.files import atomic_write_json, atomic_write_text, read_json
from rewardsmith.runs.records import Candidate
from rewardsmith.runs.rundir import RunDir
from rewardsmith.tasks.task import Task
from rewardsmith.train import budget_for

if TYPE_CHECKING:
    from rewardsmith.critic.reflect import Seeds


@dataclass(frozen=True)
class DesignConfig:
    """Everything that shapes a design run (recorded in the manifest; strict: no unknown keys)."""

    iterations: int = 3
    samples: int = 4
    steps: int | None = None  # env steps per candidate (default: the task's budget)
    seeds: int = 2  # seeds the top candidates are evaluated on before one is called best
    top_k: int = 1  # candidates per iteration re-evaluated on the extra seeds
    workers: int = 2
    temperature: float = 1.0
    max_cost: float | None = None  # USD
    llm: str | None = None  # "openai:MODEL", "offline", "manual"; None: automatic
    backend: str = "sb3"
    seed: int = 0
    compare_baseline: bool = True
    eval_episodes: int | None = None
    feedback: str = "none"  # none | human | oracle | vlm
    feedback_ui: str = "web"  # web | cli
    feedback_noise: float = 0.0  # oracle noise, in units of the group's fitness spread
    oracle_fitness: str | None = None  # expression the oracle ranks by (tasks without a fitness)
    show_scores: bool = False  # human feedback: show task scores while ranking (default: blind)
    vlm: str | None = None  # --feedback vlm: the judge ("openai:MODEL", "manual"; None: the LLM)
    feedback_weight: float = 0.5  # --feedback vlm: the judge's weight against the task score
    # full: every candidate trains its whole budget | halving: weak candidates stop early (faster,
    # but its early decisions stopped the eventual best in several measured runs: see README)
    schedule: str = "full"
    patience: int | None = None  # stop after this many iterations without a better best
    # challengers: once there is a best, only the top_k that beat it on their first seed get the
    # extra seeds, each as soon as its first seed ends | top-k: the top_k of every iteration,
    # after the whole iteration (more seeds on more candidates, slower)
    reevaluate: str = "challengers"
    executor: str = "local"  # where jobs run: local | ray (a resumed run keeps it)
    # the closing evaluation: the best and the hand-written reward trained on this many fresh
    # seeds (after the design's: none the selection saw), the untrained policy on their
    # episodes; 0: none
    final_seeds: int = 5
    # screening: candidates whose return ranks the run's recorded episodes against their task
    # scores (Kendall tau below this) are not trained; None: every candidate trains
    screen: float | None = None
    # screening also on the evaluation episodes of earlier runs of the same task in the same
    # runs folder (their trained candidates' episodes)
    screen_history: bool = False
    # the prompts say what the task score and the success test measure (Fitness.doc and the
    # success doc) unless this is set (for experiments where the designer must not know them)
    hide_fitness: bool = False

    def __post_init__(self) -> None:
        for name in ("iterations", "samples", "seeds", "top_k", "workers"):
            if getattr(self, name) < 1:
                raise RewardsmithError(f"design setting {name} must be at least 1, not "
                                       f"{getattr(self, name)}")
        if self.screen is not None and not -1.0 <= self.screen <= 1.0:
            raise RewardsmithError(f"--screen {self.screen} is not a Kendall tau",
                                   "use a value between -1 and 1, e.g. --screen 0.2")
        if self.final_seeds < 0:
            raise RewardsmithError(f"final_seeds must be 0 (no closing evaluation) or more, not "
                                   f"{self.final_seeds}")
        from rewardsmith.loop.schedule import SCHEDULES

        if not 0.0 <= self.feedback_weight <= 1.0:
            raise RewardsmithError(f"--feedback-weight {self.feedback_weight} is not between 0 and 1",
                                   "1: the judge's ranking alone, 0: the task score alone")
        for name, allowed in (("feedback", ("none", "human", "oracle", "vlm")),
                              ("feedback_ui", ("web", "cli")), ("schedule", SCHEDULES),
                              ("reevaluate", ("challengers", "top-k"))):
            if getattr(self, name) not in allowed:
                raise RewardsmithError(f"unknown --{name.replace('_', '-')} "
                                       f"{getattr(self, name)!r}", f"use {' or '.join(allowed)}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DesignConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise RewardsmithError(f"unknown design settings: {', '.join(sorted(unknown))}",
                                   f"known: {', '.join(sorted(known))}")
        # runs from before successive halving and challenger re-evaluation keep their ways
        # and those from before closing evaluations end as they did
        d = {"schedule": "full", "reevaluate": "top-k", "final_seeds": 0, **d}
        return cls(**d)


def create_run(path: Path, task: Task, config: DesignConfig, llm_name: str) -> RunDir:
    """A new design run's folder: its manifest records the task (so it loads again anywhere),
    the settings, the designer and the prompt templates used."""
    from rewardsmith import tasks as tasks_mod
    from rewardsmith.llm import prompts

    return RunDir.create(path, {
        "task": task.id, "task_origin": tasks_mod.recorded_origin(task), "config": asdict(config),
        "llm": llm_name, "prompt_templates": prompts.templates_used(),
    })


NOT_A_NUMBER = ("its task score is not a finite number (NaN or inf): the simulation or the "
                "score broke down on its evaluation episodes")


def _broken(fitness: float | None) -> bool:
    """A task score that is there but not a finite number."""
    return fitness is not None and not math.isfinite(fitness)


def closing_seeds(cfg: DesignConfig) -> list[int]:
    """The closing evaluation's seeds: ``final_seeds`` of them after the design's ``seeds``
    (``seed`` onwards), so that no seed the selection saw is among them."""
    return [cfg.seed + cfg.seeds + i for i in range(cfg.final_seeds)]


class DesignLoop:
    def __init__(self, task: Task, run: RunDir, config: DesignConfig, llm,
                 observer: Observer | None = None, executor: Executor | None = None,
                 judge=None):
        self.task = task
        self.run = run
        self.config = config
        self.llm = llm
        self.executor = executor or LocalExecutor(config.workers)
        self.observer: Observer = observer or (lambda event: None)
        budget = budget_for(task, config.backend)
        self.steps = config.steps or budget.steps
        self.eval_episodes = config.eval_episodes or budget.eval_episodes
        self.cost = 0.0
        self.tokens = {"prompt": 0, "completion": 0}
        self.best: Candidate | None = None
        self.baseline: dict[str, Any] | None = None
        self.judge = judge  # --feedback vlm (made from the config when first needed if None)
        self._restore_usage()

    # ------------------------------------------------------------------ helpers
    def emit(self, event: E.Event) -> None:
        """Log ``event`` in the run (unless it is for the screen only) and show it."""
        if event.LOGGED:
            self.run.event(event.KIND, **event.data())
        self.observer(event)

    def _restore_usage(self) -> None:
        for ev in self.run.events():
            if ev.get("event") in ("llm_call", "judge_call") and not ev.get("cached"):
                self.cost += ev.get("cost_usd") or 0.0
                self.tokens["prompt"] += ev.get("prompt_tokens", 0)
                self.tokens["completion"] += ev.get("completion_tokens", 0)

    def _halving(self):
        """This iteration's successive halving, or None (``--schedule full``, or a backend that
        cannot continue a saved slice)."""
        from rewardsmith.loop.schedule import Halving
        from rewardsmith.train import needs

        if self.config.schedule != "halving":
            return None
        if not needs(self.config.backend).resumable:
            return None
        return Halving(self.steps)

    def _slice_job(self, cand_dir: Path, c: Candidate, halving, rung: int) -> Job:
        """Slice ``rung`` of candidate ``c``'s first seed: the last one in ``seed-<s>`` (where a
        full-budget job would be), earlier ones in ``seed-<s>/rung-<r>``, each continuing the
        one before from its saved policy."""
        seed_dir = cand_dir / f"seed-{self.config.seed}"
        sl = halving.slice(rung)
        job = self._seed_job(cand_dir, c.source, self.config.seed, c.id).with_spec(
            steps=sl.steps, rung=rung, planned_steps=self.steps,
            resume_from=str(seed_dir / f"rung-{rung - 1}" / "train") if rung > 0 else None,
            continuable=not sl.last)  # its worker may train the next slice, in memory
        return job if sl.last else job.moved(seed_dir / f"rung-{rung}")

    def _decide(self, halving, rung: int, results: dict[str, tuple[Candidate, Job, Outcome]]
                ) -> set[str]:
        """Who of a rung's cohort continues (the best half of those whose slice trained). Each
        decision is kept with the slice, so a resumed run makes the same ones."""
        fitness = {cid: o.result.fitness for cid, (_, _, o) in results.items()  # type: ignore[union-attr]
                   if o.ok and o.result.fitness is not None}  # type: ignore[union-attr]
        keep = halving.survivors(fitness) if fitness else set()
        steps = halving.slice(rung).steps
        for cid in sorted(fitness, key=lambda k: (-fitness[k], k)):
            _, job, _ = results[cid]
            path = job.dir / "decision.json"
            if path.exists():  # decided before a resume: the same, whatever the rule now
                if read_json(path).get("continue"):
                    keep.add(cid)
                else:
                    keep.discard(cid)
            else:
                atomic_write_json(path, {"continue": cid in keep, "fitness": fitness[cid],
                                         "rung": rung, "steps": steps,
                                         "cohort": len(results)})
            kind = E.CandidatePromoted if cid in keep else E.CandidateStopped
            self.emit(kind(id=cid, rung=rung, fitness=fitness[cid], steps=steps))
        return keep

    def _speculative_job(self, cand_dir: Path, c: Candidate, halving) -> Job | None:
        """The finalist's second seed, its first part, to train beside its last slice (on a
        worker that would otherwise wait, or behind it); the re-evaluation continues it if ``c``
        is best."""
        cfg = self.config
        if cfg.seeds < 2 or cfg.top_k < 1 or cfg.feedback != "none":
            return None
        seed = cfg.seed + 1
        job = self._seed_job(cand_dir, c.source, seed, f"{c.id} seed {seed}")
        return job.with_spec(steps=halving.speculative_steps, planned_steps=self.steps,
                             continuable=True).moved(_head_dir(job.dir))

    def _may_be_best(self, fitness: float | None) -> bool:
        """Whether a candidate with this first-seed fitness is re-evaluated: it beats the best's
        mean, or the best's own score on that same first seed. The seed sets the initial
        weights, the exploration and the start states of both, so the same-seed look is a
        paired one, which a mean lifted by one lucky seed would hide (cheetah-run-backward:
        150 on seed 0 against the best's 137.5 there, but its mean 151 over seeds 0 and 1)."""
        if fitness is None:
            return False
        if self.best is None or fitness > self.best.score:
            return True
        same = (self.best.fitness_seeds or {}).get(str(self.config.seed))
        return same is not None and fitness > same

    def _seed_job(self, cand_dir: Path, source: str, seed: int, label: str) -> Job:
        spec = JobSpec.build(self.task, _program(source, label), self.steps, self.eval_episodes, seed,
                        self.config.backend, label=label)
        return Job(cand_dir / f"seed-{seed}", spec, label=label)

    # ------------------------------------------------------------------ the loop
    def run_loop(self) -> dict[str, Any]:
        """Run (or resume) the loop to its end; the run's folder is this loop's alone meanwhile
        (another process on it is an error that names it)."""
        from rewardsmith.runs.lock import exclusive

        with exclusive(self.run.path, "run", resume=f"rewardsmith design --resume {self.run.path}"):
            return self._run_loop()

    def _run_loop(self) -> dict[str, Any]:
        cfg = self.config
        self.emit(E.LoopStarted(iterations=cfg.iterations, samples=cfg.samples, steps=self.steps))
        feedback: str | None = None
        stopped = None
        stale = 0  # iterations since the best last improved
        for it in range(cfg.iterations):
            s = self.run.iteration(it)
            if s is not None:  # finished before a resume
                self.best = Candidate.from_json(s["best"]) if s.get("best") else self.best
                self.baseline = s.get("baseline") or self.baseline
                feedback = s.get("feedback")
                stale = 0 if s.get("improved", True) else stale + 1
                self.emit(E.IterationReused(iteration=it))
            else:
                if cfg.max_cost is not None and self.cost >= cfg.max_cost:
                    stopped = f"the cost limit of ${cfg.max_cost:.2f} was reached (spent ${self.cost:.4f})"
                    self.emit(E.BudgetExhausted(reason=stopped))
                    break
                if self.baseline is None and cfg.compare_baseline:
                    # the hand-written reward and the untrained policy first: their episodes
                    # are what the first candidates are screened on
                    ref = self._baseline_jobs()
                    self._record_baseline(ref, self._train([j for js in ref.values() for j in js]))
                feedback, improved = self._iteration(it, feedback)
                stale = 0 if improved else stale + 1
            if it == cfg.iterations - 1:
                break
            stopped = self._nothing_left_to_gain(stale)
            if stopped:
                self.emit(E.LoopStopped(iteration=it, reason=stopped))
                break
        return self._finish(stopped)

    def _nothing_left_to_gain(self, stale: int) -> str | None:
        """Why the loop can stop before its last iteration, or None: the task is solved, or
        ``patience`` iterations passed without a better best."""
        cfg, best = self.config, self.best
        if best is not None and self.task.fitness is not None and best.fitness_seeds:
            top = self.task.fitness.maximum
            if top is not None and best.score is not None and best.score >= top - 1e-9:
                return (f"solved: {best.id} reached the task's maximum fitness ({top:g}) on "
                        f"{len(best.fitness_seeds)} seed(s)")
            seeds = best.success_seeds
            if (seeds and not self.task.fitness.open_ended
                    and len(seeds) >= len(best.fitness_seeds)
                    and all(v >= 1.0 for v in seeds.values())):
                return (f"solved: {best.id} succeeded on every evaluation episode of its "
                        f"{len(seeds)} seed(s)")
        if cfg.patience is not None and stale >= cfg.patience:
            return f"no better reward in the last {stale} iteration(s) (--patience {cfg.patience})"
        return None

    def _iteration(self, it: int, feedback: str | None) -> tuple[str | None, bool]:
        """One iteration; returns the feedback for the next and whether the best improved."""
        cfg = self.config
        self.emit(E.IterationStarted(iteration=it))
        # a program already tried in this run (same seed and budget) is not trained again, and
        # the designer is told which those are
        seen = self._programs_seen(before=it)
        texts = self._ask(it, feedback, tried=sorted(seen))
        training = IterationTraining(self, it, texts, seen)
        outcomes = training.run()
        candidates, early = training.candidates, training.early
        halving = training.halving

        ok = sorted([c for c in candidates if c.status == "ok"], key=lambda c: c.fitness, reverse=True)
        human, shown = None, {}
        if cfg.feedback != "none" and ok:
            # a person (or the oracle) ranks the behaviours; their pick is the best
            human, shown = self._human_feedback(it, ok)
            iter_best = shown[human.pick]
            improved = self.best is None or iter_best.id != self.best.id
            if self.task.fitness is not None and improved:
                self._reevaluate([iter_best])
            self.best = iter_best
            if improved:
                self._write_best()
        else:
            # selection: re-evaluate the top candidates on extra seeds before calling one best;
            # once there is a best, only those that beat it on their first seed. Those whose
            # extra seeds trained beside the rest of the iteration are scored with them. Which
            # candidates may become best depends on their first seeds' scores alone, never on
            # the order their jobs ended in: a candidate re-evaluated early that is not among
            # them stays out (its extra seeds bought time only), so the same results pick the
            # same best with any number of workers.
            top = ok[: cfg.top_k]
            if halving is not None or cfg.reevaluate == "challengers":
                top = [c for c in top if self._may_be_best(c.fitness)]
            eligible = {c.id for c in top}
            trained = {cid: [(j, outcomes[j]) for j in js if j in outcomes]
                       for cid, js in early.items() if cid in eligible}
            self._reevaluate(top, trained)
            iter_best = max(top, key=lambda c: c.score) if top else None
            improved = False
            if iter_best is not None and (self.best is None or iter_best.score > self.best.score):
                self.best = iter_best
                improved = True
                self._write_best()
        self.emit(E.IterationFinished(
            iteration=it, best=self.best.id if self.best else None,
            best_score=self.best.score if self.best else None,
            iteration_best=iter_best.id if iter_best else None,
            iteration_best_score=iter_best.score if iter_best else None, improved=improved,
            ok=len(ok), rejected=sum(c.status == "rejected" for c in candidates),
            failed=sum(c.status == "failed" for c in candidates),
            duplicate=sum(c.status == "duplicate" for c in candidates)))
        self._screen_after(it, candidates)
        next_feedback = self._feedback(it, candidates, improved, human, shown)
        self.run.write_iteration(it, {
            "iteration": it, "candidates": [c.id for c in candidates],
            "best": self.best.to_json() if self.best else None,
            "baseline": self.baseline, "feedback": next_feedback,
            "human": human.to_json() if human else None, "improved": improved,
        })
        return next_feedback, improved

    def _prepare(self, it: int, k: int, text: str, seen: dict[str, Candidate],
                 duplicates: list[tuple[Candidate, Candidate]],
                 screening: Screening | None = None) -> Candidate:
        """Answer ``k`` as a candidate: reused from before a resume, rejected (its code could
        not be extracted or failed the checks), a duplicate of a program already tried, or
        ready to train (status ``training``)."""
        from rewardsmith.llm.extract import extract_code

        cid = f"{it}-{k}"
        d = self.run.candidate_dir(it, k)
        c = self.run.candidate_record(it, k)
        if c is not None:
            if c.source and c.status != "duplicate":
                seen.setdefault(fingerprint(c.source), c)
            self.emit(E.CandidateReused(id=cid, status=c.status, fitness=c.fitness))
            return c
        d.mkdir(parents=True, exist_ok=True)
        atomic_write_text(d / "response.md", text)
        try:
            source = extract_code(text)
        except RewardsmithError as e:
            c = Candidate(cid, it, k, "rejected", stage="extract", error=str(e))
            self._finish_candidate(c)
            return c
        atomic_write_text(d / "reward.py", source)
        fp = fingerprint(source)
        if fp in seen:
            c = Candidate(cid, it, k, "duplicate", source=source, duplicate_of=seen[fp].id)
            duplicates.append((c, seen[fp]))
            return c
        self.emit(E.CandidateValidating(id=cid))
        report = self._validate(source, d, screening)
        self.emit(E.CandidateValidated(id=d.name, extra=report))
        agree = report.get("agreement")
        tau = (agree or {}).get("tau")
        if not report["accepted"]:
            c = Candidate(cid, it, k, "rejected", source=source, stage=report["stage"],
                          error=report["feedback"])
            self._finish_candidate(c)
        elif self.config.screen is not None and tau is not None and tau < self.config.screen:
            c = Candidate(cid, it, k, "screened", source=source, stage="screen", screening=agree,
                          error=(f"not trained: its return ranks {agree['episodes']} recorded "
                                 f"episodes with Kendall tau {tau:+.2f} against their task "
                                 f"scores, below --screen {self.config.screen:g}"))
            self._finish_candidate(c)
        else:
            c = Candidate(cid, it, k, "training", source=source, stage="train", screening=agree,
                          silent=silent_terms(report.get("zero_steps")))
        seen[fp] = c
        return c

    def _human_feedback(self, it: int, ok: list[Candidate]):
        from rewardsmith.feedback import collect
        from rewardsmith.tasks.task import expression_fitness

        cfg = self.config
        shown = list(ok)
        if self.best is not None and self.best.id not in {c.id for c in ok}:
            shown.append(self.best)  # lets the person say that nothing new is better
        cands = [{"id": c.id, "source": c.source,
                  "fitness": c.score if self.task.fitness is not None else None,
                  "folder": self.run.candidate_dir(c.iteration, c.k),
                  **({"label": "previous best"} if c is self.best else {})} for c in shown]
        oracle = expression_fitness(cfg.oracle_fitness) if cfg.oracle_fitness else None
        self.emit(E.FeedbackWaiting(iteration=it, mode=cfg.feedback, ui=cfg.feedback_ui,
                                    candidates=sorted(c.id for c in shown)))
        fb = collect(cfg.feedback, cfg.feedback_ui, self.run.path, it, self.task, cands,
                     oracle_fitness=oracle, noise=cfg.feedback_noise, seed=cfg.seed,
                     notify=lambda m: self.emit(E.FeedbackNotice(message=m)),
                     show_scores=cfg.show_scores, weight=cfg.feedback_weight,
                     **({"judge": self._judge(), "on_reply": lambda r: self._judge_reply(it, r)}
                        if cfg.feedback == "vlm" else {}))
        self.emit(E.HumanFeedback(iteration=it, best=fb.best, worst=fb.worst, order=fb.order,
                                  comment=fb.comment, scores=fb.scores, source=fb.source))
        return fb, {c.id: c for c in shown}

    def _judge(self):
        """The vision-language judge: the one given, else made from ``--vlm`` (else the LLM)."""
        if self.judge is None:
            from rewardsmith.feedback.vlm import make_judge

            self.judge = make_judge(self.config.vlm or self.config.llm, run_dir=self.run.path)
        return self.judge

    def _judge_reply(self, it: int, reply) -> None:
        """A judge's answer: its tokens and cost count with the LLM's."""
        if not reply.cached:
            self.cost += reply.usage.cost_usd or 0.0
            self.tokens["prompt"] += reply.usage.prompt_tokens
            self.tokens["completion"] += reply.usage.completion_tokens
        self.emit(E.JudgeCall(iteration=it, cached=reply.cached, model=reply.model,
                              prompt_tokens=reply.usage.prompt_tokens,
                              completion_tokens=reply.usage.completion_tokens,
                              cost_usd=reply.usage.cost_usd, total_cost_usd=self.cost))

    # ------------------------------------------------------------------ stages
    def _ask(self, it: int, feedback: str | None, tried: list[str]) -> list[str]:
        from rewardsmith.llm import prompts
        from rewardsmith.llm.base import DesignContext

        # the full state table in the first request; with feedback, its compact form (where
        # that saves much), with the typical values of the fields the rewards in the feedback read
        messages = prompts.initial_messages(self.task, self.config.backend, self.steps,
                                            show_fitness=not self.config.hide_fitness,
                                            compact=feedback is not None
                                            and prompts.compact_pays(self.task),
                                            typical_for=self._fields_read_so_far(it)
                                            if feedback is not None else (),
                                            eval_episodes=self.eval_episodes,
                                            reference=self._first_reference(feedback))
        if feedback is not None:  # it carries the best program's code (once) and what was tried
            messages = messages + [{"role": "user", "content": feedback}]
        context = DesignContext.from_task(self.task, iteration=it)
        context.best = self._feedback_record(self.best) if self.best else None
        context.others = self._others_for_context(it)
        context.tried = tried
        self.emit(E.LlmRequest(iteration=it, n=self.config.samples, llm=self.llm.name))
        t0 = time.perf_counter()
        completion = self.llm.complete(messages, n=self.config.samples,
                                       temperature=self.config.temperature, context=context)
        usage = completion.usage
        recovered = False
        paid = completion.paid
        if (completion.cached and paid is not None and (paid.cost_usd or paid.total_tokens)
                and not self._paid_for(it)):
            # answered and paid for by this run, but the process died before logging the call
            usage, recovered = paid, True
        if not completion.cached or recovered:
            self.cost += usage.cost_usd or 0.0
            self.tokens["prompt"] += usage.prompt_tokens
            self.tokens["completion"] += usage.completion_tokens
        self.run.write_llm_request(it, {
            "messages": messages, "n": self.config.samples, "temperature": self.config.temperature,
            "llm": self.llm.name, "model": completion.model, "responses": completion.texts,
            "usage": asdict(usage), "cached": completion.cached,
            "prompt_tokens_estimate": estimate_tokens(messages),
        })
        self.emit(E.LlmCall(iteration=it, cached=completion.cached and not recovered,
                  recovered=recovered, model=completion.model,
                  prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                  cost_usd=usage.cost_usd, seconds=time.perf_counter() - t0,
                  prompt_tokens_estimate=estimate_tokens(messages),
                  responses=len(completion.texts), total_cost_usd=self.cost))
        if not completion.texts:
            raise RewardsmithError(f"the LLM {self.llm.name} returned no answers")
        return completion.texts[: self.config.samples]

    def _paid_for(self, it: int) -> bool:
        """Whether this run logged a paid (not cached) LLM call for iteration ``it``."""
        return any(ev.get("event") == "llm_call" and ev.get("iteration") == it
                   and not ev.get("cached") for ev in self.run.events())

    def _programs_seen(self, before: int) -> dict[str, Candidate]:
        """fingerprint -> the first finished candidate with that program, of the iterations
        before ``before`` (what a resumed iteration saw when it started)."""
        seen: dict[str, Candidate] = {}
        for c in self.run.candidate_records():
            if c.iteration < before and c.source and c.status != "duplicate":
                seen.setdefault(fingerprint(c.source), c)
        return seen

    def _first_reference(self, feedback: str | None) -> str:
        """The hand-written reward's scores on the design seeds, for scale in the first request
        (trained before it; the feedback says them from then on). Designers asked what scores
        to expect; none with --hide-fitness, where the score itself is not said."""
        if feedback is not None or self.config.hide_fitness or not self.baseline:
            return ""
        from rewardsmith.critic.reflect import reference_text

        return reference_text(self.baseline)

    def _fields_read_so_far(self, it: int) -> set[str]:
        """The state fields the best's code and the last iteration's candidates' read."""
        from rewardsmith.reward.program import fields_read

        sources = [self.best.source] if self.best is not None and self.best.source else []
        for k in range(self.config.samples if it > 0 else 0):
            c = self.run.candidate_record(it - 1, k)
            if c is not None and c.source:
                sources.append(c.source)
        out: set[str] = set()
        for src in sources:
            out |= fields_read(src, self.task.spec.fields) or set()
        return out

    def _others_for_context(self, it: int) -> list:
        if it == 0:
            return []
        out = []
        for k in range(self.config.samples):
            c = self.run.candidate_record(it - 1, k)
            if c is not None:
                out.append(self._feedback_record(c))
        return out

    def _feedback_record(self, c: Candidate):
        from rewardsmith.llm.base import CandidateFeedback

        curve = (c.train or {}).get("curve", [])
        names = sorted({k for p in curve for k in p.get("components", {})})
        # its score over the design's seeds only: the closing evaluation adds seeds to the best's
        # record afterwards, and a resumed run must send the designer what it sent the first time
        design = [v for s, v in c.fitness_seeds.items()
                  if int(s) < self.config.seed + self.config.seeds]
        fitness = sum(design) / len(design) if design else c.score
        return CandidateFeedback(
            source=c.source, fitness=fitness, success_rate=c.success_rate,
            components={n: [p["components"].get(n, 0.0) for p in curve] for n in names},
            episode_lengths=[p["episode_length"] for p in curve],
            fitness_curve=[p.get("fitness") for p in curve], error=c.error,
        )

    def _validate(self, source: str, d: Path, screening: Screening | None = None,
                  name: str = "validation.json") -> dict[str, Any]:
        """Check ``source`` in the sandbox (and screen it on ``screening``'s episodes); the
        report is kept in ``d / name``."""
        from rewardsmith.reward.program import RewardProgram
        from rewardsmith.sandbox.dryrun import check_program
        from rewardsmith.train import needs

        report = check_program(RewardProgram(source, origin=d.name), self.task, workdir=d,
                               jax=needs(self.config.backend).jax,
                               episodes=screening.path if screening else None,
                               discount=screening.discount if screening else 0.99)
        data = {**report.to_json(), "feedback": report.feedback()}
        if screening is not None and report.screening is not None:
            from rewardsmith.critic.screening import agreement

            data["agreement"] = agreement(report.screening, screening.scores, screening.groups)
        atomic_write_json(d / name, data)
        return data

    def _screen_after(self, it: int, candidates: list[Candidate]) -> None:
        """Each of iteration ``it``'s candidates that passed its checks, screened again on the
        episodes the next iteration is screened on, which now hold this iteration's trained
        candidates' own: its agreement after training, for the feedback and the record."""
        todo = [c for c in candidates if c.status in ("ok", "stopped", "screened")
                and c.source and c.screening_after is None]
        if not todo:
            return
        s = self._screening_set(it + 1)
        if s is None or not {c.id for c in candidates} & set(s.groups):
            return  # nothing of this iteration's was recorded: "after" would be "before" again
        for c in todo:
            d = self.run.candidate_dir(it, c.k)
            data = self._validate(c.source, d, s, name="screening-after.json")
            agree = data.get("agreement")
            if agree is None:
                continue
            c.screening_after = agree
            self.run.write_candidate(c)
            self.emit(E.AgreementAfterTraining(
                id=c.id, tau=agree.get("tau"), episodes=agree.get("episodes", 0),
                before=(c.screening or {}).get("tau")))

    def _discount(self) -> float:
        """The discount the run's learner uses: recorded returns are discounted with it."""
        if not hasattr(self, "_gamma"):
            from rewardsmith.train import discount_for

            self._gamma = discount_for(self.task, self.config.backend)
        return self._gamma

    def _train(self, jobs: Iterable[Job],
               finished: Callable[[Job, Outcome], list[Job] | None] | None = None
               ) -> dict[Job, Outcome]:

        def on_event(job: Job, ev: dict) -> list[Job] | None:
            kind = ev.get("type")
            more = None
            if kind in ("finished", "reused") and finished is not None and "outcome" in ev:
                more = finished(job, ev["outcome"])
            if kind == "cancelled":
                self.emit(E.JobFinished(id=job.label, ok=False, cancelled=True,
                                        error="not needed: its candidate is not the best"))
            elif kind == "finished":
                self.emit(E.JobFinished(id=job.label, ok=ev.get("ok"), fitness=ev.get("fitness"),
                                        error=ev.get("error")))
            elif kind == "progress":
                self.emit(E.Progress(id=job.label, done=ev.get("done", 0),
                                     total=ev.get("total", 0), fitness=ev.get("fitness")))
            elif kind in ("started", "reused"):
                started = E.TrainingStarted if kind == "started" else E.TrainingReused
                self.emit(started(id=job.label, job=str(job.dir)))
            return more

        outcomes = self.executor.run(jobs, on_event=on_event)
        return {o.job: o for o in outcomes}

    def _record_outcome(self, c: Candidate, o: Outcome) -> None:
        if o.ok and _broken(o.result.fitness):  # type: ignore[union-attr]
            # a NaN would rank anywhere (every comparison with it is false) and, once best,
            # could never be beaten
            c.status, c.stage, c.train = "failed", "train", o.result.to_json()  # type: ignore[union-attr]
            c.error = NOT_A_NUMBER
            return
        if o.ok:
            r: TrainResult = o.result  # type: ignore[assignment]
            c.status, c.fitness, c.success_rate = "ok", r.fitness, r.success_rate
            c.fitness_seeds = {str(r.seed): r.fitness}
            c.success_seeds = {str(r.seed): r.success_rate} if r.success_rate is not None else {}
            c.train = r.to_json()
            c.signals = self._signals(c.train, o.job.dir / "train")
        else:
            c.status, c.error, c.stage = "failed", o.error, "train"

    def _signals(self, train: dict[str, Any], folder: Path) -> dict[str, Any]:
        from rewardsmith.critic.hacking import signals

        try:
            eps = [Episode.load(p, self.task.spec) for p in episode_files(folder)]
        except (OSError, ValueError, KeyError):
            eps = []
        fits = train.get("eval_fitness") or []
        if len(eps) != len(fits):
            return signals(train)
        return signals(train, [float(e.rewards.sum()) for e in eps], fits)

    def _finish_candidate(self, c: Candidate) -> None:
        self.run.write_candidate(c)
        self.emit(E.CandidateFinished(id=c.id, status=c.status, stage=c.stage, error=c.error,
                                      fitness=c.fitness, success_rate=c.success_rate,
                                      duplicate_of=c.duplicate_of))

    def _early_seeds(self, c: Candidate, candidates: list[Candidate],
                     early: dict[str, list[Job]]) -> list[Job]:
        """``c``'s extra seeds, to train in the iteration's own batch (so the workers stay busy
        instead of waiting for the whole iteration before re-evaluating), when ``c`` has just
        finished its first seed, beats the best on it and is among the iteration's top so far.
        At most ``top_k`` candidates an iteration; none before there is a best to beat."""
        cfg = self.config
        if (cfg.feedback != "none" or cfg.seeds < 2 or cfg.reevaluate != "challengers"
                or self.best is None or c.status != "ok"
                or len(early) >= cfg.top_k or not self._may_be_best(c.fitness)):
            return []
        ahead = sum(1 for x in candidates if x is not c and x.status == "ok"
                    and x.fitness is not None and x.fitness > c.fitness)  # type: ignore[operator]
        if ahead >= cfg.top_k:
            return []
        early[c.id] = self._extra_seed_jobs(c)
        self.emit(E.Reevaluating(candidates=[c.id], seeds=[j.spec.seed for j in early[c.id]],
                                 early=True))
        return list(early[c.id])

    def _extra_seed_jobs(self, c: Candidate, skip: Set[tuple[str, int]] = frozenset()) -> list[Job]:
        """``c``'s jobs on the extra seeds it has no score for (and not in ``skip``: candidate
        id and seed)."""
        cfg = self.config
        return self._seed_jobs(c, range(cfg.seed + 1, cfg.seed + cfg.seeds), skip)

    def _seed_jobs(self, c: Candidate, seeds: Iterable[int],
                   skip: Set[tuple[str, int]] = frozenset()) -> list[Job]:
        """``c``'s jobs on those of ``seeds`` it has no score for. A seed whose first part
        trained beside the candidate's last slice (its head, under halving) goes on from there."""
        d = self.run.candidate_dir(c.iteration, c.k)
        jobs = []
        for s in seeds:
            if str(s) in c.fitness_seeds or (c.id, s) in skip:
                continue
            job = self._seed_job(d, c.source, s, f"{c.id} seed {s}")
            head = _head_dir(job.dir)
            if (head / "DONE").exists() and (head / "train" / "result.json").exists():
                job = job.with_spec(resume_from=str(head / "train"), planned_steps=self.steps)
            jobs.append(job)
        return jobs

    def _reevaluate(self, top: list[Candidate],
                    trained: dict[str, list[tuple[Job, Outcome]]] | None = None) -> None:
        """Score ``top`` on every seed: the extra seeds already ``trained`` (candidate id ->
        jobs and outcomes) are recorded, the missing ones trained now."""
        cfg = self.config
        by_id = {c.id: c for c in top}
        tried: set[tuple[str, int]] = set()  # a seed that failed is not trained twice
        for cid, done in (trained or {}).items():
            for job, o in done:
                self._record_seed(by_id[cid], job, o)
                tried.add((cid, int(job.spec.seed)))
        extra_seeds = [cfg.seed + s for s in range(1, cfg.seeds)]
        jobs = [(c, job) for c in top for job in self._extra_seed_jobs(c, tried)]
        if jobs:
            self.emit(E.Reevaluating(candidates=sorted({c.id for c, _ in jobs}), seeds=extra_seeds))
            outcomes = self._train([j for _, j in jobs])
            for c, job in jobs:
                self._record_seed(c, job, outcomes[job])
        for c in top:  # the candidate's record now carries every seed
            self.run.write_candidate(c)
            self.emit(E.CandidateScored(id=c.id, score=c.score, fitness_seeds=c.fitness_seeds))

    def _record_seed(self, c: Candidate, job: Job, o: Outcome) -> None:
        """An extra seed's result into ``c``'s record."""
        if o.ok and _broken(o.result.fitness):  # type: ignore[union-attr]
            self.emit(E.ReevaluationFailed(id=c.id, seed=job.spec.seed, error=NOT_A_NUMBER))
        elif o.ok:
            c.fitness_seeds[str(job.spec.seed)] = o.result.fitness  # type: ignore[union-attr]
            if o.result.success_rate is not None:  # type: ignore[union-attr]
                c.success_seeds[str(job.spec.seed)] = o.result.success_rate  # type: ignore[union-attr]
        else:
            self.emit(E.ReevaluationFailed(id=c.id, seed=job.spec.seed, error=o.error))

    def _baseline_jobs(self, seeds: list[int] | None = None) -> dict[str, list[Job]]:
        """The hand-written reward's and the untrained policy's jobs on ``seeds`` (default: the
        loop's own, from its base seed)."""
        cfg = self.config
        if seeds is None:
            seeds = [cfg.seed + s for s in range(cfg.seeds)]
        return reference_jobs(self.task, seeds, steps=self.steps,
                              eval_episodes=self.eval_episodes, backend=cfg.backend)

    def _record_baseline(self, extra: dict[str, list[Job]], outcomes: dict[Job, Outcome]) -> None:
        self.baseline = reference_record(extra, outcomes)
        self.emit(E.Baseline(extra=self.baseline))

    def _screening_set(self, it: int) -> Screening | None:
        """The recorded episodes iteration ``it``'s candidates are screened on: the hand-written
        reward's and the untrained policy's (the loop's seeds), then every trained candidate's of
        the earlier iterations (its first seed), the most recent first, then (``screen_history``)
        those of earlier runs of the task in the same folder; the first MAX_EPISODES are kept;
        None with too few."""
        from rewardsmith.critic.screening import MAX_EPISODES, MIN_EPISODES
        from rewardsmith.sandbox.dryrun import write_episodes

        sources: list[tuple[str, Path, list[float]]] = []  # (group, train folder, scores)
        if self.config.compare_baseline:
            for kind, js in self._baseline_jobs().items():
                for j in js:
                    if (j.dir / "DONE").exists() and (j.dir / "train" / "result.json").exists():
                        r = read_json(j.dir / "train" / "result.json")
                        sources.append(("hand-written" if kind == "baseline" else "untrained",
                                        j.dir / "train", list(r.get("eval_fitness") or [])))
        sources += self.run.trained_episodes(before=it)
        if self.config.screen_history:  # then earlier runs of the task's, the most recent first
            for run in self.run.earlier_runs(self.task.id):
                sources += [(f"{run.path.name}/{cid}", folder, fits)
                            for cid, folder, fits in run.trained_episodes()]
        episodes, scores, groups = [], [], []
        for group, folder, fits in sources:
            files = episode_files(folder)
            if len(files) != len(fits):
                continue
            for f, score in zip(files, fits):
                if len(episodes) >= MAX_EPISODES:
                    break
                try:
                    episodes.append(Episode.load(f, self.task.spec))
                except (OSError, ValueError, KeyError):
                    continue
                scores.append(float(score))
                groups.append(group)
        if len(episodes) < MIN_EPISODES:
            return None
        path = write_episodes(self.run.path / "screening" / f"iteration-{it}.npz", episodes)
        gamma = self._discount()
        atomic_write_json(path.with_suffix(".json"), {"scores": scores, "groups": groups,
                                                      "discount": gamma})
        return Screening(path, scores, groups, gamma)

    def _episodes(self, c: Candidate) -> list[Episode]:
        return [Episode.load(p, self.task.spec) for p in episode_files(self.run.train_folder(c))]

    def _feedback(self, it: int, candidates: list[Candidate], improved: bool, human=None,
                  shown: dict[str, Candidate] | None = None) -> str | None:
        from rewardsmith.critic.reflect import (
            iteration_account,
            reference_text,
            reflect,
            score_legend,
        )
        from rewardsmith.llm import prompts

        if human is not None:
            from rewardsmith.feedback import feedback_text

            # everything the person ranked (the previous best too, which they may call worst)
            by_id = dict(shown or {})
            if self.best is not None:
                by_id.setdefault(self.best.id, self.best)
            prev = self._previous_best_source()
            text = feedback_text(human, by_id, previous_best_source=prev)
            if self.best is not None and self.best.train:
                result = TrainResult.from_json(self.best.train)
                # the oracle's fitness is hidden: the LLM learns only from the preferences
                text += "\n\nWhat the preferred policy did:\n" + reflect(
                    self.task, result, self.best.source, self._episodes(self.best),
                    show_score=self.config.feedback != "oracle",
                    show_fitness=not self.config.hide_fitness)
            return text

        cfg = self.config
        which = (f"each iteration's top {cfg.top_k} there"
                 if cfg.reevaluate == "top-k" and cfg.schedule == "full" else
                 f"the first iteration's top {cfg.top_k} there, and later up to {cfg.top_k} that "
                 "beat the best there (its mean, or its score on that same seed),")
        selection = (f"each trains on one seed first; {which} train on all {cfg.seeds} seeds; "
                     f"the best has the highest mean over all {cfg.seeds}" if cfg.seeds > 1 else
                     "the best is the one with the highest task score")
        # the reflection on the best, which comes first, says what the scores measure; with no
        # best yet, the account says it
        account = iteration_account(
            self.task, it, candidates, self.best, improved,
            episodes={c.id: self._episodes(c) for c in candidates if c.status == "ok"},
            selection=selection,
            legend=score_legend(self.task, not cfg.hide_fitness) if self.best is None else "",
            # with --screen the agreement decides what trains: every candidate's is told
            all_agreement=cfg.screen is not None)
        if self.best is None:
            failures = [c for c in candidates if c.status in ("rejected", "failed")]
            if not failures:
                return None
            c = failures[0]
            return (prompts.error_message(c.source or "(no code could be extracted)",
                                          c.error or "unknown error") + "\n\n" + account
                    + prompts.history_block(self._history(it)))
        result = TrainResult.from_json(self.best.train or {})
        text = reflect(self.task, result, self.best.source, self._episodes(self.best),
                       show_fitness=not cfg.hide_fitness, seeds=self._seeds(self.best, result),
                       reference=reference_text(self.baseline))
        return prompts.reflection_message(self.best.id, self.best.source, text, account,
                                          history=self._history(it))

    def _seeds(self, c: Candidate, result: TrainResult) -> Seeds | None:
        """``c``'s scores on its training seeds, the detailed one (``result``'s) first, and the
        other seeds' evaluation episodes (for :func:`~rewardsmith.critic.reflect.reflect`)."""
        from rewardsmith.critic.reflect import Seeds

        if len(c.fitness_seeds) < 2:
            return None
        first = str(result.seed)
        scores = {first: c.fitness_seeds[first]} if first in c.fitness_seeds else {}
        scores.update({s: v for s, v in c.fitness_seeds.items() if s != first})
        episodes, fits = {}, {}
        for s in scores:
            if s == first:
                continue
            folder = self.run.seed_folder(c, s)
            episodes[s] = [Episode.load(p, self.task.spec) for p in episode_files(folder)]
            fits[s] = [self.task.fitness(e) for e in episodes[s]] if self.task.fitness else []
        return Seeds(scores, episodes, fits)

    def _history(self, it: int) -> str:
        """Every candidate of the iterations before ``it``, a line each (see critic.digest)."""
        from rewardsmith.critic.digest import history

        return history([c for c in self.run.candidate_records() if c.iteration < it],
                       best_id=self.best.id if self.best else None)

    def _previous_best_source(self) -> str | None:
        """The best candidate's code as it was before the latest iteration (for 'what changed')."""
        its = self.run.iterations()
        if not its:
            return None
        prev = its[-1].get("best")
        return prev.get("source") if prev else None

    def _closing_evaluation(self, best: Candidate) -> dict[str, Any]:
        """The best and the hand-written reward trained on the same ``final_seeds`` fresh seeds,
        the untrained policy evaluated on them, and the verdict. Fresh: the seeds after the
        design's, which no selection saw (the best was picked for its scores on the design
        seeds, so those flatter it). Every job is an ordinary job of the executor:
        parallel, cached, and reused after a resume."""
        from rewardsmith.critic.verdict import verdict

        cfg = self.config
        seeds = closing_seeds(cfg)
        selected_on = sorted(best.fitness_seeds, key=int)
        mine = self._seed_jobs(best, seeds)
        refs = self._baseline_jobs(seeds)
        jobs = mine + refs["baseline"] + refs["floor"]
        self.emit(E.ClosingStarted(candidate=best.id, seeds=seeds, jobs=[j.label for j in jobs]))
        outcomes = self._train(jobs)
        for job in mine:
            self._record_seed(best, job, outcomes[job])
        self.run.write_candidate(best)
        ref = reference_record(refs, outcomes)
        keys = {str(s) for s in seeds}
        fits = {s: v for s, v in best.fitness_seeds.items() if s in keys}
        succ = {s: v for s, v in best.success_seeds.items() if s in keys}
        v = verdict(fits, ref["baseline"]["seeds"], ref["floor"].get("episodes") or [],
                    reward_success=succ or None,
                    baseline_success=ref["baseline"].get("success_seeds"),
                    selected_on=[s for s in selected_on if s in keys])
        missing = sorted(keys - set(fits) | keys - set(ref["baseline"]["seeds"]), key=int)
        closing = {"candidate": best.id, "seeds": seeds, "reward": fits, "reward_success": succ,
                   "reference": ref, "selected_on": selected_on, "failed_seeds": missing,
                   "verdict": v}
        self.run.write_closing(closing)
        self.emit(E.ClosingFinished(candidate=best.id, line=v["line"], warnings=v["warnings"],
                                    failed_seeds=missing, score=v["reward"]["mean"],
                                    baseline=v["baseline"]["mean"], seeds=len(seeds)))
        return closing

    def _write_best(self, verdict: dict[str, Any] | None = None) -> None:
        c = self.best
        assert c is not None
        evidence = {"candidate": c.id, "score": c.score, "fitness_seeds": c.fitness_seeds,
                    "success_rate": c.success_rate, "success_seeds": c.success_seeds,
                    "task": self.task.id, "steps": self.steps, "baseline": self.baseline,
                    "selected_by": "fitness" if self.config.feedback == "none" else self.config.feedback,
                    **({"verdict": verdict} if verdict else {})}
        self.run.write_best(c.source, evidence)
        self.emit(E.NewBest(id=c.id, score=c.score))

    def _finish(self, stopped: str | None) -> dict[str, Any]:
        best = self.best
        summary: dict[str, Any] = {
            "run_dir": str(self.run.path), "task": self.task.id, "status": "finished",
            "stopped_early": stopped, "iterations": self.config.iterations,
            "samples": self.config.samples, "steps": self.steps, "llm": self.llm.name,
            "backend": self.config.backend,
            "cost_usd": self.cost, "tokens": dict(self.tokens),
            "best": None,
        }
        cands = self.run.candidates()
        summary["candidates"] = {s: sum(1 for c in cands if c.get("status") == s)
                                 for s in ("ok", "stopped", "screened", "rejected", "failed",
                                           "duplicate")}
        if best is not None:
            from rewardsmith.critic.verdict import from_records

            closing = None
            if (self.config.final_seeds > 0 and self.config.compare_baseline
                    and self.task.fitness is not None):
                closing = self._closing_evaluation(best)
            b = {"id": best.id, "score": best.score, "fitness_seeds": best.fitness_seeds,
                 "success_rate": best.success_rate, "success_seeds": best.success_seeds,
                 "reward_path": str(self.run.path / "best" / "reward.py")}
            if closing is not None:
                b["verdict"] = closing["verdict"]
                b["closing_seeds"] = closing["seeds"]
            elif self.baseline:
                b["verdict"] = from_records(b, self.baseline)
            if b.get("verdict"):
                v = b["verdict"]
                b["baseline_fitness"] = v["baseline"]["mean"]
                b["floor_fitness"] = v["floor"]["mean"]
                b["normalized_score"] = v["normalized"]["value"]  # None where undefined
            summary["best"] = b
            self._write_best(verdict=b.get("verdict"))
        self.run.update_manifest(status="finished", summary=summary)
        self.emit(E.RunFinished(extra={k: v for k, v in summary.items() if k != "candidates"}))
        return summary


class IterationTraining:
    """One iteration's training, with its state named: the candidates as they are checked, the
    job each trains first, the successive-halving cohort, the second seeds that train beside a
    finalist's last slice (``heads``) and the extra seeds queued as a challenger finished
    (``early``). The executor takes jobs from :meth:`jobs` as workers free up and reports each
    end to :meth:`finished`; what that returns joins the batch."""

    def __init__(self, loop: DesignLoop, it: int, texts: list[str], seen: dict[str, Candidate]):
        self.loop = loop
        self.it = it
        self.texts = texts
        self.seen = seen  # fingerprint -> the candidate that first had that program
        self.candidates: list[Candidate] = []
        self.first_jobs: list[tuple[Candidate, Job]] = []  # each trained candidate's first job
        self.duplicates: list[tuple[Candidate, Candidate]] = []  # (repeat, original)
        self.halving = loop._halving()
        self.cohort = Cohort()
        self.heads: dict[str, Job] = {}  # candidate id -> its second seed's head
        self.early: dict[str, list[Job]] = {}  # candidate id -> its extra seeds, queued early
        self.owner: dict[Job, Candidate] = {}  # the candidate each of its jobs trains
        self.screening: Screening | None = None  # the recorded episodes candidates are screened on

    def run(self) -> dict[Job, Outcome]:
        loop = self.loop
        outcomes = loop._train(self.jobs(), self.finished)
        for _, job in self.first_jobs:
            if job in outcomes:
                self.finished(job, outcomes[job])
        for c, orig in self.duplicates:  # known only now where the original trained here
            c.stage, c.error, c.success_rate = orig.stage, orig.error, orig.success_rate
            c.fitness, c.fitness_seeds = orig.fitness, dict(orig.fitness_seeds)
            loop._finish_candidate(c)
        return outcomes

    def jobs(self) -> Iterator[Job]:
        """Every answer checked first (a fraction of a second each, while no worker has work
        yet), then the jobs of those that may train, the best-looking first: highest agreement
        before training first, those without one after, each group in the designer's order."""
        loop, halving = self.loop, self.halving
        if self.texts:
            self.screening = loop._screening_set(self.it)
        reused: list[Job] = []
        for k, text in enumerate(self.texts):
            c = loop._prepare(self.it, k, text, self.seen, self.duplicates, self.screening)
            self.candidates.append(c)
            if halving is None and c.status == "ok":  # finished before a resume: its extra
                # seeds as decided then, among the candidates before it
                reused += loop._early_seeds(c, list(self.candidates), self.early)
        yield from reused

        def order(c: Candidate) -> tuple[bool, float]:
            tau = (c.screening or {}).get("tau")
            return (tau is None, -(tau or 0.0))

        for c in sorted((c for c in self.candidates if c.status == "training"), key=order):
            d = loop.run.candidate_dir(self.it, c.k)
            # under halving the first slice; the rest follow as the candidate earns them
            job = (loop._slice_job(d, c, halving, 0) if halving is not None
                   else loop._seed_job(d, c.source, loop.config.seed, c.id))
            self.owner[job] = c
            self.first_jobs.append((c, job))
            if halving is not None:
                self.cohort.enter(c.id)
            yield job
        self.cohort.closed = True
        if halving is not None:
            yield from self._settle()  # every first slice may have reported already

    def finished(self, job: Job, o: Outcome) -> list[Job | Cancel]:
        """A job ended: its candidate is done as soon as it is (or, under halving, waits for its
        cohort); what to train next."""
        loop, halving = self.loop, self.halving
        c = self.owner.get(job)
        if c is None or c.status != "training":
            return []
        rung = job.spec.rung
        if halving is not None and rung is not None and not halving.slice(rung).last:
            self.cohort.arrive(c.id, rung, (c, job, o))
            return list(self._settle())
        loop._record_outcome(c, o)
        loop._finish_candidate(c)
        head = self.heads.get(c.id)
        if head is not None and not (o.ok and loop._may_be_best(o.result.fitness)):  # type: ignore[union-attr]
            return [Cancel(head)]  # its second seed will not be needed
        if halving is None:
            return list(loop._early_seeds(c, self.candidates, self.early))
        return []

    def _settle(self) -> list[Job]:
        """The next slices of every rung whose cohort has all reported (successive halving)."""
        loop, halving = self.loop, self.halving
        more: list[Job] = []
        for rung, results in self.cohort.ready():
            keep = loop._decide(halving, rung, results)
            self.cohort.promote(keep, rung + 1)
            finalists = []
            for cid, (c, job, o) in results.items():
                if cid in keep:
                    nxt = loop._slice_job(loop.run.candidate_dir(c.iteration, c.k), c, halving,
                                          rung + 1)
                    self.owner[nxt] = c
                    more.append(nxt)
                    finalists.append(c)
                    continue
                loop._record_outcome(c, o)
                if o.ok:
                    c.status = "stopped"
                    c.train_dir = str(job.dir.relative_to(
                        loop.run.candidate_dir(c.iteration, c.k)) / "train")
                loop._finish_candidate(c)
            if halving.slice(rung + 1).last:
                # each finalist's second seed starts beside (or, with no worker free, behind)
                # its last slice; the re-evaluation continues it. Every finalist gets one, however
                # many workers there are, so its second seed is always trained in the same two
                # parts: the scores do not depend on the worker count.
                ranked = sorted(finalists, key=lambda c: -results[c.id][2].result.fitness)  # type: ignore[union-attr]
                for c in ranked[:loop.config.top_k]:
                    head = loop._speculative_job(loop.run.candidate_dir(c.iteration, c.k), c,
                                                 halving)
                    if head is not None:
                        self.heads[c.id] = head
                        more.append(head)
        return more


def _head_dir(seed_dir: Path) -> Path:
    """Where the first part of a seed's training runs beside a finalist's last slice."""
    return seed_dir / "head"


def estimate_tokens(messages: list[dict]) -> int:
    """The request's size in tokens, estimated at four characters a token (what English text
    and code average in the GPT tokenizers), for backends that report no usage."""
    return sum(len(str(m.get("content", ""))) for m in messages) // 4


def _program(source: str, label: str):
    from rewardsmith.reward.program import RewardProgram

    return RewardProgram(source, origin=label)
