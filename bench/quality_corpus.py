"""The documents the quality benchmarks feed to both implementations, from ``../shared/data``.

* ``web``: the HTML pages of ``web/docs.warc.gz``, extracted with gristmill's own WARC reader
  (what the quality stage sees in a run);
* ``books``: each book of ``books/`` cut into pages of about 3000 characters at line ends (the
  first ``book_chars`` characters of each book, to bound the run time);
* ``langid``: the short prose items of ``langid/langid.jsonl.gz`` (81 languages);
* ``code``: the source files of ``code/code.jsonl.gz`` (punctuation-heavy: a hard case for word
  splitting).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PAGE_CHARS = 3000


def web_pages(data: Path) -> list[tuple[str, str]]:
    """(url, text) of every page the project's WARC reader extracts."""
    from pipeline.ingest.config import SourceConfig
    from pipeline.ingest.reader import ingest_file

    path = data / "web" / "docs.warc.gz"
    source = SourceConfig(name="web", kind="web", format="warc", paths=[str(path)])
    table = ingest_file(source, path, "web/docs.warc.gz").kept
    return list(zip(table.column("url").to_pylist(), table.column("text").to_pylist(), strict=True))


def book_pages(data: Path, book_chars: int = 1_500_000) -> list[tuple[str, str]]:
    """(book:page, text) pages of every book, each page ending at a line end."""
    out = []
    for path in sorted((data / "books").glob("*.txt.gz")):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
            text = handle.read(book_chars)
        page: list[str] = []
        size = 0
        for line in text.splitlines(keepends=True):
            page.append(line)
            size += len(line)
            if size >= PAGE_CHARS:
                out.append((f"{path.name}:{len(out)}", "".join(page)))
                page, size = [], 0
        if page:
            out.append((f"{path.name}:{len(out)}", "".join(page)))
    return out


def langid_items(data: Path) -> list[tuple[str, str]]:
    with gzip.open(data / "langid" / "langid.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [(item["id"], item["text"]) for item in map(json.loads, handle)]


def code_files(data: Path) -> list[tuple[str, str]]:
    with gzip.open(data / "code" / "code.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [(item["path"], item["text"]) for item in map(json.loads, handle)]


GROUPS = {"web": web_pages, "books": book_pages, "langid": langid_items, "code": code_files}
