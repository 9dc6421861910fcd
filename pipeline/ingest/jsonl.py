"""Format ``jsonl``: one document per line of JSON objects, gzip read transparently.

The text comes from ``source.text_field``; the id from ``source.id_field`` when set, else from
the file and line number. String ``url`` and ``path`` fields fill those columns (``path``
falls back to the file's own name); every other field goes into ``meta``. Bad lines become
:class:`~pipeline.ingest.records.Skipped` and reading goes on with the next line; a truncated
gzip stream keeps the lines read before the cut plus one ``truncated_gzip`` record.
Blank lines are not records and are passed over without being counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.ingest.compression import CorruptGzip, TruncatedGzip, iter_lines
from pipeline.ingest.config import SourceConfig
from pipeline.ingest.records import Record, Skipped, is_blank, make_document


def record_to_document(
    source: SourceConfig, record: dict[str, Any], location: str, rel_path: str
) -> Record:
    """Turn one parsed record (a JSON object or a Parquet row) into a document or a skip.

    Shared by the ``jsonl`` and ``parquet`` readers so both apply the same rules.
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


def iter_records(source: SourceConfig, path: Path, rel_path: str) -> Iterator[Record]:
    """Yield one record per non-blank line of the file."""
    number = 0
    try:
        for number, raw in enumerate(iter_lines(path), start=1):
            if not raw.strip():
                continue
            location = f"{rel_path}:{number}"
            try:
                line = raw.decode(source.encoding)
            except UnicodeDecodeError as error:
                detail = f"{location}: not valid {source.encoding} at byte {error.start}"
                shown = raw.decode(source.encoding, errors="replace")
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
    except TruncatedGzip as error:
        location = f"{rel_path}:{number + 1}"
        shown = error.partial.decode(source.encoding, errors="replace")
        yield _skip(location, "truncated_gzip", shown, str(error))
    except CorruptGzip as error:
        location = f"{rel_path}:{number + 1}"
        yield _skip(location, "corrupt_gzip", "", str(error))
