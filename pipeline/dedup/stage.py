"""The dedup stage's decisions applied to documents, and the whole stage in memory.

In a run, dedup is four units of work over the run directory (see :mod:`pipeline.dedup.units`):
signatures per partition, buckets per band, one cluster step, then :func:`split_partition` per
partition. :func:`plan_dedup` does the same computation in memory over a list of texts (tests,
notebooks, small corpora); both give the same decisions.

Dropped documents record ``reason`` (``exact_duplicate`` or ``near_duplicate``) and ``dup_of``,
the id of the kept document; kept documents record ``dup_cluster_size`` (1 = unique) and, when
they stand for a cluster of two or more, ``"dup_cluster_size"`` in their ``meta`` JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipeline.dedup.clusters import decide, policy_rank
from pipeline.dedup.config import DedupConfig, MinHashConfig
from pipeline.dedup.exact import exact_keys, key_columns
from pipeline.dedup.lsh import band_keys, bucket_edges
from pipeline.dedup.lsh_params import optimal_bands_rows
from pipeline.dedup.minhash import document_signatures
from pipeline.stage import KeepMode, StageResult, split_by_reasons


def lsh_shape(config: MinHashConfig) -> tuple[int, int]:
    """The ``(bands, rows)`` in use: the configured pair, or the optimum for the threshold."""
    if config.bands is not None and config.rows is not None:
        return config.bands, config.rows
    return optimal_bands_rows(config.threshold, config.num_perm, config.false_positive_weight)


@dataclass
class DedupPlan:
    """Per document index: the drop reason (or None) and the index of the kept document."""

    reasons: list[str | None]
    dup_of: list[int | None]
    cluster_size: list[int]
    lsh_bands: int = 0
    lsh_rows: int = 0


def plan_dedup(
    texts: Sequence[str],
    config: DedupConfig,
    kinds: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
) -> DedupPlan:
    """Decide, for documents in run order, which duplicate which (whole corpus in memory)."""
    n = len(texts)
    kinds = kinds if kinds is not None else ["web"] * n
    sources = sources if sources is not None else [""] * n
    nodes = np.arange(n, dtype=np.int64)
    edges = []
    exact = None
    if config.exact:
        exact = key_columns(exact_keys(texts, config.case_fold))
        edges.append(bucket_edges(exact, nodes, n))
    bands = rows = 0
    if config.minhash.enabled:
        bands, rows = lsh_shape(config.minhash)
        signatures, counts = document_signatures(texts, kinds, config.minhash)
        keys = band_keys(signatures, bands, rows)
        has = counts > 0  # documents without shingles have no signature to compare
        for band in range(bands):
            edges.append(bucket_edges(keys[has, band], nodes[has], n))
    lengths = np.array([len(t.encode("utf-8")) for t in texts], np.int64)
    rank = policy_rank(config.keep_policy, lengths, sources, config.source_priority)
    decisions = decide(n, 0, edges, rank, exact)
    dropped = decisions.reason != 0
    return DedupPlan(
        reasons=decisions.reasons(),
        dup_of=[int(k) if d else None for k, d in zip(decisions.keeper, dropped, strict=True)],
        cluster_size=decisions.cluster_size.tolist(),
        lsh_bands=bands,
        lsh_rows=rows,
    )


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


def apply_plan(
    table: pa.Table, offset: int, plan: DedupPlan, all_ids: Sequence[str], config: DedupConfig
) -> StageResult:
    """Split one partition (rows ``offset .. offset + len`` of the plan) by the plan."""
    started = time.perf_counter()
    span = range(offset, offset + table.num_rows)
    dup_of = [all_ids[j] if (j := plan.dup_of[i]) is not None else None for i in span]
    sizes = [plan.cluster_size[i] for i in span]
    return split_partition(
        table, [plan.reasons[i] for i in span], dup_of, sizes, config.keep, started
    )
