"""The order in which training reads rows: a pure function of (seed, epoch, global sample index).

A run reads one endless stream of samples. Sample `k` of the stream belongs to epoch
`k // num_rows` and is row `permutation(seed, epoch)[k % num_rows]`, where the permutation is
drawn from `numpy.random.default_rng([seed, epoch])`. Nothing else enters: not the number of
ranks, not the DataLoader workers, not the batch size. Every epoch therefore reads every row
exactly once, and a batch may run across an epoch boundary (its last rows then come from the
next epoch's order); no row is dropped.

Optimizer step `s` reads the global batch of stream samples `[s * G, (s + 1) * G)`, with
`G = batch_size * grad_accum * world_size`. Rank `r` takes the contiguous slice
`[r * batch_size * grad_accum, (r + 1) * batch_size * grad_accum)` of it and cuts that into its
`grad_accum` micro-batches; so ranks are disjoint, together they read the whole global batch,
and one process with `grad_accum * world_size` micro-batches reads the very same rows.

`StepBatchSampler` yields each micro-batch as a list of `(epoch, row)` pairs from the main
process; a DataLoader hands each list whole to one worker, so no two workers (or ranks) read the
same sample of an epoch. The resume state is a few integers: the stream position (samples
consumed) and what defines the order (seed, rows, shuffle).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

#: The key under which `EpochRows` items carry the epoch they were drawn for.
EPOCH_KEY = "epoch"


def epoch_order(seed: int, epoch: int, num_rows: int, shuffle: bool = True) -> np.ndarray:
    """The rows of `epoch` in reading order: a permutation of `range(num_rows)` (int64)."""
    if not shuffle:
        return np.arange(num_rows, dtype=np.int64)
    return np.random.default_rng([seed, epoch]).permutation(num_rows).astype(np.int64)


class SampleStream:
    """Maps global sample indices to `(epoch, row)`; keeps the last few epochs' orders."""

    def __init__(self, num_rows: int, *, seed: int, shuffle: bool = True) -> None:
        if num_rows < 1:
            raise ValueError(f"num_rows must be >= 1, got {num_rows}")
        self.num_rows = num_rows
        self.seed = seed
        self.shuffle = shuffle
        self._orders: dict[int, np.ndarray] = {}

    def order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            if len(self._orders) >= 2:  # a batch spans at most two epochs when G <= num_rows
                del self._orders[min(self._orders)]
            self._orders[epoch] = epoch_order(self.seed, epoch, self.num_rows, self.shuffle)
        return self._orders[epoch]

    def take(self, start: int, count: int) -> list[tuple[int, int]]:
        """Samples `[start, start + count)` of the stream as `(epoch, row)` pairs."""
        pairs = []
        for k in range(start, start + count):
            epoch, offset = divmod(k, self.num_rows)
            pairs.append((epoch, int(self.order(epoch)[offset])))
        return pairs


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    """This rank's micro-batches, step after step, from stream position `consumed` on (endless).

    `consumed` is counted in global samples and must fall on a step boundary (a multiple of the
    global batch); `state_dict()` records it, with what defines the order.
    """

    def __init__(
        self,
        num_rows: int,
        *,
        seed: int,
        batch_size: int,
        grad_accum: int = 1,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
        consumed: int = 0,
    ) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank {rank}, world {world_size}")
        if batch_size < 1 or grad_accum < 1:
            raise ValueError("batch_size and grad_accum must be >= 1")
        self.stream = SampleStream(num_rows, seed=seed, shuffle=shuffle)
        self.batch_size = batch_size
        self.grad_accum = grad_accum
        self.rank = rank
        self.world_size = world_size
        self.consumed = 0
        self.seek(consumed)

    @property
    def global_batch(self) -> int:
        """Samples per optimizer step, all ranks and micro-batches together."""
        return self.batch_size * self.grad_accum * self.world_size

    def seek(self, consumed: int) -> None:
        """Start (the next iteration) at stream position `consumed`, a step boundary."""
        if consumed < 0 or consumed % self.global_batch:
            raise ValueError(
                f"sampler position {consumed} is not a multiple of the global batch "
                f"{self.global_batch}"
            )
        self.consumed = consumed

    def step_batches(self, step: int) -> list[list[tuple[int, int]]]:
        """This rank's `grad_accum` micro-batches of optimizer step `step` (0-based)."""
        share = self.batch_size * self.grad_accum
        start = step * self.global_batch + self.rank * share
        rows = self.stream.take(start, share)
        size = self.batch_size
        return [rows[m * size : (m + 1) * size] for m in range(self.grad_accum)]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.consumed // self.global_batch
        while True:
            yield from self.step_batches(step)
            step += 1

    def state_dict(self) -> dict[str, Any]:
        """Plain ints/bools only, so a checkpoint holding it loads with `weights_only=True`."""
        epoch, position = divmod(self.consumed, self.stream.num_rows)
        return {
            "consumed": self.consumed,
            "epoch": epoch,  # for reading; `consumed` alone is restored
            "position": position,
            "seed": self.stream.seed,
            "num_rows": self.stream.num_rows,
            "shuffle": self.stream.shuffle,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the stream position; the order-defining fields must match this sampler's."""
        for key in ("seed", "num_rows", "shuffle"):
            if key in state and state[key] != getattr(self.stream, key):
                raise ValueError(
                    f"sampler state has {key}={state[key]!r} but this sampler has "
                    f"{getattr(self.stream, key)!r}; the saved position would not mean the "
                    "same rows"
                )
        self.seek(int(state["consumed"]))


class EpochRows(Dataset):
    """A row dataset read by `(epoch, row)` pairs: each item is the row's, plus `epoch`."""

    def __init__(self, rows: Dataset) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        epoch, row = key
        item = dict(self.rows[row])
        item[EPOCH_KEY] = torch.tensor(epoch, dtype=torch.int64)
        return item
