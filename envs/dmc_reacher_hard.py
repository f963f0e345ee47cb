"""Touch a small random target with the arm's fingertip (DeepMind Control Suite reacher/hard)."""

from rewardsmith.state.view import ModelQuantity
from rewardsmith.tasks import Budget, Extra, Fitness, Measure, Task, distance_between
from rewardsmith.tasks.dmc import TOLERANCE, suite_return, suite_return_doc

# The target is a geom of the world body, moved by the suite at each reset: a task extra adds
# its position to the state view.
EXTRAS = (
    Extra("target_pos", (3,), "m", "centre of the target (world frame; placed at random each "
          "episode)", ModelQuantity("data.geom_xpos[model.geom('target').id]")),
)



def restore_target(model, view, row):
    """A replayed pose shows the episode's target: the suite keeps it in the model (geom_pos of
    a geom of the world body), not in qpos."""
    model.geom_pos[model.geom("target").id, :2] = view.target_pos[row, :2]


# The suite's own reward, re-written against the state view (equal to the suite's to
# 1e-6: tests/test_dmc.py).
BASELINE = TOLERANCE + '''
def compute_reward(state, action, next_state):
    radii = 0.015 + 0.01
    to_target = next_state.target_pos[:, :2] - next_state.finger_pos[:, :2]
    distance = np.sqrt(np.sum(np.square(to_target), axis=-1))
    touching = np.where(in_bounds(distance, 0.0, radii), 1.0, 0.0)
    return touching, {"touching": touching}
'''

# The suite's reward per step, in words: the baseline's doc and what the score sums.
REWARD_DOC = ("reacher/hard's own reward: 1 while the fingertip's centre is within 2.5 cm of "
              "the target's centre (the target's radius, 1.5 cm, plus the fingertip's, 1 cm: "
              "the two spheres touch), 0 otherwise (sparse).")

# Measured (scripts/bench_baselines.py --seeds 2, 2 cores): at 200k steps the baseline scores
# 382 and 556 against the untrained policy's 17 and 200 (a target that starts near the tip).
TASK = Task(
    id="dmc-reacher-hard-v0",
    env_id="dmc:reacher/hard",
    robot="planar two-link arm (shoulder and wrist) with a fingertip, and a target on the plane",
    description="Move the arm so that its fingertip (the finger body) touches the target "
                "(target_pos, placed at random each episode) and stays on it.",
    fitness=Fitness(
        fn=suite_return,
        doc=suite_return_doc(REWARD_DOC),
        sparse=True,
        maximum=1000.0,
    ),
    measures=(Measure("fingertip-to-target distance (centres)",
                      distance_between("finger_pos", "target_pos", 2), "m", bar=0.025),),
    baseline_reward=BASELINE,
    baseline_doc=REWARD_DOC,
    extras=EXTRAS,
    restore_scene=restore_target,
    budgets={"sb3": Budget(steps=200_000)},
)
