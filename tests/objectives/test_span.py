"""Span-corruption rows (T5): T5's lengths, noise density and mean span length, sentinels in
order, inputs and targets interleaved give the chunk back, full rows fill `inputs_length`; rows
independent of batching; the shard contract and byte-identical rebuilds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from pipeline.objectives.base import Vocab, arrow_schema
from pipeline.objectives.registry import get_objective
from pipeline.objectives.span import (
    FIRST_SENTINEL_ID,
    SpanConfig,
    noise_counts,
    noise_mask,
    random_spans_helper,
    span_batch,
    span_columns,
)
from pipeline.shards import ShardsConfig
from pipeline.shards.format import EOS_ID, FIRST_REGULAR_ID, IGNORE_INDEX, PAD_ID
from tests.objectives.conftest import build_into
from tests.objectives.helpers import check_contract, check_rebuild_identical
from tests.objectives.test_nsp import corpus_tokens
from tests.test_tokenizer_and_shards import read_stream

VOCAB = 1000
LAST_SENTINEL_ID = FIRST_SENTINEL_ID + 99


def documents(docs: int = 400) -> tuple[list[np.ndarray], list[str]]:
    """Random documents of 1-700 ordinary tokens (full chunks and shorter last ones)."""
    rng = np.random.default_rng(0)
    token_ids = [
        rng.integers(FIRST_REGULAR_ID, VOCAB, rng.integers(1, 700)).astype(np.int32)
        for _ in range(docs)
    ]
    return token_ids, [f"doc-{i}" for i in range(docs)]


def build(config: SpanConfig, batch: int = 50, docs: int = 400) -> pa.Table:
    token_ids, ids = documents(docs)
    builder = get_objective("span").builder(config, 11, Vocab.plain(VOCAB))
    batches = [
        builder.add(token_ids[i : i + batch], ids[i : i + batch]) for i in range(0, docs, batch)
    ]
    return pa.Table.from_batches([*batches, builder.finish()])


def is_sentinel(ids: np.ndarray) -> np.ndarray:
    return (ids >= FIRST_SENTINEL_ID) & (ids <= LAST_SENTINEL_ID)


def unpadded(table: pa.Table) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each row's (inputs, targets) without padding; checks the masks and the padding."""
    ids = np.array(table.column("input_ids").to_pylist())
    attention = np.array(table.column("attention_mask").to_pylist())
    labels = np.array(table.column("labels").to_pylist())
    decoder_mask = np.array(table.column("decoder_attention_mask").to_pylist())
    assert ((ids != PAD_ID) == attention.astype(bool)).all()
    assert ((labels != IGNORE_INDEX) == decoder_mask.astype(bool)).all()
    rows = []
    for r in range(len(ids)):
        n_in, n_out = int(attention[r].sum()), int(decoder_mask[r].sum())
        assert attention[r, :n_in].all() and decoder_mask[r, :n_out].all()  # padding at the end
        inputs, targets = ids[r, :n_in], labels[r, :n_out]
        assert inputs[-1] == EOS_ID and targets[-1] == EOS_ID
        rows.append((inputs[:-1], targets[:-1]))
    return rows


