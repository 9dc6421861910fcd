"""Span-corruption rows for encoder-decoder models (T5, Raffel et al. 2020, section 3.1.4).

A document's tokens are cut into raw chunks of `raw_length` tokens (the last one shorter). In
each chunk a noise mask is placed as T5's `random_spans_noise_mask` places it: of a chunk of
``n`` tokens, ``round(n * noise_density)`` are noise (at least 1, at most ``n - 1``), in
``round(noise / mean_noise_span_length)`` spans (at least 1); the noise tokens and the other
tokens are each cut into that many non-empty spans by a uniformly random partition, and the
spans are interleaved, a non-noise span first, so the chunk ends on noise. Rounding is to the
nearest even integer on float32 values, as `tf.round` on T5's float32 casts does.

The inputs are the chunk with each noise span replaced by the next sentinel `<extra_id_0>`,
`<extra_id_1>`, ... (ids 7, 8, ...), then `[EOS]`; the targets are the sentinels each followed
by the span it replaced, then `[EOS]`. So interleaving inputs and targets at the sentinels gives
back the chunk. `raw_length` is what T5's `random_spans_helper` computes: the longest chunk whose
full inputs fit in `inputs_length` (T5: 568 raw tokens give 512 inputs and 114 targets; at the
demo's 128, 141 raw tokens give 128 inputs and 29 targets). At the default density a full chunk's
inputs always fill `inputs_length`; some other settings leave them one token short at some
lengths, where the count of spans steps up, as in T5.

T5 packs documents into one stream before cutting it; here a chunk never spans two documents
(each row has one `doc_id`, as `mlm` rows do), so a document's last chunk is shorter and its row
padded. Each row draws from its own numpy Generator seeded by a hash of (seed, document id,
chunk), so rows never depend on how documents are batched.
"""

from __future__ import annotations

from collections.abc import Sequence

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
from pipeline.shards.format import EOS_ID, IGNORE_INDEX, PAD_ID
from pipeline.tokenizer.config import NUM_SENTINELS, SENTINEL_TOKENS, SPECIAL_TOKENS

#: The id of `<extra_id_0>`; sentinel i is ``FIRST_SENTINEL_ID + i``.
FIRST_SENTINEL_ID = SPECIAL_TOKENS.index(SENTINEL_TOKENS[0])


class SpanConfig(BaseModel):
    """The corruption recipe; defaults are T5's (Raffel et al. 2020, sections 3.3.4 and 3.7)."""

    model_config = ConfigDict(extra="forbid")

    # T5: 15% of tokens corrupted ("i.i.d. 15%" kept from BERT, then used for span corruption).
    noise_density: float = Field(0.15, gt=0, le=0.5)
    # T5's final objective: spans of mean length 3 (table 7 found 3 best among 2, 3, 5, 10).
    mean_noise_span_length: float = Field(3.0, ge=1)
    # T5 trained with 512 inputs; 128 matches the demo's mlm and clm rows.
    inputs_length: int = Field(128, ge=4)

    @property
    def seq_len(self) -> int:
        """The manifest's `seq_len`: the encoder's row length."""
        return self.inputs_length

    @property
    def raw_length(self) -> int:
        """Document tokens per chunk (T5's `random_spans_helper`)."""
        return random_spans_helper(
            self.inputs_length, self.noise_density, self.mean_noise_span_length
        )[0]

    @property
    def targets_length(self) -> int:
        """Length of the `labels` column: the targets of a full chunk, `[EOS]` included."""
        return random_spans_helper(
            self.inputs_length, self.noise_density, self.mean_noise_span_length
        )[1]

    @model_validator(mode="after")
    def _enough_sentinels(self) -> SpanConfig:
        _, spans = noise_counts(self.raw_length, self.noise_density, self.mean_noise_span_length)
        if spans > NUM_SENTINELS:
            raise ValueError(
                f"inputs_length {self.inputs_length} needs {spans} noise spans per row; the "
                f"tokenizer reserves {NUM_SENTINELS} sentinels"
            )
        return self


def _lengths(tokens_length: int, density: float, mean_span: float) -> tuple[int, int]:
    """(inputs, targets) lengths of a chunk of ``tokens_length`` tokens: the other tokens, one
    sentinel per span and `[EOS]`; the noise tokens, one sentinel per span and `[EOS]`."""
    noise, spans = noise_counts(tokens_length, density, mean_span)
    return tokens_length - noise + spans + 1, noise + spans + 1


