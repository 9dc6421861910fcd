"""Permutation LM (XLNet, Yang et al. 2019) through two-stream attention masks, from `plm` shards.

Each row stores its factorisation order as `perm_index`, the rank of every position in that
order, and its prediction targets as `labels`. Non-targets come first in the order and, as in
XLNet's implementation (which gives them all the smallest index, -1), form one block of context:
they see each other and no target. Targets follow, in the order of their ranks. Per batch,
`two_stream_masks` turns the ranks into the two masks of XLNet's two-stream attention:

- content stream (h): position i sees j when j is a non-target, or both are targets and
  rank(j) <= rank(i) (a token sees itself and what comes before it in the order);
- query stream (g): the same, strictly earlier: rank(j) < rank(i), so a target is predicted
  without its own content.

Padding (attention_mask 0) is never seen (its own content stream sees itself, so no row of a
mask is empty). The loss is the mean cross-entropy of the query
stream at the targets. A target whose query stream would see nothing (a row made only of
targets, which the `plm` builder never writes) is left out of the loss rather than given NaN.
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.shards.format import IGNORE_INDEX
from trainer.objectives.base import Batch, LossOutput, TrainObjective


def two_stream_masks(
    perm_index: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(content, query) boolean masks, (batch, 1, length, length), True = may attend, from the
    ranks `perm_index`, the targets (`labels` not -100) and the kept keys (`attention_mask`)."""
    target = labels != IGNORE_INDEX
    rank = perm_index.long()
    target_i, target_j = target[:, :, None], target[:, None, :]
    rank_i, rank_j = rank[:, :, None], rank[:, None, :]
    keep = attention_mask.bool()[:, None, :]
    eye = torch.eye(labels.shape[1], dtype=torch.bool, device=labels.device)
    # Every position's content sees itself (padding too, so no row of the mask is empty).
    content = (keep & (~target_j | (target_i & (rank_j <= rank_i)))) | eye
    query = keep & (~target_j | (target_i & (rank_j < rank_i)))
    return content[:, None], query[:, None]


def plm_loss(model: nn.Module, batch: Batch) -> LossOutput:
    """Mean cross-entropy of the query stream at the targets."""
    labels = batch["labels"]
    content, query = two_stream_masks(batch["perm_index"], labels, batch["attention_mask"])
    # A query row that sees nothing would give NaN: it attends to itself and takes no loss.
    blind = ~query.any(dim=-1).squeeze(1)  # (batch, length): padding of a row of targets
    eye = torch.eye(labels.shape[1], dtype=torch.bool, device=labels.device)
    query = query | (eye & blind[:, :, None])[:, None]
    labels = labels.masked_fill(blind, IGNORE_INDEX)
    loss = model(batch["input_ids"], labels, perm_masks=(content, query))
    return LossOutput(loss, {"plm_loss": loss}, (labels != IGNORE_INDEX).sum())


def plm_counts(batch: Batch) -> dict[str, torch.Tensor]:
    """Predictions per part: the targets whose query stream sees something (every target of
    the rows the `plm` builder writes; see `plm_loss`)."""
    labels, keep = batch["labels"], batch["attention_mask"].bool()
    target = labels != IGNORE_INDEX
    rank = batch["perm_index"].long()
    # A target's query stream sees a kept non-target, or a kept target earlier in the order;
    # without the first, the blind ones are those no kept target precedes (O(length), where
    # the masks themselves are O(length^2)).
    has_context = (keep & ~target).any(dim=1, keepdim=True)
    first_kept = rank.masked_fill(~(keep & target), torch.iinfo(rank.dtype).max).amin(1, True)
    blind = target & ~has_context & (rank <= first_kept)
    return {"plm_loss": (target & ~blind).sum()}


OBJECTIVE = TrainObjective(
    name="plm",
    shards="plm",
    columns=("input_ids", "attention_mask", "perm_index", "labels"),
    family="encoder",
    heads=("lm", "plm"),
    loss=plm_loss,
    counts=plm_counts,
)
