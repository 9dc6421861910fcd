"""BART denoising (Lewis et al. 2020) on an encoder-decoder, from `denoise` shards.

The encoder reads the noised chunk (permuted sentences, infilled spans); the decoder reads the
shards' `decoder_input_ids` (the original chunk shifted right behind `[EOS]`, BART's `</s>`
start token) and predicts the original chunk (`labels`). The decoder's attention keeps its
non-pad positions (the start token is `[EOS]`, never `[PAD]`). Loss: mean cross-entropy over
the chunk's tokens.
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.shards.format import IGNORE_INDEX
from trainer.objectives.base import Batch, LossOutput, TrainObjective


def denoise_loss(model: nn.Module, batch: Batch) -> LossOutput:
    """Mean cross-entropy of the decoder over the original chunk's tokens."""
    labels = batch["labels"]
    loss = model(
        batch["input_ids"],
        labels,
        attention_mask=batch["attention_mask"],
        decoder_input_ids=batch["decoder_input_ids"],
    )
    return LossOutput(loss, {"denoise_loss": loss}, (labels != IGNORE_INDEX).sum())


def denoise_counts(batch: Batch) -> dict[str, torch.Tensor]:
    """Predictions per part: the original chunk's tokens."""
    return {"denoise_loss": (batch["labels"] != IGNORE_INDEX).sum()}


OBJECTIVE = TrainObjective(
    name="denoise",
    shards="denoise",
    columns=("input_ids", "attention_mask", "labels", "decoder_input_ids"),
    family="encoder-decoder",
    heads=("lm",),
    loss=denoise_loss,
    counts=denoise_counts,
    decoder_start="eos",  # the shards' decoder_input_ids start with [EOS] (BART's </s>)
)
