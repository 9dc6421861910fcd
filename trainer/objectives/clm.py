"""Causal LM on packed rows: each token predicts the next one of its own document.

The decoder reads `position_ids`, which restart at 0 where each document begins, so it gives
every document its own positions and masks attention across documents. Position t is trained
to predict `labels[t + 1]`; the shards leave a document's first token unlabelled, so nothing is
predicted across a document boundary.
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.shards.format import IGNORE_INDEX
from trainer.objectives.base import Batch, LossOutput, TrainObjective


def shift_labels(labels: torch.Tensor) -> torch.Tensor:
    """`labels` moved one position left (position t gets t + 1's); the last is ignored."""
    tail = torch.full_like(labels[:, :1], IGNORE_INDEX)
    return torch.cat([labels[:, 1:], tail], dim=1)


def clm_loss(model: nn.Module, batch: Batch) -> LossOutput:
    """Mean next-token cross-entropy within documents."""
    targets = shift_labels(batch["labels"])
    loss = model(
        batch["input_ids"],
        targets,
        attention_mask=batch["attention_mask"],
        position_ids=batch["position_ids"],
    )
    return LossOutput(loss, {"clm_loss": loss}, (targets != IGNORE_INDEX).sum())


def clm_counts(batch: Batch) -> dict[str, torch.Tensor]:
    """Predictions per part: the positions with a next token of their own document."""
    return {"clm_loss": (shift_labels(batch["labels"]) != IGNORE_INDEX).sum()}


OBJECTIVE = TrainObjective(
    name="clm",
    shards="clm",
    columns=("input_ids", "attention_mask", "position_ids", "labels"),
    family="decoder",
    heads=("lm",),
    loss=clm_loss,
    counts=clm_counts,
)
