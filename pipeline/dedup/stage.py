"""The dedup stage: exact duplicates by normalised-text hash, then MinHash-LSH near-duplicates.

Dedup sees the whole run at once: documents are numbered in run order (partitions sorted by name,
rows in order), and the first of each duplicate group is kept. Dropped documents record
`reason` (`exact_duplicate` or `near_duplicate`) and `dup_of`, the id of the kept one; kept
documents record `dup_cluster_size`.

Signatures come from `datasketch.MinHash` (same `num_perm` and `seed` as the config) over word
n-gram shingles; candidate pairs from `datasketch.MinHashLSH` with the bands x rows it derives
for the threshold.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyarrow as pa
import xxhash
from datasketch import MinHash, MinHashLSH

from pipeline.dedup.config import DedupConfig
from pipeline.dedup.normalize import normalize, word_shingles
from pipeline.dedup.union_find import UnionFind
from pipeline.stage import StageResult, split_by_reasons


@dataclass
class DedupPlan:
    """Per global document index: the drop reason (or None) and the index it duplicates."""

    reasons: list[str | None]
    dup_of: list[int | None]
    cluster_size: list[int]
    lsh_bands: int = 0
    lsh_rows: int = 0


def plan_dedup(texts: list[str], config: DedupConfig) -> DedupPlan:
    """Decide, for documents in run order, which are duplicates of an earlier one."""
    n = len(texts)
    reasons: list[str | None] = [None] * n
    dup_of: list[int | None] = [None] * n
    uf = UnionFind(n)
    if config.exact:
        first: dict[bytes, int] = {}
        for i, text in enumerate(texts):
            key = xxhash.xxh3_128_digest(normalize(text, config.case_fold).encode())
            if key in first:
                reasons[i], dup_of[i] = "exact_duplicate", first[key]
                uf.union(first[key], i)
            else:
                first[key] = i
    bands = rows = 0
    mh = config.minhash
    if mh.enabled:
        lsh = MinHashLSH(threshold=mh.threshold, num_perm=mh.num_perm)
        bands, rows = lsh.b, lsh.r
        survivors = [i for i in range(n) if reasons[i] is None]
        for i in survivors:
            signature = MinHash(num_perm=mh.num_perm, seed=mh.seed)
            signature.update_batch(sorted(word_shingles(texts[i], mh.ngram)))
            for j in lsh.query(signature):
                uf.union(i, j)
            lsh.insert(i, signature)
        for i in survivors:
            root = uf.find(i)
            if root != i:
                reasons[i], dup_of[i] = "near_duplicate", root
    sizes: dict[int, int] = {}
    for i in range(n):
        root = uf.find(i)
        sizes[root] = sizes.get(root, 0) + 1
    cluster_size = [sizes[i] if uf.find(i) == i else 0 for i in range(n)]
    return DedupPlan(reasons, dup_of, cluster_size, bands, rows)


def apply_plan(
    table: pa.Table, offset: int, plan: DedupPlan, all_ids: list[str], config: DedupConfig
) -> StageResult:
    """Split one partition (rows ``offset .. offset + len``) by the plan."""
    started = time.perf_counter()
    span = range(offset, offset + table.num_rows)
    dup_of = [all_ids[plan.dup_of[i]] if plan.dup_of[i] is not None else None for i in span]
    for name, values, type_ in (
        ("dup_of", dup_of, pa.string()),
        ("dup_cluster_size", [plan.cluster_size[i] for i in span], pa.int32()),
    ):
        index = table.schema.get_field_index(name)
        array = pa.array(values, type=type_)
        table = table.set_column(index, name, array) if index >= 0 else table.append_column(
            name, array
        )
    return split_by_reasons("dedup", table, [plan.reasons[i] for i in span], config.keep, started)
