"""Run backwards as fast as possible (HalfCheetah-v5; no such reward in the simulator)."""

from rewardsmith.tasks import Budget, Fitness, Task, distance_travelled

BASELINE = '''
def compute_reward(state, action, next_state):
    backward_weight = 1.0
    ctrl_weight = 0.1
    x_velocity = (next_state.rootx_pos - state.rootx_pos) / next_state.dt
    backward = -backward_weight * x_velocity
    ctrl = ctrl_weight * np.sum(np.square(action), axis=-1)
    return backward - ctrl, {"backward": backward, "ctrl_cost": -ctrl}
'''

TASK = Task(
    id="cheetah-run-backward-v0",
    env_id="HalfCheetah-v5",
    robot="half cheetah (2D)",
    description="Make the half cheetah run backwards (towards -x) as fast as possible.",
    fitness=Fitness(
        fn=distance_travelled("rootx_vel", sign=-1.0),
        doc="metres travelled backwards (towards -x) in the 1000-step episode",
        success=lambda ep: distance_travelled("rootx_vel", sign=-1.0)(ep) >= 20.0,
        success_doc="runs at least 20 m backwards",
        open_ended=True,
    ),
    baseline_reward=BASELINE,
    baseline_doc="HalfCheetah's forward reward with the sign flipped: -x velocity - 0.1 |a|^2.",
    budgets={"sb3": Budget(steps=100_000)},
    hyperparams={"sb3": {"n_envs": 8, "n_steps": 256, "batch_size": 256, "n_epochs": 5}},
)
