"""``rewardsmith design``, ``runs`` and ``show``: the design loop from the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rewardsmith.cli.common import fmt, print_table, print_verdict
from rewardsmith.critic.screening import taus
from rewardsmith.errors import RewardsmithError


class LiveView:
    """What the user watches while a run goes: iterations, each candidate's state, fitness, cost."""

    def __init__(self, title: str, blind: bool = False):
        self.title = title
        self.blind = blind  # a person ranks blind: no task scores on screen
        self.iteration = 0
        self.cands: dict[str, dict[str, Any]] = {}
        self.cost = 0.0
        self.tokens = 0
        self.best: tuple[str, float] | None = None
        self.baseline: float | None = None
        self.on = ""  # which seeds the head's two figures are over, once the closing is done
        self.note = ""
        self.live: Live | None = None

    def __call__(self, event) -> None:
        """Show a design-loop event (:mod:`rewardsmith.loop.events`): each type has its handler;
        the others change nothing on screen."""
        handler = self._handlers().get(type(event))
        if handler is not None:
            handler(event)
        if self.live is not None:
            self.live.update(self.render())

    def _handlers(self) -> dict[type, Any]:
        from rewardsmith.loop import events as E

        return {
            E.IterationStarted: self._iteration_started, E.LlmCall: self._llm_call,
            E.CandidateValidating: self._validating, E.CandidateValidated: self._validated,
            E.TrainingStarted: self._training, E.TrainingReused: self._cached,
            E.CandidateStopped: self._stopped, E.LoopStopped: self._loop_stopped,
            E.Progress: self._progress, E.CandidateFinished: self._finished,
            E.CandidateReused: self._finished, E.JobFinished: self._job_finished,
            E.CandidateScored: self._scored, E.NewBest: self._new_best,
            E.Baseline: self._baseline, E.FeedbackWaiting: self._feedback_waiting,
            E.FeedbackNotice: self._note, E.HumanFeedback: self._human_feedback,
            E.Reevaluating: self._reevaluating, E.ClosingStarted: self._closing_started,
            E.ClosingFinished: self._closing_finished, E.JudgeCall: self._judge_call,
            E.AgreementAfterTraining: self._agreement_after,
        }

    def _cand(self, cid: str) -> dict[str, Any]:
        return self.cands.setdefault(cid, {})

    def _iteration_started(self, e) -> None:
        self.iteration = e.iteration
        self.note = "asking the designer for reward programs..."

    def _llm_call(self, e) -> None:
        self.cost = e.total_cost_usd
        self.tokens += e.prompt_tokens + e.completion_tokens
        self.note = "validating and training candidates" + (" (cached answers)" if e.cached else "")

    def _judge_call(self, e) -> None:
        self.cost = e.total_cost_usd
        self.tokens += e.prompt_tokens + e.completion_tokens
        self.note = f"the judge ({e.model}) answered" + (" (cached)" if e.cached else "")

    def _validating(self, e) -> None:
        self.cands[e.id] = {"state": "validating", "fitness": None, "done": 0, "total": 0}

    def _validated(self, e) -> None:
        if not e.accepted:
            self._cand(e.id)["state"] = "rejected"
            return
        tau = (e.extra.get("agreement") or {}).get("tau")
        if tau is not None:  # shown until the candidate has a note of its own
            self._cand(e.id)["error"] = f"agreement before training: tau {tau:+.2f}"

    def _agreement_after(self, e) -> None:
        if e.tau is not None:
            before = "-" if e.before is None else f"{e.before:+.2f}"
            self.note = (f"{e.id}: agreement on {e.episodes} recorded episodes (with this "
                         f"iteration's) {before} before training → {e.tau:+.2f} after")

    def _training(self, e) -> None:
        self._cand(e.id).update(state="training", done=0)

    def _cached(self, e) -> None:
        self._cand(e.id).update(state="cached")

    def _stopped(self, e) -> None:
        self._cand(e.id).update(state="stopped", fitness=e.fitness,
                                error=f"weaker than the others at {e.steps:,} steps")

    def _loop_stopped(self, e) -> None:
        self.note = f"stopping: {e.reason}"

    def _progress(self, e) -> None:
        c = self._cand(e.id)
        c.update(state="training", done=e.done, total=e.total)
        if e.fitness is not None:
            c["fitness"] = e.fitness

    def _finished(self, e) -> None:
        c = self._cand(e.id)
        c.update(state=e.status, fitness=e.fitness)
        if getattr(e, "duplicate_of", None):
            c["error"] = f"same program as {e.duplicate_of}, not trained again"
        elif getattr(e, "error", None):
            c["error"] = e.error

    def _job_finished(self, e) -> None:
        if self.cands.get(e.id, {}).get("state") not in ("training", "cached", None):
            return
        c = self._cand(e.id)
        state = "cancelled" if e.cancelled else "done" if e.ok else "failed"
        c.update(state=state, fitness=e.fitness)
        if e.error:
            c["error"] = e.error

    def _scored(self, e) -> None:
        self._cand(e.id).update(score=e.score, seeds=len(e.fitness_seeds))

    def _new_best(self, e) -> None:
        self.best = (e.id, e.score)

    def _baseline(self, e) -> None:
        self.baseline = e.baseline_fitness

    def _feedback_waiting(self, e) -> None:
        self.note = f"waiting for your ranking of {', '.join(e.candidates)}"
        if e.ui == "cli" and self.live is not None:
            self.live.stop()  # the terminal prompts need the screen

    def _note(self, e) -> None:
        self.note = e.message

    def _human_feedback(self, e) -> None:
        self.note = f"{e.source} preferred {e.best}" + (f", rejected {e.worst}" if e.worst else "")
        if self.live is not None and not self.live.is_started:
            self.live.start()

    def _reevaluating(self, e) -> None:
        self.note = f"re-evaluating {', '.join(e.candidates)} on seeds {e.seeds}"

    def _closing_started(self, e) -> None:
        self.note = (f"closing evaluation: {e.candidate} and the hand-written reward on "
                     f"{len(e.seeds)} seeds, the untrained policy on their episodes")

    def _closing_finished(self, e) -> None:
        self.note = f"verdict: {e.line}"
        if e.baseline is not None and e.score is not None:  # both over the closing seeds
            self.best, self.baseline = (e.candidate, e.score), e.baseline
            self.on = f" (both over {e.seeds} closing seeds)" if e.seeds else ""
            if e.seeds:  # its row: the same figure as the head's
                self._cand(e.candidate).update(score=e.score, seeds=e.seeds)

    def render(self):
        table = Table(expand=False, box=None, pad_edge=False)
        # a candidate's row: its mean over the seeds it trained on so far, with their number
        # where there are several; "<id> seed N" rows: that one seed's
        for col in ("candidate", "state", "progress", "fitness", "seeds", "note"):
            table.add_column(col, overflow="fold")
        colors = {"ok": "green", "done": "green", "rejected": "yellow", "failed": "red",
                  "training": "cyan", "stopped": "magenta", "duplicate": "dim", "screened": "dim"}
        for cid, c in self.cands.items():
            state = c.get("state", "")
            prog = ""
            if c.get("total"):
                prog = f"{100 * c.get('done', 0) / c['total']:.0f}%"
            fit = c.get("score") if c.get("score") is not None else c.get("fitness")
            if self.blind:
                fit = None
            note = (c.get("error") or "")[:70]
            seeds = f"mean of {c['seeds']}" if c.get("score") is not None and c.get("seeds", 0) > 1 else ""
            table.add_row(cid, Text(state, style=colors.get(state, "")), prog,
                          fmt(fit), seeds, Text(note))  # Text: error messages are not markup
        head = (f"iteration {self.iteration + 1}  |  tokens {self.tokens:,}  |  cost ${self.cost:.4f}"
                + (f"  |  best {self.best[0]}" + ("" if self.blind else f": {fmt(self.best[1])}")
                   if self.best else "")
                + (f"  |  baseline {fmt(self.baseline)}" if self.baseline is not None else "")
                + self.on)
        return Panel(Group(Text(head, style="bold"), Text(self.note, style="dim"), table), title=self.title)


