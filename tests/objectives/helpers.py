"""Shared checks of the objective tests: the shard contract, rebuilds and a short training run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
from datasets import Dataset

from pipeline.shards import ShardsConfig, build_shards
from trainer.config import TrainConfig
from trainer.loop import train

#: A model small enough to train 60 steps on two CPU cores in seconds.
TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "d_ff": 64, "batch_size": 8}


def check_contract(folder: Path) -> dict:
    """Every listed file opens with pyarrow and `datasets`, matches its sha256 and row count, and
    has the manifest's columns with their dtypes and shapes; returns the manifest."""
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format_version"] == 2
    for split in manifest["splits"].values():
        for entry in split["files"]:
            path = folder / entry["path"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
            with pa.memory_map(str(path)) as source:
                table = pa.ipc.open_stream(source).read_all()
            assert table.num_rows == entry["rows"]
            assert [c["name"] for c in manifest["columns"]] == table.column_names
            for column in manifest["columns"]:
                kind = table.schema.field(column["name"]).type
                if column["shape"] == []:
                    assert not pa.types.is_list(kind) and not pa.types.is_fixed_size_list(kind)
                elif column["shape"] == [None]:
                    assert pa.types.is_list(kind)
                else:
                    assert kind.list_size == column["shape"][0]
            dataset = Dataset.from_file(str(path))
            assert dataset.num_rows == table.num_rows
            assert dataset[0]["input_ids"] == table.column("input_ids")[0].as_py()
    return manifest


def check_rebuild_identical(
    corpus: list[Path], tokenizer: Path, config: ShardsConfig, first: Path, tmp_path: Path
) -> None:
    """The same seed gives byte-identical files, however documents are batched."""
    other = tmp_path / "again"
    again = build_shards(
        corpus, tokenizer, other, config.model_copy(update={"encode_batch_docs": 7})
    )
    for name in config.objectives:
        manifest = json.loads((first / name / "manifest.json").read_text())
        assert again[name]["splits"] == manifest["splits"]
        for split in manifest["splits"].values():
            for entry in split["files"]:
                assert (first / name / entry["path"]).read_bytes() == (
                    other / name / entry["path"]
                ).read_bytes()


def check_trains(shards: Path, out: Path, objective: str, **overrides: object) -> list[float]:
    """60 steps on the CPU; the mean of the last 10 logged losses is below the first 10's."""
    config = TrainConfig(
        objective=objective, steps=60, log_every=1, eval_every=0, lr=3e-3, **{**TINY, **overrides}
    )
    result = train(shards, out, config, progress=None)
    records = [json.loads(line) for line in result.metrics.read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 61))
    losses = [r["loss"] for r in records]
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10, losses
    return losses
