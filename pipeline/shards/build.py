"""The shards stage: documents + tokenizer -> objective rows -> Arrow IPC shards + manifest.

The work is cut by partition. :func:`build_partition` reads one partition's documents in record
batches, encodes them with the run's tokenizer (`encode_batch`, without special tokens: each
objective adds its own), turns them into rows with a fresh builder per objective and split
(looked up in `pipeline.objectives.registry`; this module names none) and writes them with
`ShardWriter` as `<objective>/<split>/part-<partition>-NNNNN.arrow`; it returns the partition's
record (counts, file entries, builder stats). Builders never see two partitions, so a
partition's bytes do not depend on which worker builds it or when. :func:`merge_manifests` then
writes each objective's manifest from the records, in partition order, and removes shard files
no record lists. :func:`build_shards` is the two over a list of files, one partition per file.

A document goes to `val` when a hash of its id falls below `val_fraction`, so the split depends
on nothing but the id. Rows keep document order; shuffling is the trainer's sampler's job. The
manifest, listing every column with its dtype and shape, is written last: a folder without one
is incomplete.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from tokenizers import Tokenizer

from pipeline.hashing import file_sha256
from pipeline.objectives.base import RowBuilder, vocab_of
from pipeline.objectives.registry import get_objective
from pipeline.rundir import atomic_write_json
from pipeline.shards.config import ShardsConfig
from pipeline.shards.format import (
    FORMAT,
    FORMAT_VERSION,
    IGNORE_INDEX,
    MANIFEST_NAME,
    SPECIAL_IDS,
    SPLITS,
)
from pipeline.shards.writer import ShardWriter, shard_prefix
from pipeline.tokenizer.config import SPECIAL_TOKENS

Progress = Callable[[dict[str, int]], None]


def is_val_doc(doc_id: str, val_fraction: float) -> bool:
    """Whether the document belongs to the validation split (a stable hash of its id)."""
    digest = hashlib.blake2b(b"gristmill/val\x00" + doc_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64 < val_fraction


def _load_tokenizer(path: Path) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    for expected_id, token in enumerate(SPECIAL_TOKENS):
        if tokenizer.token_to_id(token) != expected_id:
            raise ValueError(
                f"{path}: special token {token!r} has id {tokenizer.token_to_id(token)}, "
                f"expected {expected_id}; train the tokenizer with pipeline.tokenizer"
            )
    return tokenizer


def _documents(files: list[Path], batch_docs: int) -> Iterator[tuple[list[str], list[str]]]:
    """(ids, texts) per record batch; a null text counts as an empty document."""
    for path in files:
        parquet = pq.ParquetFile(path)
        for column in ("id", "text"):
            if parquet.schema_arrow.get_field_index(column) < 0:
                raise ValueError(f"{path}: no `{column}` column; expected document Parquet")
        row = 0
        for batch in parquet.iter_batches(batch_size=batch_docs, columns=["id", "text"]):
            ids = batch.column(0).to_pylist()
            if None in ids:
                raise ValueError(f"{path}: row {row + ids.index(None)} has a null `id`")
            texts = [t or "" for t in batch.column(1).to_pylist()]
            row += batch.num_rows
            yield ids, texts


def _partition_files(split_dir: Path, part: str) -> list[Path]:
    """The shard files of partition ``part`` in ``split_dir`` (its name exactly, never a
    partition whose name merely starts with it)."""
    if not split_dir.is_dir():
        return []
    pattern = re.compile(re.escape(shard_prefix(part)) + r"\d{5}\.arrow")
    return sorted(p for p in split_dir.iterdir() if pattern.fullmatch(p.name))


def clear_partition(out_dir: Path, objectives: Sequence[str], part: str) -> None:
    """Remove the manifests of ``objectives`` (first: the folders become incomplete), then the
    shard files partition ``part`` wrote earlier."""
    for name in objectives:
        (Path(out_dir) / name / MANIFEST_NAME).unlink(missing_ok=True)
    for name in objectives:
        for split in SPLITS:
            for old in _partition_files(Path(out_dir) / name / split, part):
                old.unlink()


def build_partition(
    parquet_files: Sequence[Path],
    tokenizer_path: Path,
    out_dir: Path,
    config: ShardsConfig,
    part: str,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Build every objective's rows of one partition (``parquet_files``, read in order) into
    ``out_dir/<objective>/<split>/part-<part>-NNNNN.arrow``; return the partition's record.

    The record holds ``part``, ``docs`` (``in``/``encoded``/``empty``), per split ``docs`` and
    ``tokens``, and per objective and split the ``rows``, the builder's stats and the file
    entries ``{path, rows, sha256}`` (paths relative to the objective's folder). The same
    files, tokenizer, config and partition name give byte-identical files and the same record.
    """
    tokenizer_path = Path(tokenizer_path)
    tokenizer = _load_tokenizer(tokenizer_path)
    vocab = vocab_of(tokenizer)
    clear_partition(out_dir, config.objectives, part)

    writers: dict[str, dict[str, ShardWriter]] = {}
    builders: dict[str, dict[str, RowBuilder]] = {}
    for name in config.objectives:
        objective_dir = Path(out_dir) / name
        objective, settings = get_objective(name), config.objective_config(name)
        schema = objective.schema(settings)
        writers[name] = {
            split: ShardWriter(
                objective_dir / split, schema, config.rows_per_shard, objective_dir, part
            )
            for split in SPLITS
        }
        builders[name] = {
            split: objective.builder(settings, config.seed, vocab) for split in SPLITS
        }

    docs = {"in": 0, "encoded": 0, "empty": 0}
    split_docs = dict.fromkeys(SPLITS, 0)
    split_tokens = dict.fromkeys(SPLITS, 0)
    rows_built = 0
    for ids, texts in _documents([Path(f) for f in parquet_files], config.encode_batch_docs):
        encodings = tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        pending: dict[str, tuple[list[np.ndarray], list[str]]] = {s: ([], []) for s in SPLITS}
        for doc_id, encoding in zip(ids, encodings, strict=True):
            docs["in"] += 1
            token_ids = np.asarray(encoding.ids, dtype=np.int32)
            if len(token_ids) == 0:
                docs["empty"] += 1
                continue
            docs["encoded"] += 1
            split = "val" if is_val_doc(doc_id, config.val_fraction) else "train"
            split_docs[split] += 1
            split_tokens[split] += len(token_ids)
            pending[split][0].append(token_ids)
            pending[split][1].append(doc_id)
        for split, (split_ids, split_doc_ids) in pending.items():
            if not split_doc_ids:
                continue
            for name in config.objectives:
                batch = builders[name][split].add(split_ids, split_doc_ids)
                writers[name][split].write(batch)
                rows_built += batch.num_rows
        if progress is not None:
            progress({"docs": docs["in"], "rows": rows_built})

    objectives: dict[str, dict[str, Any]] = {}
    for name in config.objectives:
        splits = {}
        for split in SPLITS:
            last = builders[name][split].finish()
            writers[name][split].write(last)
            rows_built += last.num_rows
            entries = writers[name][split].close()
            splits[split] = {
                "rows": sum(e["rows"] for e in entries),
                "stats": builders[name][split].stats(),
                "files": entries,
            }
        objectives[name] = splits
    if progress is not None:
        progress({"docs": docs["in"], "rows": rows_built})
    return {
        "part": part,
        "docs": docs,
        "splits": {s: {"docs": split_docs[s], "tokens": split_tokens[s]} for s in SPLITS},
        "objectives": objectives,
    }


