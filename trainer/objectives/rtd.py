"""Replaced-token detection (ELECTRA, Clark et al. 2020), trained from `mlm` shards.

A generator (a narrower encoder sharing the token and position embeddings and the tied "lm"
head; part of trainer.model's "rtd" head) predicts the masked positions of an `mlm` row; tokens
sampled from its predictions replace them; the model, as discriminator, then predicts at every
non-pad position whether its token was replaced. A sample equal to the original token counts as
original. The loss is the generator's MLM loss plus `DISC_WEIGHT` times the discriminator's,
logged as `gen_loss` and `disc_loss`.

The sampling randomness is drawn per batch by `draw_uniforms`, one number per position seeded by
(run seed, epoch, the row's global index), so a resumed run samples exactly what an
uninterrupted one would, whatever the batch size or the number of ranks.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pipeline.shards.format import IGNORE_INDEX
from trainer.objectives.base import Batch, LossOutput, TrainObjective

#: ELECTRA's lambda, the discriminator loss's weight: its binary loss per token is far smaller
#: than the generator's cross-entropy over the vocabulary (the paper uses 50).
DISC_WEIGHT = 50.0

#: The batch column `draw_uniforms` adds: the generator's sampling point at each position.
UNIFORM_KEY = "rtd_uniform"


def draw_uniforms(batch: Batch, seed: int, epoch: int, indices: torch.Tensor) -> Batch:
    """`batch` with `rtd_uniform`: per row, one float32 in [0, 1) per position, from a PCG64
    stream seeded by (seed, epoch, the row's global index)."""
    length = batch["input_ids"].shape[1]
    rows = [
        np.random.Generator(np.random.PCG64([seed % 2**63, epoch, index])).random(
            length, dtype=np.float32
        )
        for index in indices.tolist()
    ]
    uniforms = np.stack(rows) if rows else np.zeros((0, length), dtype=np.float32)
    return {**batch, UNIFORM_KEY: torch.from_numpy(uniforms)}


def rtd_loss(model: nn.Module, batch: Batch) -> LossOutput:
    """Generator MLM loss + DISC_WEIGHT x discriminator loss, logged as `gen_loss`, `disc_loss`."""
    labels = batch["labels"]
    gen, disc = model(
        batch["input_ids"],
        labels,
        attention_mask=batch["attention_mask"],
        rtd_uniform=batch[UNIFORM_KEY],
    )
    return LossOutput(
        gen + DISC_WEIGHT * disc,
        {"gen_loss": gen, "disc_loss": disc},
        (labels != IGNORE_INDEX).sum(),
    )


def rtd_counts(batch: Batch) -> dict[str, torch.Tensor]:
    """Predictions per part: the masked positions for the generator, every attended position
    for the discriminator."""
    return {
        "gen_loss": (batch["labels"] != IGNORE_INDEX).sum(),
        "disc_loss": batch["attention_mask"].bool().sum(),
    }


OBJECTIVE = TrainObjective(
    name="rtd",
    shards="mlm",
    columns=("input_ids", "attention_mask", "labels"),
    family="encoder",
    heads=("lm", "rtd"),  # the generator predicts through the "lm" head
    loss=rtd_loss,
    transform=draw_uniforms,
    drawn=(UNIFORM_KEY,),
    counts=rtd_counts,
    part_weights={"disc_loss": DISC_WEIGHT},
)
