"""Masked language modelling rows (BERT, Devlin et al. 2019), static and reproducible.

A document's tokens are cut into windows of ``seq_len - 2``; each window becomes a row
``[CLS] tokens [SEP] [PAD]...``. For each of ``dupe_factor`` copies, as BERT's
`create_pretraining_data.py`, ``round(n * mlm_probability)`` (at least 1) of the row's n real
tokens are chosen; of those 80% become `[MASK]`, 10% a random ordinary token, 10% stay, and
`labels` hold the original id there and -100 (ignored by the loss) everywhere else. Each row
draws from its own numpy Generator seeded by a hash of (seed, document id, copy, chunk).

Options from BERT's released code: `whole_word` chooses whole words (every piece of a chosen word
is predicted), and `max_predictions_per_seq` caps the predictions per row.
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
from pipeline.shards.format import CLS_ID, FIRST_REGULAR_ID, IGNORE_INDEX, MASK_ID, PAD_ID, SEP_ID

__all__ = ["CLS_ID", "IGNORE_INDEX", "MASK_ID", "PAD_ID", "SEP_ID"]


class MLMConfig(BaseModel):
    """The masking recipe; defaults are BERT's (Devlin et al. 2019, section 3.1)."""

    model_config = ConfigDict(extra="forbid")

    mlm_probability: float = Field(0.15, gt=0, le=1)  # BERT: 15% of tokens are predicted
    mask_replace: float = Field(0.8, ge=0, le=1)  # of those, 80% become [MASK]
    random_replace: float = Field(0.1, ge=0, le=1)  # 10% a random token; the rest (10%) stay
    # BERT made 10 static copies with different masks; 1 keeps the demo's shards small.
    dupe_factor: int = Field(1, ge=1)
    # BERT's phase-1 length (90% of its steps), [CLS] and [SEP] included.
    seq_len: int = Field(128, ge=3)
    # BERT's whole-word masking release: off by default, as in the original BERT.
    whole_word: bool = False
    # BERT caps predictions per row (20 at length 128, 80 at 512); None = no cap, so every row
    # predicts round(n * mlm_probability) tokens.
    max_predictions_per_seq: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _fractions(self) -> MLMConfig:
        if self.mask_replace + self.random_replace > 1:
            raise ValueError("mask_replace + random_replace must be at most 1")
        return self


@dataclass
class MLMRows:
    """Rows of one or more documents: ``(rows, seq_len)`` int32 matrices and per-row keys."""

    input_ids: np.ndarray
    labels: np.ndarray
    doc_id: list[str]
    copy: np.ndarray
    chunk: np.ndarray

    def __len__(self) -> int:
        return len(self.copy)


def row_seed(seed: int, doc_id: str, copy: int, chunk: int) -> int:
    """A 128-bit seed for one row, stable across processes and Python versions."""
    return stable_seed("mlm", seed, doc_id, copy, chunk)


def mlm_rows(
    token_ids: np.ndarray,
    doc_id: str,
    config: MLMConfig,
    seed: int,
    vocab_size: int,
    continues_word: np.ndarray | None = None,
) -> MLMRows:
    """All rows of one document: ``dupe_factor`` copies of each window, copy-major.

    ``token_ids`` are the document's ids without special tokens. Random replacements are drawn
    from the ordinary ids ``[FIRST_REGULAR_ID, vocab_size)``. A document with no tokens gives
    no rows.
    """
    return mlm_rows_batch([token_ids], [doc_id], config, seed, vocab_size, continues_word)


