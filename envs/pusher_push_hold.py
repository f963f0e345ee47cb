"""Push the cylinder onto the goal, then hold the arm still (Pusher-v5; no such reward in the
simulator: it rewards pushing but not stopping)."""

import numpy as np

from rewardsmith.tasks import Budget, Fitness, Measure, Task, distance_between

GOAL_RADIUS = 0.08  # the goal disc's radius in pusher.xml
HOLD_STEPS = 20  # the last second of the 100-step (5 s) episode is the hold phase
SPEED_WEIGHT = 0.05  # metres of fitness per rad/s of arm joint speed while holding
STILL_SPEED = 0.5  # rad/s: RMS arm joint speed that counts as holding still
ARM_JOINTS = ("r_shoulder_pan_joint", "r_shoulder_lift_joint", "r_upper_arm_roll_joint",
              "r_elbow_flex_joint", "r_forearm_roll_joint", "r_wrist_flex_joint",
              "r_wrist_roll_joint")

# Measured (scripts/bench_baselines.py --task pusher-push-hold-v0 --seeds 2, 2 cores): 400k
# steps (~2 min a seed) take the fitness from -0.26 (untrained) to -0.19, success 0% -> 5%.
#
# Staged, the way an engineer would write it: bring the fingertips to the object, the object to
# the goal; once the object is on the goal disc (on_goal), a bonus for keeping it there and a
# penalty on arm joint speed, so the arm stops instead of wandering on.
BASELINE = '''
def compute_reward(state, action, next_state):
    near_weight = 0.5
    dist_weight = 1.0
    goal_radius = 0.08
    on_goal_bonus = 0.5
    hold_weight = 0.05
    ctrl_weight = 0.1
    tip_gap = np.sqrt(np.sum(np.square(next_state.object_pos - next_state.tips_arm_pos), axis=-1))
    object_gap = np.sqrt(np.sum(np.square(next_state.object_pos[:, :2] - next_state.goal_pos[:, :2]),
                                axis=-1))
    on_goal = np.where(object_gap < goal_radius, 1.0, 0.0)
    arm_speed_sq = (np.square(next_state.r_shoulder_pan_joint_angvel)
                    + np.square(next_state.r_shoulder_lift_joint_angvel)
                    + np.square(next_state.r_upper_arm_roll_joint_angvel)
                    + np.square(next_state.r_elbow_flex_joint_angvel)
                    + np.square(next_state.r_forearm_roll_joint_angvel)
                    + np.square(next_state.r_wrist_flex_joint_angvel)
                    + np.square(next_state.r_wrist_roll_joint_angvel))
    near = -near_weight * tip_gap
    push = -dist_weight * object_gap
    stay = on_goal_bonus * on_goal
    hold = -hold_weight * on_goal * arm_speed_sq
    ctrl = -ctrl_weight * np.sum(np.square(action), axis=-1)
    reward = near + push + stay + hold + ctrl
    return reward, {"near": near, "push": push, "on_goal": stay, "hold_still": hold, "ctrl": ctrl}
'''


# (T,) horizontal distance (m) from the object's centre to the goal's, s_1..s_T
object_goal_distance = distance_between("object_pos", "goal_pos", 2)


def arm_speed(ep):
    """(T,) the arm's joint speed (rad/s, root of the sum of squares) at each state."""
    w = np.stack([ep.field(f"{j}_angvel") for j in ARM_JOINTS], axis=-1)
    return np.sqrt(np.sum(np.square(w), axis=-1))


def hold_speed(ep):
    """RMS arm joint speed (rad/s) over the hold phase (the last HOLD_STEPS states)."""
    return float(np.sqrt(np.mean(np.square(arm_speed(ep)[-HOLD_STEPS:]))))


def fitness(ep):
    return -float(object_goal_distance(ep)[-1]) - SPEED_WEIGHT * hold_speed(ep)


def success(ep):
    return bool(object_goal_distance(ep)[-1] < GOAL_RADIUS and hold_speed(ep) < STILL_SPEED)


TASK = Task(
    id="pusher-push-hold-v0",
    env_id="Pusher-v5",
    robot="7-joint arm (PR2-like) at a table, with a sliding cylinder and a goal disc",
    description="Use the arm to push the cylinder (the object) onto the goal (the red disc), "
                "then hold the arm still with the object resting on the goal until the episode "
                "ends: the arm's joints should stop moving once the object is there.",
    fitness=Fitness(
        fn=fitness,
        doc=f"minus the horizontal object-to-goal distance (m) at the end of the 100-step "
            f"episode, minus {SPEED_WEIGHT} x the arm's RMS joint speed (rad/s) over the last "
            f"{HOLD_STEPS} steps (the hold phase)",
        success=success,
        success_doc=f"the object ends on the goal disc (within {GOAL_RADIUS * 100:.0f} cm) and the "
                    f"arm's RMS joint speed over the last {HOLD_STEPS} steps is under "
                    f"{STILL_SPEED} rad/s",
        maximum=0.0,
    ),
    measures=(Measure("object-to-goal distance", object_goal_distance, "m", bar=GOAL_RADIUS),
              Measure("tips_arm_pos-to-object distance",
                      distance_between("tips_arm_pos", "object_pos"), "m"),
              Measure("arm joint speed (root of the sum of squares)", arm_speed, "rad/s",
                      bar=STILL_SPEED)),
    baseline_reward=BASELINE,
    baseline_doc="Staged: fingertips to object and object to goal (as Pusher-v5), then, while the "
                 "object is on the goal, a bonus and a penalty on arm joint speed; an effort "
                 "penalty.",
    budgets={"sb3": Budget(steps=400_000, eval_episodes=10)},
    hyperparams={"sb3": {"n_envs": 8, "n_steps": 256, "batch_size": 256, "n_epochs": 10,
                         "gamma": 0.95}},
)
