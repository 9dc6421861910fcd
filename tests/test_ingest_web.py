"""Web sources: WARC (gzip per record, plain), WET, folders of HTML files, charsets, the
extractors."""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.ingest.html_extract import ENGINES, extract_text
from pipeline.ingest.html_text import html_to_text
from pipeline.ingest.warc import decode_html
from pipeline.schema import doc_id
from tests.ingest_helpers import (
    check_accounting,
    dropped_rows,
    ingest,
    kept_rows,
    meta,
    reasons_by_path,
    sample_file,
    source,
)

ARTICLE = (
    "The water mill at the bend of the river ground grain for three villages. Every autumn "
    "the farmers brought their harvest in carts, and the miller weighed each sack before it "
    "went to the stones. ",
    "In winter the river froze and the wheel stood still, so the miller repaired the gears "
    "and sharpened the millstones with a hammer and a chisel, as his father had taught him. ",
    "When the railway came, flour arrived from the big steam mills of the city, and one by "
    "one the small mills along the river closed their doors for good. ",
)
REAL_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Mills</title>
<script>window.analytics = {{}};</script></head><body>
<header class="site-header"><div class="logo">Mill Heritage Society</div>
<nav class="main-nav"><ul><li><a href="/">Home</a></li><li><a href="/visit">Visit us</a></li>
<li><a href="/shop">Shop</a></li><li><a href="/contact">Contact</a></li></ul></nav></header>
<div class="sidebar"><h3>Related</h3><ul><li><a href="/a">Windmills of the coast</a></li>
<li><a href="/b">Tide mills</a></li></ul></div>
<main><article><h1>The last water mill {n}</h1>
<p>{p0}</p><p>{p1}</p><p>{p2}</p></article></main>
<footer class="site-footer"><p>Copyright 2024 Mill Heritage Society. All rights reserved.</p>
<p><a href="/privacy">Privacy policy</a> | <a href="/terms">Terms of use</a></p></footer>
</body></html>"""


def real_page(n: int = 0) -> str:
    return REAL_PAGE.format(n=n, p0=ARTICLE[0], p1=ARTICLE[1], p2=ARTICLE[2])


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_every_extractor_keeps_the_article(engine: str) -> None:
    text = extract_text(real_page(), engine)
    for paragraph in ARTICLE:
        assert paragraph.strip() in text
    assert "window.analytics" not in text


@pytest.mark.parametrize("engine", ["resiliparse", "trafilatura"])
def test_boilerplate_extractors_drop_menus_and_footers(engine: str) -> None:
    text = extract_text(real_page(), engine)
    assert "Visit us" not in text and "Privacy policy" not in text
    assert "All rights reserved" not in text


def test_unknown_extractor_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="extractor"):
        source("warc", web={"extractor": "readability"})


def response(
    writer: WARCWriter,
    uri: str,
    body: bytes,
    content_type: str = "text/html; charset=utf-8",
    status: str = "200 OK",
) -> ArcWarcRecord:
    headers = StatusAndHeaders(status, [("Content-Type", content_type)], protocol="HTTP/1.1")
    return writer.create_warc_record(
        uri, "response", payload=io.BytesIO(body), http_headers=headers
    )


def write_records(
    path: Path, records: Callable[[WARCWriter], list[ArcWarcRecord]], gzip: bool = True
) -> list[int]:
    """Write the records ``records`` makes with the writer; return the byte offset of every
    record (and the end)."""
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=gzip)
    offsets = []
    for record in records(writer):
        offsets.append(buffer.tell())
        writer.write_record(record)
    offsets.append(buffer.tell())
    path.write_bytes(buffer.getvalue())
    return offsets


def write_warc(path: Path, bodies: list[bytes], gzip: bool = True) -> list[int]:
    """One HTML response per body, at ``https://mill.invalid/<i>``."""
    return write_records(
        path,
        lambda writer: [
            response(writer, f"https://mill.invalid/{i}", body) for i, body in enumerate(bodies)
        ],
        gzip,
    )


def pages(count: int) -> list[bytes]:
    return [real_page(i).encode() for i in range(count)]


