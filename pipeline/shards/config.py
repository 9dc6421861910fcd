"""Configuration of the shards stage (the run config's `shards:` section)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.objectives.mlm import MLMConfig


class ShardsConfig(BaseModel):
    """Which objectives to build, their recipes, and how rows are split and written."""

    model_config = ConfigDict(extra="forbid")

    # MLM is the first objective; causal LM and span corruption come later.
    objectives: list[Literal["mlm"]] = Field(default_factory=lambda: ["mlm"], min_length=1)
    mlm: MLMConfig = MLMConfig()
    # A small held-out set for validation loss. Chosen by a hash of the document id, so a
    # document's split never depends on file order or on the other documents.
    val_fraction: float = Field(0.05, ge=0, lt=1)
    # 16384 rows x 128 tokens x 2 int32 columns = 16 MiB of ids per file: few files for the
    # demo, small enough to hash and rename quickly and to spread over DataLoader workers.
    rows_per_shard: int = Field(16384, gt=0)
    # Documents per `encode_batch` call: enough for the Rust tokenizer's threads to share.
    encode_batch_docs: int = Field(256, gt=0)
    # Seeds every row's masking (with the document id, copy and chunk).
    seed: int = 1234

    @field_validator("objectives")
    @classmethod
    def _unique(cls, objectives: list[str]) -> list[str]:
        if len(set(objectives)) != len(objectives):
            raise ValueError(f"objectives are listed more than once: {objectives}")
        return objectives
