"""Sets of tasks a benchmark runs on: the registered tasks in named groups, a folder of task
files, or tasks named one by one. One place says which registered task belongs to which group;
``tests/test_benchmark.py`` checks that every registered task is in one of them."""

from __future__ import annotations

from pathlib import Path

from rewardsmith.errors import RewardsmithError
from rewardsmith.tasks.task import Task

# name -> (what the group is, its task ids)
SUITES: dict[str, tuple[str, tuple[str, ...]]] = {
    "locomotion": ("robots moving the way their simulator's own reward asks (forward, as fast "
                   "as possible)",
                   ("ant-forward-v0", "cheetah-run-v0", "hopper-forward-v0",
                    "swimmer-forward-v0", "walker-forward-v0")),
    "novel": ("behaviours the simulator has no reward for (sideways, backwards, jumping, "
              "holding, reaching with a raised elbow): the hand-written reward was written for "
              "the task",
              ("ant-sideways-v0", "cheetah-run-backward-v0", "hopper-jump-v0",
               "walker-backward-v0", "pusher-push-hold-v0", "reacher-reach-elbow-v0")),
    "manipulation": ("arms reaching for and pushing things",
                     ("pusher-push-v0", "pusher-push-hold-v0", "reacher-reach-v0",
                      "reacher-reach-elbow-v0")),
    "balance": ("cart-poles kept upright",
                ("pendulum-balance-v0", "double-pendulum-balance-v0")),
    "dmc": ("DeepMind Control Suite tasks (the dmc extra): the hand-written reward is the "
            "suite authors' own, the score the suite's episode return",
            ("dmc-cartpole-swingup-v0", "dmc-cheetah-run-v0", "dmc-finger-spin-v0",
             "dmc-hopper-hop-v0", "dmc-quadruped-walk-v0", "dmc-reacher-hard-v0",
             "dmc-walker-run-v0", "dmc-walker-walk-v0")),
}
ALL = "all"  # every registered task


class UnknownSuite(RewardsmithError):
    pass


def names() -> list[str]:
    return [*SUITES, ALL]


def describe() -> list[tuple[str, str, list[str]]]:
    """Every suite: its name, what it is, its task ids."""
    from rewardsmith import tasks

    out = [(name, doc, list(ids)) for name, (doc, ids) in SUITES.items()]
    return out + [(ALL, "every registered task", tasks.names())]


def suite_tasks(name: str) -> list[Task]:
    """The tasks of suite ``name``, or of every task file in the folder ``name``."""
    from rewardsmith import tasks

    if name == ALL:
        return [tasks.load(t) for t in tasks.names()]
    if name in SUITES:
        return [tasks.load(t) for t in SUITES[name][1]]
    folder = Path(name)
    if folder.is_dir():
        files = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
        if not files:
            raise UnknownSuite(f"{folder} holds no task files (*.py)",
                               "put one task file per task in it (see envs/hopper_forward.py)")
        return [tasks.load_task_file(p) for p in files]
    raise UnknownSuite(f"unknown suite {name!r}",
                       f"use one of {', '.join(names())}, or a folder of task files "
                       "(`rewardsmith benchmark --list-suites` shows what each holds)")


def resolve(task_names: list[str] | None, suite: str | None) -> list[Task]:
    """The tasks a benchmark runs on, from ``--tasks`` or ``--suite`` (one of them): each
    checked to be loadable and to have a fitness (a benchmark compares scores). An unknown
    name fails before any run starts, naming the tasks that exist."""
    from rewardsmith import tasks
    from rewardsmith.errors import UnknownName

    if bool(task_names) == bool(suite):
        raise RewardsmithError("give the tasks with --tasks T1 T2 ... or --suite NAME, one of them",
                               f"suites: {', '.join(names())}, or a folder of task files")
    if suite:
        out = suite_tasks(suite)
    else:
        out, unknown = [], []
        for name in task_names or []:
            try:
                out.append(tasks.load(name))
            except UnknownName:
                unknown.append(name)
        if unknown:
            raise RewardsmithError(f"unknown task(s): {', '.join(unknown)}",
                                   f"registered tasks: {', '.join(tasks.names())} "
                                   "(or give a task file's path)")
    seen: dict[str, Task] = {}
    for t in out:
        if t.fitness is None:
            raise RewardsmithError(f"task {t.id} has no fitness, so a benchmark cannot score it",
                                   "give it a Fitness in its task file")
        if t.id in seen:
            raise RewardsmithError(f"task {t.id} is named twice", "name each task once")
        seen[t.id] = t
    return out
