"""Denoising rows for encoder-decoder models (BART, Lewis et al. 2020), BART-large's noise.

Chunks: a document's sentences (cut as `nsp` cuts them, after tokens that end a sentence) are
gathered greedily into chunks of at most ``seq_len - 2`` tokens, whole sentences only, as
fairseq's `complete_doc` blocks; a sentence longer than that is cut into pieces of that length,
each then counted as a sentence. A chunk never spans two documents.

Noise, in fairseq's order (`DenoisingDataset`): sentence permutation, text infilling, then the
optional ones BART-large left off (token deletion, random insertion, document rotation).

- **Sentence permutation**: ``ceil(sentences * permute_sentences)`` of the chunk's sentences,
  chosen at random, are shuffled among their places (1.0: the whole order is shuffled).
- **Text infilling**: of the chunk's ``u`` units (words by default, as fairseq's span-poisson
  masking works on whole words; tokens with ``whole_word: false``), ``m = ceil(u * mask_ratio)``
  are masked. Span lengths are drawn from Poisson(``poisson_lambda``) until they add up to ``m``
  (the last one cut to fit, as fairseq does); a zero-length span inserts a `[MASK]` between two
  units. The spans, in random order, are laid over the chunk without overlap (the unmasked units
  split into gaps by a uniformly random composition), so exactly ``m`` units are masked (fairseq
  starts spans at random word starts and lets them overlap, which masks fewer). Each span
  becomes one `[MASK]`, or with probability ``random_ratio`` one random ordinary token.

A row is ``input_ids = [BOS] noised [EOS]`` (fairseq's ``<s> ... </s>``, `[PAD]` after),
``labels = [BOS] chunk [EOS]`` (the original chunk, -100 after) and ``decoder_input_ids`` = the
labels shifted right behind the decoder start token `[EOS]` (BART starts its decoder with
``</s>``, its end token; here `[EOS]` plays that part), `[PAD]` after. Inserted masks can make
the noised chunk longer than ``seq_len - 2``; it is then cut there (counted as
``truncated_inputs`` in the manifest; never with the defaults' rows of full length).

Every draw comes from a numpy Generator seeded by a hash of (seed, document id, chunk), so rows
never depend on how documents are batched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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
    stable_seed,
)
from pipeline.objectives.nsp import split_sentences
from pipeline.shards.format import BOS_ID, EOS_ID, FIRST_REGULAR_ID, IGNORE_INDEX, MASK_ID, PAD_ID

#: BART's decoder start token is its end token `</s>`; ours is `[EOS]`.
DECODER_START_ID = EOS_ID


class DenoiseConfig(BaseModel):
    """The noise recipe; defaults are BART-large's pre-training settings (Lewis et al. 2020,
    section 5.1: "we mask 30% of tokens in each document, and permute all sentences"; fairseq's
    `--mask 0.3 --mask-random 0.1 --poisson-lambda 3.5 --permute-sentences 1 --rotate 0
    --insert 0 --mask-length span-poisson --replace-length 1`)."""

    model_config = ConfigDict(extra="forbid")

    # BART trained on 512-token blocks; 128 matches the demo's other objectives.
    seq_len: int = Field(128, ge=3)
    # Fraction of sentences permuted: BART-large permutes all of them.
    permute_sentences: float = Field(1.0, ge=0, le=1)
    # Text infilling: 30% of units masked, span lengths Poisson(3.5) (section 2.2 and 5.1).
    mask_ratio: float = Field(0.3, ge=0, lt=1)
    poisson_lambda: float = Field(3.5, gt=0)
    # fairseq's --mask-random 0.1: a span becomes a random token instead of [MASK].
    random_ratio: float = Field(0.1, ge=0, le=1)
    # fairseq's span-poisson masking counts and masks whole words (its word-start table).
    whole_word: bool = True
    # Token deletion (section 2.2): the fraction of tokens deleted; off in BART-large.
    delete_ratio: float = Field(0.0, ge=0, lt=1)
    # fairseq's --insert: random [MASK]s (random_ratio of them random tokens) inserted, as a
    # fraction of the tokens; 0 in BART-large.
    insert_ratio: float = Field(0.0, ge=0, le=1)
    # Document rotation (section 2.2): probability of rotating the chunk; 0 in BART-large.
    rotate: float = Field(0.0, ge=0, le=1)


def denoise_columns(config: DenoiseConfig) -> list[Column]:
    """The columns of denoise shards (docs/shard-format.md)."""
    ids = (config.seq_len,)
    return [
        Column("input_ids", "int32", ids),
        Column("attention_mask", "int32", ids),
        Column("labels", "int32", ids),
        Column("decoder_input_ids", "int32", ids),
        Column("doc_id", "string"),
    ]


def row_seed(seed: int, doc_id: str, chunk: int) -> int:
    """A 128-bit seed for one row, stable across processes and Python versions."""
    return stable_seed("denoise", seed, doc_id, chunk)


@dataclass(frozen=True)
class Chunk:
    """A run of whole sentences of one document: ``tokens[start:end]``, its sentences starting
    at ``sentences`` (offsets within the chunk, the first 0)."""

    start: int
    end: int
    sentences: tuple[int, ...]


def chunk_document(token_ids: np.ndarray, ends_sentence: np.ndarray, body: int) -> list[Chunk]:
    """Whole sentences gathered greedily into chunks of at most ``body`` tokens; a longer
    sentence is cut into pieces of ``body`` tokens, each a sentence of its own."""
    starts = split_sentences(token_ids, ends_sentence)
    bounds = [*starts, len(token_ids)]
    pieces = [
        (at, min(at + body, end))
        for begin, end in zip(bounds, bounds[1:], strict=False)
        for at in range(begin, end, body)
    ]
    chunks: list[Chunk] = []
    first, sentences = 0, [0]
    for s, e in pieces[1:]:
        if e - first > body:
            chunks.append(Chunk(first, s, tuple(sentences)))
            first, sentences = s, [0]
        else:
            sentences.append(s - first)
    if pieces:
        chunks.append(Chunk(first, pieces[-1][1], tuple(sentences)))
    return chunks


def permute_sentences(
    tokens: np.ndarray, sentences: Sequence[int], fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """fairseq's `permute_sentences`: ``ceil(n * fraction)`` of the ``n`` sentences, chosen at
    random, shuffled among their places. Returns the tokens and the new sentence order."""
    n = len(sentences)
    order = np.arange(n)
    if n < 2 or fraction == 0:
        return tokens, order
    chosen = rng.permutation(n)[: math.ceil(n * fraction)]
    order[chosen] = chosen[rng.permutation(len(chosen))]
    bounds = [*sentences, len(tokens)]
    return np.concatenate([tokens[bounds[i] : bounds[i + 1]] for i in order]), order


@dataclass(frozen=True)
class Infilled:
    """Text infilling's result: the noised tokens, and each span's length in original tokens
    (in span order; 0 for a span that only inserts a mask)."""

    tokens: np.ndarray
    span_tokens: np.ndarray


def poisson_spans(units: int, config: DenoiseConfig, rng: np.random.Generator) -> np.ndarray:
    """fairseq's span lengths: Poisson draws, ``m = ceil(units * mask_ratio)`` at a time, until
    they add up to ``m``; the spans after the one that reaches ``m`` dropped and that one cut to
    fit. Zero-length spans stay (each inserts a mask)."""
    budget = math.ceil(units * config.mask_ratio)
    if budget == 0:
        return np.zeros(0, dtype=np.int64)
    lengths = rng.poisson(config.poisson_lambda, budget)
    while lengths.sum() < budget:
        lengths = np.concatenate([lengths, rng.poisson(config.poisson_lambda, budget)])
    total = np.cumsum(lengths)
    last = int(np.searchsorted(total, budget))  # first span reaching the budget
    lengths = lengths[: last + 1].copy()
    lengths[last] = budget - (total[last - 1] if last else 0)
    return lengths


def text_infilling(
    tokens: np.ndarray,
    unit_start: np.ndarray,
    config: DenoiseConfig,
    rng: np.random.Generator,
    vocab_size: int,
) -> Infilled:
    """BART's text infilling over units (``unit_start`` marks each unit's first token)."""
    first_token = np.flatnonzero(unit_start)
    units = len(first_token)
    lengths = poisson_spans(units, config, rng)
    k = len(lengths)
    if k == 0:
        return Infilled(tokens, np.zeros(0, dtype=np.int64))
    lengths = lengths[rng.permutation(k)]
    # Unmasked units before each span: a uniformly random composition of the rest into k + 1
    # gaps (the k smallest of units - masked + k keys, sorted, less their rank).
    unmasked = units - int(lengths.sum())
    slots = np.sort(np.argsort(rng.random(unmasked + k), kind="stable")[:k])
    anchor = slots - np.arange(k) + np.cumsum(lengths) - lengths  # first unit of each span
    replace = np.where(
        rng.random(k) < config.random_ratio,
        rng.integers(FIRST_REGULAR_ID, vocab_size, k),
        MASK_ID,
    ).astype(np.int32)
    masked_units = np.zeros(units + 1, dtype=np.int64)  # +1 -1 difference array
    np.add.at(masked_units, anchor, 1)
    np.add.at(masked_units, anchor + lengths, -1)
    unit_of_token = np.cumsum(unit_start) - 1
    kept = np.cumsum(masked_units)[:units][unit_of_token] == 0
    first_token = np.append(first_token, len(tokens))
    kept_before = np.concatenate([[0], np.cumsum(kept)])
    out = np.insert(tokens[kept], kept_before[first_token[anchor]], replace)
    span_tokens = first_token[anchor + lengths] - first_token[anchor]
    return Infilled(out.astype(np.int32), span_tokens)


def _random_positions(n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(np.argsort(rng.random(n), kind="stable")[:count])


def noise_chunk(
    tokens: np.ndarray,
    sentences: Sequence[int],
    config: DenoiseConfig,
    rng: np.random.Generator,
    vocab: Vocab,
) -> np.ndarray:
    """A chunk's tokens after BART's noise (without `[BOS]`/`[EOS]`)."""
    unit_start = np.ones(len(tokens), dtype=bool)
    if config.whole_word:
        unit_start = ~vocab.continues_word[tokens]
        unit_start[list(sentences)] = True  # a sentence (or a cut piece) starts a word
    tokens, order = permute_sentences(tokens, sentences, config.permute_sentences, rng)
    if len(order) > 1:
        bounds = [*sentences, len(unit_start)]
        unit_start = np.concatenate([unit_start[bounds[i] : bounds[i + 1]] for i in order])
    out = text_infilling(tokens, unit_start, config, rng, vocab.size).tokens
    if config.delete_ratio > 0:
        deleted = _random_positions(len(out), math.ceil(len(out) * config.delete_ratio), rng)
        out = np.delete(out, deleted)
    if config.insert_ratio > 0 and len(out):
        # fairseq's `add_insertion_noise`: ceil(n * p) new tokens at random places.
        n = math.ceil(len(out) * config.insert_ratio)
        places = _random_positions(len(out) + n, n, rng)
        new = np.full(n, MASK_ID, dtype=np.int32)
        random_count = math.ceil(n * config.random_ratio)
        new[:random_count] = rng.integers(FIRST_REGULAR_ID, vocab.size, random_count)
        new = new[rng.permutation(n)]
        result = np.empty(len(out) + n, dtype=np.int32)
        is_new = np.zeros(len(result), dtype=bool)
        is_new[places] = True
        result[is_new], result[~is_new] = new, out
        out = result
    if config.rotate > 0 and len(out) and rng.random() < config.rotate:
        out = np.roll(out, -int(rng.integers(len(out))))
    return out.astype(np.int32)


class DenoiseBuilder:
    """Chunks each document and noises each chunk; needs nothing across documents."""

    def __init__(self, config: DenoiseConfig, seed: int, vocab: Vocab) -> None:
        if vocab.ends_sentence is None:
            raise ValueError("denoise needs the vocabulary's ends_sentence table")
        if vocab.size <= FIRST_REGULAR_ID:
            raise ValueError(f"vocab_size {vocab.size} leaves no ordinary tokens to draw from")
        self.config, self.seed, self.vocab = config, seed, vocab
        self.schema = arrow_schema(denoise_columns(config))
        self.truncated = 0

    def add(self, token_ids: Sequence[np.ndarray], doc_ids: Sequence[str]) -> pa.RecordBatch:
        if len(token_ids) != len(doc_ids):
            raise ValueError(f"{len(token_ids)} token arrays for {len(doc_ids)} document ids")
        assert self.vocab.ends_sentence is not None
        seq_len, body = self.config.seq_len, self.config.seq_len - 2
        inputs: list[np.ndarray] = []
        originals: list[np.ndarray] = []
        row_doc_ids: list[str] = []
        for tokens, doc_id in zip(token_ids, doc_ids, strict=True):
            tokens = np.asarray(tokens, dtype=np.int32)
            for c, chunk in enumerate(chunk_document(tokens, self.vocab.ends_sentence, body)):
                original = tokens[chunk.start : chunk.end]
                rng = np.random.default_rng(row_seed(self.seed, doc_id, c))
                noised = noise_chunk(original, chunk.sentences, self.config, rng, self.vocab)
                if len(noised) > body:
                    noised = noised[:body]
                    self.truncated += 1
                inputs.append(noised)
                originals.append(original)
                row_doc_ids.append(doc_id)
        rows = len(inputs)
        if rows == 0:
            return empty_batch(self.schema)
        input_ids = _framed(inputs, seq_len, PAD_ID)
        labels = _framed(originals, seq_len, IGNORE_INDEX)
        decoder_input_ids = np.full((rows, seq_len), PAD_ID, dtype=np.int32)
        decoder_input_ids[:, 0] = DECODER_START_ID
        decoder_input_ids[:, 1:] = np.where(labels[:, :-1] == IGNORE_INDEX, PAD_ID, labels[:, :-1])
        attention_mask = (input_ids != PAD_ID).astype(np.int32)
        return record_batch(
            self.schema,
            [
                input_ids,
                attention_mask,
                labels,
                decoder_input_ids,
                row_doc_ids,
            ],
        )

    def finish(self) -> pa.RecordBatch:
        return empty_batch(self.schema)

    def stats(self) -> dict[str, int]:
        return {"truncated_inputs": self.truncated}


def _framed(bodies: Sequence[np.ndarray], seq_len: int, fill: int) -> np.ndarray:
    """Rows ``[BOS] body [EOS]``, then ``fill`` to ``seq_len``."""
    out = np.full((len(bodies), seq_len), fill, dtype=np.int32)
    for r, body in enumerate(bodies):
        out[r, 0] = BOS_ID
        out[r, 1 : 1 + len(body)] = body
        out[r, 1 + len(body)] = EOS_ID
    return out


def _builder(config: DenoiseConfig, seed: int, vocab: Vocab) -> DenoiseBuilder:
    return DenoiseBuilder(config, seed, vocab)


OBJECTIVE = Objective("denoise", DenoiseConfig, denoise_columns, _builder)
