"""Small hand-made `span` (T5) and `denoise` (BART) shard folders for trainer tests.

Written per docs/shard-format.md with the columns those objectives' shards carry, from a simple
noising of Zipf-distributed token rows, so trainer tests do not depend on the data-side
builders. span: every noise span replaced by the next sentinel (`<extra_id_N>` = 7 + N); the
targets are the sentinels each followed by its span, then `[EOS]`. denoise: spans replaced by one
`[MASK]` each; the target is the original row; `decoder_input_ids` are the target shifted right
behind `[EOS]`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc

from pipeline.shards.format import (
    EOS_ID,
    FIRST_REGULAR_ID,
    FORMAT,
    FORMAT_VERSION,
    IGNORE_INDEX,
    MASK_ID,
    PAD_ID,
    SPECIAL_IDS,
)

SENTINEL_0 = 7  # <extra_id_0>


def _zipf_tokens(rng: np.random.Generator, n: int, vocab_size: int) -> np.ndarray:
    ranks = np.arange(1, vocab_size - FIRST_REGULAR_ID + 1)
    probs = 1.0 / ranks**1.1
    return FIRST_REGULAR_ID + rng.choice(len(ranks), size=n, p=probs / probs.sum())


def _spans(rng: np.random.Generator, n: int) -> list[tuple[int, int]]:
    """Non-touching noise spans of 1-5 tokens covering about 15% of `n` positions."""
    spans, cursor = [], int(rng.integers(0, 4))
    while cursor < n - 1:
        length = int(rng.integers(1, 6))
        end = min(cursor + length, n - 1)
        spans.append((cursor, end))
        cursor = end + 1 + int(rng.integers(8, 30))
    return spans


def _pad(values: list[int], length: int, fill: int) -> list[int]:
    return (values + [fill] * length)[:length]


def span_rows(
    rows: int, seq_len: int, target_len: int, vocab_size: int, rng: np.random.Generator
) -> dict[str, Any]:
    columns: dict[str, list[Any]] = {
        "input_ids": [],
        "attention_mask": [],
        "labels": [],
        "decoder_attention_mask": [],
    }
    for _ in range(rows):
        n = int(rng.integers(seq_len // 2, seq_len + 1))
        tokens = _zipf_tokens(rng, n, vocab_size).tolist()
        inputs, targets, cursor = [], [], 0
        for sentinel, (start, end) in enumerate(_spans(rng, n)):
            inputs += tokens[cursor:start] + [SENTINEL_0 + sentinel]
            targets += [SENTINEL_0 + sentinel] + tokens[start:end]
            cursor = end
        inputs += tokens[cursor:]
        targets = targets[: target_len - 1] + [EOS_ID]
        inputs = inputs[:seq_len]
        columns["input_ids"].append(_pad(inputs, seq_len, PAD_ID))
        columns["attention_mask"].append(_pad([1] * len(inputs), seq_len, 0))
        columns["labels"].append(_pad(targets, target_len, IGNORE_INDEX))
        columns["decoder_attention_mask"].append(_pad([1] * len(targets), target_len, 0))
    return columns


def denoise_rows(
    rows: int, seq_len: int, vocab_size: int, rng: np.random.Generator
) -> dict[str, Any]:
    columns: dict[str, list[Any]] = {
        "input_ids": [],
        "attention_mask": [],
        "labels": [],
        "decoder_input_ids": [],
    }
    for _ in range(rows):
        n = int(rng.integers(seq_len // 2, seq_len))
        tokens = _zipf_tokens(rng, n, vocab_size).tolist()
        inputs, cursor = [], 0
        for start, end in _spans(rng, n):
            inputs += tokens[cursor:start] + [MASK_ID]
            cursor = end
        inputs += tokens[cursor:]
        target = tokens + [EOS_ID]
        columns["input_ids"].append(_pad(inputs, seq_len, PAD_ID))
        columns["attention_mask"].append(_pad([1] * len(inputs), seq_len, 0))
        columns["labels"].append(_pad(target, seq_len, IGNORE_INDEX))
        columns["decoder_input_ids"].append(_pad([EOS_ID] + target[:-1], seq_len, PAD_ID))
    return columns


def _write_split(root: Path, split: str, columns: dict[str, Any], shapes: dict[str, int]) -> dict:
    rows = len(next(iter(columns.values())))
    doc_ids = [f"{split}-doc-{i}" for i in range(rows)]
    fields = [(name, pa.list_(pa.int32(), shapes[name])) for name in columns] + [
        ("doc_id", pa.string())
    ]
    schema = pa.schema([pa.field(name, kind, nullable=False) for name, kind in fields])
    arrays = [
        pa.FixedSizeListArray.from_arrays(
            pa.array(np.asarray(values, dtype=np.int32).reshape(-1)), shapes[name]
        )
        for name, values in columns.items()
    ] + [pa.array(doc_ids, type=pa.string())]
    rel = f"{split}/part-fixture-00000.arrow"
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with pa.OSFile(str(path), "wb") as sink, pyarrow.ipc.new_stream(sink, schema) as writer:
        writer.write_batch(pa.record_batch(arrays, schema=schema))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"rows": rows, "files": [{"path": rel, "rows": rows, "sha256": digest}]}


def write_seq2seq_shards(
    root: Path,
    objective: str,
    *,
    vocab_size: int = 200,
    seq_len: int = 48,
    target_len: int = 24,
    train_rows: int = 160,
    val_rows: int = 16,
    seed: int = 0,
) -> Path:
    """`root/manifest.json` and one file per split of `span` or `denoise` rows; returns `root`."""
    rng = np.random.default_rng(seed)
    if objective == "span":
        lengths = (seq_len, seq_len, target_len, target_len)
        names = ("input_ids", "attention_mask", "labels", "decoder_attention_mask")
    elif objective == "denoise":
        lengths = (seq_len,) * 4
        names = ("input_ids", "attention_mask", "labels", "decoder_input_ids")
    else:
        raise ValueError(f"no fixture for {objective!r}")
    shapes = dict(zip(names, lengths, strict=True))

    def make(rows: int) -> dict[str, Any]:
        if objective == "span":
            return span_rows(rows, seq_len, target_len, vocab_size, rng)
        return denoise_rows(rows, seq_len, vocab_size, rng)

    splits = {
        "train": _write_split(root, "train", make(train_rows), shapes),
        "val": _write_split(root, "val", make(val_rows), shapes),
    }
    columns = [{"name": n, "dtype": "int32", "shape": [s]} for n, s in shapes.items()]
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "objective": objective,
        "seq_len": seq_len,
        "vocab_size": vocab_size,
        "special_ids": dict(SPECIAL_IDS),
        "ignore_index": IGNORE_INDEX,
        "columns": [*columns, {"name": "doc_id", "dtype": "string", "shape": []}],
        "tokenizer": "../../tokenizer/tokenizer.json",
        "recipe": {"fixture": True, "seed": seed},
        "splits": splits,
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return root
