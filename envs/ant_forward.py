"""Walk forward on four legs (Ant-v5)."""

from rewardsmith.tasks import Budget, Fitness, Task, distance_travelled

TASK = Task(
    id="ant-forward-v0",
    env_id="Ant-v5",
    robot="four-legged ant (3D)",
    description="Make the ant walk forward (towards +x) as fast as possible without flipping over.",
    fitness=Fitness(
        fn=distance_travelled("torso_linvel", axis=0),
        doc="metres the torso travels along +x before the episode ends",
        success=lambda ep: distance_travelled("torso_linvel", axis=0)(ep) >= 3.0,
        success_doc="travels at least 3 m forward",
        open_ended=True,
    ),
    baseline_reward="env",
    baseline_doc="Ant-v5's own reward: x velocity + 1 per healthy step - 0.5 |a|^2 - contact cost.",
    budgets={"sb3": Budget(steps=150_000)},
    hyperparams={"sb3": {"n_envs": 8, "n_steps": 256, "batch_size": 256, "n_epochs": 5}},
)
