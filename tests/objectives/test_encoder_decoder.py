"""`span` (T5) and `denoise` (BART) train the encoder-decoder: 60 steps each with every logged
loss falling. The shards come from the data-side builders when they are registered, and from
hand-made rows with the same columns (tests/seq2seq_fixtures.py) otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.objectives.registry import OBJECTIVES as BUILDERS
from pipeline.shards import ShardsConfig, build_shards
from tests.objectives.helpers import check_trains
from tests.seq2seq_fixtures import write_seq2seq_shards

#: Short rows, as the other objective tests use: T5's inputs_length and BART's seq_len.
SETTINGS = {"span": {"inputs_length": 32}, "denoise": {"seq_len": 32}}


def shards_for(objective: str, corpus: list[Path], tokenizer: Path, out: Path) -> Path:
    if objective not in BUILDERS:
        return write_seq2seq_shards(out / objective, objective)
    config = ShardsConfig(
        objectives=[objective],
        rows_per_shard=300,
        val_fraction=0.1,
        encode_batch_docs=64,
        **{objective: SETTINGS[objective]},
    )
    build_shards(corpus, tokenizer, out, config)
    return out / objective


@pytest.mark.parametrize("objective", ["span", "denoise"])
def test_trains_sixty_steps(
    objective: str, corpus: list[Path], wordpiece: Path, tmp_path: Path
) -> None:
    shards = shards_for(objective, corpus, wordpiece, tmp_path / "shards")
    check_trains(shards, tmp_path / "train", objective)
