"""Causal language modelling rows: documents packed into fixed-length rows (GPT-2, Radford et al.
2019; the packing of GPT-3, Brown et al. 2020, with document-boundary masking as in Llama 3).

The documents of a split, in order, form one stream (the shards stage packs each partition
on its own, so the tail is counted per partition), each followed by `[EOS]`; the stream is cut
into rows of exactly `seq_len` tokens, so no row is padded and no token is lost except the last,
partial row (the tail), whose size the manifest counts. A row may hold pieces of several
documents: `position_ids` restart at 0 where each one begins (and at the start of the row), so
the trainer can mask attention across documents and give every document its own positions.
`labels` equal `input_ids` except at a document's first token in the row, which is -100: no
token is predicted from another document. (Stock models shift `labels` left by one themselves.)

There is no randomness: the rows depend only on the documents and their order, never on how
they arrive in batches, since the builder carries the unfinished row from one batch to the next.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from pipeline.objectives.base import (
    Column,
    Objective,
    Vocab,
    arrow_schema,
    empty_batch,
    record_batch,
)
from pipeline.shards.format import EOS_ID, IGNORE_INDEX


class CLMConfig(BaseModel):
    """Packing settings. GPT-2 packed 1024-token rows; 128 matches the demo's MLM rows."""

    model_config = ConfigDict(extra="forbid")

    seq_len: int = Field(128, ge=2)


def clm_columns(config: CLMConfig) -> list[Column]:
    """The columns of CLM shards (docs/shard-format.md)."""
    ids = (config.seq_len,)
    return [
        Column("input_ids", "int32", ids),
        Column("attention_mask", "int32", ids),
        Column("position_ids", "int32", ids),
        Column("labels", "int32", ids),
        Column("doc_ids", "string", (None,)),
    ]


class CLMPacker:
    """Packs one split's documents into rows; holds back the unfinished row between batches.

    The buffer always starts at a row boundary: `tokens` are the pending stream tokens,
    `doc` the index (into `names`) of the document each belongs to, `starts` whether it is the
    first token of its document.
    """

    def __init__(self, config: CLMConfig) -> None:
        self.seq_len = config.seq_len
        self.schema = arrow_schema(clm_columns(config))
        self.tokens = np.empty(0, dtype=np.int32)
        self.doc = np.empty(0, dtype=np.int64)
        self.starts = np.empty(0, dtype=bool)
        self.names: list[str] = []  # documents of the pending tokens, the first may be begun
        self.tail_tokens = 0

    def add(self, token_ids: Sequence[np.ndarray], doc_ids: Sequence[str]) -> pa.RecordBatch:
        if len(token_ids) != len(doc_ids):
            raise ValueError(f"{len(token_ids)} token arrays for {len(doc_ids)} document ids")
        kept = [(t, d) for t, d in zip(token_ids, doc_ids, strict=True) if len(t)]
        if kept:
            lengths = np.array([len(t) + 1 for t, _ in kept], dtype=np.int64)  # + [EOS]
            eos = np.full(1, EOS_ID, dtype=np.int32)
            stream = np.concatenate([part for t, _ in kept for part in (t, eos)]).astype(np.int32)
            first = len(self.names)
            doc = np.repeat(np.arange(first, first + len(kept)), lengths)
            starts = np.zeros(len(stream), dtype=bool)
            starts[np.cumsum(lengths) - lengths] = True
            self.tokens = np.concatenate([self.tokens, stream])
            self.doc = np.concatenate([self.doc, doc])
            self.starts = np.concatenate([self.starts, starts])
            self.names.extend(d for _, d in kept)
        rows = len(self.tokens) // self.seq_len
        return self._emit(rows)

    def finish(self) -> pa.RecordBatch:
        self.tail_tokens += len(self.tokens)
        self.tokens = self.tokens[:0]
        self.doc = self.doc[:0]
        self.starts = self.starts[:0]
        self.names = []
        return empty_batch(self.schema)

    def stats(self) -> dict[str, int]:
        return {"tail_tokens": self.tail_tokens}

    def _emit(self, rows: int) -> pa.RecordBatch:
        if rows == 0:
            return empty_batch(self.schema)
        n, seq_len = rows * self.seq_len, self.seq_len
        input_ids = self.tokens[:n].reshape(rows, seq_len)
        doc = self.doc[:n].reshape(rows, seq_len)
        begins = self.starts[:n].reshape(rows, seq_len).copy()
        begins[:, 0] = True  # a row's first token begins a segment, whatever came before
        # Position = distance from the last segment start at or before it, within the row.
        index = np.broadcast_to(np.arange(seq_len), (rows, seq_len))
        last_start = np.maximum.accumulate(np.where(begins, index, 0), axis=1)
        position_ids = (index - last_start).astype(np.int32)
        labels = np.where(self.starts[:n].reshape(rows, seq_len), IGNORE_INDEX, input_ids)
        doc_lists = [
            [self.names[d] for d in np.unique(row).tolist()] for row in doc
        ]  # documents in stream order: doc indices increase along a row
        batch = record_batch(
            self.schema,
            [
                input_ids,
                np.ones((rows, seq_len), dtype=np.int32),
                position_ids,
                labels.astype(np.int32),
                doc_lists,
            ],
        )
        # Keep the rest; renumber its documents from 0.
        self.tokens, self.starts = self.tokens[n:], self.starts[n:]
        rest = self.doc[n:]
        base = int(rest[0]) if len(rest) else len(self.names)
        self.doc = rest - base
        self.names = self.names[base:]
        return batch


def _builder(config: CLMConfig, seed: int, vocab: Vocab) -> CLMPacker:
    return CLMPacker(config)  # packing draws nothing at random


OBJECTIVE = Objective("clm", CLMConfig, clm_columns, _builder)
