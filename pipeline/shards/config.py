"""Configuration of the shards stage (the run config's `shards:` section).

The general settings are written out below; each objective of the table
(`pipeline.objectives.registry.OBJECTIVES`) adds a section of its own, `shards.<name>`, holding
its config class with the paper's defaults, so a new objective needs no edit here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from pipeline.objectives.registry import OBJECTIVES


class _ShardsSettings(BaseModel):
    """Which objectives to build, and how rows are split and written."""

    model_config = ConfigDict(extra="forbid")

    # MLM is the default objective: the demo trains an encoder.
    objectives: list[str] = Field(default_factory=lambda: ["mlm"], min_length=1)
    # A small held-out set for validation loss. Chosen by a hash of the document id, so a
    # document's split never depends on file order or on the other documents.
    val_fraction: float = Field(0.05, ge=0, lt=1)
    # 16384 rows x 128 tokens x 3 int32 columns = 24 MiB of ids per file: few files for the
    # demo, small enough to hash and rename quickly and to spread over DataLoader workers.
    rows_per_shard: int = Field(16384, gt=0)
    # Documents per `encode_batch` call: enough for the Rust tokenizer's threads to share.
    encode_batch_docs: int = Field(256, gt=0)
    # Seeds every row's randomness (with the row's own keys: document id, copy, chunk).
    seed: int = 1234

    @field_validator("objectives")
    @classmethod
    def _known_and_unique(cls, objectives: list[str]) -> list[str]:
        unknown = [o for o in objectives if o not in OBJECTIVES]
        if unknown:
            raise ValueError(f"unknown objectives {unknown}; known: {sorted(OBJECTIVES)}")
        if len(set(objectives)) != len(objectives):
            raise ValueError(f"objectives are listed more than once: {objectives}")
        return objectives

    def objective_config(self, name: str) -> BaseModel:
        """The settings of objective ``name`` (its `shards.<name>` section)."""
        return getattr(self, name)


_sections: dict[str, Any] = {
    name: (objective.config, Field(default_factory=objective.config))
    for name, objective in OBJECTIVES.items()
}
ShardsConfig = create_model(  # type: ignore[call-overload]
    "ShardsConfig",
    __base__=_ShardsSettings,
    __module__=__name__,
    __doc__="Which objectives to build, their recipes (`shards.<name>`), and how rows are written.",
    **_sections,
)
