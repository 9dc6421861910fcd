"""Configuration of the quality stage (the run config's `quality:` section).

Defaults are the published thresholds of Gopher (Rae et al. 2021, "Scaling Language Models",
appendix A.1.1), as also used by datatrove's GopherQualityFilter.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pipeline.stage import KeepMode


class GopherQualityConfig(BaseModel):
    """Gopher quality rules; `None` disables a rule."""

    model_config = ConfigDict(extra="forbid")

    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    min_avg_word_length: float | None = 3
    max_avg_word_length: float | None = 10
    max_symbol_word_ratio: float | None = 0.1  # '#' and '...' per word
    max_bullet_lines_ratio: float | None = 0.9  # lines starting with a bullet
    max_ellipsis_lines_ratio: float | None = 0.3  # lines ending with an ellipsis
    min_alpha_words_ratio: float | None = 0.8  # words with at least one letter
    min_stop_words: int | None = 2  # of: the, be, to, of, and, that, have, with


class QualityConfig(BaseModel):
    """Which rule sets run on which kinds of document."""

    model_config = ConfigDict(extra="forbid")

    keep: KeepMode = "filter"
    gopher: GopherQualityConfig = GopherQualityConfig()
    # Gopher's rules are for prose; code gets its own rules in a later rule set.
    kinds: list[str] = Field(default_factory=lambda: ["web", "book"])
