"""Format ``text``: one document per file (books, single files), compression read transparently.

The bytes are decoded as the source's ``encoding`` says (``auto``: detected, see
:mod:`pipeline.ingest.encoding`). For sources of kind ``book`` the Gutenberg boilerplate is
removed and whitespace normalised (:mod:`pipeline.ingest.books`). A file that does not decode,
looks binary (see :func:`looks_binary`), is empty, longer than ``limits.max_document_bytes``
(skipped as ``too_long``, never cut), a decompression bomb, or a truncated or corrupt compressed
stream becomes a :class:`~pipeline.ingest.records.Skipped` record carrying the text as far as
it could be read, so it can be inspected.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.ingest.books import normalize_whitespace, strip_gutenberg, unwrap_lines
from pipeline.ingest.compression import read_bounded
from pipeline.ingest.config import SourceConfig
from pipeline.ingest.encoding import Undecodable, decode, lenient_decode
from pipeline.ingest.records import Record, Skipped, Unit, is_blank, make_document

#: git's rule for "binary": a NUL among the first 8000 characters (after ``buffer_is_binary``).
BINARY_PROBE_CHARS = 8000
#: ...or NULs beyond one per thousand characters anywhere.
BINARY_NUL_RATIO = 0.001
#: What a skipped record keeps of a text too long to hold, for inspection.
SHOWN_CHARS = 4096


def looks_binary(text: str) -> bool:
    """True if ``text`` has a NUL early on, or many of them.

    A few NULs deep inside a long text are not binary: GNU Info manuals mark their index nodes
    with ``\\0\\b[index\\0\\b]``, and dropping a whole book for that would lose it. Such control
    characters are left for the quality stage.
    """
    nuls = text.count("\x00")
    if not nuls:
        return False
    return "\x00" in text[:BINARY_PROBE_CHARS] or nuls > BINARY_NUL_RATIO * len(text)


def decode_text(
    data: bytes, encoding: str, location: str, meta: dict[str, Any]
) -> tuple[str, str] | Skipped:
    """``(text, codec)`` of a whole-document byte string, or the skip that explains why not."""
    try:
        text, codec = decode(data, encoding)
    except Undecodable as error:
        shown = lenient_decode(data, error.codec)
        reason = "binary" if looks_binary(shown) else "undecodable"
        return Skipped(location, reason, shown, {**meta, "error": f"{location}: {error}"})
    if looks_binary(text):
        detail = f"{location}: NUL characters in text; expected a text file"
        return Skipped(location, "binary", text, {**meta, "error": detail})
    return text, codec


def clean_book(source: SourceConfig, text: str, meta: dict[str, Any]) -> str:
    """Apply the source's book options to ``text``; note what was removed in ``meta``."""
    options = source.book
    if options.strip_gutenberg:
        text, removed = strip_gutenberg(text)
        if removed is not None:
            meta["gutenberg"] = removed
    if options.normalize_whitespace:
        text = normalize_whitespace(text)
    if options.unwrap_lines:
        text = unwrap_lines(text)
    return text


def whole_file_record(
    source: SourceConfig, rel_path: str, text: str, meta: dict[str, Any]
) -> Record:
    """The record of a file that is one document: book options applied, blank text skipped."""
    if source.kind == "book":
        text = clean_book(source, text, meta)
    if is_blank(text):
        return Skipped(rel_path, "empty", text, meta)
    return make_document(source.name, source.kind, rel_path, text, path=rel_path, meta=meta)


def read_document_bytes(
    unit: Unit, path: Path, location: str, meta: dict[str, Any]
) -> bytes | Skipped:
    """The decompressed bytes of one whole-file document, or the skip that explains why not."""
    limits = unit.source.limits
    data, total, damage = read_bounded(path, limits, location, limits.max_document_bytes)
    meta["bytes"] = total
    if damage is not None:
        shown = data.decode("utf-8", errors="replace")
        return Skipped(location, damage.reason, shown, {**meta, "error": str(damage)})
    if total > limits.max_document_bytes:
        shown = data[:SHOWN_CHARS].decode("utf-8", errors="replace")
        detail = (
            f"{location}: {total:,} bytes, more than max_document_bytes "
            f"({limits.max_document_bytes:,}); skipped whole, never cut"
        )
        return Skipped(location, "too_long", shown, {**meta, "error": detail})
    return data


def iter_records(unit: Unit) -> Iterator[Record]:
    """Yield the file's one document, or one :class:`Skipped` saying why there is none."""
    source, rel_path = unit.source, unit.rel_path
    unit.opened(unit.path.stat().st_size)
    meta: dict[str, Any] = {"location": rel_path}
    data = read_document_bytes(unit, unit.path, rel_path, meta)
    if isinstance(data, Skipped):
        yield data
        return
    decoded = decode_text(data, source.encoding, rel_path, meta)
    if isinstance(decoded, Skipped):
        yield decoded
        return
    text, meta["encoding"] = decoded
    yield whole_file_record(source, rel_path, text, meta)
