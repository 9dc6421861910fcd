"""MLM rows (BERT): the 15% choice and 80/10/10 split, whole-word masking, the prediction cap,
the shard contract, and 60 training steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from pipeline.objectives.base import vocab_of
from pipeline.objectives.mlm import MLMConfig, mlm_rows_batch, word_starts
from pipeline.shards import ShardsConfig, build_shards
from pipeline.shards.format import FIRST_REGULAR_ID, IGNORE_INDEX, MASK_ID, SEP_ID
from tests.objectives.conftest import build_into
from tests.objectives.helpers import check_contract, check_rebuild_identical, check_trains

VOCAB = 1000
SEQ_LEN = 128


def documents(docs: int = 300, whole_rows: bool = True) -> tuple[list[np.ndarray], list[str]]:
    """Random documents; with `whole_rows`, every row is full (no rounding of short rows)."""
    rng = np.random.default_rng(0)
    body = SEQ_LEN - 2
    lengths = rng.integers(1, 5, docs) * body if whole_rows else rng.integers(1, 600, docs)
    token_ids = [rng.integers(FIRST_REGULAR_ID, VOCAB, n).astype(np.int32) for n in lengths]
    return token_ids, [f"doc-{i}" for i in range(docs)]


def continues_table(fraction: float = 0.4) -> np.ndarray:
    """A vocabulary where `fraction` of the ordinary ids continue a word."""
    table = np.random.default_rng(1).random(VOCAB) < fraction
    table[:FIRST_REGULAR_ID] = False
    return table


def real_positions(input_ids: np.ndarray) -> np.ndarray:
    position = np.arange(input_ids.shape[1])
    sep = np.argmax(input_ids == SEP_ID, axis=1)
    return (position >= 1) & (position < sep[:, None])


def test_fifteen_percent_of_eligible_tokens_chosen_split_80_10_10() -> None:
    token_ids, ids = documents()
    rows = mlm_rows_batch(token_ids, ids, MLMConfig(dupe_factor=2), 5, VOCAB)
    real = real_positions(rows.input_ids)
    chosen = rows.labels != IGNORE_INDEX
    assert not (chosen & ~real).any()
    assert abs(chosen.sum() / real.sum() - 0.15) <= 0.005
    shown, original = rows.input_ids[chosen], rows.labels[chosen]
    masked = shown == MASK_ID
    unchanged = shown == original
    replaced = ~masked & ~unchanged
    assert abs(masked.mean() - 0.8) <= 0.01
    assert abs(replaced.mean() - 0.1) <= 0.01
    assert abs(unchanged.mean() - 0.1) <= 0.01  # includes the rare random draw of the same id


def words_of_rows(rows_ids: np.ndarray, labels: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Word index per position (-1 outside the row's tokens), words as the builder sees them."""
    original = np.where(labels != IGNORE_INDEX, labels, rows_ids)
    real = real_positions(rows_ids)
    starts = word_starts(original, real, table)
    return np.where(real, np.cumsum(starts, axis=1) - 1, -1)


@pytest.mark.parametrize("cap", [None, 12])
def test_whole_word_never_masks_part_of_a_word(cap: int | None) -> None:
    table = continues_table()
    token_ids, ids = documents(docs=150, whole_rows=False)
    config = MLMConfig(whole_word=True, max_predictions_per_seq=cap)
    rows = mlm_rows_batch(token_ids, ids, config, 5, VOCAB, table)
    words = words_of_rows(rows.input_ids, rows.labels, table)
    chosen = rows.labels != IGNORE_INDEX
    for r in range(len(words)):
        real = words[r] >= 0
        per_word = np.bincount(words[r, real], weights=chosen[r, real])
        sizes = np.bincount(words[r, real])
        assert np.all((per_word == 0) | (per_word == sizes)), r
    real = real_positions(rows.input_ids)
    full = real.sum(axis=1) == SEQ_LEN - 2
    if cap is None:  # words of 1-3 pieces fill the budget up to a piece or two
        assert abs(chosen[full].sum() / real[full].sum() - 0.15) <= 0.01
    else:
        assert chosen.sum(axis=1).max() <= cap
    assert (rows.input_ids[chosen] == MASK_ID).mean() == pytest.approx(0.8, abs=0.015)


def test_the_cap_bounds_predictions_per_row() -> None:
    token_ids, ids = documents(docs=100)
    rows = mlm_rows_batch(token_ids, ids, MLMConfig(max_predictions_per_seq=20), 5, VOCAB)
    chosen = (rows.labels != IGNORE_INDEX).sum(axis=1)
    assert (chosen == 19).all()  # BERT's cap of 20 at 128 is above round(126 * 0.15) = 19
    rows = mlm_rows_batch(token_ids, ids, MLMConfig(max_predictions_per_seq=7), 5, VOCAB)
    assert ((rows.labels != IGNORE_INDEX).sum(axis=1) == 7).all()


def test_word_continuation_is_read_from_the_vocabulary(wordpiece: Path, bpe: Path) -> None:
    wp = Tokenizer.from_file(str(wordpiece))
    table = vocab_of(wp).continues_word
    vocab = wp.get_vocab()
    assert all(table[i] == t.startswith("##") for t, i in vocab.items())
    bl = Tokenizer.from_file(str(bpe))
    table = vocab_of(bl).continues_word
    assert not table[:FIRST_REGULAR_ID].any()
    ids = bl.encode(" miller ground grain", add_special_tokens=False).ids
    tokens = [bl.id_to_token(i) for i in ids]
    assert [not table[i] for i in ids] == [t.startswith("\u0120") for t in tokens]


SHARDS = ShardsConfig(
    objectives=["mlm"],
    mlm=MLMConfig(seq_len=32, whole_word=True, max_predictions_per_seq=5),
    rows_per_shard=300,
    val_fraction=0.1,
    encode_batch_docs=64,
)


@pytest.fixture(scope="module")
def built(corpus: list[Path], wordpiece: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_into(tmp_path_factory, "mlm-shards", corpus, wordpiece, SHARDS)


def test_whole_word_shards_keep_the_contract_and_rebuild_identically(
    built: Path, corpus: list[Path], wordpiece: Path, tmp_path: Path
) -> None:
    manifest = check_contract(built / "mlm")
    assert manifest["recipe"]["whole_word"] is True
    check_rebuild_identical(corpus, wordpiece, SHARDS, built, tmp_path)
    table = vocab_of(Tokenizer.from_file(str(wordpiece))).continues_word
    import pyarrow as pa

    path = built / "mlm" / manifest["splits"]["train"]["files"][0]["path"]
    with pa.memory_map(str(path)) as source:
        batch = pa.ipc.open_stream(source).read_all()
    ids = np.array(batch.column("input_ids").to_pylist())
    labels = np.array(batch.column("labels").to_pylist())
    words = words_of_rows(ids, labels, table)
    chosen = labels != IGNORE_INDEX
    assert chosen.sum(axis=1).max() <= 5
    for r in range(len(ids)):
        real = words[r] >= 0
        per_word = np.bincount(words[r, real], weights=chosen[r, real])
        assert np.all((per_word == 0) | (per_word == np.bincount(words[r, real])))


@pytest.mark.parametrize("whole_word", [False, True])
def test_mlm_trains_sixty_steps(
    whole_word: bool, corpus: list[Path], wordpiece: Path, tmp_path: Path
) -> None:
    config = SHARDS.model_copy(update={"mlm": MLMConfig(seq_len=32, whole_word=whole_word)})
    build_shards(corpus, wordpiece, tmp_path / "shards", config)
    check_trains(tmp_path / "shards" / "mlm", tmp_path / "train", "mlm")
