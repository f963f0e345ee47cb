"""Whether a reward program can run on the JAX path (the brax backend's env step): the same
source under ``jax.numpy``, jitted and vmapped, on recorded transitions.

Used by the sandbox's dry run (inside the jail, where only numpy, JAX and the sandbox are
imported) and by the brax backend before training; needs JAX (the ``jax`` extra) only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rewardsmith.errors import RewardsmithError
from rewardsmith.reward.program import RewardProgram, RewardProgramError, compile_program
from rewardsmith.state.mjx_view import import_jax
from rewardsmith.state.view import Field, StateSpec


def check_traceable(program: RewardProgram | str, transitions: Any, *, spec: StateSpec | None = None,
                    compare_numpy: bool = True) -> list[str]:
    """Can ``program`` run on the JAX path? ``[]`` when it can; otherwise what to change.

    Runs the program under ``jax.jit`` and ``jax.vmap`` (one transition per call, with a batch
    axis of 1, as inside the env step) on ``transitions`` (the dry run's
    :class:`~rewardsmith.sandbox.dryrun.Transitions`, or its groups as a dict), and checks that
    the results agree with the numpy path and do not depend on the other rows of the batch.
    ``spec`` is rebuilt from the transitions' layout when not given.
    """
    jax, jnp = import_jax()

    if isinstance(program, str):
        program = RewardProgram(program)
    if program.source.strip() == "env":
        return []
    if spec is None:
        lay = transitions.layout
        fields = {n: Field(n, int(o), tuple(s), "", "") for n, o, s in lay["fields"]}
        spec = StateSpec(fields=fields, size=int(lay["size"]), dt=float(lay["dt"]))
    try:
        jp_prog = compile_program(program, xp=jnp)
        np_prog = compile_program(program)
    except RewardProgramError as e:
        return [str(e)]

    def single(s, a, n):
        r, c = jp_prog(spec.view(s[None]), a[None], spec.view(n[None]))
        return r[0], {k: v[0] for k, v in c.items()}

    def batched(s, a, n):
        return jp_prog(spec.view(s), a, spec.view(n))

    problems: list[str] = []
    vm = jax.jit(jax.vmap(single))
    whole = jax.jit(batched)
    groups = getattr(transitions, "groups", transitions)
    for g in ("ordinary", "terminal", "extreme"):
        if g not in groups:
            continue
        S, A, N = (np.asarray(x, dtype=np.float32) for x in groups[g])
        try:
            r1, c1 = vm(S, A, N)
            r2, c2 = whole(S, A, N)
        except RewardsmithError as e:
            return [str(e)]
        except Exception as e:  # tracing errors: say what to change
            return [traceable_message(e)]
        r1, r2 = np.asarray(r1, np.float64), np.asarray(r2, np.float64)
        if set(c1) != set(c2):
            problems.append("the component names depend on the batch size; return the same dict "
                            "keys whatever the batch")
            break
        ok = np.isfinite(r1) & np.isfinite(r2)
        if not np.allclose(r1[ok], r2[ok], rtol=1e-3, atol=1e-4):
            problems.append(
                "the reward of one row depends on the other rows of the batch (for example "
                "np.mean or np.max over axis 0, or normalising by batch statistics); under JAX "
                "each robot is rewarded on its own: compute each row from that row only")
            break
        if compare_numpy and g == "ordinary":
            try:
                r_np, _ = np_prog(spec.view(S.astype(np.float64)), A.astype(np.float64),
                                  spec.view(N.astype(np.float64)))
            except Exception:  # noqa: BLE001 - the numpy dry run reports numpy failures
                continue
            r_np = np.asarray(r_np, np.float64)
            ok = np.isfinite(r_np) & np.isfinite(r1)
            scale = np.maximum(np.abs(r_np[ok]), 1.0)
            if ok.any() and np.max(np.abs(r1[ok] - r_np[ok]) / scale) > 1e-2:
                problems.append(
                    "compute_reward gives different values under jax.numpy (float32) than under "
                    "numpy on the same states; avoid integer arithmetic on floats, huge "
                    "intermediate values and functions whose numpy and jax.numpy versions "
                    "differ")
                break
    return problems


def traceable_message(e: BaseException) -> str:
    """A JAX tracing error as what the program must change."""
    name = type(e).__name__
    text = str(e)
    first = text.strip().splitlines()[0] if text.strip() else name
    if name in ("TracerBoolConversionError",) or "bool" in first.lower() and "tracer" in text.lower():
        return ("compute_reward branches in Python on array values (an `if`/`while` on an "
                "array, `and`/`or`/`not` between arrays, a chained comparison such as a < x < b, "
                "or the builtins max()/min()/abs() on arrays); under JAX every value is an array "
                "of the whole batch: use np.where(condition, a, b), np.logical_and/np.logical_or "
                "(or & and |), np.maximum/np.minimum and np.clip instead")
    if "does not support item assignment" in text or "immutable" in text:
        return ("compute_reward writes into an array in place (x[...] = v, x[...] += v); JAX "
                "arrays cannot be changed: build a new array instead, e.g. np.where(mask, v, x) or "
                "np.concatenate/np.stack of the pieces")
    if name in ("ConcretizationTypeError", "TracerIntegerConversionError",
                "TracerArrayConversionError"):
        return ("compute_reward turns an array into a Python number or list (float(x), int(x), "
                "x.item(), x.tolist(), range(x), indexing with a computed value); under JAX "
                "values are only known as arrays: keep them as arrays (np.where, np.clip, "
                "np.take with fixed indices)")
    if isinstance(e, AttributeError) and "not available in reward programs" in text:
        return f"{first} (under JAX, np is jax.numpy)"
    if isinstance(e, AttributeError) and "np." in text:
        return f"{first}: jax.numpy lacks this function; use another array function"
    return f"compute_reward fails under JAX tracing: {name}: {first}"