def _remove_unlisted(objective_dir: Path, listed: set[str]) -> None:
    """Remove the shard files of ``objective_dir`` no manifest entry lists (partitions gone
    from the run, files of an older layout)."""
    for split in SPLITS:
        split_dir = objective_dir / split
        if not split_dir.is_dir():
            continue
        for path in sorted(split_dir.glob("*.arrow")):
            if path.relative_to(objective_dir).as_posix() not in listed:
                path.unlink()


def merge_manifests(
    records: Sequence[dict[str, Any]],
    tokenizer_path: Path,
    out_dir: Path,
    config: ShardsConfig,
) -> dict[str, dict[str, Any]]:
    """Write ``out_dir/<objective>/manifest.json`` for every objective of ``config`` from the
    partition records, listing files in the order of ``records``; remove shard files no record
    lists; return ``{objective: manifest}``.

    Counts are sums over the partitions, builder stats too (clm's ``tail_tokens`` is the sum of
    each partition's tail)."""
    tokenizer_path = Path(tokenizer_path)
    tokenizer = _load_tokenizer(tokenizer_path)
    vocab_size = tokenizer.get_vocab_size()
    tokenizer_sha256 = file_sha256(tokenizer_path)
    docs = {"in": 0, "encoded": 0, "empty": 0}
    split_docs = dict.fromkeys(SPLITS, 0)
    split_tokens = dict.fromkeys(SPLITS, 0)
    for record in records:
        for key in docs:
            docs[key] += record["docs"][key]
        for split in SPLITS:
            split_docs[split] += record["splits"][split]["docs"]
            split_tokens[split] += record["splits"][split]["tokens"]

    manifests = {}
    for name in config.objectives:
        objective_dir = Path(out_dir) / name
        settings = config.objective_config(name)
        splits = {}
        for split in SPLITS:
            files: list[dict[str, Any]] = []
            stats: dict[str, int] = {}
            for record in records:
                entry = record["objectives"][name][split]
                files.extend(entry["files"])
                for key, value in entry["stats"].items():
                    stats[key] = stats.get(key, 0) + value
            splits[split] = {
                "rows": sum(f["rows"] for f in files),
                "docs": split_docs[split],
                "tokens": split_tokens[split],
                **stats,
                "files": files,
            }
        _remove_unlisted(
            objective_dir, {f["path"] for split in splits.values() for f in split["files"]}
        )
        recipe = settings.model_dump(mode="json", exclude={"seq_len"})
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "objective": name,
            "seq_len": settings.seq_len,
            "vocab_size": vocab_size,
            "special_ids": dict(SPECIAL_IDS),
            "ignore_index": IGNORE_INDEX,
            "columns": [c.to_json() for c in get_objective(name).columns(settings)],
            "tokenizer": Path(os.path.relpath(tokenizer_path, objective_dir)).as_posix(),
            "tokenizer_sha256": tokenizer_sha256,
            "recipe": {**recipe, "seed": config.seed},
            "val_fraction": config.val_fraction,
            "stats": {"docs": docs, "tokens": split_tokens["train"] + split_tokens["val"]},
            "splits": splits,
        }
        atomic_write_json(objective_dir / MANIFEST_NAME, manifest)
        manifests[name] = manifest
    return manifests


