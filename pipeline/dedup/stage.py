"""The dedup stage's decisions applied to one partition of documents.

In a run, dedup is four units of work over the run directory (see :mod:`pipeline.dedup.units`):
signatures per partition, buckets per band, one cluster step, then :func:`split_partition` per
partition. (:mod:`pipeline.dedup.in_memory` makes the same decisions over a list of texts.)

Dropped documents record ``reason`` (``exact_duplicate`` or ``near_duplicate``) and ``dup_of``,
the id of the kept document; kept documents record ``dup_cluster_size`` (1 = unique) and, when
they stand for a cluster of two or more, ``"dup_cluster_size"`` in their ``meta`` JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from pipeline.stage import KeepMode, StageResult, split_by_reasons


def _set_column(table: pa.Table, name: str, array: pa.Array) -> pa.Table:
    index = table.schema.get_field_index(name)
    if index >= 0:
        return table.set_column(index, name, array)
    return table.append_column(name, array)


def _meta_with_cluster_size(meta: str | None, size: int) -> str:
    data = json.loads(meta) if meta else {}
    data["dup_cluster_size"] = size
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def split_partition(
    table: pa.Table,
    reasons: Sequence[str | None],
    dup_of: Sequence[str | None],
    cluster_size: Sequence[int] | np.ndarray,
    keep: KeepMode,
    started: float | None = None,
) -> StageResult:
    """Annotate one partition with its dedup decisions and split it into kept and dropped."""
    started = time.perf_counter() if started is None else started
    sizes = np.asarray(cluster_size, np.int64)
    table = _set_column(table, "dup_of", pa.array(list(dup_of), type=pa.string()))
    table = _set_column(table, "dup_cluster_size", pa.array(sizes, type=pa.int32()))
    representatives = np.flatnonzero(sizes > 1)
    if len(representatives):
        meta = table.column("meta").to_pylist()
        for i in representatives:
            meta[i] = _meta_with_cluster_size(meta[i], int(sizes[i]))
        table = _set_column(table, "meta", pa.array(meta, type=pa.string()))
    return split_by_reasons("dedup", table, list(reasons), keep, started)
