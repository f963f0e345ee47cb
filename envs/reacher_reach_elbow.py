"""Reach the target with the elbow bent one way only (Reacher-v5 with a joint constraint)."""

import numpy as np

from rewardsmith.tasks import Budget, Fitness, Measure, Task, distance_between

ELBOW_MIN = 0.0  # rad: joint1 (the elbow) may bend counter-clockwise only (its own limit is 3)
VIOLATION_WEIGHT = 0.2  # metres of fitness per unit fraction of steps outside the range
# Every target on the 0.2 m disc can be reached with the elbow in range (the mirror-image pose
# of one with a negative elbow angle), so the constraint never makes the task impossible.

# Measured (scripts/bench_baselines.py --task reacher-reach-elbow-v0 --seeds 2, 2 cores): 300k
# steps (~1.5 min a seed) take the fitness from -0.37 (untrained: 28-45 cm away, the elbow
# often bent the wrong way) to -0.04, with success 0% -> 100%.
BASELINE = '''
def compute_reward(state, action, next_state):
    ctrl_weight = 0.1
    elbow_min = 0.0
    limit_weight = 1.0
    limit_step_penalty = 0.1
    gap = np.sqrt(np.sum(np.square(next_state.fingertip_pos[:, :2] - next_state.target_pos[:, :2]),
                         axis=-1))
    elbow = next_state.joint1_angle
    outside = np.maximum(elbow_min - elbow, 0.0)
    distance = -gap
    ctrl = -ctrl_weight * np.sum(np.square(action), axis=-1)
    limit = -limit_weight * outside - limit_step_penalty * np.where(outside > 0.0, 1.0, 0.0)
    return distance + ctrl + limit, {"distance": distance, "ctrl": ctrl, "elbow_limit": limit}
'''


def distances(ep):
    """The fingertip-target distance after each step (``ep.field`` is s_1..s_T)."""
    d = ep.field("fingertip_pos")[:, :2] - ep.field("target_pos")[:, :2]
    return np.linalg.norm(d, axis=-1)


def outside_fraction(ep):
    q = ep.field("joint1_angle")
    return float(np.mean(q < ELBOW_MIN))


TASK = Task(
    id="reacher-reach-elbow-v0",
    env_id="Reacher-v5",
    robot="two-link planar arm",
    description="Move the arm's fingertip to the target (a randomly placed point on the plane) "
                "as quickly as possible and keep it there, while keeping the elbow (joint1) "
                f"angle at or above {ELBOW_MIN:g} rad: the elbow may only bend one way "
                "(positive angles), never the other.",
    fitness=Fitness(
        fn=lambda ep: -float(np.mean(distances(ep))) - VIOLATION_WEIGHT * outside_fraction(ep),
        doc=f"minus the mean fingertip-to-target distance (m) over the 50-step episode, minus "
            f"{VIOLATION_WEIGHT} x the fraction of steps with the elbow angle below "
            f"{ELBOW_MIN:g} rad",
        success=lambda ep: bool(distances(ep)[-1] < 0.02 and outside_fraction(ep) <= 0.1),
        success_doc="the fingertip ends within 2 cm of the target and the elbow angle is below 0 "
                    "on at most 10% of the steps (the reset pose may start slightly below)",
        maximum=0.0,
    ),
    measures=(Measure("fingertip-to-target distance",
                      distance_between("fingertip_pos", "target_pos", 2), "m", bar=0.02),
              Measure("elbow angle (joint1)", lambda ep: ep.field("joint1_angle"), "rad",
                      better="higher", bar=ELBOW_MIN)),
    baseline_reward=BASELINE,
    baseline_doc="Reacher-v5's own reward (minus the fingertip-target distance - 0.1 |a|^2) "
                 "plus a penalty on how far, and whether, the elbow angle is below 0.",
    budgets={"sb3": Budget(steps=300_000, eval_episodes=10)},
    hyperparams={"sb3": {"n_envs": 8, "n_steps": 256, "batch_size": 256, "n_epochs": 10,
                         "gamma": 0.9}},
)