def partition_names(parquet_files: Sequence[Path]) -> list[str]:
    """One partition name per file: its name less the extension (they must differ)."""
    names = [Path(f).name.split(".", 1)[0] for f in parquet_files]
    if len(set(names)) != len(names):
        raise ValueError(f"two input files share a partition name: {names}")
    return names


def build_shards(
    parquet_files: list[Path],
    tokenizer_path: Path,
    out_dir: Path,
    config: ShardsConfig,
    progress: Progress | None = None,
) -> dict:
    """Build every objective of ``config`` into ``out_dir/<objective>/``; return the manifests.

    Each file is one partition (named by :func:`partition_names`), built by
    :func:`build_partition`; :func:`merge_manifests` then writes
    ``out_dir/<objective>/manifest.json`` and returns ``{objective: manifest}``. ``progress``, if
    given, is called after each batch of documents with ``{"docs": documents read, "rows": rows
    built}``, counted over the files so far. The same files, tokenizer and config give
    byte-identical shard files and manifests.
    """
    records = []
    done = {"docs": 0, "rows": 0}
    for path, part in zip(parquet_files, partition_names(parquet_files), strict=True):
        base = dict(done)

        def report(now: dict[str, int], base: dict[str, int] = base) -> None:
            done.update(docs=base["docs"] + now["docs"], rows=base["rows"] + now["rows"])
            if progress is not None:
                progress(dict(done))

        records.append(build_partition([Path(path)], tokenizer_path, out_dir, config, part, report))
    return merge_manifests(records, tokenizer_path, out_dir, config)
