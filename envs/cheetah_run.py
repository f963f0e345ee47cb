"""Run forward as fast as possible (HalfCheetah-v5)."""

from rewardsmith.tasks import Budget, Fitness, Task, distance_travelled

# HalfCheetah-v5's own reward, re-written against the state view (reproduces it to 1e-6).
BASELINE = '''
def compute_reward(state, action, next_state):
    forward_weight = 1.0
    ctrl_weight = 0.1
    x_velocity = (next_state.rootx_pos - state.rootx_pos) / next_state.dt
    forward = forward_weight * x_velocity
    ctrl = ctrl_weight * np.sum(np.square(action), axis=-1)
    return forward - ctrl, {"forward": forward, "ctrl_cost": -ctrl}
'''

TASK = Task(
    id="cheetah-run-v0",
    env_id="HalfCheetah-v5",
    robot="half cheetah (2D)",
    description="Make the half cheetah run forward (towards +x) as fast as possible.",
    fitness=Fitness(
        fn=distance_travelled("rootx_vel"),
        doc="metres travelled forward along x in the 1000-step episode",
        success=lambda ep: distance_travelled("rootx_vel")(ep) >= 20.0,
        success_doc="runs at least 20 m forward (0.4 m/s on average)",
        open_ended=True,
    ),
    baseline_reward=BASELINE,
    baseline_doc="HalfCheetah-v5's own reward: forward velocity - 0.1 |a|^2.",
    budgets={"sb3": Budget(steps=100_000)},
    hyperparams={"sb3": {"n_envs": 8, "n_steps": 256, "batch_size": 256, "n_epochs": 5}},
)
