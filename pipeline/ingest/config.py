"""Source configuration: one entry of the run config's `sources:` list."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Formats a source may name. `text`: one document per file (books, code files);
#: `jsonl` (optionally .gz): one document per line; `parquet`: one per row; `warc`: one per
#: HTML response record.
FORMATS = ("text", "jsonl", "parquet", "warc")


class SourceConfig(BaseModel):
    """Where one source's files are and what they are."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # used in ids and file names
    kind: Literal["web", "book", "code"]
    format: Literal["text", "jsonl", "parquet", "warc"]
    paths: list[str] = Field(min_length=1)  # globs; relative ones resolve against the config file
    license: str = "unknown"  # SPDX id or free text; shown on the data card
    weight: float = Field(1.0, ge=0)  # sampling weight when sources are mixed
    text_field: str = "text"  # jsonl / parquet: the column holding the text
    id_field: str | None = None  # jsonl / parquet: if set, the document id is this field's value
    encoding: str = "utf-8"  # text / jsonl: undecodable documents are dropped, never guessed at

    @field_validator("paths")
    @classmethod
    def _no_empty_paths(cls, paths: list[str]) -> list[str]:
        if any(not p.strip() for p in paths):
            raise ValueError("empty path in `paths`")
        return paths
