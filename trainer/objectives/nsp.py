"""Sentence pairs (BERT's NSP, ALBERT's SOP) trained jointly with MLM on the pair.

The encoder reads `token_type_ids` (segment A or B) through its segment embeddings; the "nsp"
head pools the `[CLS]` position and classifies `next_sentence_label` (NSP: 1 = B is random; SOP:
1 = the segments are swapped). As in BERT, the loss is the sum of the masked-LM loss and the
pair classification loss, each a mean over its own predictions.
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.shards.format import IGNORE_INDEX
from trainer.objectives.base import Batch, LossOutput, TrainObjective


def nsp_loss(model: nn.Module, batch: Batch) -> LossOutput:
    """MLM loss + NSP (or SOP) loss, logged as `mlm_loss` and `nsp_loss`."""
    labels = batch["labels"]
    mlm, nsp = model(
        batch["input_ids"],
        labels,
        attention_mask=batch["attention_mask"],
        token_type_ids=batch["token_type_ids"],
        next_sentence_label=batch["next_sentence_label"],
    )
    return LossOutput(mlm + nsp, {"mlm_loss": mlm, "nsp_loss": nsp}, (labels != IGNORE_INDEX).sum())


def nsp_counts(batch: Batch) -> dict[str, torch.Tensor]:
    """Predictions per part: labelled positions for MLM, one per row for the pair label."""
    rows = torch.tensor(len(batch["next_sentence_label"]), device=batch["labels"].device)
    return {"mlm_loss": (batch["labels"] != IGNORE_INDEX).sum(), "nsp_loss": rows}


OBJECTIVE = TrainObjective(
    name="nsp",
    shards="nsp",
    columns=("input_ids", "attention_mask", "token_type_ids", "labels", "next_sentence_label"),
    family="encoder",
    heads=("lm", "nsp"),
    loss=nsp_loss,
    counts=nsp_counts,
)
