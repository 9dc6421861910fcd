"""The dedup stage's units of work over a run directory (plain functions, no Prefect).

```
dedup/_signatures/<part>.parquet   1. per partition: id, source, length, exact key, shingle
                                      count, MinHash signature, one uint64 key per LSH band
dedup/_buckets/<key>.parquet       2. per band (and one for exact keys): candidate edges
dedup/_plan/plan.parquet           3. once: every document in a duplicate cluster, its reason,
                                      the id it duplicates, its cluster's size
dedup/<part>.parquet, dropped/dedup/<part>.parquet, dedup/_done/<part>.json
                                   4. per partition: the split, as every stage writes it
dedup/_index/<part>.parquet        4. per partition: exact and band keys and signature bits of the
                                      kept documents and the near duplicates (with the id they
                                      were dropped for): what later runs dedup against
```

Units 1, 2 and 4 are independent tasks (a Dask cluster spreads them); 3 reads only edges, keys
and ids (tens of bytes a document). Every output carries in its Parquet metadata the fingerprint
of what it was made from, so a re-run skips units whose inputs and settings are unchanged:
signatures are re-hashed only when a partition or the shingling changes (a new threshold only
re-bands the stored signatures), and a partition is re-split only when its own decisions change.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.dedup.artifacts import DedupInputError, read_info, required_info, write_with_info
from pipeline.dedup.clusters import KEEP, REASONS, decide, policy_rank
from pipeline.dedup.config import DedupConfig
from pipeline.dedup.exact import KEY_TYPE, exact_keys, key_columns
from pipeline.dedup.lsh import band_keys, bucket_edges
from pipeline.dedup.minhash import document_signatures
from pipeline.dedup.paths import (
    STAGE,
    bucket_dir,
    bucket_path,
    index_dir,
    index_path,
    plan_path,
    signature_dir,
    signature_path,
)
from pipeline.dedup.previous import (
    PreviousIndex,
    previous_fingerprints,
    previous_index,
    read_previous,
)
from pipeline.dedup.settings import band_column, bucket_keys, index_settings, signature_settings
from pipeline.dedup.stage import split_partition
from pipeline.dedup.verify import low_bits, verified_edges
from pipeline.faults import fault_point
from pipeline.hashing import file_sha256
from pipeline.rundir import RunDir, fingerprint
from pipeline.stage import StageStats

# -- 1. signatures per partition ---------------------------------------------------------------
#: Documents turned into Python strings at a time: bounds the signature unit's memory to the
#: partition's Arrow table plus about this many documents' text, whatever the partition's size.
BATCH_ROWS = 4096


def _signatures(table: pa.Table, config: DedupConfig) -> tuple[np.ndarray, np.ndarray]:
    signatures = np.empty((table.num_rows, config.minhash.num_perm), np.uint32)
    counts = np.empty(table.num_rows, np.int64)
    start = 0
    for batch in table.to_batches(BATCH_ROWS):
        end = start + batch.num_rows
        signatures[start:end], counts[start:end] = document_signatures(
            batch.column("text").to_pylist(), batch.column("kind").to_pylist(), config.minhash
        )
        start = end
    return signatures, counts


def signature_unit(
    run: RunDir, config: DedupConfig, part: str, upstream: str = "quality"
) -> dict[str, Any]:
    """Exact keys, MinHash signatures and band keys of one partition."""
    started = time.perf_counter()
    source_path = run.kept_path(upstream, part)
    sig_fp = fingerprint("dedup-signatures", file_sha256(source_path), signature_settings(config))
    settings = index_settings(config)
    fp = fingerprint("dedup-bands", sig_fp, settings["bands"], settings["rows"])
    path = signature_path(run, part)
    old = read_info(path)
    if old and old["fingerprint"] == fp:
        return {"part": part, "skipped": True, "rows": old["rows"], "fingerprint": fp}
    table = pq.read_table(source_path, columns=["id", "text", "source", "kind"])
    columns: dict[str, pa.Array] = {
        "id": table.column("id").combine_chunks(),
        "source": table.column("source").combine_chunks(),
        "length": pc.binary_length(table.column("text")).cast(pa.int64()).combine_chunks(),
    }
    if config.exact:
        columns["exact"] = pa.concat_arrays(
            [
                exact_keys(batch.column("text").to_pylist(), config.case_fold)
                for batch in table.to_batches(BATCH_ROWS)
            ]
            or [pa.array([], KEY_TYPE)]
        )
    rehashed = True
    if config.minhash.enabled:
        num_perm = config.minhash.num_perm
        if old and old.get("sig_fingerprint") == sig_fp:  # same signatures, new bands x rows
            stored = pq.read_table(path, columns=["shingles", "signature"])
            counts = stored.column("shingles").to_numpy()
            flat = stored.column("signature").combine_chunks().flatten()
            signatures = flat.to_numpy().reshape(-1, num_perm)
            rehashed = False
        else:
            signatures, counts = _signatures(table, config)
        columns["shingles"] = pa.array(counts, pa.int32())
        columns["signature"] = pa.FixedSizeListArray.from_arrays(
            pa.array(signatures.ravel(), pa.uint32()), num_perm
        )
        keys = band_keys(signatures, settings["bands"], settings["rows"])
        for band in range(settings["bands"]):
            columns[band_column(band)] = pa.array(keys[:, band], pa.uint64())
    write_with_info(
        path,
        pa.table(columns),
        fp,
        {"rows": table.num_rows, "sig_fingerprint": sig_fp, "settings": settings},
    )
    fault_point("dedup.signatures")
    return {
        "part": part,
        "skipped": False,
        "rows": table.num_rows,
        "fingerprint": fp,
        "rehashed": rehashed,
        "seconds": round(time.perf_counter() - started, 3),
    }


# -- 2. buckets per band -------------------------------------------------------------------------
def _inputs(run: RunDir, parts: list[str]) -> list[tuple[str, str, int]]:
    out = []
    for part in sorted(parts):
        info = required_info(signature_path(run, part), "dedup signatures (run unit 1 first)")
        out.append((part, info["fingerprint"], info["rows"]))
    return out


def _previous_fingerprint(previous: list[PreviousIndex]) -> str:
    return fingerprint("dedup-previous", previous_fingerprints(previous))


def _low_bits_of(source: Path, is_current: bool, rows: np.ndarray, num_perm: int) -> np.ndarray:
    """The verification bits of ``rows`` of a signature file or a previous index."""
    if is_current:
        column = pq.read_table(source, columns=["signature"]).column("signature")
        flat = column.combine_chunks().flatten().to_numpy().reshape(-1, num_perm)
        return low_bits(flat[rows])
    column = pq.read_table(source, columns=["low"]).column("low").combine_chunks()
    data = np.frombuffer(column.buffers()[1], np.uint16, offset=column.offset * 2 * num_perm)
    return data[: len(column) * num_perm].reshape(-1, num_perm)[rows]


def bucket_unit(
    run: RunDir, config: DedupConfig, parts: list[str], key: str, base_dir: str | Path = "."
) -> dict[str, Any]:
    """Candidate edges of one band (``band-NNN``) or of the exact keys (``exact``); with
    ``minhash.verify``, only the band's pairs whose signatures agree (:mod:`.verify`)."""
    started = time.perf_counter()
    inputs = _inputs(run, parts)
    previous = previous_index(run, config, base_dir)
    exact = key == "exact"
    verify = None if exact else [config.minhash.verify, config.minhash.threshold]
    fp = fingerprint("dedup-bucket", key, inputs, previous_fingerprints(previous), verify)
    path = bucket_path(run, key)
    old = read_info(path)
    if old and old["fingerprint"] == fp:
        return {"key": key, "skipped": True, "edges": old["edges"], "fingerprint": fp}
    current = sum(rows for _, _, rows in inputs)
    sources = [(signature_path(run, part), True, rows) for part, _, rows in inputs]
    sources += [(p, False, p.rows) for p in previous]
    column = "exact" if exact else band_column(int(key.split("-")[1]))
    keys, nodes, rows_of, offset = [], [], [], 0
    for source, is_current, n_rows in sources:
        columns = [column] if exact else [column, "shingles"]
        if is_current:
            table = pq.read_table(source, columns=columns)
        else:
            table = read_previous(source, columns)
        fault_point("dedup.bucket")
        rows = np.arange(n_rows, dtype=np.int64)
        if exact:
            keys.append(key_columns(table.column(column)))
        else:
            rows = rows[table.column("shingles").to_numpy() > 0]
            keys.append(table.column(column).to_numpy()[rows])
        nodes.append(rows + offset)
        rows_of.append(rows)
        offset += n_rows
    if not keys:
        a = b = np.empty(0, np.int64)
    elif exact or not config.minhash.verify:
        a, b = bucket_edges(np.concatenate(keys), np.concatenate(nodes), current)
    else:
        a, b = _verified(sources, keys, nodes, rows_of, current, config)
    info = {"edges": len(a), "previous": _previous_fingerprint(previous)}
    write_with_info(path, pa.table({"a": a, "b": b}), fp, info)
    return {
        "key": key,
        "skipped": False,
        "edges": len(a),
        "fingerprint": fp,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _verified(
    sources: list[tuple[Any, bool, int]],
    keys: list[np.ndarray],
    nodes: list[np.ndarray],
    rows_of: list[np.ndarray],
    current: int,
    config: DedupConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Verified edges of one band, reading signature bits only for rows that share a key."""
    all_keys = np.concatenate(keys)
    _, inverse, counts = np.unique(all_keys, return_inverse=True, return_counts=True)
    shared = counts[inverse] > 1
    num_perm = config.minhash.num_perm
    lows, picked_keys, picked_nodes, start = [], [], [], 0
    for (source, is_current, _), source_keys, source_nodes, rows in zip(
        sources, keys, nodes, rows_of, strict=True
    ):
        mask = shared[start : start + len(source_keys)]
        start += len(source_keys)
        if mask.any():
            path = source if is_current else source.path
            lows.append(_low_bits_of(path, is_current, rows[mask], num_perm))
            picked_keys.append(source_keys[mask])
            picked_nodes.append(source_nodes[mask])
    if not lows:
        empty = np.empty(0, np.int64)
        return empty, empty
    return verified_edges(
        np.concatenate(picked_keys),
        np.concatenate(picked_nodes),
        current,
        np.concatenate(lows),
        config.minhash.threshold,
    )


# -- 3. clusters ---------------------------------------------------------------------------------
def _plan_fingerprint(
    run: RunDir, config: DedupConfig, parts: list[str], base_dir: str | Path
) -> tuple[str, list[tuple[str, str, int]], list[PreviousIndex]]:
    inputs = _inputs(run, parts)
    previous = previous_index(run, config, base_dir)
    buckets = [
        required_info(bucket_path(run, k), "dedup buckets (run unit 2 first)")["fingerprint"]
        for k in bucket_keys(config)
    ]
    fp = fingerprint(
        "dedup-plan",
        inputs,
        previous_fingerprints(previous),
        buckets,
        config.keep_policy,
        config.source_priority,
        config.exact,
    )
    return fp, inputs, previous


def _standing_for(table: pa.Table) -> pa.Table:
    """Previous index rows with the id (and exact key) of the document each stands for."""
    table = table.set_column(0, "id", pc.coalesce(table.column("dup_of"), table.column("id")))
    if "exact" in table.column_names:
        index = table.schema.get_field_index("exact")
        exact = pc.coalesce(table.column("dup_exact"), table.column("exact").cast(KEY_TYPE))
        table = table.set_column(index, "exact", exact)
    return table


def _prune(folder: Path, keep: set[str]) -> None:
    if folder.is_dir():
        for path in folder.glob("*.parquet"):
            if path.stem not in keep:
                path.unlink()


def cluster_unit(
    run: RunDir, config: DedupConfig, parts: list[str], base_dir: str | Path = "."
) -> dict[str, Any]:
    """Clusters from all edges; which document each duplicate is dropped for (one task)."""
    started = time.perf_counter()
    fp, inputs, previous = _plan_fingerprint(run, config, parts, base_dir)
    path = plan_path(run)
    old = read_info(path)
    if old and old["fingerprint"] == fp:
        return {**old, "skipped": True}
    columns = ["id", "source", "length"] + (["exact"] if config.exact else [])
    tables = [pq.read_table(signature_path(run, part), columns=columns) for part, _, _ in inputs]
    current = pa.concat_tables(tables) if tables else None
    # a previous run's near duplicate stands for the document it was dropped for: its id and
    # exact key are that document's (its own exact key links it in the exact bucket)
    prev_tables = [
        _standing_for(
            read_previous(p, ["id", "dup_of"] + (["exact", "dup_exact"] if config.exact else []))
        )
        for p in previous
    ]
    expected = _previous_fingerprint(previous)
    for key in bucket_keys(config):
        if read_info(bucket_path(run, key)).get("previous") != expected:
            raise DedupInputError(
                f"{bucket_path(run, key)}: the previous runs changed while this run's buckets "
                "were made; run the dedup stage again"
            )
    n_current = current.num_rows if current is not None else 0
    n_previous = sum(t.num_rows for t in prev_tables)
    edges = []
    for key in bucket_keys(config):
        table = pq.read_table(bucket_path(run, key))
        edges.append((table.column("a").to_numpy(), table.column("b").to_numpy()))
    exact = None
    if config.exact:
        exact = np.concatenate(
            [key_columns(t.column("exact")) for t in ([current] if current else []) + prev_tables]
            or [np.empty((0, 2), np.uint64)]
        )
    if current is not None:
        rank = policy_rank(
            config.keep_policy,
            current.column("length").to_numpy(),
            current.column("source").to_pylist(),
            config.source_priority,
        )
    else:
        rank = np.empty(0, np.int64)
    decisions = decide(n_current, n_previous, edges, rank, exact)
    listed = np.flatnonzero((decisions.reason != KEEP) | (decisions.cluster_size > 1))
    part_of = np.repeat(np.arange(len(inputs)), [rows for _, _, rows in inputs])
    starts = np.concatenate([[0], np.cumsum([rows for _, _, rows in inputs])]).astype(np.int64)
    all_ids = pa.concat_arrays(
        [c for t in ([current] if current else []) + prev_tables for c in t.column("id").chunks]
        or [pa.array([], pa.string())]
    )
    dropped = pa.array(decisions.reason[listed] != KEEP)
    keeper_ids = all_ids.take(pa.array(decisions.keeper[listed]))
    plan = pa.table(
        {
            "part": pa.array([inputs[i][0] for i in part_of[listed]], pa.string()),
            "row": pa.array(listed - starts[part_of[listed]], pa.int32()),
            "reason": pa.array(
                [REASONS.get(int(r)) for r in decisions.reason[listed]], pa.string()
            ),
            "dup_of": pc.if_else(dropped, keeper_ids, pa.scalar(None, pa.string())),
            "cluster_size": pa.array(decisions.cluster_size[listed], pa.int32()),
        }
    )
    if exact is not None:  # the kept document's exact key, for this run's index rows
        keeper_exact = pa.array(
            [
                k.tobytes() if d else None
                for k, d in zip(
                    exact[decisions.keeper[listed]],
                    dropped.to_numpy(zero_copy_only=False),
                    strict=True,
                )
            ],
            KEY_TYPE,
        )
        plan = plan.append_column("dup_exact", keeper_exact)
    reasons = decisions.reason
    sizes = decisions.cluster_size
    info = {
        "documents": n_current,
        "previous_documents": n_previous,
        "previous_runs": sorted({str(p.source) for p in previous}),
        "edges": int(sum(len(a) for a, _ in edges)),
        "clusters": decisions.clusters,
        "largest_cluster": int(sizes.max()) if len(sizes) else 0,
        "exact_duplicate": int(np.count_nonzero(reasons == 1)),
        "near_duplicate": int(np.count_nonzero(reasons == 2)),
        "dropped_for_previous_runs": int(
            np.count_nonzero((reasons != KEEP) & (decisions.keeper >= n_current))
        ),
    }
    fault_point("dedup.cluster")
    write_with_info(path, plan, fp, info)  # no timings in the file: same inputs, same bytes
    wanted = {part for part, _, _ in inputs}
    _prune(signature_dir(run), wanted)
    _prune(index_dir(run), wanted)
    _prune(bucket_dir(run), set(bucket_keys(config)))
    return {
        **info,
        "fingerprint": fp,
        "skipped": False,
        "seconds": round(time.perf_counter() - started, 3),
    }


# -- 4. apply per partition ----------------------------------------------------------------------
def apply_unit(
    run: RunDir, config: DedupConfig, part: str, upstream: str = "quality"
) -> dict[str, Any]:
    """Split one partition by the plan; write its kept documents' keys to the index."""
    started = time.perf_counter()
    plan = pq.read_table(plan_path(run), filters=[("part", "==", part)])
    decisions = json.dumps(
        plan.drop_columns(["part"]).to_pylist(), sort_keys=True, default=bytes.hex
    )
    source_path = run.kept_path(upstream, part)
    settings = index_settings(config)
    fp = fingerprint(
        STAGE,
        file_sha256(source_path),
        settings,
        config.keep,
        hashlib.sha256(decisions.encode()).hexdigest(),
    )
    done = run.finished(STAGE, part, fp)
    index_info = read_info(index_path(run, part))
    if done and index_info and index_info["fingerprint"] == fp:
        return _summary(done.name, done.stats, done.kept_sha256, skipped=True)
    table = pq.read_table(source_path)
    n = table.num_rows
    reasons: list[str | None] = [None] * n
    dup_of: list[str | None] = [None] * n
    sizes = np.ones(n, np.int64)
    for row, reason, dup, size in zip(
        *(plan.column(c).to_pylist() for c in ("row", "reason", "dup_of", "cluster_size")),
        strict=True,
    ):
        reasons[row], dup_of[row], sizes[row] = reason, dup, size
    dup_exact: list[bytes | None] = [None] * n
    if "dup_exact" in plan.column_names:
        for row, key in zip(
            *(plan.column(c).to_pylist() for c in ("row", "dup_exact")), strict=True
        ):
            dup_exact[row] = key
    result = split_partition(table, reasons, dup_of, sizes, config.keep, started)
    written = run.write_partition(
        STAGE, part, fp, result, {"lsh_bands": settings["bands"], "lsh_rows": settings["rows"]}
    )
    fault_point("dedup.apply")
    _write_index(run, config, part, reasons, dup_of, dup_exact, fp, settings)
    return _summary(part, written.stats, written.kept_sha256, skipped=False)


def _write_index(
    run: RunDir,
    config: DedupConfig,
    part: str,
    reasons: list[str | None],
    dup_of: list[str | None],
    dup_exact: list[bytes | None],
    fp: str,
    settings: dict[str, Any],
) -> None:
    """The partition's rows of the band index: its kept documents and its near duplicates, each
    of those with the id and exact key of the document it was dropped for. Exact duplicates add
    nothing (their keys are their kept document's) and are left out."""
    indexed = pa.array([r is None or r == "near_duplicate" for r in reasons], pa.bool_())
    columns = ["id"] + (["exact"] if config.exact else [])
    if config.minhash.enabled:
        columns += ["shingles"] + [band_column(b) for b in range(settings["bands"])]
    table = pq.read_table(
        signature_path(run, part),
        columns=columns + (["signature"] if config.minhash.enabled else []),
    ).filter(indexed)
    keys = table.select(columns)
    keys = keys.add_column(1, "dup_of", pa.array(dup_of, pa.string()).filter(indexed))
    if "exact" in columns:  # an empty filter result loses nothing, but keep the type explicit
        keys = keys.set_column(
            keys.schema.get_field_index("exact"), "exact", keys.column("exact").cast(KEY_TYPE)
        )
        keys = keys.add_column(
            keys.schema.get_field_index("exact") + 1,
            "dup_exact",
            pa.array(dup_exact, KEY_TYPE).filter(indexed),
        )
    if config.minhash.enabled:
        num_perm = config.minhash.num_perm
        signatures = table.column("signature").combine_chunks().flatten().to_numpy()
        low = np.ascontiguousarray(low_bits(signatures.reshape(-1, num_perm)))
        width = 2 * num_perm
        keys = keys.append_column(
            "low",
            pa.Array.from_buffers(pa.binary(width), len(low), [None, pa.py_buffer(low.tobytes())]),
        )
    write_with_info(index_path(run, part), keys, fp, {"rows": keys.num_rows, "settings": settings})


def _summary(part: str, stats: StageStats, kept_sha256: str, skipped: bool) -> dict[str, Any]:
    return {"part": part, "skipped": skipped, "stats": stats.to_dict(), "kept_sha256": kept_sha256}


# -- the stage record ----------------------------------------------------------------------------
def stage_summary(run: RunDir, config: DedupConfig) -> dict[str, Any]:
    """What `_stage.json` records beyond counts: the LSH shape in use and the cluster step."""
    settings = index_settings(config)
    info = read_info(plan_path(run)) or {}
    mh = config.minhash
    return {
        "lsh": {
            "bands": settings["bands"],
            "rows": settings["rows"],
            "num_perm": mh.num_perm,
            "threshold": mh.threshold,
            "scheme": mh.scheme,
            "hash": "sha1_hash32",
            "seed": mh.seed,
            "shingle": mh.shingle,
            "code_shingle": mh.code_shingle,
            "ngram": mh.ngram,
            "char_ngram": mh.char_ngram,
            "enabled": mh.enabled,
        },
        "keep_policy": config.keep_policy,
        "clusters": {k: v for k, v in info.items() if k not in ("fingerprint",)},
    }


def run_all(
    run: RunDir,
    config: DedupConfig,
    parts: list[str],
    base_dir: str | Path = ".",
    upstream: str = "quality",
) -> list[dict[str, Any]]:
    """All four units in order, in this process; returns the per-partition summaries."""
    for part in parts:
        signature_unit(run, config, part, upstream)
    for key in bucket_keys(config):
        bucket_unit(run, config, parts, key, base_dir)
    cluster_unit(run, config, parts, base_dir)
    return [apply_unit(run, config, part, upstream) for part in parts]
