"""Ingest: finding a source's files, and each format's reader on good and bad input.

Every test that reads checks the accounting (in = kept + dropped) and that each skipped record
is in ``dropped`` with its reason. Fixtures are built here in ``tmp_path``; the integration tests
at the end use ``../shared/data`` and skip where it is absent.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import os
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.ingest.config import SourceConfig
from pipeline.ingest.files import (
    SourceError,
    file_fingerprint,
    relative_name,
    resolve_source_files,
)
from pipeline.ingest.formats import FORMATS
from pipeline.ingest.html_text import html_to_text
from pipeline.ingest.reader import READERS
from pipeline.ingest.warc import decode_html
from pipeline.schema import doc_id
from tests.ingest_helpers import check_accounting, dropped_rows, ingest, kept_rows, source

WORDS = [
    "grain",
    "mill",
    "wheel",
    "river",
    "stone",
    "flour",
    "water",
    "miller",
    "harvest",
    "barley",
    "sack",
    "cart",
    "road",
    "village",
    "market",
    "bread",
    "oven",
    "field",
]


def prose(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


# -- resolving files ------------------------------------------------------------------------


def test_globs_expand_recursively_sorted_and_without_duplicates(tmp_path: Path) -> None:
    for rel in ["a/2.txt", "a/1.txt", "a/deep/er/3.txt", "b/4.txt", "b/skip.md"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    src = SourceConfig(
        name="books",
        kind="book",
        format="text",
        paths=["a/**/*.txt", "a/1.txt", str(tmp_path / "b" / "*.txt"), "b/4.txt"],
    )
    files = resolve_source_files(src, tmp_path)
    assert [relative_name(f, tmp_path) for f in files] == [
        "a/1.txt",
        "a/2.txt",
        "a/deep/er/3.txt",
        "b/4.txt",
    ]
    assert all(f.is_absolute() for f in files)


def test_glob_matching_nothing_names_source_and_glob(tmp_path: Path) -> None:
    src = SourceConfig(name="books", kind="book", format="text", paths=["nothing/*.txt"])
    with pytest.raises(SourceError, match=r"'books'.*nothing/\*\.txt.*matches no files"):
        resolve_source_files(src, tmp_path)


def test_missing_literal_path_names_the_path(tmp_path: Path) -> None:
    src = SourceConfig(name="books", kind="book", format="text", paths=["missing.txt"])
    with pytest.raises(SourceError, match=r"'books'.*missing\.txt: does not exist"):
        resolve_source_files(src, tmp_path)


def test_directory_is_rejected_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    src = SourceConfig(name="books", kind="book", format="text", paths=["folder"])
    with pytest.raises(SourceError, match=r"folder: is a directory"):
        resolve_source_files(src, tmp_path)
    src = SourceConfig(name="books", kind="book", format="text", paths=["fold*"])
    with pytest.raises(SourceError, match=r"folder.*is a directory"):
        resolve_source_files(src, tmp_path)


def test_broken_symlink_is_rejected_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "gone.txt")
    src = SourceConfig(name="books", kind="book", format="text", paths=["*.txt"])
    with pytest.raises(SourceError, match=r"dangling\.txt.*broken symlink"):
        resolve_source_files(src, tmp_path)


def test_fifo_is_rejected_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jsonl")
    src = SourceConfig(name="web", kind="web", format="jsonl", paths=["pipe.jsonl"])
    with pytest.raises(SourceError, match=r"pipe\.jsonl: not a regular file"):
        resolve_source_files(src, tmp_path)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("x")
    path.chmod(0)
    src = SourceConfig(name="books", kind="book", format="text", paths=["secret.txt"])
    try:
        with pytest.raises(SourceError, match=r"secret\.txt: cannot be read"):
            resolve_source_files(src, tmp_path)
    finally:
        path.chmod(0o644)


def test_file_fingerprint_changes_with_content(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("one")
    first = file_fingerprint(path)
    assert first["path"] == str(path) and first["size"] == 3 and first["mtime_ns"] > 0
    path.write_text("three")
    assert file_fingerprint(path)["size"] == 5


def test_relative_name_outside_base_is_absolute(tmp_path: Path) -> None:
    assert relative_name(tmp_path / "x" / "y.txt", tmp_path) == "x/y.txt"
    assert relative_name(Path("/elsewhere/z.txt"), tmp_path) == "/elsewhere/z.txt"


def test_every_format_has_a_reader() -> None:
    assert set(READERS) == set(FORMATS)


# -- text -----------------------------------------------------------------------------------


def test_text_file_is_one_document_with_stable_id(tmp_path: Path) -> None:
    path = tmp_path / "books" / "mill.txt"
    path.parent.mkdir()
    path.write_text("The miller ground the grain.\n\nThen he slept.\n", encoding="utf-8")
    result = ingest(source("text", kind="book"), path, tmp_path)
    check_accounting(result, {})
    [doc] = kept_rows(result)
    assert doc["id"] == doc_id("src", "books/mill.txt")
    # books are whitespace-normalised: no trailing newline
    assert doc["text"] == "The miller ground the grain.\n\nThen he slept."
    assert (doc["source"], doc["kind"], doc["path"]) == ("src", "book", "books/mill.txt")
    assert result.stats.bytes_in == result.stats.bytes_kept == len(doc["text"].encode())


def test_text_gz_is_decompressed_transparently(tmp_path: Path) -> None:
    path = tmp_path / "book.txt.gz"
    path.write_bytes(gzip.compress("Ünïcode bread and flour.".encode()))
    result = ingest(source("text", kind="book"), path, tmp_path)
    check_accounting(result, {})
    assert kept_rows(result)[0]["text"] == "Ünïcode bread and flour."


def test_text_in_declared_encoding_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("Café au lait".encode("latin-1"))
    result = ingest(source("text", kind="book", encoding="latin-1"), path, tmp_path)
    check_accounting(result, {})
    assert kept_rows(result)[0]["text"] == "Café au lait"


def test_invalid_utf8_file_is_dropped_as_undecodable_with_visible_text(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"caf\xe9 au lait")
    result = ingest(source("text", kind="book", encoding="utf-8"), path, tmp_path)
    check_accounting(result, {"undecodable": 1})
    [row] = dropped_rows(result)
    assert row["text"] == "caf\ufffd au lait"
    assert row["id"] == doc_id("src", "bad.txt")
    assert "bad.txt: not valid utf-8 at byte 3" in json.loads(row["meta"])["error"]


@pytest.mark.parametrize("content", [b"", b"  \n\t\n  "])
def test_empty_or_blank_file_is_dropped_as_empty(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    result = ingest(source("text", kind="book"), path, tmp_path)
    check_accounting(result, {"empty": 1})


def test_file_with_nul_bytes_is_dropped_as_binary(tmp_path: Path) -> None:
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"text" * 10)
    result = ingest(source("text", kind="book"), path, tmp_path)
    check_accounting(result, {"binary": 1})


def test_few_nuls_deep_in_a_long_text_are_kept(tmp_path: Path) -> None:
    # GNU Info manuals mark index nodes with "\0\b[index\0\b]" far into the book.
    body = prose(random.Random(1), 5000) + "\n\x00\x08[index\x00\x08]\n* Menu:\n"
    path = tmp_path / "manual.info.txt"
    path.write_text(body, encoding="utf-8")
    result = ingest(source("text", kind="book"), path, tmp_path)
    check_accounting(result, {})
    assert kept_rows(result)[0]["text"] == body.rstrip("\n")  # normalised: no trailing newline


def test_truncated_gzip_text_is_dropped_with_the_part_read(tmp_path: Path) -> None:
    text = prose(random.Random(2), 40000)
    data = gzip.compress(text.encode())
    path = tmp_path / "cut.txt.gz"
    path.write_bytes(data[: len(data) // 2])
    result = ingest(source("text", kind="book"), path, tmp_path)
    check_accounting(result, {"truncated_gzip": 1})
    [row] = dropped_rows(result)
    assert len(row["text"]) > 1000 and text.startswith(row["text"])


def test_garbled_gzip_text_is_dropped_as_corrupt(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(prose(random.Random(3), 3000).encode()))
    data[40:80] = bytes(b ^ 0xFF for b in data[40:80])
    path = tmp_path / "garbled.txt.gz"
    path.write_bytes(bytes(data))
    result = ingest(source("text", kind="book"), path, tmp_path)
    check_accounting(result, {"corrupt_gzip": 1})


# -- jsonl ----------------------------------------------------------------------------------


def write_lines(path: Path, lines: list[str | bytes], compress: bool = False) -> Path:
    data = b"\n".join(line if isinstance(line, bytes) else line.encode() for line in lines) + b"\n"
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def test_jsonl_lines_become_documents_with_fields_in_meta(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "web.jsonl",
        [
            json.dumps({"text": "first page", "url": "https://a.invalid/1", "lang_hint": "en"}),
            json.dumps({"text": "second\u2028page", "path": "mirror/page2.html", "n": 2}),
        ],
    )
    result = ingest(source("jsonl"), path, tmp_path)
    check_accounting(result, {})
    first, second = kept_rows(result)
    assert first["id"] == doc_id("src", "web.jsonl:1")
    assert second["id"] == doc_id("src", "web.jsonl:2")
    assert (first["url"], first["path"]) == ("https://a.invalid/1", "web.jsonl")
    assert json.loads(first["meta"]) == {"lang_hint": "en", "location": "web.jsonl:1"}
    assert second["text"] == "second\u2028page"  # U+2028 is not a line break in JSON lines
    assert (second["url"], second["path"]) == (None, "mirror/page2.html")
    assert json.loads(second["meta"]) == {"n": 2, "location": "web.jsonl:2"}


def test_jsonl_gz_and_custom_fields(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "code.jsonl.gz",
        [
            json.dumps({"content": "print(1)", "sha": "abc"}),
            json.dumps({"content": "print(2)", "sha": 7}),
            json.dumps({"content": "print(3)"}),
        ],
        compress=True,
    )
    src = source("jsonl", kind="code", text_field="content", id_field="sha")
    result = ingest(src, path, tmp_path)
    check_accounting(result, {"missing_id": 1})
    assert [d["id"] for d in kept_rows(result)] == ["abc", "7"]
    assert all("sha" not in json.loads(d["meta"]) for d in kept_rows(result))
    [row] = dropped_rows(result)
    assert row["id"] == doc_id("src", "code.jsonl.gz:3") and row["text"] == "print(3)"


def test_invalid_json_line_in_the_middle_is_dropped_and_the_rest_read(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "web.jsonl",
        [
            json.dumps({"text": "before"}),
            '{"text": "broken',
            "[1, 2, 3]",
            "",
            json.dumps({"text": "after"}),
        ],
    )
    result = ingest(source("jsonl"), path, tmp_path)
    check_accounting(result, {"invalid_json": 2, "blank_line": 1})
    assert [d["text"] for d in kept_rows(result)] == ["before", "after"]
    broken, array, blank = dropped_rows(result)
    assert broken["text"] == '{"text": "broken' and broken["id"] == doc_id("src", "web.jsonl:2")
    assert "web.jsonl:2: invalid JSON" in json.loads(broken["meta"])["error"]
    assert "expected a JSON object, got list" in json.loads(array["meta"])["error"]
    assert blank["id"] == doc_id("src", "web.jsonl:4") and blank["reason"] == "blank_line"
    assert kept_rows(result)[1]["id"] == doc_id("src", "web.jsonl:5")


def test_jsonl_missing_text_empty_text_and_undecodable_lines(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "web.jsonl",
        [
            json.dumps({"body": "no text field"}),
            json.dumps({"text": 42}),
            json.dumps({"text": None}),
            json.dumps({"text": "   "}),
            b'{"text": "caf\xe9"}',
            json.dumps({"text": "good"}),
        ],
    )
    result = ingest(source("jsonl"), path, tmp_path)
    check_accounting(result, {"missing_text": 3, "empty": 1, "undecodable": 1})
    rows = {row["id"]: row for row in dropped_rows(result)}
    absent = json.loads(rows[doc_id("src", "web.jsonl:1")]["meta"])
    assert "text field 'text' is absent, expected a string" in absent["error"]
    assert absent["body"] == "no text field"
    number = json.loads(rows[doc_id("src", "web.jsonl:2")]["meta"])["error"]
    assert "text field 'text' is of type int, expected a string" in number
    assert rows[doc_id("src", "web.jsonl:5")]["text"] == '{"text": "caf\ufffd"}'
    assert [d["text"] for d in kept_rows(result)] == ["good"]


def test_truncated_gzip_jsonl_keeps_lines_read_and_drops_one(tmp_path: Path) -> None:
    rng = random.Random(4)
    lines = [json.dumps({"text": prose(rng, 50)}) for _ in range(2000)]
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) * 6 // 10])
    result = ingest(source("jsonl"), path, tmp_path)
    check_accounting(result, {"truncated_gzip": 1})
    kept = kept_rows(result)
    assert 500 < len(kept) < 2000
    assert [d["text"] for d in kept] == [json.loads(line)["text"] for line in lines[: len(kept)]]
    [row] = dropped_rows(result)
    assert row["id"] == doc_id("src", f"cut.jsonl.gz:{len(kept) + 1}")
    assert lines[len(kept)].startswith(row["text"])  # the unfinished line, for inspection


# -- parquet --------------------------------------------------------------------------------


def test_parquet_rows_become_documents_across_batches(tmp_path: Path) -> None:
    n = 2600  # more than one record batch
    texts: list[str | None] = [f"row {i} text" for i in range(n)]
    texts[5], texts[6] = None, " "
    table = pa.table(
        {
            "text": texts,
            "doc": [f"d{i}" for i in range(n)],
            "score": [i / 10 for i in range(n)],
            "url": [f"https://p.invalid/{i}" for i in range(n)],
        }
    )
    path = tmp_path / "rows.parquet"
    pq.write_table(table, path, row_group_size=700)
    result = ingest(source("parquet", id_field="doc"), path, tmp_path)
    check_accounting(result, {"missing_text": 1, "empty": 1})
    kept = kept_rows(result)
    assert len(kept) == n - 2
    assert kept[0]["id"] == "d0" and kept[-1]["id"] == f"d{n - 1}"
    assert kept[-1]["url"] == f"https://p.invalid/{n - 1}" and kept[-1]["path"] == "rows.parquet"
    assert json.loads(kept[1]["meta"]) == {"score": 0.1, "location": "rows.parquet:1"}
    assert {row["id"] for row in dropped_rows(result)} == {"d5", "d6"}


def test_parquet_ids_default_to_row_index(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"body": ["a", "b"]}), path)
    result = ingest(source("parquet", text_field="body"), path, tmp_path)
    check_accounting(result, {})
    assert [d["id"] for d in kept_rows(result)] == [
        doc_id("src", "rows.parquet:0"),
        doc_id("src", "rows.parquet:1"),
    ]


def test_parquet_without_text_column_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"body": ["a"]}), path)
    with pytest.raises(SourceError, match=r"rows\.parquet: no text column 'text' \(columns: body"):
        ingest(source("parquet"), path, tmp_path)


def test_parquet_with_non_string_text_column_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"text": [1, 2]}), path)
    with pytest.raises(SourceError, match=r"rows\.parquet: text column 'text' has type int64"):
        ingest(source("parquet"), path, tmp_path)


def test_non_parquet_file_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    path.write_text("not parquet at all")
    with pytest.raises(SourceError, match=r"rows\.parquet: not a readable Parquet file"):
        ingest(source("parquet"), path, tmp_path)


# -- warc -----------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html><html><head><title>T</title><style>p {{color: red}}</style>
<script>var x = "<p>not text</p>";</script></head>
<body><nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<header><h1>Site banner</h1></header>
<div role="navigation"><div>Sidebar <div>nested</div></div></div>
<h1>Page {i}</h1><p>The   miller
ground the <b>grain</b> &amp; flour.</p>
<pre>def f():
    return {i}</pre>
<footer>Copyright</footer></body></html>"""