def mlm_rows_batch(
    token_ids: Sequence[np.ndarray],
    doc_ids: Sequence[str],
    config: MLMConfig,
    seed: int,
    vocab_size: int,
    continues_word: np.ndarray | None = None,
) -> MLMRows:
    """The rows of several documents, in order; equal to concatenating their `mlm_rows`.

    Laying out windows and masking are vectorised over all rows at once; only seeding each
    row's generator (and, with `whole_word`, choosing words) is a loop. `continues_word` (bool
    per id, see `Vocab`) is needed for `whole_word`.
    """
    if config.whole_word and continues_word is None:
        raise ValueError("whole_word masking needs the vocabulary's continues_word table")
    if vocab_size <= FIRST_REGULAR_ID:
        raise ValueError(f"vocab_size {vocab_size} leaves no ordinary tokens to draw from")
    if len(token_ids) != len(doc_ids):
        raise ValueError(f"{len(token_ids)} token arrays for {len(doc_ids)} document ids")
    seq_len, copies = config.seq_len, config.dupe_factor
    body = seq_len - 2
    lengths = np.array([len(t) for t in token_ids], dtype=np.int64)
    chunks = -(-lengths // body)  # windows per document (0 for an empty one)

    # Windows of every document, one after the other, padded to whole windows.
    first_window = np.cumsum(chunks) - chunks
    first_token = np.cumsum(lengths) - lengths
    flat = np.full(int(chunks.sum()) * body, PAD_ID, dtype=np.int32)
    if lengths.sum():
        shift = np.repeat(first_window * body - first_token, lengths)
        flat[shift + np.arange(int(lengths.sum()))] = np.concatenate(token_ids)
    windows = flat.reshape(-1, body)
    window_real = np.full(len(windows), body, dtype=np.int64)
    has_rows = chunks > 0
    window_real[(first_window + chunks - 1)[has_rows]] = (lengths - (chunks - 1) * body)[has_rows]

    # Output rows: per document, copy-major, then chunk.
    doc_rows = chunks * copies
    doc = np.repeat(np.arange(len(lengths)), doc_rows)
    offset = np.arange(len(doc)) - np.repeat(np.cumsum(doc_rows) - doc_rows, doc_rows)
    copy = (offset // np.maximum(chunks, 1)[doc]).astype(np.int32)
    chunk = (offset % np.maximum(chunks, 1)[doc]).astype(np.int32)
    window = first_window[doc] + chunk
    n_real = window_real[window]
    rows = len(doc)
    original = np.full((rows, seq_len), PAD_ID, dtype=np.int32)
    original[:, 0] = CLS_ID
    original[:, 1 : body + 1] = windows[window]
    original[np.arange(rows), n_real + 1] = SEP_ID
    row_doc_ids = [doc_ids[d] for d in doc.tolist()]

    # Per row, from its own generator: a sort key that chooses the positions, a uniform that
    # chooses the action, and a uniform that picks the random replacement.
    draws = np.empty((rows, 3, seq_len))
    keys_of_rows = zip(row_doc_ids, copy.tolist(), chunk.tolist(), strict=True)
    for r, (doc_id, c, k) in enumerate(keys_of_rows):
        draws[r] = np.random.default_rng(row_seed(seed, doc_id, c, k)).random((3, seq_len))
    position = np.arange(seq_len)
    real = (position >= 1) & (position <= n_real[:, None])  # not [CLS], [SEP] or [PAD]
    input_ids, labels = mask_rows(original, real, draws, config, vocab_size, continues_word)
    return MLMRows(input_ids, labels, row_doc_ids, copy, chunk)


def mask_rows(
    original: np.ndarray,
    real: np.ndarray,
    draws: np.ndarray,
    config: MLMConfig,
    vocab_size: int,
    continues_word: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """BERT's masking of finished rows: ``(input_ids, labels)``.

    ``original`` holds the rows' ids with their special tokens, ``real`` marks the positions
    that may be predicted (not `[CLS]`, `[SEP]` or `[PAD]`), and ``draws`` (rows, 3, seq_len)
    are each row's uniforms: a sort key that chooses the positions, one that chooses the action
    and one that picks the random replacement. Other objectives (sentence pairs) mask with it.
    """
    rows, seq_len = original.shape
    keys, action = draws[:, 0].copy(), draws[:, 1]
    random_ids = FIRST_REGULAR_ID + (draws[:, 2] * (vocab_size - FIRST_REGULAR_ID)).astype(np.int32)
    position = np.arange(seq_len)
    keys[~real] = np.inf  # never chosen before a real token
    n_real = real.sum(axis=1)
    n_chosen = np.maximum(1, np.rint(n_real * config.mlm_probability)).astype(np.int64)
    if config.max_predictions_per_seq is not None:
        n_chosen = np.minimum(n_chosen, config.max_predictions_per_seq)
    if config.whole_word:
        if continues_word is None:
            raise ValueError("whole_word masking needs the vocabulary's continues_word table")
        chosen = _choose_words(original, real, keys, n_chosen, continues_word)
    else:
        rank = np.empty((rows, seq_len), dtype=np.int64)
        order = np.argsort(keys, axis=1, kind="stable")
        np.put_along_axis(rank, order, position[None, :], axis=1)
        chosen = (rank < n_chosen[:, None]) & real

    labels = np.where(chosen, original, IGNORE_INDEX).astype(np.int32)
    input_ids = original.copy()
    to_mask = chosen & (action < config.mask_replace)
    to_random = chosen & ~to_mask & (action < config.mask_replace + config.random_replace)
    input_ids[to_mask] = MASK_ID
    input_ids[to_random] = random_ids[to_random]
    return input_ids, labels


def word_starts(original: np.ndarray, real: np.ndarray, continues_word: np.ndarray) -> np.ndarray:
    """Real positions that begin a word: a token that does not continue the one before it, and
    the first real token after a special one (a window or segment that starts inside a word
    starts a word of its own)."""
    after_special = np.ones_like(real)
    after_special[:, 1:] = ~real[:, :-1]
    return real & (~continues_word[original] | after_special)


def _choose_words(
    original: np.ndarray,
    real: np.ndarray,
    keys: np.ndarray,
    n_chosen: np.ndarray,
    continues_word: np.ndarray,
) -> np.ndarray:
    """BERT's whole-word choice: words in the order of their first piece's key; a word is taken
    if all its pieces still fit in the row's budget, and skipped otherwise (a shorter one later
    may fit), until the budget is spent."""
    starts = word_starts(original, real, continues_word)
    word = np.cumsum(starts, axis=1) - 1  # word index of each position within its row
    chosen = np.zeros_like(real)
    for r in range(len(original)):
        positions = np.flatnonzero(real[r])
        if len(positions) == 0:
            continue
        words = word[r, positions]
        sizes = np.bincount(words).tolist()
        first = positions[np.flatnonzero(starts[r, positions])]
        budget, taken = int(n_chosen[r]), []
        for w in np.argsort(keys[r, first], kind="stable").tolist():
            if budget == 0:
                break
            if sizes[w] <= budget:
                taken.append(w)
                budget -= sizes[w]
        chosen[r, positions[np.isin(words, taken)]] = True
    return chosen


def mlm_columns(config: MLMConfig) -> list[Column]:
    """The columns of MLM shards (docs/shard-format.md)."""
    ids = (config.seq_len,)
    return [
        Column("input_ids", "int32", ids),
        Column("attention_mask", "int32", ids),
        Column("labels", "int32", ids),
        Column("doc_id", "string"),
        Column("copy", "int32"),
        Column("chunk", "int32"),
    ]


def mlm_schema(seq_len: int) -> pa.Schema:
    """The Arrow schema of MLM shards of rows of ``seq_len`` tokens."""
    return arrow_schema(mlm_columns(MLMConfig(seq_len=seq_len)))


def mlm_batch(rows: MLMRows, schema: pa.Schema) -> pa.RecordBatch:
    """An Arrow record batch of ``rows`` with the columns of ``schema`` (see `mlm_schema`)."""
    attention_mask = (rows.input_ids != PAD_ID).astype(np.int32)
    return record_batch(
        schema,
        [
            rows.input_ids,
            attention_mask,
            rows.labels,
            rows.doc_id,
            rows.copy,
            rows.chunk,
        ],
    )


def _builder(config: MLMConfig, seed: int, vocab: Vocab) -> StatelessBuilder:
    schema = mlm_schema(config.seq_len)

    def build(
        token_ids: Sequence[np.ndarray], doc_ids: Sequence[str], seed: int, vocab: Vocab
    ) -> pa.RecordBatch:
        rows = mlm_rows_batch(token_ids, doc_ids, config, seed, vocab.size, vocab.continues_word)
        return mlm_batch(rows, schema)

    return StatelessBuilder(build, schema, seed, vocab)


OBJECTIVE = Objective("mlm", MLMConfig, mlm_columns, _builder)
