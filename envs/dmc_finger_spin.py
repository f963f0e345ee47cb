"""Spin the hinged body fast with the finger (DeepMind Control Suite finger/spin)."""

from rewardsmith.tasks import Budget, Fitness, Measure, Task
from rewardsmith.tasks.dmc import TOLERANCE, suite_return, suite_return_doc

# The suite's own reward, re-written against the state view (equal to the suite's to
# 1e-6: tests/test_dmc.py).
BASELINE = TOLERANCE + '''
def compute_reward(state, action, next_state):
    spin_velocity = 15.0
    spinning = np.where(next_state.hinge_angvel <= -spin_velocity, 1.0, 0.0)
    return spinning, {"spinning": spinning}
'''

# The suite's reward per step, in words: the baseline's doc and what the score sums.
REWARD_DOC = ("finger/spin's own reward: 1 when the hinge turns at -15 rad/s or faster, 0 "
              "otherwise (sparse).")

# Measured (scripts/bench_baselines.py --seeds 2, 2 cores): at 200k steps the baseline scores
# 543 and 552 against the untrained policy's 0.
TASK = Task(
    id="dmc-finger-spin-v0",
    env_id="dmc:finger/spin",
    robot="planar two-link finger beside a free-spinning hinged body (the spinner)",
    description="Use the finger to keep the spinner (the body on the hinge joint) turning at 15 "
                "rad/s or faster, in the direction of negative hinge angle, on as many steps of "
                "the episode as possible; spinning faster than that earns nothing more.",
    fitness=Fitness(
        fn=suite_return,
        doc=suite_return_doc(REWARD_DOC),
        sparse=True,
        maximum=1000.0,
    ),
    measures=(Measure("spinner's angular velocity (hinge_angvel)",
                      lambda ep: ep.field("hinge_angvel"), "rad/s", better="lower", bar=-15.0),),
    baseline_reward=BASELINE,
    baseline_doc=REWARD_DOC,
    budgets={"sb3": Budget(steps=200_000)},
)