def random_spans_helper(inputs_length: int, density: float, mean_span: float) -> tuple[int, int]:
    """T5's `random_spans_helper`: (raw chunk length, targets length), the longest chunk whose
    inputs are at most ``inputs_length`` long. Counted as the noise mask counts (`noise_counts`):
    T5's helper rounds in float64 and its mask in float32, which disagree at rare ties (there a
    chunk would come out one token too long); elsewhere the two are the same."""
    tokens_length = inputs_length - 1
    while _lengths(tokens_length + 1, density, mean_span)[0] <= inputs_length:
        tokens_length += 1
    _, targets_length = _lengths(tokens_length, density, mean_span)
    # T5's adjustment: at density 0.5, make the targets no longer than the inputs.
    if density == 0.5 and targets_length > inputs_length:
        tokens_length -= 1
        targets_length -= 1
    return tokens_length, targets_length


def noise_counts(length: int, density: float, mean_span: float) -> tuple[int, int]:
    """(noise tokens, noise spans) of a chunk, as `random_spans_noise_mask` counts them: on
    float32 values, rounded half to even; at least one noise and one other token (a chunk of
    one token is counted as two), at least one span."""
    length = max(length, 2)
    noise = int(np.rint(np.float32(length) * np.float32(density)))
    noise = min(max(noise, 1), length - 1)
    spans = max(int(np.rint(np.float32(noise) / np.float32(mean_span))), 1)
    # T5 would fail here (fewer other tokens than spans); only tiny chunks at high densities.
    return noise, min(spans, length - noise)


def _boundaries(items: int, segments: int, keys: np.ndarray) -> np.ndarray:
    """Per row, a uniformly random partition of ``items`` into ``segments`` non-empty runs, as
    the runs' start offsets and then ``items``: ``(rows, segments + 1)``. The ``segments - 1``
    inner starts are the gaps (of the ``items - 1``) with the row's smallest ``keys``."""
    out = np.empty((len(keys), segments + 1), dtype=np.int64)
    out[:, 0], out[:, segments] = 0, items
    chosen = np.argsort(keys[:, : items - 1], axis=1, kind="stable")[:, : segments - 1]
    out[:, 1:segments] = 1 + np.sort(chosen, axis=1)
    return out


def noise_masks(length: int, config: SpanConfig, keys: np.ndarray) -> np.ndarray:
    """T5's `random_spans_noise_mask` for rows of chunks of ``length`` tokens, ``(rows,
    length)`` bool (True = noise), from each row's ``2 * max(length, 2)`` uniform ``keys``: the
    first half partitions the noise tokens, the second the others. Noise span j starts after
    the first j + 1 runs of other tokens and the first j noise runs."""
    noise, spans = noise_counts(length, config.noise_density, config.mean_noise_span_length)
    padded = max(length, 2)
    noise_at = _boundaries(noise, spans, keys[:, :padded])
    other_at = _boundaries(padded - noise, spans, keys[:, padded:])
    starts = other_at[:, 1:] + noise_at[:, :-1]
    ends = other_at[:, 1:] + noise_at[:, 1:]  # all distinct from the starts
    change = np.zeros((len(keys), padded + 1), dtype=np.int8)
    rows = np.arange(len(keys))[:, None]
    change[rows, starts] = 1
    change[rows, ends] = -1
    return (np.cumsum(change, axis=1) == 1)[:, :length]


def noise_mask(length: int, config: SpanConfig, rng: np.random.Generator) -> np.ndarray:
    """T5's `random_spans_noise_mask` for one chunk of ``length`` tokens."""
    return noise_masks(length, config, rng.random((1, 2 * max(length, 2))))[0]


