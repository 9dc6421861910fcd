"""One HTML page to one document: charset detection, main-text extraction, the skip reasons.

Shared by the ``warc`` reader (pages from HTTP responses) and the ``html`` reader (pages from
files). The charset is taken, in this order, from a byte-order mark, the HTTP ``Content-Type``
header, a ``<meta charset>`` near the top of the page, valid UTF-8, and charset-normalizer's
guess; failing all of them windows-1252, the web's historical default. Bytes that do not decode
become U+FFFD (web pages are often mislabelled, and one bad byte should not lose a page).
"""

from __future__ import annotations

import codecs
import re
from functools import cache
from typing import Any

from pipeline.ingest.config import SourceConfig
from pipeline.ingest.encoding import bom_codec, guess_codec, lenient_decode
from pipeline.ingest.html_extract import extract_text
from pipeline.ingest.records import Record, Skipped, make_document
from pipeline.ingest.text_files import looks_binary

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
#: Labels the HTML standard decodes as windows-1252 (its superset), as browsers do.
_AS_WINDOWS_1252 = frozenset({"ascii", "latin-1", "iso8859-1"})
#: Where a page's `<meta charset>` must be (the HTML standard looks at the first 1024 bytes;
#: real pages put long scripts first, so a little more).
META_PROBE_BYTES = 4096


@cache
def _decodes_anything(codec: str) -> bool:
    """True if ``codec`` turns any bytes into text, undecodable ones into U+FFFD."""
    try:
        b"\xff\xfe\x00a\x80".decode(codec, errors="replace")
    except (UnicodeError, ValueError):
        return False
    return True


def known_codec(name: str | None) -> str | None:
    """Python's name for a text encoding label, or None if it is unknown (or not text)."""
    if not name:
        return None
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        return None
    if not getattr(info, "_is_text_encoding", True):  # rot13, base64, zlib: not charsets
        return None
    if not _decodes_anything(info.name):  # idna, punycode, undefined: not page charsets
        return None
    return "cp1252" if info.name in _AS_WINDOWS_1252 else info.name


def decode_html(body: bytes, header_charset: str | None) -> tuple[str, str]:
    """Decode a page's bytes; returns the text and the codec used."""
    charset = bom_codec(body) or known_codec(header_charset)
    if charset is None:
        found = _META_CHARSET.search(body[:META_PROBE_BYTES])
        charset = known_codec(found.group(1).decode("ascii") if found else None)
    if charset is None:
        try:
            return body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            charset = guess_codec(body) or "cp1252"
    return lenient_decode(body, charset).removeprefix("\ufeff"), charset


def page_record(
    source: SourceConfig,
    body: bytes,
    header_charset: str | None,
    location: str,
    path: str,
    url: str | None,
    meta: dict[str, Any],
) -> Record:
    """The document for one page, or the skip (``too_long``, ``binary``, ``extract_failed``,
    ``empty``)."""
    meta = {"location": location, **meta, "html_bytes": len(body)}
    cap = source.limits.max_document_bytes
    if len(body) > cap:
        detail = f"{location}: page of {len(body):,} bytes, more than max_document_bytes ({cap:,})"
        shown = body[:4096].decode("utf-8", errors="replace")
        return Skipped(location, "too_long", shown, {**meta, "error": detail}, url=url)
    html, charset = decode_html(body, header_charset)
    meta["charset"] = charset
    if looks_binary(html):  # an image or archive under a page's name or content type
        detail = f"{location}: NUL characters in the page; expected HTML"
        return Skipped(location, "binary", html[:4096], {**meta, "error": detail}, url=url)
    extractor = source.web.extractor
    meta["extractor"] = extractor
    try:
        text = extract_text(html, extractor, url)
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as error:  # an engine's parser failing on one page must not end the file
        detail = f"{location}: {extractor} failed on this page: {type(error).__name__}: {error}"
        return Skipped(location, "extract_failed", html[:4096], {**meta, "error": detail}, url=url)
    if not text:
        return Skipped(location, "empty", "", meta, url=url)
    return make_document(source.name, source.kind, location, text, path=path, url=url, meta=meta)