def response(
    writer: WARCWriter,
    uri: str,
    body: bytes,
    content_type: str = "text/html; charset=utf-8",
    status: str = "200 OK",
) -> Any:
    headers = StatusAndHeaders(status, [("Content-Type", content_type)], protocol="HTTP/1.1")
    return writer.create_warc_record(
        uri, "response", payload=io.BytesIO(body), http_headers=headers
    )


def write_warc(path: Path, pages: int = 3, extras: bool = True) -> list[int]:
    """Write a gzip-per-record WARC; return the byte offset of every record (and the end)."""
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    records = [
        response(writer, f"https://w.invalid/{i}", PAGE.format(i=i).encode()) for i in range(pages)
    ]
    if extras:
        records += [
            writer.create_warc_record(
                "https://w.invalid/0", "request", payload=io.BytesIO(b"GET /0 HTTP/1.1\r\n\r\n")
            ),
            response(writer, "https://w.invalid/missing", b"<p>gone</p>", status="404 Not Found"),
            response(writer, "https://w.invalid/logo.png", b"\x89PNG...", "image/png"),
            response(writer, "https://w.invalid/blank", b"<html><script>1</script></html>"),
            response(
                writer,
                "https://w.invalid/latin",
                "<p>Caf\xe9 cr\xe8me</p>".encode("latin-1"),
                "text/html; charset=ISO-8859-1",
            ),
        ]
    offsets = []
    for record in records:
        offsets.append(buffer.tell())
        writer.write_record(record)
    offsets.append(buffer.tell())
    path.write_bytes(buffer.getvalue())
    return offsets


