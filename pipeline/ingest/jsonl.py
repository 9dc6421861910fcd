"""Format ``jsonl``: one document per line of JSON objects, gzip/zstd/bz2/xz read transparently.

The text comes from ``source.text_field``; the id from ``source.id_field`` when set, else from
the file and line number. String ``url`` and ``path`` fields fill those columns (``path``
falls back to the file's own name); every other field goes into ``meta``. Bad lines become
:class:`~pipeline.ingest.records.Skipped` and reading goes on with the next line; a truncated
stream keeps the lines read before the cut plus one ``truncated_gzip`` (``truncated_zstd``...)
record. A line longer than ``limits.max_line_bytes`` is skipped as ``too_long`` without ever
being held in memory whole. JSON lines are UTF-8 by their specification: ``encoding: auto``
reads them as strict UTF-8, and a ``\\ud800``-style escape of a lone surrogate (no Unicode
character, so no UTF-8 either) makes the line ``undecodable``. JSON nested beyond the parser's
depth or holding an integer beyond Python's digit limit is ``invalid_json``. Nothing vanishes
uncounted: a blank line is one ``blank_line`` record, and a file without a single line (empty,
or compressed nothing) is one ``empty_file`` record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pipeline.ingest.compression import LongLine, StreamDamage, iter_chunks, iter_lines
from pipeline.ingest.config import SourceConfig
from pipeline.ingest.encoding import lenient_decode
from pipeline.ingest.records import Record, Skipped, Unit, is_blank, make_document


def record_to_document(
    source: SourceConfig, record: dict[str, Any], location: str, rel_path: str
) -> Record:
    """Turn one parsed record (a JSON object or a Parquet row) into a document or a skip.

    Shared by the ``jsonl``, ``parquet``, ``arrow`` and ``hf`` readers so all apply the same
    rules.
    """
    text = record.get(source.text_field)
    raw_url, raw_path = record.get("url"), record.get("path")
    url = raw_url if isinstance(raw_url, str) else None
    meta: dict[str, Any] = {"location": location}
    for key, value in record.items():
        if key in (source.text_field, source.id_field) or (
            (key == "url" and url is not None) or (key == "path" and isinstance(raw_path, str))
        ):
            continue
        meta[key] = value
    shown = text if isinstance(text, str) else ""
    ident: str | None = None
    if source.id_field is not None:
        value = record.get(source.id_field)
        if value is None or value == "":
            detail = f"{location}: no value in id field {source.id_field!r}"
            return Skipped(location, "missing_id", shown, {**meta, "error": detail}, url=url)
        ident = str(value)
    if not isinstance(text, str):
        if source.text_field not in record:
            found = "absent"
        else:
            found = "null" if text is None else f"of type {type(text).__name__}"
        detail = f"{location}: text field {source.text_field!r} is {found}, expected a string"
        return Skipped(location, "missing_text", "", {**meta, "error": detail}, ident, url)
    if is_blank(text):
        return Skipped(location, "empty", text, meta, ident, url)
    cap = source.limits.max_document_bytes
    if len(text) * 4 > cap and len(text.encode()) > cap:
        detail = f"{location}: text longer than max_document_bytes ({cap:,}); skipped, never cut"
        return Skipped(location, "too_long", text[:4096], {**meta, "error": detail}, ident, url)
    return make_document(
        source.name,
        source.kind,
        location,
        text,
        path=raw_path if isinstance(raw_path, str) else rel_path,
        url=url,
        id=ident,
        meta=meta,
    )


def _skip(location: str, reason: str, text: str, detail: str) -> Skipped:
    return Skipped(location, reason, text, {"location": location, "error": detail})


def _parse(line: str) -> Any:
    """The JSON value of ``line``; raises :class:`ValueError` with a message saying why not."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"invalid JSON at column {error.colno}: {error.msg}") from None
    except RecursionError:
        raise ValueError("invalid JSON: nested deeper than the parser allows") from None
    except ValueError as error:  # an integer beyond Python's digit limit, for one
        raise ValueError(f"invalid JSON: {error}") from None


def _has_lone_surrogate(record: dict[str, Any], line: str) -> bool:
    """True if a ``\\uXXXX`` escape in ``line`` decoded to half a surrogate pair."""
    if "\\u" not in line:  # only escapes can make surrogates in text that is valid UTF-8
        return False
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def iter_records(unit: Unit) -> Iterator[Record]:
    """Yield one record per line of the file (one ``empty_file`` record if it has none)."""
    source, rel_path, limits = unit.source, unit.rel_path, unit.source.limits
    encoding = "utf-8" if source.encoding == "auto" else source.encoding
    unit.opened(unit.path.stat().st_size)
    number = 0
    lines = iter_lines(iter_chunks(unit.path, limits, rel_path), limits.max_line_bytes)
    try:
        for number, raw in enumerate(lines, start=1):
            location = f"{rel_path}:{number}"
            if isinstance(raw, LongLine):
                detail = (
                    f"{location}: line of {raw.length:,} bytes, more than max_line_bytes "
                    f"({limits.max_line_bytes:,})"
                )
                shown = lenient_decode(raw.head, encoding)
                yield _skip(location, "too_long", shown, detail)
                continue
            if not raw.strip():
                yield _skip(location, "blank_line", "", f"{location}: blank line; expected JSON")
                continue
            try:
                line = raw.decode(encoding)
            except UnicodeError as error:  # codecs such as idna raise the base class
                at = f"at byte {error.start}" if isinstance(error, UnicodeDecodeError) else error
                detail = f"{location}: not valid {encoding} {at}"
                yield _skip(location, "undecodable", lenient_decode(raw, encoding), detail)
                continue
            try:
                record = _parse(line)
            except ValueError as error:
                yield _skip(location, "invalid_json", line, f"{location}: {error}")
                continue
            if not isinstance(record, dict):
                detail = f"{location}: expected a JSON object, got {type(record).__name__}"
                yield _skip(location, "invalid_json", line, detail)
                continue
            if _has_lone_surrogate(record, line):
                detail = f"{location}: a \\u escape of a lone surrogate, which is no character"
                yield _skip(location, "undecodable", line, detail)
                continue
            yield record_to_document(source, record, location, rel_path)
    except StreamDamage as damage:
        location = f"{rel_path}:{number + 1}"
        shown = lenient_decode(damage.partial, encoding)
        yield _skip(location, damage.reason, shown, str(damage))
        return
    if number == 0:
        yield _skip(rel_path, "empty_file", "", f"{rel_path}: no lines; expected JSON lines")
