"""Format ``wet``: one document per text ``conversion`` record of a WET file (the plain text
Common Crawl extracts from each page, gzip per record).

The text is the record's block (UTF-8, detected otherwise); URL, crawl date, ``WARC-Refers-To``
and Common Crawl's identified languages go with it, and the ``WARC-Record-ID`` is the location.
Other records (the leading ``warcinfo``) are not documents. Damage, and a file without any
record, are handled as for WARC files.
"""

from __future__ import annotations

from collections.abc import Iterator

from pipeline.ingest.encoding import Undecodable, decode
from pipeline.ingest.records import Record, Skipped, Unit, is_blank, make_document
from pipeline.ingest.warc import corrupt_skip, empty_file_skip, warc_meta
from pipeline.ingest.warc_records import Corrupt, RawRecord, iter_raw_records


def _conversion(unit: Unit, raw: RawRecord) -> Record:
    source, rel_path = unit.source, unit.rel_path
    location = raw.header("WARC-Record-ID") or f"{rel_path}:{raw.index}"
    url = raw.header("WARC-Target-URI")
    meta = {
        "location": location,
        **warc_meta(raw, rel_path),
        "content_type": (raw.header("Content-Type") or "").split(";")[0].strip(),
    }
    for name, key in (
        ("WARC-Refers-To", "warc_refers_to"),
        ("WARC-Identified-Content-Language", "identified_languages"),
    ):
        if raw.header(name):
            meta[key] = raw.header(name)
    if raw.too_long:
        cap = source.limits.max_document_bytes
        detail = f"{location}: text of {raw.length:,} bytes, more than max_document_bytes ({cap:,})"
        shown = raw.block[:4096].decode("utf-8", errors="replace")
        return Skipped(location, "too_long", shown, {**meta, "error": detail}, url=url)
    try:
        text, meta["encoding"] = decode(raw.block, source.encoding)
    except Undecodable as error:
        shown = raw.block.decode("utf-8", errors="replace")
        return Skipped(
            location, "undecodable", shown, {**meta, "error": f"{location}: {error}"}, url=url
        )
    text = text.strip()
    if is_blank(text):
        return Skipped(location, "empty", "", meta, url=url)
    return make_document(
        source.name, source.kind, location, text, path=rel_path, url=url, meta=meta
    )


def iter_records(unit: Unit) -> Iterator[Record]:
    """Yield one record per conversion record, one per damaged WARC record, and one
    ``empty_file`` record for a file without any record."""
    unit.opened(unit.path.stat().st_size)
    raw = None
    for raw in iter_raw_records(unit.path, unit.source.limits, unit.rel_path):
        if isinstance(raw, Corrupt):
            yield corrupt_skip(unit.rel_path, raw)
        elif (raw.header("WARC-Type") or "").lower() == "conversion":
            yield _conversion(unit, raw)
    if raw is None:
        yield empty_file_skip(unit.rel_path)
