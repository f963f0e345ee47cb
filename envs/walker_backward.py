"""Walk backwards without falling (Walker2d-v5; no such reward in the simulator)."""

from rewardsmith.tasks import Budget, Fitness, Task, distance_travelled

BASELINE = '''
def compute_reward(state, action, next_state):
    backward_weight = 1.0
    healthy_weight = 1.0
    ctrl_weight = 1e-3
    x_velocity = (next_state.rootx_pos - state.rootx_pos) / next_state.dt
    z = next_state.rootz_pos
    healthy = (z > 0.8) & (z < 2.0) & (np.abs(next_state.rooty_angle) < 1.0)
    backward = -backward_weight * x_velocity
    alive = healthy_weight * np.where(healthy, 1.0, 0.0)
    ctrl = ctrl_weight * np.sum(np.square(action), axis=-1)
    return backward + alive - ctrl, {"backward": backward, "alive": alive, "ctrl_cost": -ctrl}
'''

TASK = Task(
    id="walker-backward-v0",
    env_id="Walker2d-v5",
    robot="two-legged walker (2D)",
    description="Make the walker walk backwards (towards -x) without falling over.",
    fitness=Fitness(
        fn=distance_travelled("rootx_vel", sign=-1.0),
        doc="metres travelled backwards (towards -x) before the episode ends",
        success=lambda ep: distance_travelled("rootx_vel", sign=-1.0)(ep) >= 2.0,
        success_doc="walks at least 2 m backwards",
        open_ended=True,
    ),
    baseline_reward=BASELINE,
    baseline_doc="Walker2d's reward with the direction flipped: -x velocity + healthy bonus - effort.",
    budgets={"sb3": Budget(steps=100_000)},
    hyperparams={"sb3": {"n_envs": 8, "n_steps": 256, "batch_size": 256, "n_epochs": 5}},
)
