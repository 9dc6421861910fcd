"""Tiny synthetic objective shards for trainer tests, written exactly per docs/shard-format.md.

Rows look like MLM rows: `[CLS] tokens... [SEP]` then padding, 15% of content positions
labelled with the original id and masked 80/10/10. Content tokens follow a Zipf-like unigram
distribution, so a model can lower its loss within a few dozen steps by learning frequencies.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc

from pipeline.shards.format import FORMAT, FORMAT_VERSION, IGNORE_INDEX, SPECIAL_IDS

#: the fixtures' small vocabularies start right after the core special tokens
FIRST_TOKEN = len(SPECIAL_IDS)


def make_rows(
    rows: int, *, vocab_size: int, seq_len: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """`(input_ids, labels)`, each int32 `(rows, seq_len)`."""
    ranks = np.arange(1, vocab_size - FIRST_TOKEN + 1)
    probs = 1.0 / ranks**1.2
    probs /= probs.sum()
    input_ids = np.full((rows, seq_len), SPECIAL_IDS["pad"], dtype=np.int32)
    labels = np.full((rows, seq_len), IGNORE_INDEX, dtype=np.int32)
    for r in range(rows):
        length = int(rng.integers(seq_len // 2, seq_len + 1))  # includes [CLS] and [SEP]
        content = FIRST_TOKEN + rng.choice(len(probs), size=length - 2, p=probs)
        original = np.concatenate([[SPECIAL_IDS["cls"]], content, [SPECIAL_IDS["sep"]]])
        row = original.copy()
        candidates = np.arange(1, length - 1)
        picked = rng.choice(candidates, size=max(1, round(0.15 * len(candidates))), replace=False)
        labels[r, picked] = original[picked]
        for pos in picked:
            draw = rng.random()
            if draw < 0.8:
                row[pos] = SPECIAL_IDS["mask"]
            elif draw < 0.9:
                row[pos] = rng.integers(FIRST_TOKEN, vocab_size)
        input_ids[r, :length] = row
    return input_ids, labels


def _fixed(values: np.ndarray, seq_len: int) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), seq_len)


def write_stream(
    path: Path,
    input_ids: np.ndarray,
    labels: np.ndarray,
    *,
    batch_rows: int,
    first_row: int = 0,
) -> None:
    """One Arrow IPC stream file, `batch_rows` rows per record batch."""
    seq_len = input_ids.shape[1]
    schema = pa.schema(
        [
            ("input_ids", pa.list_(pa.int32(), seq_len)),
            ("attention_mask", pa.list_(pa.int32(), seq_len)),
            ("labels", pa.list_(pa.int32(), seq_len)),
            ("doc_id", pa.string()),
            ("copy", pa.int32()),
            ("chunk", pa.int32()),
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with pa.OSFile(str(path), "wb") as sink, pyarrow.ipc.new_stream(sink, schema) as writer:
        for start in range(0, len(input_ids), batch_rows):
            stop = min(start + batch_rows, len(input_ids))
            n = stop - start
            writer.write_batch(
                pa.record_batch(
                    [
                        _fixed(input_ids[start:stop], seq_len),
                        _fixed(
                            (input_ids[start:stop] != SPECIAL_IDS["pad"]).astype(np.int32), seq_len
                        ),
                        _fixed(labels[start:stop], seq_len),
                        pa.array([f"doc-{first_row + start + i}" for i in range(n)]),
                        pa.array(np.zeros(n, dtype=np.int32)),
                        pa.array(np.zeros(n, dtype=np.int32)),
                    ],
                    schema=schema,
                )
            )


def write_shards(
    root: Path,
    *,
    vocab_size: int = 200,
    seq_len: int = 32,
    train_rows: int = 200,
    val_rows: int = 20,
    rows_per_file: int = 120,
    batch_rows: int = 50,
    seed: int = 0,
    manifest_overrides: dict[str, Any] | None = None,
) -> Path:
    """Write `root/manifest.json` and `root/{train,val}/shard-*.arrow`; return `root`.

    Train rows span several files of several record batches each, so readers must index across
    chunks. A split with 0 rows is listed with no files.
    """
    rng = np.random.default_rng(seed)
    splits: dict[str, Any] = {}
    for split, total in (("train", train_rows), ("val", val_rows)):
        input_ids, labels = make_rows(total, vocab_size=vocab_size, seq_len=seq_len, rng=rng)
        files = []
        for index, start in enumerate(range(0, total, rows_per_file)):
            stop = min(start + rows_per_file, total)
            rel = f"{split}/shard-{index:05d}.arrow"
            write_stream(
                root / rel,
                input_ids[start:stop],
                labels[start:stop],
                batch_rows=batch_rows,
                first_row=start,
            )
            digest = hashlib.sha256((root / rel).read_bytes()).hexdigest()
            files.append({"path": rel, "rows": stop - start, "sha256": digest})
        splits[split] = {"rows": total, "files": files}
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "objective": "mlm",
        "seq_len": seq_len,
        "vocab_size": vocab_size,
        "special_ids": dict(SPECIAL_IDS),
        "ignore_index": IGNORE_INDEX,
        "columns": [
            {"name": "input_ids", "dtype": "int32", "shape": [seq_len]},
            {"name": "attention_mask", "dtype": "int32", "shape": [seq_len]},
            {"name": "labels", "dtype": "int32", "shape": [seq_len]},
            {"name": "doc_id", "dtype": "string", "shape": []},
            {"name": "copy", "dtype": "int32", "shape": []},
            {"name": "chunk", "dtype": "int32", "shape": []},
        ],
        "tokenizer": "../../tokenizer/tokenizer.json",
        "recipe": {
            "mlm_probability": 0.15,
            "mask_replace": 0.8,
            "random_replace": 0.1,
            "dupe_factor": 1,
            "seed": seed,
        },
        "splits": splits,
    }
    manifest.update(manifest_overrides or {})
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return root
