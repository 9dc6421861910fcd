"""Format ``html``: one document per HTML file; a source path may be a file or a folder.

A folder is one unit of work (like a code tree, see :mod:`pipeline.ingest.trees`): its files are
listed in sorted order, ``.html``/``.htm``/``.xhtml`` files (optionally compressed, e.g.
``page.html.gz``) are pages, and every other file is accounted for as ``not_html``; symlinks are
not followed (``symlink``). Charset detection and main-text extraction are those of WARC pages
(:mod:`pipeline.ingest.html_pages`); there is no URL, and the location is the file's path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline.ingest.html_pages import page_record
from pipeline.ingest.records import Record, Skipped, Unit
from pipeline.ingest.text_files import read_document_bytes
from pipeline.ingest.trees import walk_folder

HTML_SUFFIXES = (".html", ".htm", ".xhtml")
COMPRESSED_SUFFIXES = ("", ".gz", ".zst", ".bz2", ".xz")


def is_html_name(name: str) -> bool:
    lower = name.lower()
    return any(lower.endswith(h + c) for h in HTML_SUFFIXES for c in COMPRESSED_SUFFIXES)


def _page(unit: Unit, path: Path, location: str) -> Record:
    unit.opened(path.stat().st_size)
    meta: dict[str, Any] = {"location": location}
    data = read_document_bytes(unit, path, location, meta)
    if not isinstance(data, Skipped):
        data = page_record(
            unit.source, data, None, location, location, None, {"bytes": meta["bytes"]}
        )
    return replace(data, path=location) if isinstance(data, Skipped) else data


def iter_records(unit: Unit) -> Iterator[Record]:
    """Yield one record per file (of the folder, or the one file)."""
    if not unit.path.is_dir():
        yield _page(unit, unit.path, unit.rel_path)
        return
    for entry in walk_folder(unit.path):
        location = f"{unit.rel_path}/{entry.rel}"
        if entry.kind != "file":
            reason = entry.kind
        elif not is_html_name(entry.rel):
            reason = "not_html"
        else:
            yield _page(unit, entry.path, location)
            continue
        yield Skipped(location, reason, "", {"location": location}, path=location)
