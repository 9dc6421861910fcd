"""The shards stage: documents + tokenizer -> objective rows -> Arrow IPC shards + manifest.

Documents are read in record batches in the given file order, encoded with the run's tokenizer
(`encode_batch`, without special tokens: each objective adds its own), turned into rows by each
objective's builder (looked up in `pipeline.objectives.registry`; this module names none) and
written, per split, by `ShardWriter`. A document goes to `val` when a hash of its id falls below
`val_fraction`, so the split depends on nothing but the id. Rows keep document order; shuffling
is the trainer's sampler's job. The manifest, listing every column with its dtype and shape, is
written last: a folder without one is incomplete.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

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
from pipeline.shards.writer import ShardWriter
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


def _clear(objective_dir: Path) -> None:
    """Remove a previous build's manifest (first) and shard files, so none is mistaken for ours."""
    (objective_dir / MANIFEST_NAME).unlink(missing_ok=True)
    for split in SPLITS:
        for old in (objective_dir / split).glob("shard-*.arrow"):
            old.unlink()


def build_shards(
    parquet_files: list[Path],
    tokenizer_path: Path,
    out_dir: Path,
    config: ShardsConfig,
    progress: Progress | None = None,
) -> dict:
    """Build every objective of ``config`` into ``out_dir/<objective>/``; return the manifests.

    Returns ``{objective: manifest}``; each manifest is also written to
    ``out_dir/<objective>/manifest.json``. ``progress``, if given, is called after each batch
    of documents with ``{"docs": documents read, "rows": rows built}``. The same files,
    tokenizer and config give byte-identical shard files and manifests.
    """
    files = [Path(p) for p in parquet_files]
    tokenizer_path = Path(tokenizer_path)
    tokenizer = _load_tokenizer(tokenizer_path)
    vocab = vocab_of(tokenizer)

    objective_dirs = {name: Path(out_dir) / name for name in config.objectives}
    settings = {name: config.objective_config(name) for name in config.objectives}
    writers: dict[str, dict[str, ShardWriter]] = {}
    builders: dict[str, dict[str, RowBuilder]] = {}
    for name, objective_dir in objective_dirs.items():
        _clear(objective_dir)
        objective = get_objective(name)
        schema = objective.schema(settings[name])
        writers[name] = {
            split: ShardWriter(objective_dir / split, schema, config.rows_per_shard, objective_dir)
            for split in SPLITS
        }
        builders[name] = {
            split: objective.builder(settings[name], config.seed, vocab) for split in SPLITS
        }

    docs = {"in": 0, "encoded": 0, "empty": 0}
    split_docs = dict.fromkeys(SPLITS, 0)
    split_tokens = dict.fromkeys(SPLITS, 0)
    rows_built = 0
    for ids, texts in _documents(files, config.encode_batch_docs):
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

    manifests = {}
    for name, objective_dir in objective_dirs.items():
        splits = {}
        for split in SPLITS:
            last = builders[name][split].finish()
            writers[name][split].write(last)
            rows_built += last.num_rows
            entries = writers[name][split].close()
            splits[split] = {
                "rows": sum(e["rows"] for e in entries),
                "docs": split_docs[split],
                "tokens": split_tokens[split],
                **builders[name][split].stats(),
                "files": entries,
            }
        recipe = settings[name].model_dump(mode="json", exclude={"seq_len"})
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "objective": name,
            "seq_len": settings[name].seq_len,
            "vocab_size": vocab.size,
            "special_ids": dict(SPECIAL_IDS),
            "ignore_index": IGNORE_INDEX,
            "columns": [c.to_json() for c in get_objective(name).columns(settings[name])],
            "tokenizer": Path(os.path.relpath(tokenizer_path, objective_dir)).as_posix(),
            "tokenizer_sha256": file_sha256(tokenizer_path),
            "recipe": {**recipe, "seed": config.seed},
            "val_fraction": config.val_fraction,
            "stats": {"docs": docs, "tokens": split_tokens["train"] + split_tokens["val"]},
            "splits": splits,
        }
        atomic_write_json(objective_dir / MANIFEST_NAME, manifest)
        manifests[name] = manifest
    return manifests
