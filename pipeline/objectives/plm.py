"""Permutation language modelling rows (XLNet, Yang et al. 2019): targets and a factorisation
order per row, stored compactly.

A document's tokens (no special tokens: XLNet's `[SEP]`/`[CLS]` serve its two-segment and
classification tasks, which this objective does not train) are cut into windows of `seq_len`;
only a document's last window is short, padded with `[PAD]`. Per row:

- **Targets**, span by span as XLNet's `_sample_mask` and Hugging Face's
  `DataCollatorForPermutationLanguageModeling` choose them: from the row's start, draw a span
  length L uniformly from [1, max_span_length], reserve a context of `int(L / plm_probability)`
  positions, put the span at a uniform offset inside it, move on past the context; repeat until
  the row's end. Spans are cut at the row's end and padding is never a target, so about
  `plm_probability` (1/6) of the tokens are targets. A row whose tokens would all be targets
  keeps its first token as context (with no context the first target would see nothing).
- **Factorisation order**, as XLNet's `_local_perm` with `perm_size` (the collator's choice,
  half the row): positions are cut into blocks of `perm_size`, one random permutation of
  `range(perm_size)` orders the positions inside every block, and blocks follow each other.
  Targets take this order; all non-targets (padding included) come before them, in position
  order. XLNet gives every non-target the smallest index (-1): they are context that sees no
  target; the trainer reads them the same way, so their ranks among themselves only keep the
  column a permutation.

`perm_index[i]` is the rank of position i in that order, a permutation of `range(seq_len)`:
the trainer builds its content- and query-stream masks from it per batch, so no (seq_len x
seq_len) mask is stored. It is int32 because the shard format's columns are int32 (the reader
maps int32 columns without a copy); int16 would halve the column but add a dtype to the format.

`input_ids` keep the original tokens at the targets (XLNet's content stream reads them; the
query stream, which predicts, never sees its own position); `labels` hold them there and -100
elsewhere. Every row draws all its uniforms at once (span lengths, span offsets, permutation
keys) from a numpy Generator seeded by (seed, document id, chunk), so one seed gives
byte-identical shards and any row can be rebuilt from its keys; the rest is vectorised over
the rows of a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.objectives.base import (
    Column,
    Objective,
    StatelessBuilder,
    Vocab,
    arrow_schema,
    record_batch,
    stable_seed,
)
from pipeline.shards.format import IGNORE_INDEX, PAD_ID


class PLMConfig(BaseModel):
    """The permutation recipe; defaults are XLNet's (Yang et al. 2019) as Hugging Face's
    `DataCollatorForPermutationLanguageModeling` sets them."""

    model_config = ConfigDict(extra="forbid")

    # XLNet's partial prediction: K = 6, so 1/K of the tokens are targets (section 2.3).
    plm_probability: float = Field(1 / 6, gt=0, le=1)
    # XLNet's span-based prediction: spans of 1 to 5 tokens (`max_span_length` of the collator).
    max_span_length: int = Field(5, ge=1)
    # The demo's row length, as for `mlm` and `clm` (XLNet pretrained at 512).
    seq_len: int = Field(128, ge=2)
    # XLNet's `perm_size`: its pretraining used reuse_len = seq_len / 2; the collator permutes
    # in two halves the same way. None = half the row.
    perm_size: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _fits(self) -> PLMConfig:
        if self.perm_size is not None and self.perm_size > self.seq_len:
            raise ValueError(f"perm_size {self.perm_size} exceeds seq_len {self.seq_len}")
        if int(self.max_span_length / self.plm_probability) < self.max_span_length:
            raise ValueError("plm_probability is too large for spans of max_span_length")
        return self

    def block(self) -> int:
        """The permutation block size in use."""
        return self.perm_size if self.perm_size is not None else max(1, self.seq_len // 2)


@dataclass
class PLMRows:
    """Rows of one or more documents: ``(rows, seq_len)`` int32 matrices and per-row keys."""

    input_ids: np.ndarray
    perm_index: np.ndarray
    labels: np.ndarray
    doc_id: list[str]
    chunk: np.ndarray

    def __len__(self) -> int:
        return len(self.chunk)


def row_seed(seed: int, doc_id: str, chunk: int) -> int:
    """A 128-bit seed for one row, stable across processes and Python versions."""
    return stable_seed("plm", seed, doc_id, chunk)


def max_spans(length: int, config: PLMConfig) -> int:
    """The most spans a row of `length` positions can hold (every context at its shortest)."""
    shortest = min(
        int(span / config.plm_probability) for span in range(1, config.max_span_length + 1)
    )
    return -(-length // shortest)


def sample_targets(uniforms: np.ndarray, length: int, config: PLMConfig) -> np.ndarray:
    """XLNet's span-based target choice over `length` positions, for many rows at once.

    `uniforms` (rows, 2 * max_spans) holds each row's draws: span lengths (uniform in
    [1, max_span_length]) from the first half, offsets inside each span's context (uniform in
    [0, context - span]) from the second. Spans are laid down context after context from the
    row's start until a context starts at or past the end; the last may be cut there.
    """
    spans_per_row = uniforms.shape[1] // 2
    span = 1 + np.minimum(
        (uniforms[:, :spans_per_row] * config.max_span_length).astype(np.int64),
        config.max_span_length - 1,
    )
    context = (span / config.plm_probability).astype(np.int64)  # int(span / p), as XLNet
    offset = (uniforms[:, spans_per_row:] * (context - span + 1)).astype(np.int64)
    cursor = np.cumsum(context, axis=1) - context  # where each span's context begins
    active = cursor < length
    start = np.minimum(cursor + offset, length)
    stop = np.minimum(start + span, length)
    rows = np.broadcast_to(np.arange(len(uniforms))[:, None], start.shape)
    edges = np.zeros((len(uniforms), length + 1), dtype=np.int64)
    np.add.at(edges, (rows[active], start[active]), 1)
    np.add.at(edges, (rows[active], stop[active]), -1)
    return np.cumsum(edges[:, :length], axis=1) > 0


def factorisation_ranks(keys: np.ndarray, targets: np.ndarray, perm_size: int) -> np.ndarray:
    """Rank of every position in the order, for many rows: non-targets first (position order),
    then targets in XLNet's local-permutation order: blocks of `perm_size` in turn, the positions
    of every block ordered by one random permutation of `range(perm_size)`, the sort order of
    the row's `keys` (rows, perm_size)."""
    rows, length = targets.shape
    shuffle = np.empty_like(keys, dtype=np.int64)
    np.put_along_axis(shuffle, np.argsort(keys, axis=1), np.arange(perm_size)[None, :], axis=1)
    position = np.arange(length)
    local = (position // perm_size) * perm_size + shuffle[:, position % perm_size]
    key = np.where(targets, length + local, position)  # non-targets sort before any target
    order = np.argsort(key, axis=1, kind="stable")
    ranks = np.empty((rows, length), dtype=np.int32)
    np.put_along_axis(ranks, order, np.arange(length, dtype=np.int32)[None, :], axis=1)
    return ranks


def plm_rows_batch(
    token_ids: Sequence[np.ndarray], doc_ids: Sequence[str], config: PLMConfig, seed: int
) -> PLMRows:
    """The rows of several documents, in order: per document, its windows of `seq_len`."""
    if len(token_ids) != len(doc_ids):
        raise ValueError(f"{len(token_ids)} token arrays for {len(doc_ids)} document ids")
    seq_len, perm_size = config.seq_len, config.block()
    windows: list[np.ndarray] = []
    row_doc_ids: list[str] = []
    chunks: list[int] = []
    for tokens, doc_id in zip(token_ids, doc_ids, strict=True):
        for chunk, start in enumerate(range(0, len(tokens), seq_len)):
            windows.append(tokens[start : start + seq_len])
            row_doc_ids.append(doc_id)
            chunks.append(chunk)
    rows = len(windows)
    input_ids = np.full((rows, seq_len), PAD_ID, dtype=np.int32)
    n_spans = max_spans(seq_len, config)
    draws = np.empty((rows, 2 * n_spans + perm_size))
    for r, (window, doc_id, chunk) in enumerate(zip(windows, row_doc_ids, chunks, strict=True)):
        input_ids[r, : len(window)] = window
        draws[r] = np.random.default_rng(row_seed(seed, doc_id, chunk)).random(draws.shape[1])
    real = input_ids != PAD_ID
    targets = sample_targets(draws[:, : 2 * n_spans], seq_len, config) & real
    only_targets = real.any(axis=1) & ~(real & ~targets).any(axis=1)
    targets[only_targets, 0] = False  # keep one token of context (a window starts at 0)
    labels = np.where(targets, input_ids, IGNORE_INDEX).astype(np.int32)
    perm_index = factorisation_ranks(draws[:, 2 * n_spans :], targets, perm_size)
    return PLMRows(input_ids, perm_index, labels, row_doc_ids, np.array(chunks, dtype=np.int32))


def plm_columns(config: PLMConfig) -> list[Column]:
    """The columns of PLM shards (docs/shard-format.md)."""
    ids = (config.seq_len,)
    return [
        Column("input_ids", "int32", ids),
        Column("attention_mask", "int32", ids),
        Column("perm_index", "int32", ids),
        Column("labels", "int32", ids),
        Column("doc_id", "string"),
        Column("chunk", "int32"),
    ]


def plm_batch(rows: PLMRows, schema: pa.Schema) -> pa.RecordBatch:
    """An Arrow record batch of ``rows`` with the columns of ``schema``."""
    attention_mask = (rows.input_ids != PAD_ID).astype(np.int32)
    return record_batch(
        schema,
        [
            rows.input_ids,
            attention_mask,
            rows.perm_index,
            rows.labels,
            rows.doc_id,
            rows.chunk,
        ],
    )


def _builder(config: PLMConfig, seed: int, vocab: Vocab) -> StatelessBuilder:
    schema = arrow_schema(plm_columns(config))

    def build(
        token_ids: Sequence[np.ndarray], doc_ids: Sequence[str], seed: int, vocab: Vocab
    ) -> pa.RecordBatch:
        return plm_batch(plm_rows_batch(token_ids, doc_ids, config, seed), schema)

    return StatelessBuilder(build, schema, seed, vocab)


OBJECTIVE = Objective("plm", PLMConfig, plm_columns, _builder)