def restore(inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The chunk, from inputs and targets interleaved at the sentinels."""
    spans: dict[int, list[int]] = {}
    current = None
    for token in targets.tolist():
        if FIRST_SENTINEL_ID <= token <= LAST_SENTINEL_ID:
            current = token
            spans[current] = []
        else:
            assert current is not None  # targets start with a sentinel
            spans[current].append(token)
    out: list[int] = []
    for token in inputs.tolist():
        out.extend(spans.pop(token) if FIRST_SENTINEL_ID <= token <= LAST_SENTINEL_ID else [token])
    assert all(not rest for rest in spans.values())  # only a chunk of one token has one left
    return np.array(out, dtype=np.int64)


def test_lengths_are_t5_s() -> None:
    assert random_spans_helper(512, 0.15, 3.0) == (568, 114)  # T5's published figures
    config = SpanConfig(inputs_length=512)
    assert (config.raw_length, config.targets_length) == (568, 114)
    assert noise_counts(568, 0.15, 3.0) == (85, 28)
    default = SpanConfig()
    assert (default.inputs_length, default.raw_length, default.targets_length) == (128, 141, 29)
    assert default.seq_len == 128
    assert [c.shape for c in span_columns(default)] == [(128,), (128,), (29,), (29,), ()]
    for length in range(4, 1100):  # at the default density, full chunks always fill the inputs
        raw = SpanConfig(inputs_length=length).raw_length
        noise, spans = noise_counts(raw, 0.15, 3.0)
        assert raw - noise + spans + 1 == length
    with pytest.raises(ValueError, match="sentinels"):
        SpanConfig(inputs_length=4096)  # 4096 inputs need more than 100 spans


def test_noise_mask_is_t5_s_interleaving() -> None:
    config = SpanConfig()
    rng = np.random.default_rng(0)
    run_lengths: list[int] = []
    for length in [1, 2, 3, 7, 50, 141, 141, 141, 300]:
        mask = noise_mask(length, config, rng)
        noise, spans = noise_counts(length, config.noise_density, config.mean_noise_span_length)
        assert len(mask) == length
        if length == 1:
            assert not mask.any()  # T5 counts a chunk of one as two and cuts the mask back
            continue
        assert mask.sum() == noise and not mask[0] and mask[-1]  # other tokens first, noise last
        changes = np.flatnonzero(np.diff(mask.astype(int))) + 1
        assert len(changes) == 2 * spans - 1  # spans x (other run, noise run)
        if length == 141:
            run_lengths.extend(np.diff([0, *changes, length])[1::2].tolist())
    assert len(set(run_lengths)) > 2  # a random partition, not equal spans


def test_density_span_length_sentinels_and_restoring() -> None:
    config = SpanConfig()
    token_ids, ids = documents()
    table = build(config)
    noise_tokens = noise_spans = original_tokens = 0
    rows = iter(unpadded(table))
    for tokens in token_ids:
        for start in range(0, len(tokens), config.raw_length):
            chunk = tokens[start : start + config.raw_length]
            inputs, targets = next(rows)
            in_sentinels = inputs[is_sentinel(inputs)]
            out_sentinels = targets[is_sentinel(targets)]
            k = len(out_sentinels)
            expected = np.arange(FIRST_SENTINEL_ID, FIRST_SENTINEL_ID + k)
            assert out_sentinels.tolist() == expected.tolist()  # in order, from <extra_id_0>
            assert targets[0] == FIRST_SENTINEL_ID
            if len(chunk) > 1:
                assert in_sentinels.tolist() == expected.tolist()
                assert inputs[-1] == expected[-1]  # the chunk ends on noise
            assert restore(inputs, targets).tolist() == chunk.tolist()
            if len(chunk) == config.raw_length:
                assert len(inputs) + 1 == config.inputs_length  # full chunks fill the inputs
                assert len(targets) + 1 == config.targets_length
            noise_tokens += len(targets) - k
            noise_spans += k
            original_tokens += len(chunk)
    assert next(rows, None) is None
    assert table.column("doc_id").to_pylist()[0] == "doc-0"
    assert abs(noise_tokens / original_tokens - 0.15) <= 0.01, noise_tokens / original_tokens
    assert abs(noise_tokens / noise_spans - 3.0) <= 0.2, noise_tokens / noise_spans


def test_full_chunks_fill_inputs_length_at_t5_s_size() -> None:
    config = SpanConfig(inputs_length=512)
    token_ids, _ = documents(60)
    table = build(config, docs=60)
    inputs_used = np.array(table.column("attention_mask").to_pylist()).sum(axis=1)
    targets_used = np.array(table.column("decoder_attention_mask").to_pylist()).sum(axis=1)
    # Which rows come from a full chunk of 568 tokens.
    full = np.array([s + 568 <= len(t) for t in token_ids for s in range(0, len(t), 568)])
    assert len(full) == table.num_rows and full.sum() >= 10
    assert (inputs_used[full] == 512).all() and (targets_used[full] == 114).all()
    assert (inputs_used[~full] < 512).all() and (targets_used[~full] < 114).all()


def test_rows_do_not_depend_on_batching() -> None:
    config = SpanConfig(inputs_length=64)
    assert build(config, batch=50).equals(build(config, batch=13))
    token_ids, ids = documents(20)
    schema = arrow_schema(span_columns(config))
    whole = span_batch(token_ids, ids, config, 11, schema)
    other_seed = span_batch(token_ids, ids, config, 12, schema)
    assert not pa.Table.from_batches([whole]).equals(pa.Table.from_batches([other_seed]))


SHARDS = ShardsConfig(
    objectives=["span"],
    span=SpanConfig(inputs_length=64),
    rows_per_shard=150,
    val_fraction=0.1,
    encode_batch_docs=64,
)


def test_span_shards_keep_the_contract_and_rebuild_identically(
    corpus: list[Path], wordpiece: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    built = build_into(tmp_path_factory, "span", corpus, wordpiece, SHARDS)
    manifest = check_contract(built / "span")
    assert manifest["seq_len"] == 64
    assert manifest["recipe"]["inputs_length"] == 64
    assert [c["shape"] for c in manifest["columns"]] == [[64], [64], [14], [14], []]
    check_rebuild_identical(corpus, wordpiece, SHARDS, built, tmp_path)
    tokens = corpus_tokens(corpus, wordpiece)
    raw = SHARDS.span.raw_length
    for split in ("train", "val"):
        files = json.loads((built / "span" / "manifest.json").read_text())["splits"][split]["files"]
        table = pa.concat_tables([read_stream(built / "span" / f["path"]) for f in files])
        restored: dict[str, list[int]] = {}
        for doc_id, (inputs, targets) in zip(
            table.column("doc_id").to_pylist(), unpadded(table), strict=True
        ):
            chunk = restore(inputs, targets).tolist()
            assert len(chunk) <= raw
            restored.setdefault(doc_id, []).extend(chunk)
        for doc_id, ids in restored.items():
            assert ids == tokens[doc_id].tolist()  # every token of the document, in order
