"""Keep the pole of the cart-pole upright (InvertedPendulum-v5)."""

from rewardsmith.tasks import Budget, Fitness, Task

# The simulator's reward, re-written against the state view: +1 for every step the pole is
# within 0.2 rad of vertical (the env ends the episode when it is not).
BASELINE = '''
def compute_reward(state, action, next_state):
    max_angle = 0.2
    upright = np.abs(next_state.hinge_angle) <= max_angle
    alive = np.where(upright, 1.0, 0.0)
    return alive, {"alive": alive}
'''

TASK = Task(
    id="pendulum-balance-v0",
    env_id="InvertedPendulum-v5",
    robot="cart-pole",
    description="Balance the pole upright on the cart for as long as possible by pushing the cart "
                "left and right.",
    fitness=Fitness(
        fn=lambda ep: float(ep.length),
        doc="number of steps the pole stays within 0.2 rad of upright (max 1000)",
        success=lambda ep: ep.length >= 1000,
        success_doc="the pole stays up for the whole 1000-step episode",
        maximum=1000.0,
    ),
    baseline_reward=BASELINE,
    baseline_doc="InvertedPendulum-v5's own reward: +1 per step upright.",
    budgets={"sb3": Budget(steps=20_000, eval_episodes=5)},
    hyperparams={"sb3": {"n_envs": 4, "n_steps": 256, "batch_size": 256, "n_epochs": 10,
                         "gamma": 0.98, "learning_rate": 1e-3}},
)
