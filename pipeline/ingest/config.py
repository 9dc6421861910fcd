"""Source configuration: one entry of the run config's `sources:` list.

The common fields say where a source's files are and what they are; per-format settings live in
small nested models (``limits``, ``web``, ``book``, ``code``, ``hf``) so every option stays typed
and a misspelt one is rejected by name. Every default carries its reason in a comment.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.ingest.formats import FORMATS
from pipeline.schema import Kind

#: A format name; the choices come from :data:`pipeline.ingest.formats.FORMAT_READERS`.
Format = Literal[FORMATS]  # type: ignore[valid-type]

MiB = 1 << 20


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReadLimits(_Options):
    """Bounds that keep memory and disk use finite whatever the input is."""

    # Text bytes per output partition: downstream stages load one partition at a time, and
    # 64 MiB of text keeps that well under a GB of memory while amortising per-task overhead.
    partition_bytes: int = Field(64 * MiB, ge=1)
    # Files smaller than this are read together, several to one unit of work, until the unit
    # holds about this many bytes on disk: a folder of 10,000 small files becomes a few tasks
    # and partitions, not 10,000 of each. 16 MiB amortises a task's fixed cost (a fraction of a
    # second) over seconds of reading while leaving a 100 MB source a few units per core.
    # 0 makes every file a unit of its own.
    batch_bytes: int = Field(16 * MiB, ge=0)
    # A JSON line longer than this is skipped as `too_long` without being held in memory; 32 MiB
    # is far beyond any real document line and far below what a worker can hold.
    max_line_bytes: int = Field(32 * MiB, ge=1)
    # One document (a book, a page, a file) longer than this is skipped as `too_long`, never cut:
    # the longest real book here (all of Python's docs as one Info file) is 19 MB.
    max_document_bytes: int = Field(64 * MiB, ge=1)
    # Decompressed / compressed bytes beyond which a stream is a decompression bomb: real text
    # compresses 3-10x (repetitive logs 100x); zlib's ceiling is ~1000x, which only bombs reach.
    max_expansion_ratio: float = Field(200.0, ge=1)
    # The ratio is judged only once this much has been decompressed: small, very regular files
    # (a page of spaces) may legitimately expand a lot.
    ratio_grace_bytes: int = Field(16 * MiB, ge=0)
    # Decompressed bytes of one file or archive member beyond which reading stops (a bomb that
    # keeps under the ratio still cannot fill the disk or run for hours).
    max_expanded_bytes: int = Field(16 << 30, ge=1)


class WebOptions(_Options):
    """`warc`, `wet` and `html`: how pages become text."""

    # resiliparse by measurement on the sample WARC (bench/RESULTS.md): about 20x faster than
    # trafilatura with comparable main-text recall; trafilatura stays selectable, and `builtin`
    # (the standard library parser, no boilerplate detection) needs no extra package.
    extractor: Literal["resiliparse", "trafilatura", "builtin"] = "resiliparse"
    # Keep only responses with status 200, as an HTTP client would show the page; redirects and
    # errors have no page text of their own.
    statuses: list[int] = Field(default_factory=lambda: [200])
    # Media types treated as HTML pages; everything else in a WARC (images, PDFs, scripts) is
    # not a document for this reader.
    html_types: list[str] = Field(default_factory=lambda: ["text/html", "application/xhtml+xml"])


class BookOptions(_Options):
    """`text` and `epub` sources of kind `book`: book-specific clean-up."""

    # Project Gutenberg texts carry a legal header and a long licence at the end; they are not
    # the book, and every Gutenberg book repeats them (near-duplicate noise for dedup).
    strip_gutenberg: bool = True
    # Line endings to \n, trailing spaces removed, runs of blank lines folded to one, NFC; these
    # carry no meaning in a book and vary between editions of the same text.
    normalize_whitespace: bool = True
    # Join hard-wrapped lines of a prose paragraph into one line. Off by default: verse, tables,
    # code and indented quotations carry meaning in their line breaks.
    unwrap_lines: bool = False


class CodeOptions(_Options):
    """`code` sources: which files of a tree, archive or checkout are documents."""

    # auto: a folder with `.git` is read as a checkout (tracked files only, as `git ls-files`
    # lists them); never: every file under the folder; always: fail if it is not a checkout.
    git: Literal["auto", "always", "never"] = "auto"
    # The Stack / StarCoder drop files over 1 MB: almost always data or generated code.
    max_file_bytes: int = Field(1 * MiB, ge=1)
    # Symlinks are not followed by default: a symlinked folder repeats files already read
    # (the sample code corpus had to remove such duplicates) and may point outside the tree.
    follow_symlinks: bool = False
    # Folder names whose files are third-party copies, not the repository's own code.
    vendored_dirs: list[str] = Field(
        default_factory=lambda: [
            "node_modules",
            "vendor",
            "_vendor",
            "vendored",
            "third_party",
            "thirdparty",
            "third-party",
            "bower_components",
            "site-packages",
            "__pycache__",
            ".venv",
            "venv",
            ".tox",
            "dist-packages",
        ]
    )
    # Extra extension -> language entries (".ext": "Language"), added to the built-in table.
    extra_extensions: dict[str, str] = Field(default_factory=dict)


class HFOptions(_Options):
    """`hf` sources: what to pass to `datasets.load_dataset`."""

    # A Hub dataset name ("user/name"), or a builder for local files ("json", "parquet",
    # "csv", "text", "arrow") when `paths` lists the files (each file is then one unit of work).
    dataset: str = Field(min_length=1)
    name: str | None = None  # the dataset's configuration (subset), if it has several
    split: str = "train"  # most datasets ship their pretraining text as `train`
    # Streaming reads rows as they download, with nothing cached on disk: the only way a
    # multi-terabyte Hub dataset fits a worker, and bounded memory for local files too.
    streaming: bool = True
    # Pin a Hub revision (commit) so reruns read the same rows; unpinned, an ingested copy is
    # reused until the config changes.
    revision: str | None = None


class SourceConfig(BaseModel):
    """Where one source's files are and what they are."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # used in ids and file names
    kind: Kind
    format: Format
    # Globs (relative ones resolve against the config file); folders for `html` and `code`;
    # empty only for an `hf` source that names a Hub dataset.
    paths: list[str] = Field(default_factory=list)
    license: str = "unknown"  # SPDX id or free text; shown on the data card
    weight: float = Field(1.0, ge=0)  # sampling weight when sources are mixed
    text_field: str = "text"  # jsonl / parquet / arrow / hf: the column holding the text
    id_field: str | None = None  # jsonl / parquet / arrow / hf: if set, the id is its value
    # `auto`: UTF-8 (or a byte-order mark's encoding) when the bytes are valid, else the best
    # guess of charset-normalizer -- files in the wild are not all UTF-8, and guessing beats
    # losing them. A codec name decodes strictly with that codec. JSON lines are UTF-8 by
    # their specification, so `jsonl` reads `auto` as strict UTF-8.
    encoding: str = "auto"
    limits: ReadLimits = ReadLimits()
    web: WebOptions = WebOptions()
    book: BookOptions = BookOptions()
    code: CodeOptions = CodeOptions()
    hf: HFOptions | None = None  # required for format `hf`

    @field_validator("paths")
    @classmethod
    def _no_empty_paths(cls, paths: list[str]) -> list[str]:
        if any(not p.strip() for p in paths):
            raise ValueError("empty path in `paths`")
        return paths

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        import codecs

        if encoding != "auto":
            try:
                codecs.lookup(encoding)
            except LookupError:
                raise ValueError(f"unknown encoding {encoding!r}") from None
        return encoding

    @model_validator(mode="after")
    def _format_needs(self) -> SourceConfig:
        if self.format == "hf":
            if self.hf is None:
                raise ValueError("format `hf` needs an `hf:` section with at least `dataset`")
        elif not self.paths:
            raise ValueError(f"format `{self.format}` needs `paths` (at least one glob)")
        return self
