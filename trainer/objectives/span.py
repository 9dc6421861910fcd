"""T5 span corruption (Raffel et al. 2020) on an encoder-decoder, from `span` shards.

The encoder reads the corrupted inputs (each noise span replaced by a sentinel); the decoder is
fed the targets (sentinel + the span it replaced, ..., `[EOS]`) shifted right behind a start
token and predicts them. The start token is `[PAD]` (id 0), T5's `decoder_start_token_id`; the
decoder still reads it at position 0 because its attention mask comes from the shards'
`decoder_attention_mask`, not from the pad id. Loss: mean cross-entropy over the target tokens.
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.shards.format import IGNORE_INDEX, PAD_ID
from trainer.objectives.base import Batch, LossOutput, TrainObjective

#: T5's decoder start token: the pad id.
DECODER_START_ID = PAD_ID


def shift_right(labels: torch.Tensor, start_id: int) -> torch.Tensor:
    """The decoder's inputs: `labels` moved one position right behind `start_id`, with the
    ignored positions (-100) read as `[PAD]` (T5's and BART's `shift_tokens_right`)."""
    start = torch.full_like(labels[:, :1], start_id)
    shifted = torch.cat([start, labels[:, :-1]], dim=1)
    return shifted.masked_fill(shifted == IGNORE_INDEX, PAD_ID)


def span_loss(model: nn.Module, batch: Batch) -> LossOutput:
    """Mean cross-entropy of the decoder over the target tokens."""
    labels = batch["labels"]
    loss = model(
        batch["input_ids"],
        labels,
        attention_mask=batch["attention_mask"],
        decoder_input_ids=shift_right(labels, DECODER_START_ID),
        decoder_attention_mask=batch["decoder_attention_mask"],
    )
    return LossOutput(loss, {"span_loss": loss}, (labels != IGNORE_INDEX).sum())


def span_counts(batch: Batch) -> dict[str, torch.Tensor]:
    """Predictions per part: the target tokens."""
    return {"span_loss": (batch["labels"] != IGNORE_INDEX).sum()}


OBJECTIVE = TrainObjective(
    name="span",
    shards="span",
    columns=("input_ids", "attention_mask", "labels", "decoder_attention_mask"),
    family="encoder-decoder",
    heads=("lm",),
    loss=span_loss,
    counts=span_counts,
    decoder_start="pad",  # DECODER_START_ID
)