def test_warc_html_responses_become_documents(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    write_warc(path)
    # the builtin extractor, whose output on this page is exact to the character
    result = ingest(source("warc", web={"extractor": "builtin"}), path, tmp_path)
    # request, 404 and image records are not documents; the script-only page is empty
    check_accounting(result, {"empty": 1})
    kept = kept_rows(result)
    assert [d["url"] for d in kept] == [
        "https://w.invalid/0",
        "https://w.invalid/1",
        "https://w.invalid/2",
        "https://w.invalid/latin",
    ]
    first = kept[0]
    meta = json.loads(first["meta"])
    assert first["id"] == doc_id("src", meta["warc_record_id"])
    assert meta["warc_record_id"].startswith("<urn:uuid:")
    assert meta["warc_date"] and meta["content_type"] == "text/html"
    assert first["path"] == "crawl.warc.gz"
    assert first["text"] == (
        "Page 0\n\nThe miller ground the grain & flour.\n\ndef f():\n    return 0"
    )
    assert kept[3]["text"] == "Café crème"
    [blank] = dropped_rows(result)
    assert blank["url"] == "https://w.invalid/blank"


def test_warc_ids_are_stable_across_reads(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    write_warc(path, pages=2, extras=False)
    first = ingest(source("warc"), path, tmp_path).kept.column("id").to_pylist()
    again = ingest(source("warc"), path, tmp_path).kept.column("id").to_pylist()
    assert first == again and len(set(first)) == 2


@pytest.mark.parametrize("damage", ["garbled", "truncated", "truncated_then_more"])
def test_warc_corrupt_record_is_one_drop_and_reading_goes_on(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "crawl.warc.gz"
    offsets = write_warc(path, pages=4, extras=False)
    data = bytearray(path.read_bytes())
    second = offsets[1]
    if damage == "garbled":
        data[second + 30 : second + 90] = bytes(b ^ 0xFF for b in data[second + 30 : second + 90])
    elif damage == "truncated":
        data = data[: second + 60]
    else:
        data = data[: second + 60] + data[offsets[2] :]
    path.write_bytes(bytes(data))
    result = ingest(source("warc"), path, tmp_path)
    check_accounting(result, {"corrupt_record": 1})
    # records after the damaged one are still read, unless the file ends there
    after = [] if damage == "truncated" else ["https://w.invalid/2", "https://w.invalid/3"]
    assert [d["url"] for d in kept_rows(result)] == ["https://w.invalid/0", *after]
    [row] = dropped_rows(result)
    assert row["id"] == doc_id("src", "crawl.warc.gz:1")
    assert "crawl.warc.gz:1: WARC record 1 is damaged" in json.loads(row["meta"])["error"]


def test_file_that_is_not_a_warc_gives_one_corrupt_record(tmp_path: Path) -> None:
    path = tmp_path / "notes.warc"
    path.write_text("just some notes\n")
    result = ingest(source("warc"), path, tmp_path)
    check_accounting(result, {"corrupt_record": 1})


def test_charset_from_header_then_meta_tag_then_utf8() -> None:
    cyrillic = "Привет".encode("cp1251")
    assert decode_html(cyrillic, "windows-1251") == ("Привет", "cp1251")
    assert decode_html(b'<meta charset="windows-1251">' + cyrillic, None)[0].endswith("Привет")
    assert decode_html("é".encode(), "rot13") == ("é", "utf-8")  # not a charset: ignored
    # not UTF-8, too short to detect: windows-1252, the web's legacy default
    assert decode_html(b"caf\xe9", None) == ("café", "cp1252")
    assert decode_html(codecs.BOM_UTF16_LE + "né".encode("utf-16-le"), "utf-8")[0] == "né"


def test_html_text_folds_whitespace_and_keeps_pre() -> None:
    html = "<p>a  b\n c</p><ul><li>one</li><li>two</li></ul><pre>  x\n\n  y</pre>tail<br>end"
    assert html_to_text(html) == "a b c\n\none\ntwo\n\n  x\n\n  y\n\ntail\nend"


def test_html_text_skips_nested_navigation_and_hidden() -> None:
    html = (
        '<div role="navigation"><div>menu<div>deeper</div></div>still menu</div>'
        "<p hidden>secret</p><main><p>content</p></main><footer><p>foot</p></footer>"
    )
    assert html_to_text(html) == "content"


# -- integration on ../shared/data ----------------------------------------------------------


def test_sample_web_warc(shared_data: Path) -> None:
    path = shared_data / "web" / "docs.warc.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    result = ingest(source("warc"), path, shared_data)
    check_accounting(result)
    kept = kept_rows(result)
    assert len(kept) >= 400
    assert all(d["url"].startswith("https://docs.example.invalid/") for d in kept)
    assert len({d["id"] for d in kept}) == len(kept)
    assert not any("<script" in d["text"] for d in kept[:50])


def test_sample_code_jsonl(shared_data: Path) -> None:
    path = shared_data / "code" / "code.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    result = ingest(source("jsonl", kind="code"), path, shared_data)
    check_accounting(result)
    kept = kept_rows(result)
    assert len(kept) >= 2000
    assert sum(d["path"].startswith("python3.11-stdlib/") for d in kept) >= 500
    assert json.loads(kept[0]["meta"])["language"]


def test_sample_books_are_all_kept(shared_data: Path) -> None:
    books = sorted((shared_data / "books").glob("*.txt.gz"))
    if not books:
        pytest.skip("no sample books")
    src = source("text", kind="book")
    for path in books:
        result = ingest(src, path, shared_data)
        check_accounting(result, {})
        assert len(kept_rows(result)[0]["text"]) > 100_000, path.name