def test_warc_keeps_url_crawl_date_and_record_id(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    write_warc(path, pages(3))
    result = ingest(source("warc"), path, tmp_path)
    check_accounting(result, {})
    for i, doc in enumerate(kept_rows(result)):
        info = meta(doc)
        assert doc["url"] == f"https://mill.invalid/{i}"
        assert doc["id"] == doc_id("src", info["warc_record_id"])
        assert info["warc_date"].startswith("20") and info["extractor"] == "resiliparse"
        assert f"The last water mill {i}" in doc["text"] and "Visit us" not in doc["text"]


#: markup of every kind the builtin extractor skips or keeps, on a page it turns into exact text
MARKUP_PAGE = """<!DOCTYPE html><html><head><title>T</title><style>p {{color: red}}</style>
<script>var x = "<p>not text</p>";</script></head>
<body><nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<header><h1>Site banner</h1></header>
<div role="navigation"><div>Sidebar <div>nested</div></div></div>
<h1>Page {i}</h1><p>The   miller
ground the <b>grain</b> &amp; flour.</p>
<pre>def f():
    return {i}</pre>
<footer>Copyright</footer></body></html>"""


def test_warc_html_responses_become_documents(tmp_path: Path) -> None:
    def records(writer: WARCWriter) -> list[ArcWarcRecord]:
        return [
            *(
                response(writer, f"https://w.invalid/{i}", MARKUP_PAGE.format(i=i).encode())
                for i in range(3)
            ),
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

    path = tmp_path / "crawl.warc.gz"
    write_records(path, records)
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
    info = meta(first)
    assert first["id"] == doc_id("src", info["warc_record_id"])
    assert info["warc_record_id"].startswith("<urn:uuid:")
    assert info["warc_date"] and info["content_type"] == "text/html"
    assert first["path"] == "crawl.warc.gz"
    assert first["text"] == (
        "Page 0\n\nThe miller ground the grain & flour.\n\ndef f():\n    return 0"
    )
    assert kept[3]["text"] == "Café crème"
    [blank] = dropped_rows(result)
    assert blank["url"] == "https://w.invalid/blank"


def test_warc_ids_are_stable_across_reads(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    write_warc(path, pages(2))
    first = ingest(source("warc"), path, tmp_path).kept.column("id").to_pylist()
    again = ingest(source("warc"), path, tmp_path).kept.column("id").to_pylist()
    assert first == again and len(set(first)) == 2


@pytest.mark.parametrize(
    "name,damage",
    [
        ("crawl.warc.gz", "garbled"),
        ("crawl.warc.gz", "truncated"),
        ("crawl.warc.gz", "truncated_then_more"),
        ("crawl.warc", "garbled"),
        ("crawl.warc", "truncated"),
        ("crawl.warc", "truncated_then_more"),
    ],
)
def test_corrupt_record_is_one_drop_and_reading_goes_on(
    tmp_path: Path, name: str, damage: str
) -> None:
    path = tmp_path / name
    gzipped = name.endswith(".gz")
    offsets = write_warc(path, pages(4), gzip=gzipped)
    data = bytearray(path.read_bytes())
    second = offsets[1]
    if damage == "garbled" and gzipped:  # bytes inside the record's compressed stream
        data[second + 30 : second + 90] = bytes(b ^ 0xFF for b in data[second + 30 : second + 90])
    elif damage == "garbled":  # the record's version line and headers
        data[second : second + 40] = b"X" * 40
    else:  # the record cut short, and the file ends there or goes on with the next record
        rest = data[offsets[2] :] if damage == "truncated_then_more" else b""
        data = data[: second + (60 if gzipped else 700)] + rest
    path.write_bytes(bytes(data))
    result = ingest(source("warc"), path, tmp_path)
    check_accounting(result, {"corrupt_record": 1})
    # records after the damaged one are still read, unless the file ends there
    after = [] if damage == "truncated" else ["https://mill.invalid/2", "https://mill.invalid/3"]
    assert [d["url"] for d in kept_rows(result)] == ["https://mill.invalid/0", *after]
    [row] = dropped_rows(result)
    assert row["id"] == doc_id("src", f"{name}:1")
    assert f"{name}:1: WARC record 1 is damaged" in meta(row)["error"]


def test_file_that_is_not_a_warc_gives_one_corrupt_record(tmp_path: Path) -> None:
    path = tmp_path / "notes.warc"
    path.write_text("just some notes\n")
    result = ingest(source("warc"), path, tmp_path)
    check_accounting(result, {"corrupt_record": 1})


def test_gzip_warc_with_garbage_between_members_reads_on(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    offsets = write_warc(path, pages(3))
    data = path.read_bytes()
    path.write_bytes(data[: offsets[1]] + b"\x1f\x8b\x08 not really gzip" + data[offsets[1] :])
    result = ingest(source("warc"), path, tmp_path)
    check_accounting(result, {"corrupt_record": 1})
    assert len(kept_rows(result)) == 3


def test_page_over_the_size_cap_is_too_long(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    big = real_page(1).replace("<main>", "<main>" + "<p>filler text</p>" * 5000).encode()
    write_warc(path, [real_page(0).encode(), big, real_page(2).encode()])
    result = ingest(source("warc", limits={"max_document_bytes": 50_000}), path, tmp_path)
    check_accounting(result, {"too_long": 1})
    [row] = dropped_rows(result)
    assert row["url"] == "https://mill.invalid/1"
    assert len(kept_rows(result)) == 2


def test_mislabelled_charset_is_detected_from_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    page = (
        real_page()
        .replace('<meta charset="utf-8">', "")
        .replace("three villages", "trois villages à côté du moulin, où l'on pêchait")
    )
    write_records(
        path,
        lambda writer: [
            response(writer, "https://mill.invalid/fr", page.encode("cp1252"), "text/html")
        ],
    )
    result = ingest(source("warc"), path, tmp_path)
    check_accounting(result, {})
    [doc] = kept_rows(result)
    assert "à côté du moulin, où l'on pêchait" in doc["text"]
    assert meta(doc)["charset"] in ("cp1252", "latin_1", "iso8859-15", "cp1250")


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


def write_wet(path: Path) -> None:
    def records(writer: WARCWriter) -> list[ArcWarcRecord]:
        texts = ["Le moulin tourne.\nLa farine est blanche.", "  ", ARTICLE[0]]
        return [writer.create_warcinfo_record("crawl.warc.wet.gz", {"software": "t"})] + [
            writer.create_warc_record(
                f"https://mill.invalid/{i}",
                "conversion",
                payload=io.BytesIO(text.encode()),
                warc_content_type="text/plain",
                warc_headers_dict={
                    "WARC-Refers-To": f"<urn:uuid:0000-{i}>",
                    "WARC-Identified-Content-Language": "fra" if i == 0 else "eng",
                },
            )
            for i, text in enumerate(texts)
        ]

    write_records(path, records)


def test_wet_conversion_records_become_documents(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.wet.gz"
    write_wet(path)
    result = ingest(source("wet"), path, tmp_path)
    check_accounting(result, {"empty": 1})  # the warcinfo record is not a document
    first, third = kept_rows(result)
    assert first["text"] == "Le moulin tourne.\nLa farine est blanche."
    info = meta(first)
    assert info["warc_refers_to"] == "<urn:uuid:0000-0>"
    assert info["identified_languages"] == "fra"
    assert first["id"] == doc_id("src", info["warc_record_id"])
    assert third["url"] == "https://mill.invalid/2"


def test_html_folder_is_one_unit_with_every_file_accounted(tmp_path: Path) -> None:
    import gzip

    site = tmp_path / "site"
    (site / "guide").mkdir(parents=True)
    (site / "index.html").write_text(real_page(0), encoding="utf-8")
    (site / "guide" / "stones.htm").write_bytes(real_page(1).encode("utf-8"))
    (site / "guide" / "wheel.html.gz").write_bytes(gzip.compress(real_page(2).encode()))
    (site / "style.css").write_text("body { color: black }")
    (site / "empty.html").write_text("<html><body><script>x()</script></body></html>")
    result = ingest(source("html"), site, tmp_path)
    check_accounting(result, {"not_html": 1, "empty": 1})
    docs = kept_rows(result)
    assert [d["path"] for d in docs] == [
        "site/guide/stones.htm",
        "site/guide/wheel.html.gz",
        "site/index.html",
    ]
    assert docs[0]["id"] == doc_id("src", "site/guide/stones.htm")
    assert reasons_by_path(result) == {"site/empty.html": "empty", "site/style.css": "not_html"}


def test_sample_warc_gives_unique_pages_without_markup_or_footer(shared_data: Path) -> None:
    path = sample_file(shared_data, "web/docs.warc.gz")
    result = ingest(source("warc"), path, shared_data)
    check_accounting(result)
    kept = kept_rows(result)
    assert len(kept) >= 500
    assert all(d["url"].startswith("https://docs.example.invalid/") for d in kept)
    assert len({d["id"] for d in kept}) == len(kept)
    assert not any("<script" in d["text"] for d in kept[:50])
    asyncio = next(d for d in kept if d["url"].endswith("/library/asyncio.html"))
    assert "asyncio is a library to write concurrent code" in asyncio["text"]
    assert "Found a bug?" not in asyncio["text"]  # the Sphinx footer is boilerplate
