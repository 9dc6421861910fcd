"""Denoising rows (BART): 30% masked in Poisson(3.5) spans (zero-length ones included), 10% of
spans a random token, labels the original chunk of whole sentences, sentences permuted, the
decoder inputs shifted behind `[EOS]`, the optional noises; rows independent of batching; the
shard contract and byte-identical rebuilds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from pipeline.objectives.base import Vocab
from pipeline.objectives.denoise import (
    DECODER_START_ID,
    DenoiseBuilder,
    DenoiseConfig,
    chunk_document,
    noise_chunk,
    text_infilling,
)
from pipeline.shards import ShardsConfig
from pipeline.shards.format import (
    BOS_ID,
    EOS_ID,
    FIRST_REGULAR_ID,
    IGNORE_INDEX,
    MASK_ID,
    PAD_ID,
)
from tests.objectives.conftest import build_into
from tests.objectives.helpers import check_contract, check_rebuild_identical
from tests.objectives.test_nsp import corpus_tokens
from tests.test_tokenizer_and_shards import read_stream

VOCAB = 500
END = FIRST_REGULAR_ID  # the synthetic vocabulary's one sentence-ending token
SEQ_LEN = 64


def synthetic_vocab(continues: float = 0.0) -> Vocab:
    """`END` ends a sentence; ``continues`` of the other ordinary ids continue a word."""
    ends = np.zeros(VOCAB, dtype=bool)
    ends[END] = True
    table = np.random.default_rng(1).random(VOCAB) < continues
    table[: END + 1] = False
    return Vocab(VOCAB, table, ends)


def documents(docs: int = 400) -> tuple[list[np.ndarray], list[str]]:
    """Documents of 1-40 sentences of 2-30 tokens, each closed by `END`; sentences never
    repeat a token within a document (so a sentence is known by its tokens)."""
    rng = np.random.default_rng(0)
    token_ids = []
    for _ in range(docs):
        sentences = [
            np.append(rng.integers(END + 1, VOCAB, rng.integers(1, 30)), END)
            for _ in range(rng.integers(1, 41))
        ]
        token_ids.append(np.concatenate(sentences).astype(np.int32))
    return token_ids, [f"doc-{i}" for i in range(docs)]


def build(config: DenoiseConfig, vocab: Vocab, batch: int = 50, docs: int = 400) -> pa.Table:
    token_ids, ids = documents(docs)
    builder = DenoiseBuilder(config, 3, vocab)
    parts = [
        builder.add(token_ids[i : i + batch], ids[i : i + batch]) for i in range(0, docs, batch)
    ]
    return pa.Table.from_batches([*parts, builder.finish()])


def columns(table: pa.Table) -> dict[str, np.ndarray]:
    return {
        name: np.array(table.column(name).to_pylist())
        for name in ("input_ids", "attention_mask", "labels", "decoder_input_ids")
    }


def body(row: np.ndarray, fill: int) -> np.ndarray:
    """What a `[BOS] ... [EOS]` row holds between the two."""
    used = int((row != fill).sum())
    assert row[0] == BOS_ID and row[used - 1] == EOS_ID and (row[used:] == fill).all()
    return row[1 : used - 1]


def sentences(tokens: np.ndarray) -> list[tuple[int, ...]]:
    ends = [0, *(np.flatnonzero(tokens == END) + 1).tolist()]
    if ends[-1] != len(tokens):
        ends.append(len(tokens))
    return [tuple(tokens[a:b].tolist()) for a, b in zip(ends, ends[1:], strict=False)]


def test_thirty_percent_masked_in_poisson_spans_ten_percent_random() -> None:
    """Token units, chunks of BART's 510 (512 less `[BOS]`, `[EOS]`): exactly ceil(30%) of each
    chunk is inside spans; span lengths average 3.5 counting the zero-length spans, as BART
    draws and counts them; each span leaves one token. (Each chunk's last span is cut to fit the
    budget, as in fairseq, which pulls the mean down by about 0.75 / spans per chunk: 3.47 at
    510 tokens, 3.34 at the demo's 126, 3.2 at 62.)"""
    config = DenoiseConfig()
    rng = np.random.default_rng(5)
    masked = total = spans = zero = random = 0
    lengths: list[int] = []
    for _ in range(600):
        tokens = rng.integers(FIRST_REGULAR_ID, VOCAB, 510).astype(np.int32)
        out = text_infilling(tokens, np.ones(len(tokens), dtype=bool), config, rng, VOCAB)
        assert out.span_tokens.sum() == np.ceil(0.3 * len(tokens))
        assert len(out.tokens) == len(tokens) - out.span_tokens.sum() + len(out.span_tokens)
        replaced = (out.tokens == MASK_ID).sum()
        random += len(out.span_tokens) - replaced  # random stand-ins for spans
        masked += int(out.span_tokens.sum())
        total += len(tokens)
        spans += len(out.span_tokens)
        zero += int((out.span_tokens == 0).sum())
        lengths.extend(out.span_tokens.tolist())
    assert abs(masked / total - 0.30) <= 0.02, masked / total
    mean = np.mean(lengths)
    assert abs(mean - 3.5) <= 0.1, mean
    assert abs(zero / spans - np.exp(-3.5)) <= 0.01  # Poisson's P(0), each inserting a mask
    assert abs(random / spans - 0.1) <= 0.015, random / spans


def test_whole_words_masked_thirty_percent_of_tokens() -> None:
    """With words of several pieces, spans cover whole words; about 30% of tokens."""
    vocab = synthetic_vocab(continues=0.4)
    config = DenoiseConfig(permute_sentences=0.0, random_ratio=0.0)
    rng = np.random.default_rng(6)
    masked = total = 0
    for _ in range(2000):
        tokens = rng.permutation(np.arange(END + 1, VOCAB, dtype=np.int32))[:126]  # distinct
        starts = ~vocab.continues_word[tokens]
        starts[0] = True
        out = text_infilling(tokens, starts, config, rng, VOCAB)
        word_of = np.cumsum(starts) - 1
        gone = ~np.isin(tokens, out.tokens)  # the tokens inside spans
        assert (out.tokens[~np.isin(out.tokens, tokens)] == MASK_ID).all()
        gone_words = np.unique(word_of[gone])
        assert gone[np.isin(word_of, gone_words)].all()  # spans cover whole words
        assert len(gone_words) == np.ceil(0.3 * (word_of[-1] + 1))
        assert gone.sum() == out.span_tokens.sum()
        masked += int(gone.sum())
        total += len(tokens)
    assert abs(masked / total - 0.30) <= 0.02, masked / total


def test_labels_are_the_chunks_of_whole_sentences_and_decoder_inputs_shifted() -> None:
    token_ids, _ = documents()
    table = build(DenoiseConfig(seq_len=SEQ_LEN), synthetic_vocab(0.3))
    c = columns(table)
    assert ((c["input_ids"] != PAD_ID) == c["attention_mask"].astype(bool)).all()
    shifted = np.where(c["labels"][:, :-1] == IGNORE_INDEX, PAD_ID, c["labels"][:, :-1])
    assert DECODER_START_ID == EOS_ID
    assert (c["decoder_input_ids"][:, 0] == EOS_ID).all()
    assert (c["decoder_input_ids"][:, 1:] == shifted).all()
    rows = iter(zip(table.column("doc_id").to_pylist(), c["labels"], c["input_ids"], strict=True))
    for d, tokens in enumerate(token_ids):
        restored: list[int] = []
        while len(restored) < len(tokens):
            doc_id, labels, inputs = next(rows)
            assert doc_id == f"doc-{d}"
            chunk = body(labels, IGNORE_INDEX)
            body(inputs, PAD_ID)
            assert 0 < len(chunk) <= SEQ_LEN - 2
            # Whole sentences: the chunk starts after an END (or at the start) and ends with one,
            # unless a sentence is longer than a row (none here) or the document ends.
            assert not restored or restored[-1] == END
            assert chunk[-1] == END or len(restored) + len(chunk) == len(tokens)
            restored.extend(chunk.tolist())
        assert restored == tokens.tolist()  # labels are the original chunks, in order
    assert next(rows, None) is None


def test_sentences_of_the_inputs_are_a_permutation_of_the_chunk_s() -> None:
    vocab = synthetic_vocab()
    table = build(DenoiseConfig(seq_len=SEQ_LEN, mask_ratio=0.0), vocab)
    c = columns(table)
    moved = 0
    for labels, inputs in zip(c["labels"], c["input_ids"], strict=True):
        original, noised = body(labels, IGNORE_INDEX), body(inputs, PAD_ID)
        assert sorted(sentences(noised)) == sorted(sentences(original))
        moved += sentences(noised) != sentences(original)
    assert moved > len(c["labels"]) // 2  # the order is shuffled (1.0: every sentence)
    kept = columns(build(DenoiseConfig(seq_len=SEQ_LEN, permute_sentences=0, mask_ratio=0), vocab))
    assert (
        np.where(kept["labels"] == IGNORE_INDEX, PAD_ID, kept["labels"]) == kept["input_ids"]
    ).all()
    # With the default noise, the rows' masked share of tokens is BART's too.
    c = columns(build(DenoiseConfig(seq_len=SEQ_LEN, whole_word=False), vocab))
    lengths_in = (c["input_ids"] != PAD_ID).sum(axis=1)
    lengths_out = (c["labels"] != IGNORE_INDEX).sum(axis=1)
    assert (lengths_in < lengths_out).mean() > 0.9  # spans of 3.5 tokens become one token


def test_optional_noises_delete_insert_rotate() -> None:
    vocab = synthetic_vocab()
    tokens = np.arange(END + 1, END + 101, dtype=np.int32)
    rng = np.random.default_rng(0)
    off = dict(permute_sentences=0.0, mask_ratio=0.0)
    deleted = noise_chunk(tokens, [0], DenoiseConfig(**off, delete_ratio=0.1), rng, vocab)
    assert len(deleted) == 90 and np.isin(deleted, tokens).all()
    assert (np.diff(deleted) > 0).all()  # the rest in order
    inserted = noise_chunk(tokens, [0], DenoiseConfig(**off, insert_ratio=0.1), rng, vocab)
    new = inserted[~np.isin(inserted, tokens)]
    assert len(inserted) == 110 and len(new) == 10 and (new == MASK_ID).sum() == 9
    assert inserted[np.isin(inserted, tokens)].tolist() == tokens.tolist()
    rotated = noise_chunk(tokens, [0], DenoiseConfig(**off, rotate=1.0), rng, vocab)
    at = int(np.flatnonzero(rotated == tokens[0])[0])
    assert rotated.tolist() == [*tokens[len(tokens) - at :], *tokens[: len(tokens) - at]]


def test_chunks_and_rows_do_not_depend_on_batching() -> None:
    ends = synthetic_vocab().ends_sentence
    assert ends is not None
    doc = np.array([200, END, 201, 202, 203, 204, 205, END, 206, END], dtype=np.int32)
    chunks = chunk_document(doc, ends, 4)
    assert [(c.start, c.end, c.sentences) for c in chunks] == [
        (0, 2, (0,)),  # the next sentence (6 tokens) does not fit
        (2, 6, (0,)),  # a long sentence cut into pieces of 4
        (6, 10, (0, 2)),
    ]
    config, vocab = DenoiseConfig(seq_len=SEQ_LEN), synthetic_vocab(0.3)
    assert build(config, vocab, batch=50).equals(build(config, vocab, batch=17))


SHARDS = ShardsConfig(
    objectives=["denoise"],
    denoise=DenoiseConfig(seq_len=SEQ_LEN),
    rows_per_shard=150,
    val_fraction=0.1,
    encode_batch_docs=64,
)


def test_denoise_shards_keep_the_contract_and_rebuild_identically(
    corpus: list[Path], wordpiece: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    built = build_into(tmp_path_factory, "denoise", corpus, wordpiece, SHARDS)
    manifest = check_contract(built / "denoise")
    assert manifest["seq_len"] == SEQ_LEN and manifest["recipe"]["mask_ratio"] == 0.3
    assert [c["name"] for c in manifest["columns"]] == [
        *("input_ids", "attention_mask", "labels", "decoder_input_ids", "doc_id")
    ]
    assert manifest["splits"]["train"]["truncated_inputs"] == 0
    check_rebuild_identical(corpus, wordpiece, SHARDS, built, tmp_path)
    tokens = corpus_tokens(corpus, wordpiece)
    masked = total = 0
    for split in ("train", "val"):
        files = json.loads((built / "denoise" / "manifest.json").read_text())["splits"][split][
            "files"
        ]
        table = pa.concat_tables([read_stream(built / "denoise" / f["path"]) for f in files])
        c = columns(table)
        restored: dict[str, list[int]] = {}
        for doc_id, labels, inputs in zip(
            table.column("doc_id").to_pylist(), c["labels"], c["input_ids"], strict=True
        ):
            restored.setdefault(doc_id, []).extend(body(labels, IGNORE_INDEX).tolist())
            noised = body(inputs, PAD_ID)
            total += len(body(labels, IGNORE_INDEX))
            masked += int((noised == MASK_ID).sum())
        for doc_id, ids in restored.items():
            assert ids == tokens[doc_id].tolist()
    assert masked > 0.05 * total  # masks are there (one per span of whole words)
