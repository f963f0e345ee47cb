"""Touch a random target with the fingertip (Reacher-v5)."""

import numpy as np

from rewardsmith.tasks import Budget, Fitness, Measure, Task, distance_between


def final_distance(ep):
    tip = ep.field("fingertip_pos")[-1, :2]
    target = ep.field("target_pos")[-1, :2]
    return float(np.linalg.norm(tip - target))


def mean_distance(ep):
    d = ep.field("fingertip_pos")[:, :2] - ep.field("target_pos")[:, :2]
    return float(np.mean(np.linalg.norm(d, axis=-1)))


# Measured (scripts/bench_baselines.py, seed 0, 2 cores): 300k steps take the baseline from a
# mean distance of 26 cm (untrained) to 10 cm, 30% success, in ~90 s; 100k steps: 16 cm, 10%.
TASK = Task(
    id="reacher-reach-v0",
    env_id="Reacher-v5",
    robot="two-link planar arm",
    description="Move the arm's fingertip to the target (a randomly placed point on the plane) "
                "as quickly as possible and keep it there.",
    fitness=Fitness(
        fn=lambda ep: -mean_distance(ep),
        doc="minus the mean fingertip-to-target distance (m) over the 50-step episode",
        success=lambda ep: final_distance(ep) < 0.02,
        success_doc="the fingertip ends within 2 cm of the target",
    ),
    measures=(Measure("fingertip-to-target distance",
                      distance_between("fingertip_pos", "target_pos", 2), "m", bar=0.02),),
    baseline_reward="env",
    baseline_doc="Reacher-v5's own reward: minus the fingertip-target distance - 0.1 |a|^2.",
    budgets={"sb3": Budget(steps=300_000, eval_episodes=10)},
    hyperparams={"sb3": {"n_envs": 8, "n_steps": 256, "batch_size": 256, "n_epochs": 10,
                         "gamma": 0.9}},
)
