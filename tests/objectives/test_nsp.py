"""Sentence-pair rows (BERT's NSP, ALBERT's SOP): the random-B and swap rates, where each segment
comes from, the sentence splitter, the shard contract, and 60 training steps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from tokenizers import Tokenizer

from pipeline.objectives.base import Vocab, ends_sentence_table, vocab_of
from pipeline.objectives.nsp import NSPBuilder, NSPConfig, split_sentences
from pipeline.shards import ShardsConfig, is_val_doc
from pipeline.shards.format import CLS_ID, FIRST_REGULAR_ID, IGNORE_INDEX, PAD_ID, SEP_ID
from tests.objectives.conftest import build_into
from tests.objectives.helpers import check_contract, check_rebuild_identical, check_trains
from tests.test_tokenizer_and_shards import read_stream

VOCAB = 500
END = FIRST_REGULAR_ID  # the synthetic vocabulary's one sentence-ending token
SEQ_LEN = 64


def synthetic_vocab() -> Vocab:
    ends = np.zeros(VOCAB, dtype=bool)
    ends[END] = True
    return Vocab(VOCAB, np.zeros(VOCAB, dtype=bool), ends)


def documents(docs: int = 1500) -> tuple[list[np.ndarray], list[str]]:
    """Documents of 4-30 sentences of 3-12 tokens, each sentence closed by `END`."""
    rng = np.random.default_rng(0)
    token_ids = []
    for _ in range(docs):
        sentences = [
            np.append(rng.integers(END + 1, VOCAB, rng.integers(2, 12)), END)
            for _ in range(rng.integers(4, 31))
        ]
        token_ids.append(np.concatenate(sentences).astype(np.int32))
    return token_ids, [f"doc-{i}" for i in range(docs)]


def build(config: NSPConfig, batch: int = 100) -> tuple[pa.Table, dict[str, np.ndarray]]:
    token_ids, ids = documents()
    builder = NSPBuilder(config, 7, synthetic_vocab())
    batches = [
        builder.add(token_ids[i : i + batch], ids[i : i + batch]) for i in range(0, 1500, batch)
    ]
    batches.append(builder.finish())
    return pa.Table.from_batches(batches), dict(zip(ids, token_ids, strict=True))


def segments(table: pa.Table) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each row's (A, B) with the original tokens restored from `labels`."""
    ids = np.array(table.column("input_ids").to_pylist())
    labels = np.array(table.column("labels").to_pylist())
    types = np.array(table.column("token_type_ids").to_pylist())
    original = np.where(labels != IGNORE_INDEX, labels, ids)
    out = []
    for row, kind in zip(original, types, strict=True):
        assert row[0] == CLS_ID
        seps = np.flatnonzero(row == SEP_ID)
        a, b = row[1 : seps[0]], row[seps[0] + 1 : seps[1]]
        assert (kind[: seps[0] + 1] == 0).all() and (kind[seps[0] + 1 : seps[1] + 1] == 1).all()
        assert (row[seps[1] + 1 :] == PAD_ID).all() and (kind[seps[1] + 1 :] == 0).all()
        out.append((a, b))
    return out


