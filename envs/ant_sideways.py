"""Walk sideways (Ant-v5 towards +y; no such reward in the simulator)."""

from rewardsmith.tasks import Budget, Fitness, Task, distance_travelled

BASELINE = '''
def compute_reward(state, action, next_state):
    sideways_weight = 1.0
    drift_weight = 0.5
    healthy_weight = 1.0
    ctrl_weight = 0.5
    y_velocity = (next_state.torso_pos[:, 1] - state.torso_pos[:, 1]) / next_state.dt
    x_velocity = (next_state.torso_pos[:, 0] - state.torso_pos[:, 0]) / next_state.dt
    z = next_state.torso_pos[:, 2]
    healthy = (z > 0.2) & (z < 1.0)
    sideways = sideways_weight * y_velocity
    drift = drift_weight * np.abs(x_velocity)
    alive = healthy_weight * np.where(healthy, 1.0, 0.0)
    ctrl = ctrl_weight * np.sum(np.square(action), axis=-1)
    return sideways - drift + alive - ctrl, {
        "sideways": sideways, "drift_cost": -drift, "alive": alive, "ctrl_cost": -ctrl}
'''

TASK = Task(
    id="ant-sideways-v0",
    env_id="Ant-v5",
    robot="four-legged ant (3D)",
    description="Make the ant walk sideways, to its left (towards +y), without turning or "
                "drifting forward or back, and without flipping over.",
    fitness=Fitness(
        fn=distance_travelled("torso_linvel", axis=1),
        doc="metres the torso travels along +y before the episode ends",
        success=lambda ep: distance_travelled("torso_linvel", axis=1)(ep) >= 3.0,
        success_doc="travels at least 3 m to the left",
        open_ended=True,
    ),
    baseline_reward=BASELINE,
    baseline_doc="y velocity, a penalty on x drift, a healthy bonus, and an effort penalty.",
    budgets={"sb3": Budget(steps=150_000)},
    hyperparams={"sb3": {"n_envs": 8, "n_steps": 256, "batch_size": 256, "n_epochs": 5}},
)
