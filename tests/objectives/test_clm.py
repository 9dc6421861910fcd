"""CLM rows: packing loses no token but the counted tail, positions restart per document, the
decoder's mask never crosses a document boundary; the shard contract; 60 training steps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch
from tokenizers import Tokenizer

from pipeline.objectives.clm import CLMConfig, CLMPacker
from pipeline.shards import ShardsConfig, is_val_doc
from pipeline.shards.format import EOS_ID, IGNORE_INDEX
from tests.objectives.conftest import build_into
from tests.objectives.helpers import check_contract, check_rebuild_identical, check_trains
from tests.test_tokenizer_and_shards import read_stream
from trainer.model import ModelConfig, TransformerLM

SEQ_LEN = 32
SHARDS = ShardsConfig(
    objectives=["clm"],
    clm=CLMConfig(seq_len=SEQ_LEN),
    rows_per_shard=200,
    val_fraction=0.1,
    encode_batch_docs=64,
)


@pytest.fixture(scope="module")
def built(corpus: list[Path], wordpiece: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_into(tmp_path_factory, "clm-shards", corpus, wordpiece, SHARDS)


def split_table(folder: Path, split: str, part: str | None = None) -> pa.Table:
    """A split's rows, or only those of partition ``part`` (its files)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    files = manifest["splits"][split]["files"]
    if part is not None:
        files = [f for f in files if f["path"].startswith(f"{split}/part-{part}-")]
    return pa.concat_tables([read_stream(folder / f["path"]) for f in files])


def test_rows_hold_every_document_in_order_less_the_counted_tail(
    built: Path, corpus: list[Path], wordpiece: Path
) -> None:
    """Each partition (here, each file) is packed on its own: its rows are its stream less its
    tail, and a split's `tail_tokens` is the sum of its partitions' tails."""
    tokenizer = Tokenizer.from_file(str(wordpiece))
    manifest = check_contract(built / "clm")
    tails = {"train": 0, "val": 0}
    for path in corpus:
        documents: dict[str, list[tuple[str, list[int]]]] = {"train": [], "val": []}
        table = pa.parquet.read_table(path, columns=["id", "text"])
        for doc_id, text in zip(
            *(table.column(c).to_pylist() for c in ("id", "text")), strict=True
        ):
            ids = tokenizer.encode(text, add_special_tokens=False).ids
            if ids:
                documents["val" if is_val_doc(doc_id, 0.1) else "train"].append((doc_id, ids))
        for split, docs in documents.items():
            part = path.name.split(".")[0]
            check_packed(split_table(built / "clm", split, part), docs)
            stream_length = sum(len(ids) + 1 for _, ids in docs)
            tails[split] += stream_length % SEQ_LEN
    assert tails == {s: manifest["splits"][s]["tail_tokens"] for s in tails}


def check_packed(table: pa.Table, docs: list[tuple[str, list[int]]]) -> None:
    """``table``'s rows are ``docs`` packed: the stream less a tail under one row."""
    rows = np.array(table.column("input_ids").to_pylist())
    stream = [t for _, ids in docs for t in [*ids, EOS_ID]]
    tail = len(stream) - len(rows) * SEQ_LEN
    assert 0 <= tail < SEQ_LEN
    assert rows.reshape(-1).tolist() == stream[: len(stream) - tail]
    without_eos = rows.reshape(-1)[rows.reshape(-1) != EOS_ID].tolist()
    whole = [t for _, ids in docs for t in ids]
    assert whole[: len(without_eos)] == without_eos  # the separators removed
    # Positions restart at each document; labels skip each document's first token.
    positions = np.array(table.column("position_ids").to_pylist())
    labels = np.array(table.column("labels").to_pylist())
    first_of_doc = np.zeros(len(stream), dtype=bool)
    first_of_doc[np.cumsum([0] + [len(ids) + 1 for _, ids in docs[:-1]])] = True
    first_of_doc = first_of_doc[: rows.size].reshape(rows.shape)
    assert ((positions == 0) == (first_of_doc | (np.arange(SEQ_LEN) == 0))).all()
    assert (labels[first_of_doc] == IGNORE_INDEX).all()
    assert (labels[~first_of_doc] == rows[~first_of_doc]).all()
    assert np.array(table.column("attention_mask").to_pylist()).all()
    doc_order = [d for d, _ in docs]
    for row_docs, row_pos in zip(table.column("doc_ids").to_pylist(), positions, strict=True):
        assert len(row_docs) == (row_pos == 0).sum()
        start = doc_order.index(row_docs[0])
        assert row_docs == doc_order[start : start + len(row_docs)]


def test_same_seed_same_bytes_whatever_the_batching(
    built: Path, corpus: list[Path], wordpiece: Path, tmp_path: Path
) -> None:
    check_rebuild_identical(corpus, wordpiece, SHARDS, built, tmp_path)


def test_packer_rows_do_not_depend_on_how_documents_arrive() -> None:
    rng = np.random.default_rng(3)
    docs = [rng.integers(107, 300, rng.integers(1, 50)).astype(np.int32) for _ in range(60)]
    ids = [f"d{i}" for i in range(60)]
    whole, pieces = CLMPacker(CLMConfig(seq_len=16)), CLMPacker(CLMConfig(seq_len=16))
    one = pa.Table.from_batches([whole.add(docs, ids), whole.finish()])
    parts = [pieces.add(docs[i : i + 7], ids[i : i + 7]) for i in range(0, 60, 7)]
    other = pa.Table.from_batches([*parts, pieces.finish()])
    assert one.equals(other) and whole.stats() == pieces.stats()


def test_no_position_attends_across_a_document_boundary(built: Path) -> None:
    table = split_table(built / "clm", "train").slice(0, 16)
    batch = {
        name: torch.tensor(table.column(name).to_pylist())
        for name in ("input_ids", "attention_mask", "position_ids")
    }
    cfg = ModelConfig(vocab_size=400, max_len=SEQ_LEN, d_model=16, n_heads=2, d_ff=32, causal=True)
    model = TransformerLM(cfg).eval()
    mask = model.attention_mask(batch["input_ids"], batch["attention_mask"], batch["position_ids"])
    document = torch.cumsum(batch["position_ids"] == 0, dim=1)
    same_doc = document[:, :, None] == document[:, None, :]
    causal = torch.ones(SEQ_LEN, SEQ_LEN, dtype=torch.bool).tril()
    assert torch.equal(mask[:, 0], same_doc & causal)
    assert (document[:, -1] > 1).any()  # some rows do hold several documents
    # And the model's output for a document is the same whatever the other documents hold.
    with torch.no_grad():
        before = model(batch["input_ids"], position_ids=batch["position_ids"])
        changed = batch["input_ids"].clone()
        changed[document == 1] = 150  # rewrite every row's first document
        after = model(changed, position_ids=batch["position_ids"])
    later = document > 1
    torch.testing.assert_close(before[later], after[later])


def test_clm_trains_sixty_steps(built: Path, tmp_path: Path) -> None:
    check_trains(built / "clm", tmp_path / "train", "clm")
