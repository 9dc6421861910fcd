"""Format ``text``: one document per file (books, single source files), gzip read transparently.

The text is decoded strictly with the source's ``encoding``; nothing is guessed. A file that
does not decode, looks binary (see :func:`looks_binary`), is empty or whitespace-only, or is a
truncated or corrupt gzip stream becomes a :class:`~pipeline.ingest.records.Skipped` record
carrying the text as far as it could be read (decoded with replacement characters), so it can
be inspected.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipeline.ingest.compression import CorruptGzip, TruncatedGzip, read_prefix
from pipeline.ingest.config import SourceConfig
from pipeline.ingest.records import Record, Skipped, is_blank, make_document

#: git's rule for "binary": a NUL among the first 8000 characters (after ``buffer_is_binary``).
BINARY_PROBE_CHARS = 8000
#: ...or NULs beyond one per thousand characters anywhere.
BINARY_NUL_RATIO = 0.001


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


def iter_records(source: SourceConfig, path: Path, rel_path: str) -> Iterator[Record]:
    """Yield the file's one document, or one :class:`Skipped` saying why there is none."""
    data, damage = read_prefix(path)
    meta = {"location": rel_path, "bytes": len(data)}
    if isinstance(damage, TruncatedGzip):
        text = data.decode(source.encoding, errors="replace")
        yield Skipped(rel_path, "truncated_gzip", text, {**meta, "error": str(damage)})
        return
    if isinstance(damage, CorruptGzip):
        text = data.decode(source.encoding, errors="replace")
        yield Skipped(rel_path, "corrupt_gzip", text, {**meta, "error": str(damage)})
        return
    try:
        text = data.decode(source.encoding)
    except UnicodeDecodeError as error:
        text = data.decode(source.encoding, errors="replace")
        reason = "binary" if looks_binary(text) else "undecodable"
        detail = f"{rel_path}: not valid {source.encoding} at byte {error.start}: {error.reason}"
        yield Skipped(rel_path, reason, text, {**meta, "error": detail})
        return
    if looks_binary(text):
        detail = f"{rel_path}: NUL characters in text; expected a text file"
        yield Skipped(rel_path, "binary", text, {**meta, "error": detail})
        return
    text = text.removeprefix("\ufeff")  # a byte-order mark is not part of the text
    if is_blank(text):
        yield Skipped(rel_path, "empty", text, meta)
        return
    yield make_document(source.name, source.kind, rel_path, text, path=rel_path, meta=meta)
