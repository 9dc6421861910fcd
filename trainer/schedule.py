"""Learning-rate schedule: linear warmup, then cosine decay to `min_lr_ratio * lr`.

`lr_multiplier(step)` is the factor applied to the peak LR for the optimizer step that follows
`step` completed steps (LambdaLR's convention: the first step uses factor(0)). Warmup ramps
`1/warmup, 2/warmup, ..., 1` so no step runs at LR 0; the cosine then reaches exactly
`min_lr_ratio` on the last step, `total_steps - 1`.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def lr_multiplier(step: int, *, warmup_steps: int, total_steps: int, min_lr_ratio: float) -> float:
    """Factor of the peak LR used for optimizer step `step` (0-based)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = total_steps - warmup_steps - 1
    if decay_steps <= 0:
        return 1.0
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine(
    optimizer: Optimizer,
    *,
    warmup_steps: int,
    total_steps: int,
    min_lr_ratio: float = 0.1,
    last_epoch: int = -1,
) -> LambdaLR:
    """A LambdaLR applying `lr_multiplier` to every param group; call `.step()` per optimizer step.

    The multiplier is a closure, so the scheduler's state_dict stores only counters (LambdaLR
    saves no state for plain functions) and loads with `torch.load(weights_only=True)`.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")

    def factor(step: int) -> float:
        return lr_multiplier(
            step, warmup_steps=warmup_steps, total_steps=total_steps, min_lr_ratio=min_lr_ratio
        )

    return LambdaLR(optimizer, factor, last_epoch=last_epoch)