def _make_judge(config, llm_obj, run_dir: Path, base_url: str | None, api_key: str | None):
    """--feedback vlm: the judge (--vlm, else the designer's model); None for other modes."""
    if config.feedback != "vlm":
        return None
    from rewardsmith.feedback.vlm import make_judge

    return make_judge(config.vlm or config.llm or llm_obj.name, run_dir=run_dir,
                      base_url=base_url, api_key=api_key)


def register(app: typer.Typer) -> None:
    from rewardsmith.cli.common import (
        console,
        err_console,
        guarded,
        resolve_task,
        timestamp,
    )

    @app.command()
    @guarded
    def design(
        task: str | None = typer.Option(None, "--task", "-t", help="Task id (see `rewardsmith tasks`) or task file."),
        env: str | None = typer.Option(None, "--env", help="Ad-hoc task: a gymnasium MuJoCo env id, e.g. Walker2d-v5, or a Control Suite task, dmc:DOMAIN/TASK (the dmc extra)."),
        description: str | None = typer.Option(None, "--description", help="Ad-hoc task: what the robot should do."),
        fitness: str | None = typer.Option(None, "--fitness", help="Ad-hoc task: numpy expression over state fields (see `tasks show`), averaged over evaluation steps."),
        llm: str | None = typer.Option(None, "--llm", help="openai:MODEL, offline or manual (default: openai when OPENAI_API_KEY/OPENAI_BASE_URL is set, else offline)."),
        base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server URL (or OPENAI_BASE_URL)."),
        api_key: str | None = typer.Option(None, "--api-key", help="API key (or OPENAI_API_KEY)."),
        iterations: int = typer.Option(3, "--iterations", "-i", min=1, help="Design iterations."),
        samples: int = typer.Option(4, "--samples", "-k", min=1, help="Reward programs sampled per iteration."),
        steps: int | None = typer.Option(None, "--steps", min=1, help="Env steps per candidate (default: the task's budget)."),
        seeds: int = typer.Option(2, "--seeds", min=1, help="Seeds the top candidates are evaluated on before one is called best."),
        screen: float | None = typer.Option(None, "--screen", min=-1.0, max=1.0, help="Screen candidates before training: one whose return ranks the run's recorded episodes (the hand-written reward's, the untrained policy's, earlier candidates') against their task scores, with Kendall tau below this, is not trained (marked screened). Off by default: measured over 6 tasks, every threshold skipped the iteration's best about as often as a random skip of the same share (README). Every candidate's agreement is shown and fed back either way."),
        screen_history: bool = typer.Option(False, "--screen-history", help="Screen (and measure agreement) also on the recorded episodes of earlier runs of the same task in the same runs folder."),
        final_seeds: int = typer.Option(5, "--final-seeds", min=0, help="The closing evaluation: the best and the hand-written reward trained on this many fresh seeds (after the design's, so none the selection saw) and the untrained policy on their episodes, for the verdict; 0 turns it off. A paired test needs 5 seeds to call a difference beyond noise."),
        top_k: int = typer.Option(2, "--top-k", min=1, help="Candidates per iteration re-evaluated on the extra seeds (at most: see --reevaluate)."),
        workers: int | None = typer.Option(None, "--workers", min=1, help="Parallel training processes (default: one per core)."),
        executor: str | None = typer.Option(None, "--executor", help="Where candidates train: local (jailed processes on this machine, the default) or ray (a Ray cluster at $RAY_ADDRESS, else a local Ray; see docs/SCALING.md). A resumed run keeps its own."),
        temperature: float = typer.Option(1.0, "--temperature", min=0.0, max=2.0),
        max_cost: float | None = typer.Option(None, "--max-cost", min=0.0, help="Stop asking the LLM once this many USD are spent."),
        backend: str = typer.Option("sb3", "--backend", help="Training backend."),
        seed: int = typer.Option(0, "--seed", help="Base seed."),
        no_baseline: bool = typer.Option(False, "--no-baseline", help="Do not train the hand-written baseline for comparison."),
        run_dir: Path | None = typer.Option(None, "--run-dir", help="Where the run goes (default runs/<time>-<task>)."),
        resume: Path | None = typer.Option(None, "--resume", help="Continue a run after a crash or Ctrl-C."),
        json_out: bool = typer.Option(False, "--json", help="Print a final summary JSON object on stdout."),
        feedback: str = typer.Option("none", "--feedback", help="none, human (watch, rank, comment after each iteration), oracle (synthetic ranking by a hidden fitness) or vlm (a vision-language model judges keyframes of each behaviour against the description and ranks them)."),
        vlm: str | None = typer.Option(None, "--vlm", help="With --feedback vlm: the judge, openai:MODEL (a vision-language model) or manual (frames and a prompt in a folder of the run); default: the --llm."),
        vlm_base_url: str | None = typer.Option(None, "--vlm-base-url", help="OpenAI-compatible server of the judge (default: --base-url / OPENAI_BASE_URL)."),
        feedback_weight: float = typer.Option(0.5, "--feedback-weight", min=0.0, max=1.0, help="With --feedback vlm: the judge's ranking's weight against the task score in selection (1: the judge alone; a task without a fitness uses the judge alone)."),
        feedback_ui: str = typer.Option("web", "--feedback-ui", help="web (a local page) or cli (terminal prompts)."),
        feedback_noise: float = typer.Option(0.0, "--feedback-noise", min=0.0, help="Oracle noise, in units of the candidates' fitness spread."),
        show_scores: bool = typer.Option(False, "--show-scores", help="With --feedback human: show each candidate's task score while you rank (by default the ranking is blind: shuffled, scores shown after you answer)."),
        hide_fitness: bool = typer.Option(False, "--hide-fitness", help="Do not tell the LLM what the task score and the success test measure (by default the first prompt and the feedback say it in words, from the task's fitness doc); the run records which."),
        oracle_fitness: str | None = typer.Option(None, "--oracle-fitness", help="Expression the oracle ranks by, for tasks without a fitness."),
        schedule: str = typer.Option("full", "--schedule", help="full: every candidate trains its whole budget; halving: every candidate trains a quarter of its budget, the weaker half stops, the rest continue from where they were (successive halving: about 60-70% of the wall time, but at these budgets an early decision often stops the eventual best)."),
        reevaluate: str = typer.Option("challengers", "--reevaluate", help="Which candidates train on the extra --seeds: challengers (the top --top-k that beat the best on their first seed, each started as soon as that seed ends) or top-k (the top --top-k of every iteration once it has ended: more seeds on more candidates, slower)."),
        patience: int | None = typer.Option(None, "--patience", min=1, help="Stop after this many iterations without a better reward (a solved task always stops)."),
        no_cache: bool = typer.Option(False, "--no-cache", help="Ask the LLM afresh instead of reusing answers cached from earlier runs (the run's own cache still makes --resume free)."),
    ):
        """Run the design loop: the LLM writes rewards, policies train on them, the best one wins."""
        from contextlib import ExitStack

        with ExitStack() as held:  # the run's lock, on a resume
            from rewardsmith import tasks as tasks_mod
            from rewardsmith.llm import run_llm
            from rewardsmith.loop.design import DesignConfig, DesignLoop, create_run
            from rewardsmith.runs.rundir import RunDir
            from rewardsmith.train import load as load_backend

            if resume is not None:
                run = RunDir.open(resume)
                # before anything is written: another process on this run is an error, not a
                # second writer (held until this command ends)
                from rewardsmith.runs.lock import exclusive

                held.enter_context(
                    exclusive(run.path, "run", resume=f"rewardsmith design --resume {run.path}"))
                m = run.manifest
                t = tasks_mod.from_origin(m["task_origin"])
                config = DesignConfig.from_dict(m["config"])
                if workers or executor:
                    config = DesignConfig.from_dict({**m["config"], "workers": workers or config.workers,
                                                     "executor": executor or config.executor})
                run.update_manifest(status="running")
                run.event("resumed")
                llm_obj = run_llm(config.llm, run.path, base_url=base_url, api_key=api_key,
                                  shared_cache=not no_cache)
                judge = _make_judge(config, llm_obj, run.path, vlm_base_url or base_url, api_key)
            else:
                # the settings check themselves (DesignConfig): a wrong choice fails before any work
                DesignConfig(feedback=feedback, feedback_ui=feedback_ui, schedule=schedule,
                             reevaluate=reevaluate, feedback_weight=feedback_weight)
                if feedback in ("human", "vlm"):
                    from rewardsmith.feedback.video import prepare_gl

                    prepare_gl()  # fails now, naming the packages, when no offscreen GL works
                t = resolve_task(task, env, description, fitness, steps)
                load_backend(backend)
                if t.fitness is None and feedback == "none":
                    raise RewardsmithError(f"task {t.id} has no fitness to select candidates by",
                                           "pass --fitness EXPR, or let a person rank the behaviours with --feedback human")
                if t.fitness is None and feedback == "oracle" and not oracle_fitness:
                    raise RewardsmithError("the oracle needs a fitness to rank by",
                                           "pass --fitness EXPR or --oracle-fitness EXPR")
                if oracle_fitness:
                    from rewardsmith.tasks import _check_expression_fields

                    _check_expression_fields(t, oracle_fitness)
                config = DesignConfig(iterations=iterations, samples=samples, steps=steps, seeds=seeds,
                                      top_k=top_k,
                                      workers=workers or max(1, os.cpu_count() or 1), temperature=temperature,
                                      max_cost=max_cost, llm=llm, backend=backend, seed=seed,
                                      compare_baseline=not no_baseline and t.fitness is not None,
                                      feedback=feedback, feedback_ui=feedback_ui,
                                      feedback_noise=feedback_noise, oracle_fitness=oracle_fitness,
                                      show_scores=show_scores, vlm=vlm if feedback == "vlm" else None,
                                      feedback_weight=feedback_weight, schedule=schedule, patience=patience, reevaluate=reevaluate,
                                      executor=executor or "local", final_seeds=final_seeds,
                                      screen=screen, screen_history=screen_history,
                                      hide_fitness=hide_fitness)
                path = run_dir or Path("runs") / f"{timestamp()}-{t.id}"
                llm_obj = run_llm(llm, path, base_url=base_url, api_key=api_key, shared_cache=not no_cache)
                # a judge that cannot be made (--vlm offline, no key) fails before the run exists
                judge = _make_judge(config, llm_obj, path, vlm_base_url or base_url, api_key)
                if max_cost is not None and not llm_obj.prices_known:
                    err_console.print(f"[yellow]warning:[/] {llm_obj.name} reports no prices, so "
                                      "--max-cost cannot stop this run; limit it with --iterations "
                                      "and --samples", highlight=False)
                run = create_run(path, t, config, llm_obj.name)
            from rewardsmith import mjlog

            mjlog.to_file(run.path / "mujoco.log")  # the simulator's own warnings, with the run
            view = LiveView(f"rewardsmith design: {t.id} ({llm_obj.name})",
                            blind=config.feedback == "human" and not config.show_scores)
            from rewardsmith.executors import make_executor

            # fails now if Ray is missing; on Ray, as many jobs at once as the cluster runs unless
            # --workers says otherwise
            runner = make_executor(config.executor, config.workers
                                   if config.executor == "local" or workers else None)
            loop = DesignLoop(t, run, config, llm_obj, observer=view, executor=runner, judge=judge)
            err_console.print(f"run directory: [bold]{run.path}[/]")
            try:
                with Live(view.render(), console=err_console, refresh_per_second=4, transient=False) as live:
                    view.live = live
                    summary = loop.run_loop()
            except KeyboardInterrupt:
                run.update_manifest(status="interrupted")
                run.event("interrupted")
                err_console.print(f"\ninterrupted; continue with: [bold]rewardsmith design --resume {run.path}[/]")
                raise typer.Exit(130) from None
            except RewardsmithError as e:
                run.update_manifest(status="failed", error=str(e))
                run.event("run_failed", error=str(e))
                raise RewardsmithError(f"{e} (the run is kept; fix the cause and continue with --resume {run.path})") from None
            summary["task_args"] = _task_args(t)
            if json_out:
                print(json.dumps(summary, indent=2))
            _print_summary(summary, err_console if json_out else console)

    @app.command()
    @guarded
    def runs(root: Path = typer.Argument(Path("runs"), help="Folder holding runs."),
             json_out: bool = typer.Option(False, "--json", help="Print JSON.")):
        """Table of runs: task, status, the best's fitness against the hand-written reward's and
        the verdict (the closing evaluation's, over its seeds, where the run has one)."""
        from rewardsmith.runs.lock import LOCK, holder
        from rewardsmith.runs.rundir import list_runs

        rows = []
        for r in list_runs(root):
            try:
                m = r.manifest
                v = r.verdict() or {}
            except (OSError, ValueError):
                continue
            status = m.get("status")
            if status == "running" and (r.path / LOCK).exists():  # or killed (SIGKILL, a lost
                # machine) before it could say; a run from before the lock cannot tell
                pid = holder(r.path)
                status = f"running (pid {pid})" if pid else "stopped (its process is gone: --resume)"
            best = r.best() or {}
            vs = v.get("versus_baseline") or {}
            judged = bool(v.get("seeds"))
            rows.append({"run": str(r.path), "task": m.get("task"), "status": status,
                         "llm": m.get("llm"), "created": m.get("created"),
                         "best": best.get("candidate"),
                         # the verdict's mean over its seeds (the closing ones), else the best's score
                         "best_fitness": v["reward"]["mean"] if judged else best.get("score"),
                         "baseline_fitness": v["baseline"]["mean"] if judged else None,
                         "seeds": len(v["seeds"]) if judged else None,
                         "verdict": v.get("line") if judged else None,
                         "against_hand_written": None if not judged or not vs else
                         "too few seeds to tell" if vs.get("beyond_noise") is None else
                         f"{vs['direction']} beyond noise" if vs.get("direction") else "within noise",
                         "candidates": len(r.candidates())})
        if json_out:
            print(json.dumps(rows, indent=2))
            return
        if not rows:
            from rewardsmith.benchmark.table import has_table

            if has_table(root):  # a merge, or a benchmark's table copied without its runs
                console.print(f"no run folders under {root}, only a benchmark's table: "
                              f"[bold]rewardsmith report {root}[/]")
                return
            console.print(f"no runs under {root}; start one with [bold]rewardsmith design --task pendulum-balance-v0[/]")
            return
        table = Table(title=f"runs in {root}", title_justify="left")
        for col in ("run", "task", "status", "llm", "candidates", "best", "fitness",
                    "hand-written", "against it"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(_relative(Path(r["run"]), root), r["task"], r["status"], r["llm"], str(r["candidates"]),
                          r["best"] or "-",
                          fmt(r["best_fitness"]) + (f" ({_seeds(r['seeds'])})" if r["seeds"] else ""),
                          fmt(r["baseline_fitness"]), r["against_hand_written"] or "-")
        print_table(table)

    @app.command()
    @guarded
    def show(run_path: Path = typer.Argument(..., help="A run directory."),
             feedback: bool = typer.Option(True, "--feedback/--no-feedback", help="Show the feedback sent to the LLM."),
             json_out: bool = typer.Option(False, "--json", help="Print JSON.")):
        """Iterations, candidates, best code and feedback of a run."""
        from rich.syntax import Syntax

        from rewardsmith.runs.rundir import RunDir

        run = RunDir.open(run_path)
        m = run.manifest
        cands = run.candidates()
        best = run.best()
        summaries = run.iterations()
        prefs = run.preferences()
        if json_out:
            print(json.dumps({"manifest": m, "candidates": [{k: v for k, v in c.items() if k != "train"} for c in cands],
                              "best": best, "iterations": summaries, "preferences": prefs,
                              "verdict": run.verdict()},
                             indent=2, default=str))
            return
        console.print(f"[bold]{run.path}[/]  task {m.get('task')}  status {m.get('status')}  llm {m.get('llm')}")
        if (m.get("summary") or {}).get("stopped_early"):
            console.print(f"stopped early: {m['summary']['stopped_early']}", highlight=False)
        if summaries:
            by_id = {c["id"]: c for c in cands}
            it_table = Table(title="iterations", title_justify="left")
            for col in ("iteration", "trained", "stopped early", "rejected", "failed", "duplicate",
                        "iteration best", "best so far", "picked by"):
                it_table.add_column(col, overflow="fold")
            for s in summaries:
                mine = [by_id[i] for i in s.get("candidates", []) if i in by_id]
                ok = [c for c in mine if c["status"] == "ok" and c.get("score") is not None]
                top = max(ok, key=lambda c: c["score"]) if ok else None
                so_far = s.get("best") or {}
                it_table.add_row(
                    str(s["iteration"]), str(len(ok)),
                    str(sum(c["status"] == "stopped" for c in mine)),
                    str(sum(c["status"] == "rejected" for c in mine)),
                    str(sum(c["status"] == "failed" for c in mine)),
                    str(sum(c["status"] == "duplicate" for c in mine)),
                    f"{top['id']} ({fmt(top['score'])})" if top else "-",
                    f"{so_far['id']} ({fmt(so_far.get('score'))})" if so_far else "-",
                    (s.get("human") or {}).get("source") or "fitness")
            print_table(it_table)
        table = Table(title="candidates", title_justify="left")
        cols = ["id", "status", "stage", "agreement (tau, before → after training)", "fitness", "score (all seeds)", "success"]
        if prefs:
            cols += ["preference (BT / Elo)"]
        for col in [*cols, "error"]:
            table.add_column(col, overflow="fold")
        for c in cands:
            row = [c["id"], c["status"], c.get("stage") or "", taus(c), fmt(c.get("fitness")),
                   "-" if c.get("score") is None else f"{fmt(c['score'])} ({_seeds(len(c.get('fitness_seeds') or {}))})",
                   "-" if c.get("success_rate") is None else f"{c['success_rate']:.2f}"]
            if prefs:
                p = prefs.get(c["id"])
                row.append(f"{p['bradley_terry']:+.2f} / {p['elo']:.0f}" if p else "-")
            flags = (c.get("signals") or {}).get("flags") or []
            note = (f"same program as {c['duplicate_of']}, not trained again"
                    if c.get("duplicate_of") else (c.get("error") or "")[:120]
                    or "; ".join("warning: " + f["text"] for f in flags))
            table.add_row(*row, Text(note))
        print_table(table)
        if best:
            seeds = best.get("fitness_seeds") or {}
            each = ", ".join(f"{k}: {fmt(v)}" for k, v in sorted(seeds.items(), key=lambda kv: int(kv[0])))
            console.print(f"best: [bold]{best['candidate']}[/] score {best['score']:.4g} over every "
                          f"seed it trained on ({each}); the verdict's figures are over the closing "
                          "seeds" if run.closing() else
                          f"best: [bold]{best['candidate']}[/] score {best['score']:.4g} ({each})",
                          highlight=False)
            print_verdict(run.verdict(), console)
            console.print(Syntax((run.path / "best" / "reward.py").read_text(), "python"))
        if feedback:
            for s in summaries:
                fb = s.get("feedback")
                if fb:
                    console.print(Panel(Text(fb), title=f"feedback after iteration {s['iteration']}",
                                        expand=False))


def _relative(path: Path, root: Path) -> str:
    """A run's folder as the table names it: below ``root`` (a benchmark's task/designer/r0)."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return path.name


def _seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def _task_args(task) -> str:
    """The flags that name this task again on the command line."""
    import shlex

    o = task.origin
    if o.get("kind") == "adhoc":
        args = f"--env {o['env_id']} --description {shlex.quote(o['description'])}"
        return args + (f" --fitness {shlex.quote(o['fitness'])}" if o.get("fitness") else "")
    if o.get("kind") == "file":
        return f"--task {shlex.quote(o['path'])}"
    return f"--task {task.id}"


def _print_summary(s: dict[str, Any], console) -> None:
    b = s.get("best")
    if b is None:
        console.print("[yellow]no candidate trained successfully;[/] see the run with "
                      f"[bold]rewardsmith show {s['run_dir']}[/]")
        return
    console.print(f"\n[bold green]best reward[/]: {b['reward_path']}")
    v = b.get("verdict") or {}
    closing = b.get("closing_seeds") or []
    if closing and (v.get("reward") or {}).get("mean") is not None:
        # the closing seeds' mean, the verdict's: the design seeds, which picked it, flatter it
        line = (f"fitness {v['reward']['mean']:.4g} over the {len(closing)} closing seeds "
                f"({b['score']:.4g} over all {len(b['fitness_seeds'])} it trained on)")
    else:
        line = f"fitness {b['score']:.4g} over {len(b['fitness_seeds'])} seed(s)"
    if b.get("baseline_fitness") is not None:
        line += f"; hand-written baseline {b['baseline_fitness']:.4g}"
        if b.get("normalized_score") is not None:
            line += f"; normalized score {b['normalized_score']:.3g} (1.0 = baseline)"
    console.print(line, highlight=False)
    print_verdict(b.get("verdict"), console)
    if s.get("stopped_early"):
        console.print(f"stopped early: {s['stopped_early']}")
    counts = s["candidates"]
    said = (", ".join(f"{n} {k}" for k, n in counts.items() if n) or "none") \
        if isinstance(counts, dict) else str(counts)
    console.print(f"candidates: {said}; tokens {sum(s['tokens'].values()):,}; cost ${s['cost_usd']:.4f}",
                  highlight=False)
    console.print("next:")
    console.print(f"  rewardsmith show {s['run_dir']}")
    console.print(f"  rewardsmith export {s['run_dir']} --to reward.py")
    console.print(f"  rewardsmith report {s['run_dir']}")
    backend = f" --backend {s['backend']}" if s.get("backend", "sb3") != "sb3" else ""
    # on seeds the run has not used: neither those that picked it nor the closing ones
    fresh = max((int(k) for k in b.get("fitness_seeds") or {}), default=-1) + 1
    console.print(f"  rewardsmith evaluate {s.get('task_args') or '--task ' + s['task']} --reward {b['reward_path']} "
                  f"--compare baseline --seed {fresh}{backend} --run-dir {s['run_dir']}/evaluations/best")
