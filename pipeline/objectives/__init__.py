"""Objective builders: turn one document's token ids into the training rows of an objective.

Each builder is pure numpy and deterministic: a row's randomness comes from a seed derived from
(run seed, document id, copy, chunk), so any row can be rebuilt on its own. `pipeline.shards`
calls the builders and writes their rows as Arrow IPC shards (see docs/shard-format.md).
"""

from pipeline.objectives.mlm import (
    MLMConfig,
    MLMRows,
    mlm_batch,
    mlm_rows,
    mlm_rows_batch,
    mlm_schema,
)

__all__ = ["MLMConfig", "MLMRows", "mlm_batch", "mlm_rows", "mlm_rows_batch", "mlm_schema"]
