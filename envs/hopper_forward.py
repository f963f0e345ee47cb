"""Hop forward as fast as possible without falling (Hopper-v5)."""

from rewardsmith.tasks import Budget, Fitness, Task, distance_travelled

# Hopper-v5's own reward, re-written against the state view (reproduces it to 1e-6).
BASELINE = '''
def compute_reward(state, action, next_state):
    forward_weight = 1.0
    healthy_weight = 1.0
    ctrl_weight = 1e-3
    x_velocity = (next_state.rootx_pos - state.rootx_pos) / next_state.dt
    rest = np.concatenate([next_state.qpos[:, 2:], next_state.qvel], axis=-1)
    healthy = (np.all(np.abs(rest) < 100.0, axis=-1)
               & (next_state.rootz_pos > 0.7)
               & (np.abs(next_state.rooty_angle) < 0.2))
    forward = forward_weight * x_velocity
    alive = healthy_weight * np.where(healthy, 1.0, 0.0)
    ctrl = ctrl_weight * np.sum(np.square(action), axis=-1)
    return forward + alive - ctrl, {"forward": forward, "alive": alive, "ctrl_cost": -ctrl}
'''

TASK = Task(
    id="hopper-forward-v0",
    env_id="Hopper-v5",
    robot="one-legged hopper (2D)",
    description="Make the hopper hop forward (towards +x) as fast as possible without falling over.",
    fitness=Fitness(
        fn=distance_travelled("rootx_vel"),
        doc="metres travelled forward along x before the episode ends (falling ends it)",
        success=lambda ep: distance_travelled("rootx_vel")(ep) >= 2.0,
        success_doc="travels at least 2 m forward",
        open_ended=True,
    ),
    baseline_reward=BASELINE,
    baseline_doc="Hopper-v5's own reward: forward velocity + 1 per healthy step - 1e-3 |a|^2.",
    budgets={"sb3": Budget(steps=100_000)},
    hyperparams={"sb3": {"n_envs": 8, "n_steps": 256, "batch_size": 256, "n_epochs": 5}},
)
