"""What every trainer-side objective declares: the columns it reads, the model it needs, its loss.

`loss(model, batch)` takes the (possibly wrapped) model and a batch of int64 tensors keyed by
column name and returns a `LossOutput`: the total loss to back-propagate, its named parts for
the metrics log, and the number of predictions it averaged over (so evaluation can weigh
batches). An objective whose randomness must be drawn during training gives a `transform`,
called on each batch with the run seed, the epoch and the rows' global indices, so a resumed
run draws exactly what an uninterrupted one would; the columns it adds are named in `drawn`.

Each part of the loss is a mean over its own predictions (e.g. labelled positions, or rows).
`counts(batch)` says how many predictions each part averages in a batch, before any forward
pass, and `part_weights` how the parts add up to the total (1.0 where not named). With both, the
training loop weighs every micro-batch on every rank by its share of the step's global count, so
the gradient is that of one batch of `batch_size x grad_accum x world_size` rows, whatever the
split into ranks and micro-batches. An objective without `counts` weighs micro-batches equally.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

Batch = dict[str, torch.Tensor]


@dataclass(frozen=True)
class LossOutput:
    """A batch's total loss, its parts by name (e.g. `mlm_loss`), and the count it averages."""

    total: torch.Tensor
    parts: dict[str, torch.Tensor]
    weight: torch.Tensor


#: (batch, seed, epoch, global row indices) -> batch
Transform = Callable[[Batch, int, int, torch.Tensor], Batch]


@dataclass(frozen=True)
class TrainObjective:
    """A trainer-side objective (see the module docstring)."""

    name: str
    shards: str  # the data-side objective whose shards it reads (`shards/<shards>/`)
    columns: tuple[str, ...]  # the shard columns its loss reads
    # "encoder": bidirectional; "decoder": causal; "encoder-decoder": a bidirectional encoder
    # and a causal decoder with cross-attention (T5, BART), sharing embeddings and head.
    family: Literal["encoder", "decoder", "encoder-decoder"]
    heads: tuple[str, ...]  # heads of trainer.model.HEADS it needs
    loss: Callable[[nn.Module, Batch], LossOutput]
    transform: Transform | None = None
    drawn: tuple[str, ...] = ()  # columns `transform` adds to the batch (not read from shards)
    #: batch -> predictions each part of the loss averages over (see the module docstring)
    counts: Callable[[Batch], dict[str, torch.Tensor]] | None = None
    #: each part's factor in the total loss, where not 1.0
    part_weights: dict[str, float] = field(default_factory=dict)
    # An encoder-decoder objective's decoder start token, as its role in the shards'
    # `special_ids` ("pad": T5's convention, "eos": BART's); None for the other families.
    # trainer.export writes it into the exported config as `decoder_start_token_id`.
    decoder_start: str | None = None

    def part_weight(self, part: str) -> float:
        return self.part_weights.get(part, 1.0)
