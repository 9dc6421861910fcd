"""Permutation LM rows (XLNet): the factorisation order, the 1/6 span targets, the two-stream
masks the trainer builds, the shard contract, and 60 training steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.objectives.plm import PLMConfig, plm_rows_batch
from pipeline.shards import ShardsConfig
from pipeline.shards.format import FIRST_REGULAR_ID, IGNORE_INDEX, PAD_ID
from tests.objectives.conftest import build_into
from tests.objectives.helpers import TINY, check_contract, check_rebuild_identical, check_trains
from trainer.config import TrainConfig
from trainer.loop import model_config_for
from trainer.model import TransformerLM
from trainer.objectives import get_objective
from trainer.objectives.plm import two_stream_masks
from trainer.shards import ShardDataset, load_manifest

VOCAB = 1000
SEQ_LEN = 128


def documents(docs: int = 400, whole_rows: bool = True) -> tuple[list[np.ndarray], list[str]]:
    """Random documents; with `whole_rows` every row is full."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 5, docs) * SEQ_LEN if whole_rows else rng.integers(1, 400, docs)
    token_ids = [rng.integers(FIRST_REGULAR_ID, VOCAB, n).astype(np.int32) for n in lengths]
    return token_ids, [f"doc-{i}" for i in range(docs)]


def test_perm_index_is_a_permutation_and_targets_come_last() -> None:
    token_ids, ids = documents(docs=200, whole_rows=False)
    rows = plm_rows_batch(token_ids, ids, PLMConfig(), 3)
    assert rows.perm_index.dtype == np.int32
    expected = np.arange(SEQ_LEN)
    for ranks, labels in zip(rows.perm_index, rows.labels, strict=True):
        assert np.array_equal(np.sort(ranks), expected)
        target = labels != IGNORE_INDEX
        if target.any() and (~target).any():
            assert ranks[target].min() > ranks[~target].max()


