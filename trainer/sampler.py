"""A deterministic, resumable, rank-sharded sampler of row indices.

Epoch `e`'s order is a permutation drawn from `numpy.random.default_rng([seed, e])`, so it
depends on nothing but (seed, epoch, num_rows). Rank `r` of `world_size` takes every
`world_size`-th index of that permutation starting at `r`: ranks are disjoint and together cover
every row once per epoch (their lengths differ by at most one; the trainer counts optimizer steps,
not epochs, so ranks still stay in step). The sampler keeps `(epoch, position)` — how many of this
rank's indices of the current epoch have been handed out — and `state_dict()` /
`load_state_dict()` carry them, so a resumed run continues mid-epoch with the same indices.

Indices are drawn in the main process even when a DataLoader has workers; the sampler holds no
generator object, only integers, so it pickles trivially.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from torch.utils.data import Sampler


class ResumableSampler(Sampler[int]):
    """Yields this rank's row indices for the current epoch, from the saved position on.

    Iterating advances `position` as each index is yielded; when the epoch is exhausted the
    sampler moves itself to the next epoch at position 0, so `iter(sampler)` again starts the next
    epoch. `advance(n)` and `set_epoch()` let a caller that counts consumed rows itself (e.g. a
    training loop whose DataLoader prefetches ahead) keep an exact cursor.
    """

    def __init__(
        self,
        num_rows: int,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
    ) -> None:
        if num_rows < 0:
            raise ValueError(f"num_rows must be >= 0, got {num_rows}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank {rank}, world {world_size}")
        self.num_rows = num_rows
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.shuffle = shuffle
        self.epoch = 0
        self.position = 0

    def __len__(self) -> int:
        """This rank's indices per epoch."""
        return len(range(self.rank, self.num_rows, self.world_size))

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """This rank's indices for `epoch`, in order (a fresh int64 array)."""
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.num_rows)
        else:
            order = np.arange(self.num_rows, dtype=np.int64)
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[int]:
        indices = self.epoch_indices(self.epoch)
        while self.position < len(indices):
            index = int(indices[self.position])
            self.position += 1
            yield index
        self.set_epoch(self.epoch + 1)

    def set_epoch(self, epoch: int, position: int = 0) -> None:
        """Jump to `position` within `epoch`."""
        if epoch < 0 or not 0 <= position <= len(self):
            raise ValueError(f"bad sampler position: epoch {epoch}, position {position}")
        self.epoch = epoch
        self.position = position

    def advance(self, count: int) -> None:
        """Mark `count` more indices as consumed, rolling into following epochs as needed."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        per_epoch = len(self)
        if per_epoch == 0:
            return
        total = self.position + count
        self.epoch += total // per_epoch
        self.position = total % per_epoch

    def state_dict(self) -> dict[str, Any]:
        """Plain ints/bools only, so a checkpoint holding it loads with `weights_only=True`."""
        return {
            "epoch": self.epoch,
            "position": self.position,
            "seed": self.seed,
            "num_rows": self.num_rows,
            "rank": self.rank,
            "world_size": self.world_size,
            "shuffle": self.shuffle,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `(epoch, position)`; the order-defining fields must match this sampler's."""
        for key in ("seed", "num_rows", "rank", "world_size", "shuffle"):
            if key in state and state[key] != getattr(self, key):
                raise ValueError(
                    f"sampler state has {key}={state[key]!r} but this sampler has "
                    f"{getattr(self, key)!r}; the saved position would not mean the same rows"
                )
        self.set_epoch(int(state["epoch"]), int(state["position"]))
