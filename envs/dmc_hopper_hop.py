"""Hop forward at 2 m/s or faster, standing tall (DeepMind Control Suite hopper/hop)."""

from rewardsmith.state.view import ModelQuantity
from rewardsmith.tasks import Budget, Extra, Fitness, Measure, Task
from rewardsmith.tasks.dmc import TOLERANCE, forward_speed, suite_return, suite_return_doc

# The suite measures the hopper's height between body centres of mass (MuJoCo's xipos), which
# the state view does not have: two task extras add them.
EXTRAS = (
    Extra("torso_com_pos", (3,), "m", "centre of mass of the torso body (world frame)",
          ModelQuantity("data.xipos[model.body('torso').id]")),
    Extra("foot_com_pos", (3,), "m", "centre of mass of the foot body (world frame)",
          ModelQuantity("data.xipos[model.body('foot').id]")),
)

# The suite's own reward, re-written against the state view (equal to the suite's to
# 1e-6: tests/test_dmc.py).
BASELINE = TOLERANCE + '''
def compute_reward(state, action, next_state):
    stand_height = 0.6
    hop_speed = 2.0
    height = next_state.torso_com_pos[:, 2] - next_state.foot_com_pos[:, 2]
    standing = np.where(in_bounds(height, stand_height, 2.0), 1.0, 0.0)
    hopping = tolerance_linear(next_state.com_vel[:, 0], hop_speed, np.inf, hop_speed / 2, 0.5)
    return standing * hopping, {"standing": standing, "hopping": hopping}
'''

# The suite's reward per step, in words: the baseline's doc and what the score sums.
REWARD_DOC = ("hopper/hop's own reward: standing (the torso's centre of mass 0.6-2 m above the "
              "foot's) times a linear tolerance of the centre of mass's x velocity above 2 m/s.")

# Measured (scripts/bench_baselines.py --steps N, 2 cores): the baseline scores 0 on 2 seeds at
# 300k steps, like the untrained policy, and 6.7 of 1000 at 1M (one seed, 12 minutes): hopping
# is out of reach of PPO on 2 cores (the suite's papers train millions of steps with off-policy
# learners). Kept at 300k so a run stays minutes long: the task is here for a designer's reward
# to show what shaping can do where the suite's reward, zero until the hopper stands and moves
# at 1 m/s, gives the learner nothing; pass --steps for more.
TASK = Task(
    id="dmc-hopper-hop-v0",
    env_id="dmc:hopper/hop",
    robot="planar one-legged hopper (2D: torso, pelvis, thigh, calf, foot)",
    description="Make the hopper hop forward (towards +x) at 2 m/s or faster while keeping its "
                "torso between 0.6 m and 2 m above its foot.",
    fitness=Fitness(
        fn=suite_return,
        doc=suite_return_doc(REWARD_DOC),
        maximum=1000.0,
    ),
    # the two factors of the suite's reward: standing (this height in 0.6-2 m) and the speed
    measures=(Measure("torso's height above the foot (centres of mass)",
                      lambda ep: ep.field("torso_com_pos")[:, 2] - ep.field("foot_com_pos")[:, 2],
                      "m", better="higher", bar=0.6),
              forward_speed(2.0)),
    baseline_reward=BASELINE,
    baseline_doc=REWARD_DOC,
    extras=EXTRAS,
    budgets={"sb3": Budget(steps=300_000)},
)