def to_sentinels(tokens: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """T5's `noise_span_to_unique_sentinel` on rows of equal noise counts, ``(rows, n)``: each
    run of ``noise`` becomes the next sentinel, counting the runs from the start of the row; the
    other tokens stay. (Also takes a single row, 1-d.)"""
    previous = np.zeros_like(noise)
    previous[..., 1:] = noise[..., :-1]
    first = noise & ~previous
    sentinels = FIRST_SENTINEL_ID + np.cumsum(first, axis=-1) - 1
    out = np.where(first, sentinels, tokens).astype(np.int32)
    kept = ~(noise & previous)
    return out[kept].reshape(*noise.shape[:-1], -1)


def row_seed(seed: int, doc_id: str, chunk: int) -> int:
    """A 128-bit seed for one row, stable across processes and Python versions."""
    return stable_seed("span", seed, doc_id, chunk)


def span_rows(
    chunks: np.ndarray, seeds: Sequence[int], config: SpanConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) of chunks of one length, ``(rows, length)``, each row drawing from a
    Generator seeded by its entry of ``seeds``; every row ends with `[EOS]`. Rows of one length
    have the same counts, so all but drawing the keys is done on the whole matrix."""
    rows, length = chunks.shape
    keys = np.empty((rows, 2 * max(length, 2)))
    for r, row_seed_value in enumerate(seeds):
        keys[r] = np.random.default_rng(row_seed_value).random(keys.shape[1])
    noise = noise_masks(length, config, keys)
    eos = np.full((rows, 1), EOS_ID, dtype=np.int32)
    inputs = np.concatenate([to_sentinels(chunks, noise), eos], axis=1)
    targets = np.concatenate([to_sentinels(chunks, ~noise), eos], axis=1)
    return inputs, targets


def span_row(
    tokens: np.ndarray, doc_id: str, chunk: int, config: SpanConfig, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) of one chunk, each ending with `[EOS]`, unpadded."""
    inputs, targets = span_rows(tokens[None, :], [row_seed(seed, doc_id, chunk)], config)
    return inputs[0], targets[0]


def span_columns(config: SpanConfig) -> list[Column]:
    """The columns of span shards (docs/shard-format.md)."""
    inputs, targets = (config.inputs_length,), (config.targets_length,)
    return [
        Column("input_ids", "int32", inputs),
        Column("attention_mask", "int32", inputs),
        Column("labels", "int32", targets),
        Column("decoder_attention_mask", "int32", targets),
        Column("doc_id", "string"),
    ]


def span_batch(
    token_ids: Sequence[np.ndarray],
    doc_ids: Sequence[str],
    config: SpanConfig,
    seed: int,
    schema: pa.Schema,
) -> pa.RecordBatch:
    """The rows of several documents, in order: each document's chunks in order. Chunks of
    equal length (every full one) are corrupted together (`span_rows`)."""
    if len(token_ids) != len(doc_ids):
        raise ValueError(f"{len(token_ids)} token arrays for {len(doc_ids)} document ids")
    raw, n_in, n_out = config.raw_length, config.inputs_length, config.targets_length
    by_length: dict[int, tuple[list[int], list[np.ndarray], list[int]]] = {}
    row_doc_ids: list[str] = []
    for tokens, doc_id in zip(token_ids, doc_ids, strict=True):
        for chunk, start in enumerate(range(0, len(tokens), raw)):
            piece = tokens[start : start + raw]
            rows_of, pieces, seeds = by_length.setdefault(len(piece), ([], [], []))
            rows_of.append(len(row_doc_ids))
            pieces.append(piece)
            seeds.append(row_seed(seed, doc_id, chunk))
            row_doc_ids.append(doc_id)
    rows = len(row_doc_ids)
    input_ids = np.full((rows, n_in), PAD_ID, dtype=np.int32)
    labels = np.full((rows, n_out), IGNORE_INDEX, dtype=np.int32)
    attention_mask = np.zeros((rows, n_in), dtype=np.int32)
    decoder_attention_mask = np.zeros((rows, n_out), dtype=np.int32)
    for rows_of, pieces, seeds in by_length.values():
        inputs, targets = span_rows(np.stack(pieces), seeds, config)
        at, used_in, used_out = np.array(rows_of), inputs.shape[1], targets.shape[1]
        input_ids[at, :used_in], attention_mask[at, :used_in] = inputs, 1
        labels[at, :used_out], decoder_attention_mask[at, :used_out] = targets, 1
    return record_batch(
        schema,
        [
            input_ids,
            attention_mask,
            labels,
            decoder_attention_mask,
            row_doc_ids,
        ],
    )


def _builder(config: SpanConfig, seed: int, vocab: Vocab) -> StatelessBuilder:
    schema = arrow_schema(span_columns(config))

    def build(
        token_ids: Sequence[np.ndarray], doc_ids: Sequence[str], seed: int, vocab: Vocab
    ) -> pa.RecordBatch:
        return span_batch(token_ids, doc_ids, config, seed, schema)

    return StatelessBuilder(build, schema, seed, vocab)


OBJECTIVE = Objective("span", SpanConfig, span_columns, _builder)
