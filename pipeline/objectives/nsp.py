"""Sentence-pair rows: next sentence prediction (BERT, Devlin et al. 2019) or, with `sop`,
sentence-order prediction (ALBERT, Lan et al. 2020), masked for MLM on the pair.

Sentences: a document's tokens are cut after every token that ends a sentence (`Vocab`'s
`ends_sentence`: sentence-final punctuation of the corpus's scripts, or a blank line where the
tokenizer keeps whitespace). Code is split the same way: on blank lines with byte-level BPE,
which keeps newlines; a WordPiece tokenizer drops whitespace, so there code splits only at
tokens ending in `.`, `!` or `?`. A document with no boundary is one sentence.

Rows, per document and copy, as BERT's `create_instances_from_document`: the target length is
`seq_len - 3` (room for `[CLS]` and two `[SEP]`), or with probability `short_seq_prob` a length
drawn from [2, seq_len - 3]. Sentences are gathered into a chunk until it reaches the target or
the document ends; A is the chunk's first `a_end` sentences (`a_end` drawn from [1, len - 1])
and the rest of the chunk is its true continuation. A chunk of one sentence is cut at a random
token into A and its continuation (BERT forced a random B there instead, which puts the random
rate above one half; a one-token chunk still takes a random B). B is the true continuation
(label 0), or, with probability `random_next`, sentences of another document of the same group
from a random one on, up to the length A leaves (at least one sentence; label 1); the chunk's
unused sentences are then put back for the next chunk. With `sop`, B is always the true
continuation, and the two segments are swapped with probability 1/2 (label 1 = swapped). The
longer segment loses a token from the front or the back (at random) until the pair fits.

A group is `group_docs` consecutive documents of a split: the other documents a random B is
drawn from (the shards stage builds each partition on its own, so no group spans two). Groups
depend only on document order, so rows never depend on how documents arrive in batches. Every
draw comes from a generator seeded by (seed, document id, copy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from pydantic import Field

from pipeline.objectives.base import (
    Column,
    Objective,
    Vocab,
    arrow_schema,
    empty_batch,
    record_batch,
    stable_seed,
)
from pipeline.objectives.mlm import MLMConfig, mask_rows
from pipeline.shards.format import CLS_ID, PAD_ID, SEP_ID


class NSPConfig(MLMConfig):
    """The pair recipe, and MLM on the pair (the MLM fields keep BERT's defaults)."""

    # BERT: 10% of rows get a shorter target, so fine-tuning on short inputs is not a surprise.
    short_seq_prob: float = Field(0.1, ge=0, le=1)
    # BERT: B is a random segment half the time.
    random_next: float = Field(0.5, ge=0, le=1)
    # ALBERT's sentence-order prediction instead of NSP: both segments from one document.
    sop: bool = False
    # BERT drew random B's from every document of its input files; a group of consecutive
    # documents keeps memory bounded and rows independent of batching. 1024 documents give a
    # random B thousands of candidates, as BERT's per-file document lists did.
    group_docs: int = Field(1024, ge=2)


def nsp_columns(config: NSPConfig) -> list[Column]:
    """The columns of NSP / SOP shards (docs/shard-format.md)."""
    ids = (config.seq_len,)
    return [
        Column("input_ids", "int32", ids),
        Column("attention_mask", "int32", ids),
        Column("token_type_ids", "int32", ids),
        Column("labels", "int32", ids),
        Column("next_sentence_label", "int32"),
        Column("doc_id", "string"),
        Column("b_doc_id", "string"),
        Column("a_start", "int32"),
        Column("b_start", "int32"),
        Column("copy", "int32"),
    ]


def doc_seed(seed: int, doc_id: str, copy: int) -> int:
    """A 128-bit seed for one document's copy, stable across processes and Python versions."""
    return stable_seed("nsp", seed, doc_id, copy)


def split_sentences(token_ids: np.ndarray, ends_sentence: np.ndarray) -> list[int]:
    """Start offsets of a document's sentences (a sentence ends after an ending token)."""
    ends = np.flatnonzero(ends_sentence[token_ids]) + 1
    return [0, *ends[ends < len(token_ids)].tolist()]


@dataclass
class _Doc:
    doc_id: str
    tokens: np.ndarray
    starts: list[int]  # sentence start offsets

    def sentence(self, i: int) -> tuple[int, int]:
        end = self.starts[i + 1] if i + 1 < len(self.starts) else len(self.tokens)
        return self.starts[i], end


@dataclass
class _Pair:
    a: tuple[int, int]  # token span in its document
    b: tuple[int, int]
    a_doc: int  # index in the group
    b_doc: int
    label: int
    copy: int
    draws: np.ndarray = field(repr=False)


def _truncate(a: list[int], b: list[int], max_tokens: int, rng: np.random.Generator) -> None:
    """BERT's `truncate_seq_pair` on [start, end) spans: the longer (B on a tie) loses a token
    at the front or the back, at random, until the two fit."""
    while (a[1] - a[0]) + (b[1] - b[0]) > max_tokens:
        longer = a if a[1] - a[0] > b[1] - b[0] else b
        if rng.random() < 0.5:
            longer[0] += 1
        else:
            longer[1] -= 1


def _document_pairs(
    docs: list[_Doc], d: int, copy: int, config: NSPConfig, seed: int
) -> list[_Pair]:
    doc = docs[d]
    rng = np.random.default_rng(doc_seed(seed, doc.doc_id, copy))
    max_tokens = config.seq_len - 3
    target = max_tokens
    if rng.random() < config.short_seq_prob:
        target = int(rng.integers(2, max_tokens + 1))
    pairs: list[_Pair] = []
    chunk: list[int] = []  # sentence indices
    length, i, n = 0, 0, len(doc.starts)
    while i < n:
        start, end = doc.sentence(i)
        chunk.append(i)
        length += end - start
        if i == n - 1 or length >= target:
            whole = [doc.sentence(chunk[0])[0], doc.sentence(chunk[-1])[1]]
            b_doc, label, unused = d, 0, 0
            b: list[int] | None
            if len(chunk) >= 2:
                a_end = int(rng.integers(1, len(chunk)))
                a = [whole[0], doc.sentence(chunk[a_end - 1])[1]]
                b, unused = [a[1], whole[1]], len(chunk) - a_end
            elif whole[1] - whole[0] >= 2:  # one sentence: cut it at a random token
                cut = int(rng.integers(whole[0] + 1, whole[1]))
                a, b = [whole[0], cut], [cut, whole[1]]
            else:  # a one-token sentence: only a random B can pair with it
                a, b = whole, None
            if config.sop:
                if b is not None and rng.random() < 0.5:
                    a, b, label = b, a, 1
            elif len(docs) > 1 and (b is None or rng.random() < config.random_next):
                b_doc = int(rng.integers(len(docs) - 1))
                b_doc += b_doc >= d  # any document of the group but this one
                other = docs[b_doc]
                first = int(rng.integers(len(other.starts)))
                b_target, j = target - (a[1] - a[0]), first
                b = [other.starts[first], other.sentence(first)[1]]  # one sentence at least
                while j + 1 < len(other.starts) and b[1] - b[0] < b_target:
                    j += 1
                    b[1] = other.sentence(j)[1]
                label = 1
                i -= unused  # put the chunk's unused sentences back
            if b is None:  # no partner for a one-token chunk (sop, or a lone document)
                chunk, length, i = [], 0, i + 1
                continue
            _truncate(a, b, max_tokens, rng)
            if a[1] > a[0] and b[1] > b[0]:
                draws = rng.random((3, config.seq_len))
                pairs.append(_Pair((a[0], a[1]), (b[0], b[1]), d, b_doc, label, copy, draws))
            chunk, length = [], 0
        i += 1
    return pairs


class NSPBuilder:
    """Gathers a split's documents into groups of `group_docs` and makes each group's rows."""

    def __init__(self, config: NSPConfig, seed: int, vocab: Vocab) -> None:
        if vocab.ends_sentence is None:
            raise ValueError("nsp needs the vocabulary's ends_sentence table")
        self.config, self.seed, self.vocab = config, seed, vocab
        self.schema = arrow_schema(nsp_columns(config))
        self.pending: list[_Doc] = []

    def add(self, token_ids: Sequence[np.ndarray], doc_ids: Sequence[str]) -> pa.RecordBatch:
        if len(token_ids) != len(doc_ids):
            raise ValueError(f"{len(token_ids)} token arrays for {len(doc_ids)} document ids")
        assert self.vocab.ends_sentence is not None
        batches = []
        for tokens, doc_id in zip(token_ids, doc_ids, strict=True):
            if len(tokens) == 0:
                continue
            starts = split_sentences(tokens, self.vocab.ends_sentence)
            self.pending.append(_Doc(doc_id, np.asarray(tokens, dtype=np.int32), starts))
            if len(self.pending) == self.config.group_docs:
                batches.append(self._group())
        if not batches:
            return empty_batch(self.schema)
        return pa.Table.from_batches(batches, self.schema).combine_chunks().to_batches()[0]

    def finish(self) -> pa.RecordBatch:
        return self._group() if self.pending else empty_batch(self.schema)

    def stats(self) -> dict[str, int]:
        return {}

    def _group(self) -> pa.RecordBatch:
        docs, self.pending = self.pending, []
        pairs = [
            pair
            for d in range(len(docs))
            for copy in range(self.config.dupe_factor)
            for pair in _document_pairs(docs, d, copy, self.config, self.seed)
        ]
        return self._rows(docs, pairs)

    def _rows(self, docs: list[_Doc], pairs: list[_Pair]) -> pa.RecordBatch:
        seq_len, rows = self.config.seq_len, len(pairs)
        if rows == 0:
            return empty_batch(self.schema)
        original = np.full((rows, seq_len), PAD_ID, dtype=np.int32)
        token_type = np.zeros((rows, seq_len), dtype=np.int32)
        real = np.zeros((rows, seq_len), dtype=bool)
        for r, p in enumerate(pairs):
            a = docs[p.a_doc].tokens[p.a[0] : p.a[1]]
            b = docs[p.b_doc].tokens[p.b[0] : p.b[1]]
            la, lb = len(a), len(b)
            original[r, 0] = CLS_ID
            original[r, 1 : 1 + la] = a
            original[r, 1 + la] = SEP_ID
            original[r, 2 + la : 2 + la + lb] = b
            original[r, 2 + la + lb] = SEP_ID
            token_type[r, 2 + la : 3 + la + lb] = 1  # B and its [SEP]
            real[r, 1 : 1 + la] = True
            real[r, 2 + la : 2 + la + lb] = True
        draws = np.stack([p.draws for p in pairs])
        input_ids, labels = mask_rows(
            original, real, draws, self.config, self.vocab.size, self.vocab.continues_word
        )
        attention_mask = (original != PAD_ID).astype(np.int32)
        return record_batch(
            self.schema,
            [
                input_ids,
                attention_mask,
                token_type,
                labels,
                [p.label for p in pairs],
                [docs[p.a_doc].doc_id for p in pairs],
                [docs[p.b_doc].doc_id for p in pairs],
                [p.a[0] for p in pairs],
                [p.b[0] for p in pairs],
                [p.copy for p in pairs],
            ],
        )


def _builder(config: NSPConfig, seed: int, vocab: Vocab) -> NSPBuilder:
    return NSPBuilder(config, seed, vocab)


OBJECTIVE = Objective("nsp", NSPConfig, nsp_columns, _builder)
