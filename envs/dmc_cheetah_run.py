"""Run forward at 10 m/s or faster (DeepMind Control Suite cheetah/run)."""

from rewardsmith.tasks import Budget, Fitness, Task
from rewardsmith.tasks.dmc import TOLERANCE, forward_speed, suite_return, suite_return_doc

# The suite's own reward, re-written against the state view (equal to the suite's to
# 1e-6: tests/test_dmc.py).
BASELINE = TOLERANCE + '''
def compute_reward(state, action, next_state):
    run_speed = 10.0
    speed = tolerance_linear(next_state.com_vel[:, 0], run_speed, np.inf, run_speed, 0.0)
    return speed, {"speed": speed}
'''

# The suite's reward per step, in words: the baseline's doc and what the score sums.
REWARD_DOC = ("cheetah/run's own reward: a linear tolerance of the centre of mass's x velocity,"
              " 0 at rest rising to 1 at 10 m/s.")

# Measured (scripts/bench_baselines.py --seeds 2, 2 cores): at 200k steps the baseline scores
# 287 and 99 against the untrained policy's 0.1 (two seeds): it learns, unevenly.
TASK = Task(
    id="dmc-cheetah-run-v0",
    env_id="dmc:cheetah/run",
    robot="planar half cheetah (2D, back and front legs of three joints each)",
    description="Make the cheetah run forward (towards +x) as fast as possible, up to 10 m/s.",
    fitness=Fitness(
        fn=suite_return,
        doc=suite_return_doc(REWARD_DOC),
        maximum=1000.0,
    ),
    measures=(forward_speed(10.0),),
    baseline_reward=BASELINE,
    baseline_doc=REWARD_DOC,
    budgets={"sb3": Budget(steps=200_000)},
)
