"""Configuration of the dedup stage (the run config's `dedup:` section)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pipeline.stage import KeepMode


class MinHashConfig(BaseModel):
    """MinHash-LSH near-duplicate detection, in datasketch's terms."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    num_perm: int = Field(128, ge=16)  # datasketch's default; bands x rows are derived from it
    ngram: int = Field(5, ge=1)  # word 5-grams, as FineWeb and Gopher
    threshold: float = Field(0.8, gt=0, lt=1)  # estimated Jaccard above which docs are duplicates
    seed: int = 1  # datasketch's default seed: signatures equal datasketch.MinHash(seed=1)


class DedupConfig(BaseModel):
    """Exact, then near-duplicate removal. The first document in run order is kept."""

    model_config = ConfigDict(extra="forbid")

    keep: KeepMode = "filter"
    exact: bool = True
    case_fold: bool = False  # exact dedup on casefolded text too
    minhash: MinHashConfig = MinHashConfig()
