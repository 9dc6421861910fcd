"""Hostile inputs: a corpus of bad files, built here, is read to the end.

Every bad record is skipped with its reason and counted, the good records beside it in the same
file survive, and the whole chain up to ``quality`` runs over the corpus with
``in = kept + dropped`` at every stage. The corpus: empty files and blank lines, truncated and
corrupt gzip/zstd, binary files under text names, invalid JSON lines and a 50 MB line, WARC
garbage and invalid headers, HTML nested 10,000 levels deep, huge attribute values, mixed
encodings in one file, zero-width and bidirectional control characters, and archives whose
members escape.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import tarfile
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tests.corpus_fixtures import english_doc, write_config
from tests.ingest_helpers import check_accounting, ingest, kept_rows, source

RNG = random.Random(11)
PROSE = [english_doc(RNG) for _ in range(12)]
#: Zero-width, bidirectional and C0 control characters, and line separators JSON may carry.
CONTROLS = (
    "The miller\u200b carried\u200c the\u200d heavy\u2060 stones\ufeff before the rain. "
    "\u202eREVERSED\u202c and \u2066isolated\u2069 words\u200e\u200f, \u061cmarks; "
    "a bell\x07, an escape\x1b[31m, a line\u2028separator\u2029and\u0085next."
)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
#: Bytes without a newline that are not UTF-8.
NO_NEWLINE_BINARY = bytes(b for b in range(256) if b != 0x0A) * 4
NESTING = 10_000
BIG_LINE_BYTES = 50 << 20
BIG_ATTRIBUTE_BYTES = 5_000_000
ZSTD = zstandard.ZstdCompressor()


@dataclass(frozen=True)
class Hostile:
    """One bad file: where it is, how it is read, and what reading it must give."""

    name: str  # relative to the corpus root; its first folder is its format
    kind: str
    dropped: dict[str, int]  # exactly these reasons and counts
    kept: tuple[str, ...]  # each kept document contains these, in order (one per document)

    @property
    def format(self) -> str:
        return self.name.split("/", 1)[0]


def _write(root: Path, name: str, data: bytes) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _jsonl(*texts: str) -> bytes:
    return "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts).encode()


def _page(body: str, head: str = "") -> str:
    return f"<html><head>{head}</head><body><article>{body}</article></body></html>"


def _nested(text: str) -> str:
    return "<div>" * NESTING + f"<p>{text}</p>" + "</div>" * NESTING


def _attribute(text: str) -> str:
    return f'<p data-blob="{"A" * BIG_ATTRIBUTE_BYTES}" title="{"t" * 1000}">{text}</p>'


# -- JSON lines ----------------------------------------------------------------------------------


def jsonl_empty(root: Path) -> Hostile:
    _write(root, "jsonl/empty.jsonl", b"")
    return Hostile("jsonl/empty.jsonl", "web", {"empty_file": 1}, ())


def jsonl_empty_gzip(root: Path) -> Hostile:
    _write(root, "jsonl/empty.jsonl.gz", gzip.compress(b"", mtime=0))
    return Hostile("jsonl/empty.jsonl.gz", "web", {"empty_file": 1}, ())


def jsonl_blank_lines(root: Path) -> Hostile:
    good = _jsonl(PROSE[0]).decode()
    data = f"\n{good}   \t\n\r\n{_jsonl(PROSE[1]).decode()}\n".encode()
    _write(root, "jsonl/blank-lines.jsonl", data)
    return Hostile("jsonl/blank-lines.jsonl", "web", {"blank_line": 4}, (PROSE[0], PROSE[1]))


def jsonl_truncated_gzip(root: Path) -> Hostile:
    # A second gzip member of one long line, cut: the lines of the first member all survive.
    cut = gzip.compress(b'{"text": "' + b"x" * 200_000, mtime=0)[:-100]
    _write(root, "jsonl/truncated.jsonl.gz", gzip.compress(_jsonl(*PROSE[:2]), mtime=0) + cut)
    return Hostile("jsonl/truncated.jsonl.gz", "web", {"truncated_gzip": 1}, tuple(PROSE[:2]))


def jsonl_corrupt_gzip(root: Path) -> Hostile:
    garbled = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\xff" * 64  # invalid block type
    _write(root, "jsonl/corrupt.jsonl.gz", gzip.compress(_jsonl(*PROSE[:2]), mtime=0) + garbled)
    return Hostile("jsonl/corrupt.jsonl.gz", "web", {"corrupt_gzip": 1}, tuple(PROSE[:2]))


def jsonl_truncated_zstd(root: Path) -> Hostile:
    cut = ZSTD.compress(b'{"text": "' + bytes(RNG.randbytes(50_000).hex(), "ascii"))[:-50]
    _write(root, "jsonl/truncated.jsonl.zst", ZSTD.compress(_jsonl(*PROSE[:2])) + cut)
    return Hostile("jsonl/truncated.jsonl.zst", "web", {"truncated_zstd": 1}, tuple(PROSE[:2]))


def jsonl_corrupt_zstd(root: Path) -> Hostile:
    garbled = b"\x28\xb5\x2f\xfd" + b"\xff" * 64  # a frame header, then a reserved block type
    _write(root, "jsonl/corrupt.jsonl.zst", ZSTD.compress(_jsonl(*PROSE[:2])) + garbled)
    return Hostile("jsonl/corrupt.jsonl.zst", "web", {"corrupt_zstd": 1}, tuple(PROSE[:2]))


def jsonl_binary(root: Path) -> Hostile:
    # Lines: "\x89PNG" (not UTF-8), "\x1a" (not JSON), the rest of the header (not UTF-8), a
    # good line, and binary without a newline (not UTF-8).
    data = PNG[:16] + NO_NEWLINE_BINARY + b"\n" + _jsonl(PROSE[2]) + NO_NEWLINE_BINARY
    _write(root, "jsonl/image.jsonl", data)
    return Hostile("jsonl/image.jsonl", "web", {"undecodable": 3, "invalid_json": 1}, (PROSE[2],))


def jsonl_invalid(root: Path) -> Hostile:
    lines = [
        '{"text": "broken',
        "[1, 2, 3]",
        '"just a string"',
        "[" * 100_000 + "]" * 100_000,  # deeper than the parser allows
        '{"text": "deep", "meta": ' + '{"a": ' * 5_000 + "1" + "}" * 5_000 + "}",
        '{"text": "huge number", "n": ' + "9" * 5_000 + "}",  # beyond int's digit limit
        '{"text": "half a \\ud800 pair"}',  # a lone surrogate: no character at all
        '{"text": "key", "\\udfff": 1}',
        '{"text": "a whole pair \\ud83d\\ude00 is fine"}',
        '{"text": null}',
        '{"text": "   "}',
        json.dumps({"text": PROSE[3]}),
    ]
    _write(root, "jsonl/invalid.jsonl", ("\n".join(lines) + "\n").encode())
    dropped = {"invalid_json": 6, "undecodable": 2, "missing_text": 1, "empty": 1}
    return Hostile("jsonl/invalid.jsonl", "web", dropped, ("pair \U0001f600 is", PROSE[3]))


def jsonl_50_mb_line(root: Path) -> Hostile:
    path = root / "jsonl/long-line.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    block = b"a" * (1 << 20)
    with path.open("wb") as handle:
        handle.write(_jsonl(PROSE[4]) + b'{"text": "')
        for _ in range(BIG_LINE_BYTES // len(block)):
            handle.write(block)
        handle.write(b'"}\n' + _jsonl(PROSE[5]))
    return Hostile("jsonl/long-line.jsonl", "web", {"too_long": 1}, (PROSE[4], PROSE[5]))


def jsonl_mixed_encodings(root: Path) -> Hostile:
    data = (
        _jsonl("un café crème")
        + '{"text": "caf\xe9 latin-1"}\n'.encode("latin-1")
        + '{"text": "\u201ccp1252 quotes\u201d"}\n'.encode("cp1252")
        + '{"text": "日本語"}\n'.encode("shift_jis")
        + _jsonl(PROSE[6])
        + '{"text": "utf-16"}\n'.encode("utf-16")  # its "\n" is followed by a NUL: one more line
    )
    _write(root, "jsonl/mixed-encodings.jsonl", data)
    dropped = {"undecodable": 4, "invalid_json": 1}
    return Hostile("jsonl/mixed-encodings.jsonl", "web", dropped, ("un café crème", PROSE[6]))


def jsonl_controls(root: Path) -> Hostile:
    _write(root, "jsonl/controls.jsonl", _jsonl(CONTROLS, PROSE[7] + "\u200b\u202e"))
    return Hostile("jsonl/controls.jsonl", "web", {}, (CONTROLS, PROSE[7] + "\u200b\u202e"))


# -- whole-file text ------------------------------------------------------------------------------


def text_empty(root: Path) -> Hostile:
    _write(root, "text/empty.txt", b"")
    return Hostile("text/empty.txt", "book", {"empty": 1}, ())


def text_blank(root: Path) -> Hostile:
    _write(root, "text/blank.txt", b"\n\n \t \r\n\n")
    return Hostile("text/blank.txt", "book", {"empty": 1}, ())


def text_binary(root: Path) -> Hostile:
    _write(root, "text/photo.txt", PNG)
    return Hostile("text/photo.txt", "book", {"binary": 1}, ())


def text_truncated_gzip(root: Path) -> Hostile:
    _write(root, "text/truncated.txt.gz", gzip.compress(PROSE[8].encode() * 20, mtime=0)[:-40])
    return Hostile("text/truncated.txt.gz", "book", {"truncated_gzip": 1}, ())


def text_corrupt_zstd(root: Path) -> Hostile:
    _write(root, "text/corrupt.txt.zst", b"\x28\xb5\x2f\xfd" + b"\xff" * 64)
    return Hostile("text/corrupt.txt.zst", "book", {"corrupt_zstd": 1}, ())


def text_mixed_encodings(root: Path) -> Hostile:
    data = PROSE[8].encode() + b"\n\n" + "Caf\xe9 cr\xe8me br\xfbl\xe9e.\n".encode("latin-1") * 20
    _write(root, "text/mixed-encodings.txt", data)
    return Hostile("text/mixed-encodings.txt", "book", {}, (PROSE[8][:40],))


def text_controls(root: Path) -> Hostile:
    _write(root, "text/controls.txt", (CONTROLS + "\n\n" + PROSE[9]).encode())
    return Hostile("text/controls.txt", "book", {}, ("\u202eREVERSED\u202c",))


# -- WARC and WET ---------------------------------------------------------------------------------


def _response(writer: WARCWriter, uri: str, body: bytes, content_type: str) -> bytes:
    headers = StatusAndHeaders("200 OK", [("Content-Type", content_type)], protocol="HTTP/1.1")
    record = writer.create_warc_record(
        uri, "response", payload=io.BytesIO(body), http_headers=headers
    )
    buffer = io.BytesIO()
    WARCWriter(buffer, gzip=writer.gzip).write_record(record)
    return buffer.getvalue()


def _raw_warc(headers: str) -> bytes:
    return (headers.replace("\n", "\r\n") + "\r\n\r\n").encode()


def warc_hostile(root: Path) -> Hostile:
    writer = WARCWriter(io.BytesIO(), gzip=True)
    html = "text/html; charset=utf-8"

    def page(n: int, body: str, content_type: str = html) -> bytes:
        return _response(writer, f"https://w.invalid/{n}", body.encode(), content_type)

    missing_headers = "WARC/1.0\nWARC-Type: response\nContent-Length: 0"
    odd_length = (
        "WARC/1.0\nWARC-Type: response\nWARC-Record-ID: <urn:uuid:odd>\n"
        "WARC-Date: 2024-01-01T00:00:00Z\nContent-Length: \u00b2"
    )
    # Each damage follows a good record: damage right after damage is one damaged stretch.
    members = [
        page(0, _page(f"<p>{PROSE[0]}</p>")),
        gzip.compress(b"this is no WARC record\r\n\r\nat all", mtime=0),
        page(1, _page(_nested(PROSE[1]))),
        b"GARBAGE!" * 100,  # not even gzip: reading resumes at the next record
        gzip.compress(_raw_warc(missing_headers), mtime=0),
        page(2, _page(_attribute(PROSE[2]))),
        gzip.compress(_raw_warc(odd_length), mtime=0),  # "²" is a digit, but not a number
        page(3, _page(f"<p>{PROSE[3]}</p>"), "text/html; charset=idna"),
        page(4, _page(f"<p>{CONTROLS}</p><p>{PROSE[4]}</p>")),
        _response(writer, "https://w.invalid/png", PNG, html),  # an image sent as HTML
    ]
    last = page(5, _page(f"<p>{PROSE[5]}</p>"))
    _write(root, "warc/hostile.warc.gz", b"".join(members) + last[: len(last) // 2])
    kept = (PROSE[0][:40], PROSE[1][:40], PROSE[2][:40], PROSE[3][:40], "REVERSED")
    return Hostile("warc/hostile.warc.gz", "web", {"corrupt_record": 5, "binary": 1}, kept)


def warc_plain_garbage(root: Path) -> Hostile:
    writer = WARCWriter(io.BytesIO(), gzip=False)
    html = "text/html; charset=utf-8"
    first = _response(writer, "https://w.invalid/a", _page(PROSE[6]).encode(), html)
    second = _response(writer, "https://w.invalid/b", _page(PROSE[7]).encode(), html)
    junk = b"\x00\xff\xfe garbage \x01\x02\r\n\r\n" + NO_NEWLINE_BINARY[:300] + b"\r\n\r\n"
    no_colon = _raw_warc("WARC/1.0\nWARC-Type response\nthis line has no colon")
    _write(root, "warc/garbage.warc", first + junk + no_colon + second)
    return Hostile(
        "warc/garbage.warc", "web", {"corrupt_record": 2}, (PROSE[6][:40], PROSE[7][:40])
    )


def warc_random_bytes(root: Path) -> Hostile:
    _write(root, "warc/random.warc", random.Random(5).randbytes(20_000))
    return Hostile("warc/random.warc", "web", {"corrupt_record": 1}, ())


def warc_empty(root: Path) -> Hostile:
    _write(root, "warc/empty.warc", b"")
    return Hostile("warc/empty.warc", "web", {"empty_file": 1}, ())


def wet_empty(root: Path) -> Hostile:
    _write(root, "wet/empty.warc.wet.gz", gzip.compress(b"", mtime=0))
    return Hostile("wet/empty.warc.wet.gz", "web", {"empty_file": 1}, ())


def wet_blank(root: Path) -> Hostile:
    _write(root, "wet/blank.warc.wet", b"\r\n\r\n  \n\n")
    return Hostile("wet/blank.warc.wet", "web", {"empty_file": 1}, ())


def wet_hostile(root: Path) -> Hostile:
    writer = WARCWriter(io.BytesIO(), gzip=True)

    def conversion(n: int, text: str) -> bytes:
        record = writer.create_warc_record(
            f"https://w.invalid/{n}",
            "conversion",
            payload=io.BytesIO(text.encode()),
            warc_content_type="text/plain",
        )
        buffer = io.BytesIO()
        WARCWriter(buffer, gzip=True).write_record(record)
        return buffer.getvalue()

    huge_length = (
        "WARC/1.0\nWARC-Type: conversion\nWARC-Record-ID: <urn:uuid:huge>\n"
        "WARC-Date: 2024-01-01T00:00:00Z\nContent-Length: " + "9" * 5_000
    )
    data = (
        conversion(0, CONTROLS)
        + b"\x1f\x8b\x08\x00"
        + b"\x00" * 6
        + b"\xff" * 40  # a gzip header, then garbage
        + gzip.compress(_raw_warc(huge_length), mtime=0)
        + conversion(1, PROSE[8])
    )
    _write(root, "wet/hostile.warc.wet.gz", data)
    return Hostile(
        "wet/hostile.warc.wet.gz", "web", {"corrupt_record": 2}, ("REVERSED", PROSE[8][:40])
    )


# -- HTML files -----------------------------------------------------------------------------------


def html_nested(root: Path) -> Hostile:
    _write(root, "html/nested.html", _page(_nested(PROSE[9])).encode())
    return Hostile("html/nested.html", "web", {}, (PROSE[9][:40],))


def html_attributes(root: Path) -> Hostile:
    many = " ".join(f'a{i}="{i}"' for i in range(10_000))
    body = _attribute(PROSE[10]) + f"<p {many}>attributes</p>"
    _write(root, "html/attributes.html", _page(body).encode())
    return Hostile("html/attributes.html", "web", {}, (PROSE[10][:40],))


def html_binary(root: Path) -> Hostile:
    _write(root, "html/logo.html", PNG)
    return Hostile("html/logo.html", "web", {"binary": 1}, ())


def html_empty(root: Path) -> Hostile:
    _write(root, "html/empty.html", b"")
    return Hostile("html/empty.html", "web", {"empty": 1}, ())


def html_mixed_encodings(root: Path) -> Hostile:
    body = _page(f"<p>{PROSE[11]}</p><p>caf\u00e9</p>").encode() + "<p>cr\xe8me</p>".encode(
        "latin-1"
    )
    _write(root, "html/mixed-encodings.html", body)
    return Hostile("html/mixed-encodings.html", "web", {}, (PROSE[11][:40],))


def html_unusable_charset(root: Path) -> Hostile:
    head = '<meta charset="undefined">'
    _write(root, "html/charset.html", _page(f"<p>{PROSE[0]}</p>", head).encode())
    return Hostile("html/charset.html", "web", {}, (PROSE[0][:40],))


# -- archives -------------------------------------------------------------------------------------


def _tar_add(tar: tarfile.TarFile, name: str, data: bytes, link: str | None = None) -> None:
    info = tarfile.TarInfo(name)
    if link is not None:
        info.type, info.linkname = tarfile.SYMTYPE, link
        tar.addfile(info)
        return
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def code_escaping_tar(root: Path) -> Hostile:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        _tar_add(tar, "pkg/ok.py", b"def ok() -> int:\n    return 1\n")
        _tar_add(tar, "../evil.py", b"x = 1\n")
        _tar_add(tar, "/etc/evil.py", b"x = 1\n")
        _tar_add(tar, "pkg/../../up.py", b"x = 1\n")
        _tar_add(tar, "pkg/link.py", b"", link="../../../etc/passwd")
        _tar_add(tar, "pkg/photo.py", PNG)  # a binary file under a source name
        _tar_add(tar, "pkg/empty.py", b"")
    _write(root, "code/escape.tar.gz", buffer.getvalue())
    dropped = {"unsafe_path": 3, "symlink": 1, "binary": 1, "empty": 1}
    return Hostile("code/escape.tar.gz", "code", dropped, ("def ok()",))


def code_escaping_zip(root: Path) -> Hostile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok.py", "def ok() -> int:\n    return 2\n")
        archive.writestr("../../evil.py", "x = 1\n")
        archive.writestr("C:/windows/evil.py", "x = 1\n")
        archive.writestr("C:\\windows\\evil2.py", "x = 1\n")
    _write(root, "code/escape.zip", buffer.getvalue())
    return Hostile("code/escape.zip", "code", {"unsafe_path": 3}, ("return 2",))


def code_truncated_tar(root: Path) -> Hostile:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _tar_add(tar, "pkg/first.py", b"def first() -> int:\n    return 3\n")
        _tar_add(tar, "pkg/big.py", RNG.randbytes(40_000).hex().encode())
        _tar_add(tar, "pkg/after.py", b"y = 2\n")
    data = gzip.compress(buffer.getvalue(), mtime=0)
    _write(root, "code/truncated.tar.gz", data[: len(data) // 2])
    return Hostile("code/truncated.tar.gz", "code", {"truncated_gzip": 1}, ("return 3",))


def epub_garbage(root: Path) -> Hostile:
    _write(root, "epub/garbage.epub", random.Random(3).randbytes(5_000))
    return Hostile("epub/garbage.epub", "book", {"corrupt_archive": 1}, ())


def epub_escaping(root: Path) -> Hostile:
    opf = (
        '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>T</dc:title>'
        "</metadata><manifest>"
        '<item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/>'
        '<item id="up" href="../../../../etc/passwd" media-type="application/xhtml+xml"/>'
        '</manifest><spine><itemref idref="c1"/><itemref idref="up"/></spine></package>'
    )
    container = (
        '<?xml version="1.0"?><container xmlns="urn:oasis:names:tc:opendocument:xmlns:container"'
        ' version="1.0"><rootfiles><rootfile full-path="OEBPS/content.opf"/></rootfiles>'
        "</container>"
    )
    chapter = f'<html xmlns="http://www.w3.org/1999/xhtml"><body>{_nested(PROSE[1])}</body></html>'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip")
        archive.writestr("META-INF/container.xml", container)
        archive.writestr("OEBPS/content.opf", opf)
        archive.writestr("OEBPS/c1.xhtml", chapter)
        archive.writestr("../../evil.xhtml", "<p>outside</p>")
    _write(root, "epub/escape.epub", buffer.getvalue())
    return Hostile("epub/escape.epub", "book", {}, (PROSE[1][:40],))


# -- Parquet --------------------------------------------------------------------------------------


def _strings(values: list[bytes]) -> pa.Array:
    """A string array holding exactly these bytes, valid UTF-8 or not (Arrow does not check)."""
    offsets = [0]
    for value in values:
        offsets.append(offsets[-1] + len(value))
    offset_buffer = pa.py_buffer(pa.array(offsets, pa.int32()).buffers()[1])
    return pa.Array.from_buffers(
        pa.string(), len(values), [None, offset_buffer, pa.py_buffer(b"".join(values))]
    )


def parquet_bad_utf8(root: Path) -> Hostile:
    texts = _strings([PROSE[2].encode(), b"caf\xe9 \xff\xfe", PROSE[3].encode()])
    (root / "parquet").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": texts}), root / "parquet/bad-utf8.parquet")
    return Hostile(
        "parquet/bad-utf8.parquet", "web", {"undecodable": 1}, (PROSE[2][:40], PROSE[3][:40])
    )


def parquet_zero_rows(root: Path) -> Hostile:
    (root / "parquet").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), root / "parquet/zero.parquet")
    return Hostile("parquet/zero.parquet", "web", {"empty_file": 1}, ())


BUILDERS: dict[str, Callable[[Path], Hostile]] = {
    builder.__name__: builder
    for builder in (
        jsonl_empty,
        jsonl_empty_gzip,
        jsonl_blank_lines,
        jsonl_truncated_gzip,
        jsonl_corrupt_gzip,
        jsonl_truncated_zstd,
        jsonl_corrupt_zstd,
        jsonl_binary,
        jsonl_invalid,
        jsonl_50_mb_line,
        jsonl_mixed_encodings,
        jsonl_controls,
        text_empty,
        text_blank,
        text_binary,
        text_truncated_gzip,
        text_corrupt_zstd,
        text_mixed_encodings,
        text_controls,
        warc_hostile,
        warc_plain_garbage,
        warc_random_bytes,
        warc_empty,
        wet_empty,
        wet_blank,
        wet_hostile,
        html_nested,
        html_attributes,
        html_binary,
        html_empty,
        html_mixed_encodings,
        html_unusable_charset,
        code_escaping_tar,
        code_escaping_zip,
        code_truncated_tar,
        epub_garbage,
        epub_escaping,
        parquet_bad_utf8,
        parquet_zero_rows,
    )
}


@pytest.mark.parametrize("case", list(BUILDERS))
def test_bad_file_is_read_to_the_end_with_every_bad_record_counted(
    tmp_path: Path, case: str
) -> None:
    hostile = BUILDERS[case](tmp_path)
    result = ingest(source(hostile.format, hostile.kind), tmp_path / hostile.name, tmp_path)
    check_accounting(result, hostile.dropped)
    texts = [row["text"] for row in kept_rows(result)]
    assert len(texts) == len(hostile.kept), texts
    for text, expected in zip(texts, hostile.kept, strict=True):
        assert expected in text
    for row in result.dropped.to_pylist():  # every drop says where it was
        assert row["path"] and row["id"] and json.loads(row["meta"])["location"]


def test_fifty_megabyte_line_is_skipped_without_keeping_it(tmp_path: Path) -> None:
    hostile = jsonl_50_mb_line(tmp_path)
    result = ingest(source("jsonl"), tmp_path / hostile.name, tmp_path)
    [row] = result.dropped.to_pylist()
    assert row["reason"] == "too_long" and len(row["text"]) <= 1024
    assert f"line of {BIG_LINE_BYTES + 12:,} bytes" in json.loads(row["meta"])["error"]


def test_lone_surrogate_and_blank_line_drops_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "web.jsonl"
    path.write_text('{"text": "a \\udc80 b"}\n\n{"text": "fine"}\n')
    result = ingest(source("jsonl"), path, tmp_path)
    check_accounting(result, {"undecodable": 1, "blank_line": 1})
    surrogate, blank = result.dropped.to_pylist()
    assert "web.jsonl:1: a \\u escape of a lone surrogate" in json.loads(surrogate["meta"])["error"]
    assert surrogate["text"] == '{"text": "a \\udc80 b"}'  # the line as written, readable
    assert json.loads(blank["meta"])["location"] == "web.jsonl:2"


# -- the whole chain -------------------------------------------------------------------------------

FUNNEL = ("ingest", "langid", "quality")
FORMAT_KINDS = {
    "jsonl": "web",
    "text": "book",
    "warc": "web",
    "wet": "web",
    "html": "web",
    "code": "code",
    "epub": "book",
    "parquet": "web",
}


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory, prefect_harness: None) -> dict:
    from flows.cli import main

    folder = tmp_path_factory.mktemp("hostile")
    root = folder / "in"
    cases = [build(root) for build in BUILDERS.values()]
    config = {
        "sources": [
            {"name": fmt, "kind": kind, "format": fmt, "paths": [f"{fmt}/*"]}
            for fmt, kind in FORMAT_KINDS.items()
        ]
    }
    path = write_config(root, config)
    out = folder / "run"
    code = main(["run", "--config", str(path), "--out", str(out), "--until", "quality"])
    return {"code": code, "out": out, "cases": cases}


def _counts(out: Path, stage: str) -> dict:
    return json.loads((out / stage / "_stage.json").read_text())["counts"]


def _rows(folder: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in folder.glob("*.parquet"))


def test_whole_chain_runs_over_the_hostile_corpus_to_quality(hostile_run: dict) -> None:
    assert hostile_run["code"] == 0
    out = hostile_run["out"]
    assert (out / "quality" / "_stage.json").is_file() and not (out / "dedup").exists()
    previous_kept = None
    for stage in FUNNEL:
        counts = _counts(out, stage)
        assert counts["docs_in"] == counts["docs_kept"] + counts["docs_dropped"]
        assert _rows(out / stage) == counts["docs_kept"]
        assert _rows(out / "dropped" / stage) == counts["docs_dropped"]
        if previous_kept is not None:
            assert counts["docs_in"] == previous_kept
        previous_kept = counts["docs_kept"]


def test_whole_chain_ingest_counts_equal_the_per_file_expectations(hostile_run: dict) -> None:
    cases: list[Hostile] = hostile_run["cases"]
    expected: Counter[str] = Counter()
    for case in cases:
        expected.update(case.dropped)
    counts = _counts(hostile_run["out"], "ingest")
    assert counts["dropped"] == dict(sorted(expected.items()))
    assert counts["docs_kept"] == sum(len(case.kept) for case in cases)