def test_one_sixth_of_tokens_are_targets_in_spans_up_to_five() -> None:
    token_ids, ids = documents()
    rows = plm_rows_batch(token_ids, ids, PLMConfig(), 3)
    target = rows.labels != IGNORE_INDEX
    assert abs(target.mean() - 1 / 6) <= 0.01
    assert np.array_equal(rows.labels[target], rows.input_ids[target])  # inputs keep the tokens
    # Runs of targets: each is one span of at most 5, or two spans that touch.
    edges = np.diff(np.pad(target.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    assert lengths.min() >= 1 and np.mean(lengths <= 5) > 0.95
    assert 2.5 < lengths.mean() < 3.6  # spans of 1..5, mean 3, a few joined


def test_padding_is_never_a_target_and_rows_keep_context() -> None:
    token_ids = [np.array([200], dtype=np.int32), np.arange(200, 203, dtype=np.int32)]
    rows = plm_rows_batch(token_ids * 50, [f"d{i}" for i in range(100)], PLMConfig(), 9)
    target = rows.labels != IGNORE_INDEX
    assert not (target & (rows.input_ids == PAD_ID)).any()
    real = rows.input_ids != PAD_ID
    assert ((real & ~target).sum(axis=1) >= 1).all()


def test_rows_depend_only_on_their_keys() -> None:
    token_ids, ids = documents(docs=20)
    both = plm_rows_batch(token_ids, ids, PLMConfig(), 5)
    last = plm_rows_batch(token_ids[10:], ids[10:], PLMConfig(), 5)
    n = len(last)
    assert np.array_equal(both.perm_index[-n:], last.perm_index)
    assert np.array_equal(both.labels[-n:], last.labels)
    other = plm_rows_batch(token_ids, ids, PLMConfig(), 6)
    assert not np.array_equal(both.perm_index, other.perm_index)


def test_masks_hide_a_targets_own_content_and_everything_later() -> None:
    token_ids, ids = documents(docs=30, whole_rows=False)
    rows = plm_rows_batch(token_ids, ids, PLMConfig(seq_len=SEQ_LEN), 4)
    perm = torch.from_numpy(rows.perm_index)
    labels = torch.from_numpy(rows.labels)
    keep = torch.from_numpy(rows.input_ids != PAD_ID)
    content, query = (m.squeeze(1) for m in two_stream_masks(perm, labels, keep.long()))
    target = labels != IGNORE_INDEX
    # Order as the trainer reads it: every non-target shares the first place (XLNet's -1).
    order = torch.where(target, perm.long(), torch.full_like(perm.long(), -1))
    later = order[:, None, :] > order[:, :, None]  # [b, i, j]: j comes after i
    real_i = keep[:, :, None]
    assert not (content & later & real_i).any()  # no token sees a later one
    assert not (query & later & real_i).any()
    eye = torch.eye(SEQ_LEN, dtype=torch.bool)
    assert not (query & eye & target[:, :, None]).any()  # in particular not its own content
    assert not (content & ~keep[:, None, :] & ~eye).any()  # padding is never seen
    # A target's query sees exactly the real tokens before it; its content stream adds itself.
    for b, i in target.nonzero().tolist()[:200]:
        before = keep[b] & (order[b] < order[b, i])
        assert torch.equal(query[b, i], before)
        assert torch.equal(content[b, i], before | eye[i])


def test_the_query_stream_does_not_read_later_or_own_tokens() -> None:
    """Changing a target's token, or a later one in the order, leaves its prediction alone."""
    token_ids, ids = documents(docs=4)
    rows = plm_rows_batch(token_ids, ids, PLMConfig(seq_len=SEQ_LEN), 4)
    torch.manual_seed(0)
    config = {"vocab_size": VOCAB, "max_len": SEQ_LEN, "d_model": 32, "n_heads": 2, "d_ff": 64}
    from trainer.model import ModelConfig

    model = TransformerLM(ModelConfig(**config, n_layers=2, two_stream=True)).eval()
    input_ids = torch.from_numpy(rows.input_ids[:1]).long()
    labels = torch.from_numpy(rows.labels[:1]).long()
    perm = torch.from_numpy(rows.perm_index[:1]).long()
    masks = two_stream_masks(perm, labels, torch.ones_like(input_ids))
    targets = (labels[0] != IGNORE_INDEX).nonzero().flatten()
    pick = targets[len(targets) // 2]
    with torch.no_grad():
        before = model(input_ids, perm_masks=masks)
        changed = input_ids.clone()
        later = (labels[0] != IGNORE_INDEX) & (perm[0] >= perm[0, pick])
        changed[0, later] = (changed[0, later] + 1 - FIRST_REGULAR_ID) % (
            VOCAB - FIRST_REGULAR_ID
        ) + FIRST_REGULAR_ID
        after = model(changed, perm_masks=masks)
        earlier = (labels[0] != IGNORE_INDEX) & (perm[0] < perm[0, pick])
        hint = input_ids.clone()
        hint[0, earlier.nonzero().flatten()[0]] = FIRST_REGULAR_ID
        moved = model(hint, perm_masks=masks)
    assert torch.allclose(before[0, pick], after[0, pick], atol=1e-5)
    assert not torch.allclose(before[0, pick], moved[0, pick], atol=1e-5)


SHARDS = ShardsConfig(
    objectives=["plm"],
    plm=PLMConfig(seq_len=32),
    rows_per_shard=300,
    val_fraction=0.1,
    encode_batch_docs=64,
)


@pytest.fixture(scope="module")
def built(corpus: list[Path], wordpiece: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_into(tmp_path_factory, "plm-shards", corpus, wordpiece, SHARDS)


def test_shards_keep_the_contract_and_rebuild_identically(
    built: Path, corpus: list[Path], wordpiece: Path, tmp_path: Path
) -> None:
    manifest = check_contract(built / "plm")
    assert manifest["recipe"]["plm_probability"] == pytest.approx(1 / 6)
    assert {c["name"]: c["shape"] for c in manifest["columns"]}["perm_index"] == [32]
    check_rebuild_identical(corpus, wordpiece, SHARDS, built, tmp_path)
    dataset = ShardDataset(built / "plm", "train", columns=get_objective("plm").columns)
    row = dataset[0]
    assert sorted(row["perm_index"].tolist()) == list(range(32))


def test_the_trainer_builds_a_two_stream_model(built: Path) -> None:
    manifest = load_manifest(built / "plm")
    config = model_config_for(manifest, TrainConfig(**TINY), get_objective("plm"))
    assert config.two_stream and not config.causal and config.n_decoder_layers == 0


def test_plm_trains_sixty_steps(built: Path, tmp_path: Path) -> None:
    check_trains(built / "plm", tmp_path / "train", "plm")


def test_counts_equal_the_targets_whose_query_stream_sees_something() -> None:
    """`plm_counts` (linear in the row) counts what the masks would: random rows, random
    targets and padding, rows of targets only included."""
    import torch

    from trainer.objectives.plm import plm_counts, two_stream_masks

    generator = torch.Generator().manual_seed(0)
    for _ in range(500):
        rows, length = 3, int(torch.randint(1, 9, (1,), generator=generator))
        perm = torch.stack([torch.randperm(length, generator=generator) for _ in range(rows)])
        share = torch.rand(1, generator=generator)
        target = torch.rand(rows, length, generator=generator) < share
        tokens = torch.randint(7, 50, (rows, length), generator=generator)
        labels = torch.where(target, tokens, torch.full_like(tokens, -100))
        mask = (torch.rand(rows, length, generator=generator) < 0.8).long()
        _, query = two_stream_masks(perm, labels, mask)
        seen = (target & query.any(dim=-1).squeeze(1)).sum()
        batch = {"perm_index": perm, "labels": labels, "attention_mask": mask}
        assert int(plm_counts(batch)["plm_loss"]) == int(seen)
