"""Format ``jsonl``: one document per line of JSON objects, gzip/zstd/bz2/xz read transparently.

The text comes from ``source.text_field``; the id from ``source.id_field`` when set, else from
the file and line number. String ``url`` and ``path`` fields fill those columns (``path``
falls back to the file's own name); every other field goes into ``meta``. Bad lines become
:class:`~pipeline.ingest.records.Skipped` and reading goes on with the next line; a truncated
stream keeps the lines read before the cut plus one ``truncated_gzip`` (``truncated_zstd``...)
record. A line longer than ``limits.max_line_bytes`` is skipped as ``too_long`` without ever
being held in memory whole. JSON lines are UTF-8 by their specification: ``encoding: auto``
reads them as strict UTF-8. Blank lines are not records and are passed over uncounted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pipeline.ingest.compression import LongLine, StreamDamage, iter_chunks, iter_lines
from pipeline.ingest.config import SourceConfig
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


def iter_records(unit: Unit) -> Iterator[Record]:
    """Yield one record per non-blank line of the file."""
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
                shown = raw.head.decode(encoding, errors="replace")
                yield _skip(location, "too_long", shown, detail)
                continue
            if not raw.strip():
                continue
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as error:
                detail = f"{location}: not valid {encoding} at byte {error.start}"
                shown = raw.decode(encoding, errors="replace")
                yield _skip(location, "undecodable", shown, detail)
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                detail = f"{location}: invalid JSON at column {error.colno}: {error.msg}"
                yield _skip(location, "invalid_json", line, detail)
                continue
            if not isinstance(record, dict):
                detail = f"{location}: expected a JSON object, got {type(record).__name__}"
                yield _skip(location, "invalid_json", line, detail)
                continue
            yield record_to_document(source, record, location, rel_path)
    except StreamDamage as damage:
        location = f"{rel_path}:{number + 1}"
        shown = damage.partial.decode(encoding, errors="replace")
        yield _skip(location, damage.reason, shown, str(damage))
