"""How a training worker shows that it is making progress, not merely running.

The worker's heartbeat thread beats every few seconds whatever the main thread does, so a beat
alone cannot tell a long evaluation from a reward call that never returns (a loop hidden in a
rare branch). Code that steps the simulator calls :func:`tick`; each beat carries the count,
and the pool kills a worker whose count stopped moving for longer than its stall limit. Paths
that step inside compiled code (the JAX backend) never tick and are watched by the beat and
the time limits alone.
"""

from __future__ import annotations

_steps = 0


def tick(n: int = 1) -> None:
    """``n`` env steps were taken."""
    global _steps
    _steps += n


def steps() -> int:
    """Env steps taken in this process so far (0: this process does not tick)."""
    return _steps
