"""The whole dedup stage in memory, over a list of texts: for tests, notebooks and small corpora.

:func:`plan_dedup` makes the same decisions as the run's dedup units (:mod:`pipeline.dedup.units`)
from the same pieces -- exact keys, MinHash signatures, band keys, candidate edges per band, one
cluster step -- without a run directory; a test checks that both agree document for document.
Apply its decisions to a table with :func:`pipeline.dedup.stage.split_partition`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipeline.dedup.clusters import decide, policy_rank
from pipeline.dedup.config import DedupConfig
from pipeline.dedup.exact import exact_keys, key_columns
from pipeline.dedup.lsh import band_keys, bucket_edges
from pipeline.dedup.lsh_params import lsh_shape
from pipeline.dedup.minhash import document_signatures
from pipeline.dedup.stage import split_partition
from pipeline.dedup.verify import band_edges, low_bits
from pipeline.stage import StageResult


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
        low = low_bits(signatures[has]) if config.minhash.verify else None
        for band in range(bands):
            edges.append(band_edges(keys[has, band], nodes[has], n, low, config.minhash))
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
