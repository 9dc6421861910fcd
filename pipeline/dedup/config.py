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

#: How far below ``threshold`` the banding aims when candidates are verified: 0.1 puts the
#: S-curve's steep part under the threshold, so pairs at J >= threshold + 0.1 almost always share
#: a band (14 x 9 at 0.7: 99.9% at J = 0.9) while verification removes the extra candidates below
#: it. Measured against 0.05 (11 x 11: 99.6% of J >= 0.9 merged) and 0.15 (16 x 8: no better,
#: larger index) in bench/RESULTS.md.
VERIFY_MARGIN = 0.1


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
    # confirm every candidate pair (two documents sharing a band) before it merges: the share of
    # equal values of the two whole signatures must reach `threshold`. On, because it lets the
    # banding aim lower (more recall) without merging more pairs below the threshold
    # (bench/RESULTS.md, generated set: J >= 0.9 merged 100% instead of 98.1%, J < 0.5 none).
    verify: bool = True
    # the similarity bands x rows are chosen for. None: `threshold` without verification, and
    # `threshold - VERIFY_MARGIN` with it (0.8 -> 0.7 -> 14 x 9), measured as the better trade-off.
    band_threshold: float | None = Field(None, gt=0, lt=1)
    # equal weights of false positives and false negatives, datasketch's default, when choosing
    # bands x rows for the threshold.
    false_positive_weight: float = Field(0.5, gt=0, lt=1)
    # bands and rows: None = chosen for `threshold` by minimising the weighted false positive +
    # false negative areas (datasketch's method); give both to fix them (e.g. FineWeb's 14 x 8).
    bands: int | None = Field(None, ge=1)
    rows: int | None = Field(None, ge=1)
    seed: int = 1  # datasketch's default seed: signatures equal datasketch.MinHash(seed=1)
    scheme: Scheme = "affine32"  # datasketch 2.x's default scheme

    def banding_threshold(self) -> float:
        """The similarity bands x rows are chosen for (when they are not fixed)."""
        if self.band_threshold is not None:
            return self.band_threshold
        if self.verify:
            return round(max(self.threshold - VERIFY_MARGIN, 0.05), 6)
        return self.threshold

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
    # Earlier runs (run directories, folders of runs, or glob patterns) whose documents count as
    # already seen: a new document that duplicates one they kept, or one they dropped as a near
    # duplicate, is dropped for the document they kept; theirs are never touched.
    previous_runs: list[str] = []
    minhash: MinHashConfig = MinHashConfig()

    @model_validator(mode="after")
    def _priority_needs_sources(self) -> DedupConfig:
        if self.keep_policy == "source_priority" and not self.source_priority:
            raise ValueError("keep_policy `source_priority` needs a `source_priority` list")
        return self
