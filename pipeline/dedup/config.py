"""Configuration of the dedup stage (the run config's `dedup:` section).

Every default sits next to its reason. The LSH bands x rows are derived from `threshold` and
`num_perm` (see :mod:`pipeline.dedup.lsh_params`) unless both are given; the values in use are
written to `dedup/_stage.json` either way.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.stage import KeepMode

#: Which document of a duplicate cluster is kept (documents of previous runs always win).
#: ``first``: the first in run order (partitions sorted by name, rows in order);
#: ``longest``: the one with the most UTF-8 bytes (ties: first in run order);
#: ``source_priority``: the one whose source comes earliest in ``source_priority`` (unlisted
#: sources after all listed ones; ties: first in run order).
KeepPolicy = Literal["first", "longest", "source_priority"]

#: ``word``: n-grams of words (``\w+`` runs of the NFC, lower-cased text, joined by one space);
#: ``char``: n-grams of characters of the normalised text (NFC, whitespace runs folded to one
#: space, lower-cased) -- better for code, where "words" are short and punctuation matters.
ShingleKind = Literal["word", "char"]

#: datasketch's permutation schemes: ``affine32`` (its default since 2.0: SHA-1 of the shingle,
#: MurmurHash3's 32-bit finaliser, then ``a*h + b mod 2**32``) or ``legacy`` (before 2.0:
#: ``(a*h + b) mod (2**61 - 1)`` truncated to 32 bits).
Scheme = Literal["affine32", "legacy"]


class MinHashConfig(BaseModel):
    """MinHash-LSH near-duplicate detection, in datasketch's terms."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # datasketch's default; 128 values per document keep the Jaccard estimate's standard error
    # near 0.035 and a signature at 512 bytes.
    num_perm: int = Field(128, ge=16, le=1024)
    # word 5-grams, as FineWeb and Gopher use: long enough that shared boilerplate phrases do not
    # make unrelated documents similar, short enough that a changed word touches only 5 shingles.
    ngram: int = Field(5, ge=1)
    shingle: ShingleKind = "word"  # prose: words
    code_shingle: ShingleKind = "word"  # documents of kind `code`; `char` is the alternative
    # characters per shingle when `char` is used: about two short tokens of code, so a renamed
    # identifier changes few shingles while unrelated files share few.
    char_ngram: int = Field(10, ge=1)
    # datasketch's default threshold: documents whose estimated Jaccard similarity of shingle
    # sets is at least 0.8 are near duplicates.
    threshold: float = Field(0.8, gt=0, lt=1)
    # equal weights of false positives and false negatives, datasketch's default, when choosing
    # bands x rows for the threshold.
    false_positive_weight: float = Field(0.5, gt=0, lt=1)
    # bands and rows: None = chosen for `threshold` by minimising the weighted false positive +
    # false negative areas (datasketch's method); give both to fix them (e.g. FineWeb's 14 x 8).
    bands: int | None = Field(None, ge=1)
    rows: int | None = Field(None, ge=1)
    seed: int = 1  # datasketch's default seed: signatures equal datasketch.MinHash(seed=1)
    scheme: Scheme = "affine32"  # datasketch 2.x's default scheme

    @model_validator(mode="after")
    def _bands_and_rows(self) -> MinHashConfig:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both `bands` and `rows`, or neither")
        if (
            self.bands is not None
            and self.rows is not None
            and (self.bands * self.rows > self.num_perm)
        ):
            raise ValueError(
                f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}"
            )
        return self


class DedupConfig(BaseModel):
    """Exact, then near-duplicate removal; one document is kept per duplicate cluster."""

    model_config = ConfigDict(extra="forbid")

    keep: KeepMode = "filter"
    exact: bool = True  # identical normalised text (NFC, whitespace folded) by 128-bit xxh3
    case_fold: bool = False  # exact dedup on casefolded text too; off: case can carry meaning
    keep_policy: KeepPolicy = "first"  # first seen: stable under appending new partitions
    source_priority: list[str] = []  # for keep_policy `source_priority`: best source first
    # Earlier runs (directories or glob patterns) whose kept documents count as already seen: a
    # new document that duplicates one of theirs is dropped, theirs are never touched.
    previous_runs: list[str] = []
    minhash: MinHashConfig = MinHashConfig()

    @model_validator(mode="after")
    def _priority_needs_sources(self) -> DedupConfig:
        if self.keep_policy == "source_priority" and not self.source_priority:
            raise ValueError("keep_policy `source_priority` needs a `source_priority` list")
        return self
