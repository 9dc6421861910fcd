"""Objective builders: turn tokenized documents into the training rows of an objective.

One module per objective (`mlm`, `clm`, `nsp`, `span`, `denoise`), each holding its config,
columns and builder as an `Objective` entry (`base`); `registry.OBJECTIVES` maps names to them.
Builders are numpy and deterministic: randomness comes from seeds derived from the run seed and
the row's own keys (document id, copy, chunk), so any row can be rebuilt on its own.
`pipeline.shards` runs the builders and writes their rows as Arrow IPC shards (see
docs/shard-format.md).
"""

from pipeline.objectives.base import Column, Objective, Vocab, vocab_of
from pipeline.objectives.mlm import (
    MLMConfig,
    MLMRows,
    mlm_batch,
    mlm_rows,
    mlm_rows_batch,
    mlm_schema,
)
from pipeline.objectives.registry import OBJECTIVES, get_objective

__all__ = [
    "OBJECTIVES",
    "Column",
    "MLMConfig",
    "MLMRows",
    "Objective",
    "Vocab",
    "get_objective",
    "mlm_batch",
    "mlm_rows",
    "mlm_rows_batch",
    "mlm_schema",
    "vocab_of",
]
