"""Format ``warc``: one document per HTML page in a WARC file (gzip per record or plain).

Only ``response`` records with HTTP status 200 and an HTML content type are pages; everything
else in a WARC (requests, metadata, redirects, images, ...) is not a document and is passed
over without being counted. A page whose extracted text is empty is skipped as ``empty``. The
charset comes from the HTTP Content-Type header, else from a ``<meta charset>`` near the top of
the page, else UTF-8; bytes that do not decode become U+FFFD (web pages are often mislabelled,
and one bad byte should not lose a page). A damaged record (bad gzip member, broken headers)
ends the file with one ``corrupt_record``: after damage, record boundaries cannot be trusted.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord

from pipeline.ingest.compression import MemberStream
from pipeline.ingest.config import SourceConfig
from pipeline.ingest.html_text import html_to_text
from pipeline.ingest.records import Record, Skipped, make_document

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)



def _media_type_and_charset(content_type: str) -> tuple[str, str | None]:
    media_type, *params = content_type.split(";")
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'") or None
    return media_type.strip().lower(), charset


#: Labels the HTML standard decodes as windows-1252 (its superset), as browsers do.
_AS_WINDOWS_1252 = frozenset({"ascii", "latin-1", "iso8859-1"})


def _known_codec(name: str | None) -> str | None:
    """Python's name for a text encoding label, or None if it is unknown (or not text)."""
    if not name:
        return None
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True):  # rot13, base64, zlib: not charsets
        return None
    return "cp1252" if info.name in _AS_WINDOWS_1252 else info.name


def decode_html(body: bytes, header_charset: str | None) -> tuple[str, str]:
    """Decode a page's bytes; returns the text and the codec used."""
    charset = _known_codec(header_charset)
    if charset is None:
        found = _META_CHARSET.search(body[:4096])
        charset = _known_codec(found.group(1).decode("ascii") if found else None)
    charset = charset or "utf-8"
    return body.decode(charset, errors="replace"), charset


@dataclass(frozen=True)
class _HtmlResponse:
    """What the reader needs from one HTML response record."""

    record_id: str | None
    url: str | None
    date: str | None
    media_type: str
    header_charset: str | None
    body: bytes


#: Headers every WARC record has (WARC 1.1, section 5); a record without them was cut short.
MANDATORY_HEADERS = ("WARC-Record-ID", "Content-Length", "WARC-Date", "WARC-Type")


def _check_mandatory_headers(record: ArcWarcRecord) -> None:
    headers = record.rec_headers
    for name in MANDATORY_HEADERS:
        if not (headers.get_header(name) or "").strip():
            raise ValueError(f"no {name} header; expected the mandatory WARC headers")
    if not headers.get_header("Content-Length").strip().isdigit():
        raise ValueError(f"Content-Length {headers.get_header('Content-Length')!r} is not a number")


def _read_record(record: ArcWarcRecord) -> _HtmlResponse | None:
    """Read one WARC record to its end; return it if it is a 200 HTML response, else None.

    All of warcio's reading happens here (and in the iterator), so any exception raised here
    means the bytes are damaged, never a bug of the extraction that follows.
    """
    if record.format.startswith("warc"):
        _check_mandatory_headers(record)
    response: _HtmlResponse | None = None
    http = record.http_headers
    if record.rec_type == "response" and http is not None and http.get_statuscode() == "200":
        media_type, charset = _media_type_and_charset(http.get_header("Content-Type") or "")
        if media_type in HTML_TYPES:
            headers = record.rec_headers
            response = _HtmlResponse(
                record_id=headers.get_header("WARC-Record-ID"),
                url=headers.get_header("WARC-Target-URI"),
                date=headers.get_header("WARC-Date"),
                media_type=media_type,
                header_charset=charset,
                body=record.content_stream().read(),  # de-chunked and content-decoded
            )
    stream = record.raw_stream
    while stream.read(1 << 16):
        pass
    missing = getattr(stream, "limit", 0)  # a LimitReader counts what Content-Length promised
    if missing:
        raise EOFError(f"the file ends {missing} bytes before the record's Content-Length")
    return response


def _page(
    source: SourceConfig, response: _HtmlResponse, rel_path: str, index: int
) -> Record:
    """The document for one HTML response, or an ``empty`` skip if it has no text."""
    location = response.record_id or f"{rel_path}:{index}"
    html, charset = decode_html(response.body, response.header_charset)
    text = html_to_text(html)
    meta = {
        "location": location,
        "warc_file": rel_path,
        "warc_record_id": response.record_id,
        "warc_date": response.date,
        "content_type": response.media_type,
        "charset": charset,
        "html_bytes": len(response.body),
    }
    if not text:
        return Skipped(location, "empty", "", meta, url=response.url)
    return make_document(
        source.name, source.kind, location, text, path=rel_path, url=response.url, meta=meta
    )


def _corrupt(rel_path: str, index: int, error: Exception) -> Skipped:
    message = str(error)
    message = message if len(message) <= 120 else message[:120] + "..."
    location = f"{rel_path}:{index}"
    detail = (
        f"{location}: WARC record {index} is damaged ({type(error).__name__}: {message!r}); "
        "expected a whole WARC record, the rest of the file is not read"
    )
    return Skipped(location, "corrupt_record", "", {"location": location, "error": detail})


def iter_records(source: SourceConfig, path: Path, rel_path: str) -> Iterator[Record]:
    """Yield one record per HTML page; a damaged record's location is ``rel_path:index``."""
    index = 0  # WARC records read so far; on damage, the index of the damaged one
    with Path(path).open("rb") as handle:
        stream = MemberStream(handle, Path(path))
        try:
            archive = ArchiveIterator(stream)
            records = iter(archive)
        except Exception as error:
            yield _corrupt(rel_path, index, error)
            return
        while True:
            try:
                record = next(records, None)
                if record is None:
                    if stream.read(1) or stream.tell() > archive.offset:
                        raise EOFError("the file ends inside a record's headers")
                    return
                response = _read_record(record)
            except MemoryError:
                raise
            except Exception as error:  # warcio raises many types on damaged bytes
                yield _corrupt(rel_path, index, error)
                return
            if response is not None:
                yield _page(source, response, rel_path, index)
            index += 1
