"""Jump as high as possible (Hopper-v5; no such reward in the simulator)."""

import numpy as np

from rewardsmith.tasks import Budget, Fitness, Task

# What a competent engineer would write: reward height above standing and upward speed
# strongly, a small alive bonus (a large one teaches the hopper to just stand), penalize effort.
# Measured: 100k PPO steps reach a 1.65 m peak (2 seeds; standing is 1.25 m, success 2/2).
BASELINE = '''
def compute_reward(state, action, next_state):
    stand_height = 1.25
    height_weight = 10.0
    up_weight = 3.0
    alive_bonus = 0.5
    ctrl_weight = 1e-3
    height = np.maximum(next_state.torso_pos[:, 2] - stand_height, 0.0)
    up_speed = np.maximum(next_state.rootz_vel, 0.0)
    height_term = height_weight * height
    up_term = up_weight * up_speed
    alive = alive_bonus * np.ones_like(height)
    ctrl = ctrl_weight * np.sum(np.square(action), axis=-1)
    return height_term + up_term + alive - ctrl, {
        "height": height_term, "up_speed": up_term, "alive": alive, "ctrl_cost": -ctrl}
'''


def peak_height(ep):
    return float(np.max(ep.field("torso_pos")[:, 2]))


TASK = Task(
    id="hopper-jump-v0",
    env_id="Hopper-v5",
    robot="one-legged hopper (2D)",
    description="Make the hopper jump as high as possible: the torso should reach the greatest "
                "height it can above the ground, landing without falling over.",
    fitness=Fitness(
        fn=peak_height,
        doc="highest torso height (m) reached in the episode; standing is about 1.25 m. The "
            "landing is not scored: a fall after the peak keeps the peak (the description's "
            "landing is for the behaviour, not the number)",
        success=lambda ep: peak_height(ep) >= 1.5,
        success_doc="the torso reaches 1.5 m",
        open_ended=True,
    ),
    baseline_reward=BASELINE,
    baseline_doc="Height above standing and upward speed, an alive bonus, and an effort penalty.",
    budgets={"sb3": Budget(steps=100_000)},
    hyperparams={"sb3": {"n_envs": 8, "n_steps": 256, "batch_size": 256, "n_epochs": 5}},
)
