"""Replaced-token detection (ELECTRA) from `mlm` shards: the discriminator's labels, seeded
sampling, an exact resume, and 60 training steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pipeline.objectives.mlm import MLMConfig
from pipeline.shards import ShardsConfig
from pipeline.shards.format import IGNORE_INDEX
from tests.objectives.conftest import build_into
from tests.objectives.helpers import TINY, check_trains
from trainer.config import TrainConfig
from trainer.loop import model_config_for, train
from trainer.model import TransformerLM, replace_tokens, sample_tokens
from trainer.objectives import get_objective
from trainer.objectives.rtd import UNIFORM_KEY, draw_uniforms
from trainer.shards import ShardDataset, load_manifest

SHARDS = ShardsConfig(
    objectives=["mlm"],
    mlm=MLMConfig(seq_len=32),
    rows_per_shard=300,
    val_fraction=0.1,
    encode_batch_docs=64,
)


@pytest.fixture(scope="module")
def built(corpus: list[Path], wordpiece: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_into(tmp_path_factory, "rtd-shards", corpus, wordpiece, SHARDS)


def first_rows(shards: Path, count: int = 16) -> dict[str, torch.Tensor]:
    objective = get_objective("rtd")
    dataset = ShardDataset(shards / "mlm", "train", columns=objective.columns)
    rows = [dataset[i] for i in range(count)]
    return {key: torch.stack([row[key] for row in rows]) for key in rows[0]}


def test_labels_mark_exactly_the_sampled_tokens_that_differ() -> None:
    input_ids = torch.tensor([[2, 4, 9, 9, 7, 3, 0], [2, 9, 5, 6, 9, 3, 0]])
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[0, 2], labels[0, 3], labels[1, 1], labels[1, 4] = 11, 12, 13, 14
    samples = torch.tensor([11, 40, 41, 14])  # the first and last equal their originals
    corrupted, replaced = replace_tokens(input_ids, labels, samples, IGNORE_INDEX)
    assert corrupted.tolist() == [[2, 4, 11, 40, 7, 3, 0], [2, 41, 5, 6, 14, 3, 0]]
    assert replaced.nonzero().tolist() == [[0, 3], [1, 1]]


def test_the_models_corruption_and_labels_agree(built: Path) -> None:
    objective = get_objective("rtd")
    manifest = load_manifest(built / "mlm")
    torch.manual_seed(0)
    model = TransformerLM(model_config_for(manifest, TrainConfig(**TINY), objective)).eval()
    batch = draw_uniforms(first_rows(built), 7, 0, torch.arange(16))
    labels = batch["labels"]
    _, corrupted, replaced = model.generate(batch["input_ids"], labels, batch[UNIFORM_KEY])
    take = labels != IGNORE_INDEX
    original = torch.where(take, labels, batch["input_ids"])
    assert torch.equal(replaced, corrupted != original)
    assert torch.equal(corrupted[~take], batch["input_ids"][~take])
    assert replaced.any() and not (replaced & ~take).any()


def test_the_same_seed_draws_the_same_samples() -> None:
    index = torch.tensor([5, 900, 3])
    batch = {"input_ids": torch.zeros(3, 32, dtype=torch.int64)}
    first = draw_uniforms(batch, 1234, 2, index)[UNIFORM_KEY]
    assert torch.equal(first, draw_uniforms(batch, 1234, 2, index)[UNIFORM_KEY])
    # A row's draw depends on its own index only, not on its batch.
    assert torch.equal(first[1:2], draw_uniforms(batch, 1234, 2, index[1:2])[UNIFORM_KEY])
    assert not torch.equal(first, draw_uniforms(batch, 1234, 3, index)[UNIFORM_KEY])
    assert not torch.equal(first, draw_uniforms(batch, 99, 2, index)[UNIFORM_KEY])
    assert ((first >= 0) & (first < 1)).all()
    logits = torch.randn(3, 32, 50)
    assert torch.equal(sample_tokens(logits, first), sample_tokens(logits, first))
    # Inverse CDF: uniforms below the first token's probability pick it.
    peaked = torch.tensor([[10.0, 0.0, 0.0]])
    assert sample_tokens(peaked, torch.tensor([0.5])).tolist() == [0]


def test_rtd_trains_sixty_steps_from_mlm_shards(built: Path, tmp_path: Path) -> None:
    # The test hands the shards folder itself: the objective finds `mlm/` by its shards name.
    check_trains(built, tmp_path / "train", "rtd")
    records = [json.loads(line) for line in (tmp_path / "train" / "metrics.jsonl").open()]
    assert {"gen_loss", "disc_loss"} <= set(records[-1])
    # A resumed run equals an uninterrupted one, samples included.
    config = TrainConfig(objective="rtd", steps=60, log_every=1, eval_every=0, lr=3e-3, **TINY)
    train(built, tmp_path / "resumed", config, progress=None, stop_after=25)
    resumed = train(built, tmp_path / "resumed", config, progress=None)
    assert resumed.start_step == 25
    again = [json.loads(line) for line in (tmp_path / "resumed" / "metrics.jsonl").open()]
    assert [r["loss"] for r in again] == [r["loss"] for r in records]
