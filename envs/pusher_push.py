"""Push the cylinder onto the goal disc with the arm (Pusher-v5)."""

from rewardsmith.tasks import Budget, Fitness, Measure, Task, distance_between

GOAL_RADIUS = 0.08  # the goal disc's radius in pusher.xml; success is the object's centre on it


# (T,) horizontal distance (m) from the object's centre to the goal's, s_1..s_T
object_goal_distance = distance_between("object_pos", "goal_pos", 2)


def final_distance(ep):
    return float(object_goal_distance(ep)[-1])


# Measured (scripts/bench_baselines.py --task pusher-push-v0 --seeds 2, 2 cores): 400k steps
# (~2 min a seed) take the final object-goal distance from 0.26 m (untrained) to 0.15 m, and
# success from 0% to 20%; 50k steps leave it untouched (0.27 m).
TASK = Task(
    id="pusher-push-v0",
    env_id="Pusher-v5",
    robot="7-joint arm (PR2-like) at a table, with a sliding cylinder and a goal disc",
    description="Use the arm to push the cylinder (the object) across the table onto the goal "
                "(the red disc) and leave it there by the end of the episode.",
    fitness=Fitness(
        fn=lambda ep: -final_distance(ep),
        doc="minus the horizontal object-to-goal distance (m) at the end of the 100-step "
            "episode (the object starts 0.17-0.36 m away)",
        success=lambda ep: final_distance(ep) < GOAL_RADIUS,
        success_doc="the object's centre ends on the goal disc (within 8 cm of its centre)",
        maximum=0.0,
    ),
    measures=(Measure("object-to-goal distance", object_goal_distance, "m", bar=GOAL_RADIUS),
              Measure("tips_arm_pos-to-object distance",
                      distance_between("tips_arm_pos", "object_pos"), "m")),
    baseline_reward="env",
    baseline_doc="Pusher-v5's own reward: -|object - goal| - 0.5 |object - tips_arm| "
                 "- 0.1 |a|^2.",
    budgets={"sb3": Budget(steps=400_000, eval_episodes=10)},
    hyperparams={"sb3": {"n_envs": 8, "n_steps": 256, "batch_size": 256, "n_epochs": 10,
                         "gamma": 0.95}},
)
