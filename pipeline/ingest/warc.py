"""Format ``warc``: one document per HTML page in a WARC file (gzip per record, whole-file
compressed, or plain).

Only ``response`` records with an accepted HTTP status (200 by default) and an HTML content type
are pages; everything else in a WARC (requests, metadata, redirects, images, ...) is not a
document and is passed over without being counted. The page's URL (``WARC-Target-URI``), crawl
date (``WARC-Date``) and ``WARC-Record-ID`` are kept; the record id is the document's location,
so its id is stable. Text comes from the source's HTML extractor (:mod:`pipeline.ingest.
html_pages`). A damaged record becomes one ``corrupt_record`` and reading goes on with the next
readable record (:mod:`pipeline.ingest.warc_records`); a page longer than
``limits.max_document_bytes`` is skipped as ``too_long``; a file without a single WARC record
(empty, blank, or compressed nothing) is one ``empty_file`` record.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from warcio.archiveiterator import ArchiveIterator

from pipeline.ingest.config import SourceConfig
from pipeline.ingest.html_pages import decode_html, page_record
from pipeline.ingest.records import Record, Skipped, Unit
from pipeline.ingest.warc_records import Corrupt, RawRecord, iter_raw_records

__all__ = ["decode_html", "empty_file_skip", "iter_records", "warc_meta"]


def media_type_and_charset(content_type: str) -> tuple[str, str | None]:
    """``("text/html", "utf-8")`` from ``"text/html; charset=UTF-8"``."""
    media_type, *params = content_type.split(";")
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'") or None
    return media_type.strip().lower(), charset


@dataclass(frozen=True)
class _Http:
    status: int | None
    content_type: str
    body: bytes | None  # None when the record was too long to hold


def _http_head(block: bytes) -> _Http:
    """Status and Content-Type from the first bytes of an HTTP response (for too-long records)."""
    head = block.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    parts = head[0].split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    content_type = ""
    for line in head[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-type":
            content_type = value.strip().decode("latin-1")
    return _Http(status, content_type, None)


def _http(raw: RawRecord, cap: int) -> _Http:
    """The HTTP response in ``raw``: status, Content-Type and de-chunked, decoded body."""
    if raw.too_long:
        return _http_head(raw.block)
    data = raw.header_bytes + raw.block + b"\r\n\r\n"
    record = next(iter(ArchiveIterator(io.BytesIO(data))))
    http = record.http_headers
    if http is None:
        return _Http(None, "", None)
    status = http.get_statuscode()
    body = record.content_stream().read(cap + 1)
    return _Http(
        int(status) if status and status.isdigit() else None,
        http.get_header("Content-Type") or "",
        body,
    )


def warc_meta(raw: RawRecord, rel_path: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "warc_file": rel_path,
        "warc_record_id": raw.header("WARC-Record-ID"),
        "warc_date": raw.header("WARC-Date"),
    }
    if raw.header("WARC-Truncated"):
        meta["warc_truncated"] = raw.header("WARC-Truncated")
    return meta


def corrupt_skip(rel_path: str, corrupt: Corrupt) -> Skipped:
    location = f"{rel_path}:{corrupt.index}"
    message = corrupt.error if len(corrupt.error) <= 200 else corrupt.error[:200] + "..."
    detail = (
        f"{location}: WARC record {corrupt.index} is damaged ({message}); expected a "
        "whole WARC record; reading went on with the next readable record"
    )
    return Skipped(location, corrupt.reason, "", {"location": location, "error": detail})


def _page(source: SourceConfig, raw: RawRecord, rel_path: str) -> Record | None:
    cap = source.limits.max_document_bytes
    location = raw.header("WARC-Record-ID") or f"{rel_path}:{raw.index}"
    url = raw.header("WARC-Target-URI")
    try:
        http = _http(raw, cap)
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as error:  # warcio raises many types on damaged HTTP messages
        detail = f"{location}: the HTTP response cannot be read: {type(error).__name__}: {error}"
        return Skipped(
            location, "corrupt_record", "", {"location": location, "error": detail}, url=url
        )
    media_type, charset = media_type_and_charset(http.content_type)
    if http.status not in source.web.statuses or media_type not in source.web.html_types:
        return None  # not a page
    meta = {**warc_meta(raw, rel_path), "content_type": media_type}
    if http.body is None or len(http.body) > cap:
        length = raw.length if http.body is None else len(http.body)
        detail = f"{location}: page of {length:,} bytes, more than max_document_bytes ({cap:,})"
        return Skipped(
            location, "too_long", "", {"location": location, **meta, "error": detail}, url=url
        )
    return page_record(source, http.body, charset, location, rel_path, url, meta)


def empty_file_skip(rel_path: str) -> Skipped:
    """The record of a WARC or WET file that holds no record at all (empty, or blank)."""
    detail = f"{rel_path}: no WARC record in the file; expected WARC records"
    return Skipped(rel_path, "empty_file", "", {"location": rel_path, "error": detail})


def iter_records(unit: Unit) -> Iterator[Record]:
    """Yield one record per HTML page, one per damaged WARC record, and one ``empty_file``
    record for a file without any record."""
    source, rel_path = unit.source, unit.rel_path
    unit.opened(unit.path.stat().st_size)
    raw = None
    for raw in iter_raw_records(unit.path, source.limits, rel_path):
        if isinstance(raw, Corrupt):
            yield corrupt_skip(rel_path, raw)
        elif (raw.header("WARC-Type") or "").lower() == "response":
            record = _page(source, raw, rel_path)
            if record is not None:
                yield record
    if raw is None:
        yield empty_file_skip(rel_path)
