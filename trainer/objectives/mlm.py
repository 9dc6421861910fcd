"""Masked LM (BERT): cross-entropy at the labelled positions of an encoder's output.

Masking is static, done when the shards were built (`pipeline.objectives.mlm`); whole-word
shards train the same way.
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.shards.format import IGNORE_INDEX
from trainer.objectives.base import Batch, LossOutput, TrainObjective


def mlm_loss(model: nn.Module, batch: Batch) -> LossOutput:
    """Mean cross-entropy over the positions whose label is not ignore_index."""
    labels = batch["labels"]
    loss = model(batch["input_ids"], labels, attention_mask=batch["attention_mask"])
    return LossOutput(loss, {"mlm_loss": loss}, (labels != IGNORE_INDEX).sum())


def mlm_counts(batch: Batch) -> dict[str, torch.Tensor]:
    """Predictions per part: the labelled positions."""
    return {"mlm_loss": (batch["labels"] != IGNORE_INDEX).sum()}


OBJECTIVE = TrainObjective(
    name="mlm",
    shards="mlm",
    columns=("input_ids", "attention_mask", "labels"),
    family="encoder",
    heads=("lm",),
    loss=mlm_loss,
    counts=mlm_counts,
)
