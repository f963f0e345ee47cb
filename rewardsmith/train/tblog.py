"""TensorBoard event files from a training curve, for backends whose trainer writes none (the
brax path): the same ``rewardsmith/...`` scalars the sb3 path logs as it trains, one point per
curve window, so ``tensorboard --logdir runs/<id>`` shows every candidate whatever trained it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rewardsmith.contracts import CurvePoint


def has_events(folder: Path) -> bool:
    return any(Path(folder).rglob("events.out.tfevents.*"))


def write_curve(curve: list[CurvePoint], folder: Path, run_name: str = "curve") -> Path | None:
    """Write ``curve`` to ``folder/run_name``; None when tensorboard is not installed."""
    if importlib.util.find_spec("tensorboard") is None or not curve:
        return None
    from torch.utils.tensorboard import SummaryWriter

    out = Path(folder) / run_name
    w = SummaryWriter(log_dir=str(out))
    try:
        for p in curve:
            if p.fitness is not None:
                w.add_scalar("rewardsmith/fitness", p.fitness, p.step)
            if p.success_rate is not None:
                w.add_scalar("rewardsmith/success", p.success_rate, p.step)
            w.add_scalar("rewardsmith/episode_length", p.episode_length, p.step)
            w.add_scalar("rewardsmith/return", p.reward_return, p.step)
            w.add_scalar("rewardsmith/env_return", p.env_return, p.step)
            for name, v in p.components.items():
                w.add_scalar(f"rewardsmith/component/{name}", v, p.step)
    finally:
        w.close()
    return out
