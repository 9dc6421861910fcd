"""Where the trainer runs: this process's rank under `torchrun`, and its device.

With WORLD_SIZE > 1 in the environment (as `torchrun` sets it) the process group is joined from
the environment (NCCL on CUDA, gloo on the CPU); otherwise training is single-process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    started_here: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed() -> DistInfo:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    started_here = not dist.is_initialized()
    if started_here:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return DistInfo(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        started_here=started_here,
    )


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` -> this rank's CUDA device if CUDA is available, else CPU; anything else as given."""
    if name == "auto":
        name = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return device