def check_sources(
    table: pa.Table, tokens: dict[str, np.ndarray], sop: bool
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """A and B are the tokens of their documents at `a_start` / `b_start`; true (or, with sop,
    kept-order) pairs have B after A in one document; random B's come from another one."""
    label = np.array(table.column("next_sentence_label").to_pylist())
    pairs = segments(table)
    columns = {c: table.column(c).to_pylist() for c in ("doc_id", "b_doc_id", "a_start", "b_start")}
    for r, (a, b) in enumerate(pairs):
        a_doc, b_doc = columns["doc_id"][r], columns["b_doc_id"][r]
        a_at, b_at = columns["a_start"][r], columns["b_start"][r]
        assert len(a) + len(b) <= SEQ_LEN - 3 and len(a) and len(b)
        assert (tokens[a_doc][a_at : a_at + len(a)] == a).all()
        assert (tokens[b_doc][b_at : b_at + len(b)] == b).all()
        if sop or label[r] == 0:
            assert a_doc == b_doc
            first, second = (a_at, len(a)), (b_at, len(b))
            if sop and label[r] == 1:
                first, second = second, first
            assert first[0] + first[1] <= second[0]  # B follows A in the document
        else:
            assert a_doc != b_doc
    return label, pairs


def test_random_b_half_the_time_true_b_follows_a() -> None:
    table, tokens = build(NSPConfig(seq_len=SEQ_LEN))
    label, _ = check_sources(table, tokens, sop=False)
    assert len(label) > 5000
    assert abs(label.mean() - 0.5) <= 0.02, label.mean()


def test_sop_swaps_half_the_pairs_of_one_document() -> None:
    table, tokens = build(NSPConfig(seq_len=SEQ_LEN, sop=True, dupe_factor=2))
    label, _ = check_sources(table, tokens, sop=True)
    assert len(label) > 5000
    assert abs(label.mean() - 0.5) <= 0.02, label.mean()


def test_pair_masking_is_bert_s_and_rows_do_not_depend_on_batching() -> None:
    config = NSPConfig(seq_len=SEQ_LEN)
    table, _ = build(config, batch=100)
    again, _ = build(config, batch=37)
    assert table.equals(again)
    ids = np.array(table.column("input_ids").to_pylist())
    labels = np.array(table.column("labels").to_pylist())
    real = (ids != CLS_ID) & (ids != SEP_ID) & (ids != PAD_ID)
    chosen = labels != IGNORE_INDEX
    assert not (chosen & ~real).any()
    assert abs(chosen.sum() / real.sum() - 0.15) <= 0.01


def test_sentence_splitter() -> None:
    texts = ["the", ".", "?", "!\u201d", "\u3002", "\u0964", "e.g", "\n\n", "\n", "x)"]
    assert ends_sentence_table(texts).tolist() == [
        *(False, True, True, True, True, True, False, True, False, False)
    ]
    ends = np.zeros(20, dtype=bool)
    ends[[3, 4]] = True
    assert split_sentences(np.array([5, 3, 6, 7, 4, 3]), ends) == [0, 2, 5]
    assert split_sentences(np.array([5, 6]), ends) == [0]


SHARDS = ShardsConfig(
    objectives=["nsp"],
    nsp=NSPConfig(seq_len=SEQ_LEN),
    rows_per_shard=150,
    val_fraction=0.1,
    encode_batch_docs=64,
)


def corpus_tokens(corpus: list[Path], tokenizer: Path) -> dict[str, np.ndarray]:
    wp = Tokenizer.from_file(str(tokenizer))
    tokens = {}
    for path in corpus:
        table = pa.parquet.read_table(path, columns=["id", "text"])
        for doc_id, text in zip(
            *(table.column(c).to_pylist() for c in ("id", "text")), strict=True
        ):
            tokens[doc_id] = np.array(wp.encode(text, add_special_tokens=False).ids, dtype=np.int32)
    return tokens


@pytest.mark.parametrize("sop", [False, True])
def test_nsp_shards_keep_the_contract_rebuild_identically_and_train(
    sop: bool,
    corpus: list[Path],
    wordpiece: Path,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
) -> None:
    config = SHARDS.model_copy(update={"nsp": NSPConfig(seq_len=SEQ_LEN, sop=sop)})
    built = build_into(tmp_path_factory, f"nsp-{sop}", corpus, wordpiece, config)
    manifest = check_contract(built / "nsp")
    assert manifest["recipe"]["sop"] is sop
    assert vocab_of(Tokenizer.from_file(str(wordpiece))).ends_sentence.any()
    check_rebuild_identical(corpus, wordpiece, config, built, tmp_path)
    tokens = corpus_tokens(corpus, wordpiece)
    for split in ("train", "val"):
        files = json.loads((built / "nsp" / "manifest.json").read_text())["splits"][split]["files"]
        table = pa.concat_tables([read_stream(built / "nsp" / f["path"]) for f in files])
        check_sources(table, tokens, sop)
        for name in ("doc_id", "b_doc_id"):
            assert all(
                is_val_doc(d, 0.1) == (split == "val") for d in table.column(name).to_pylist()
            )
    check_trains(built / "nsp", tmp_path / "train", "nsp")
    records = [json.loads(line) for line in (tmp_path / "train" / "metrics.jsonl").open()]
    assert all({"mlm_loss", "nsp_loss"} <= set(r) for r in records)
    for r in records:
        assert r["loss"] == pytest.approx(r["mlm_loss"] + r["nsp_loss"], rel=1e-4)
