"""Web sources: WARC (gzip per record, plain), WET, folders of HTML files, the extractors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.ingest.html_extract import ENGINES, extract_text
from pipeline.schema import doc_id
from tests.ingest_helpers import (
    check_accounting,
    dropped_rows,
    ingest,
    kept_rows,
    meta,
    reasons_by_path,
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


def _response(
    writer: WARCWriter,
    uri: str,
    body: bytes,
    content_type: str = "text/html; charset=utf-8",
    status: str = "200 OK",
):
    headers = StatusAndHeaders(status, [("Content-Type", content_type)], protocol="HTTP/1.1")
    return writer.create_warc_record(
        uri, "response", payload=io.BytesIO(body), http_headers=headers
    )


def write_warc(path: Path, bodies: list[bytes], gzip: bool = True) -> list[int]:
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=gzip)
    offsets = []
    for i, body in enumerate(bodies):
        offsets.append(buffer.tell())
        writer.write_record(_response(writer, f"https://mill.invalid/{i}", body))
    offsets.append(buffer.tell())
    path.write_bytes(buffer.getvalue())
    return offsets


def test_warc_keeps_url_crawl_date_and_record_id(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    write_warc(path, [real_page(i).encode() for i in range(3)])
    result = ingest(source("warc"), path, tmp_path)
    check_accounting(result, {})
    for i, doc in enumerate(kept_rows(result)):
        info = meta(doc)
        assert doc["url"] == f"https://mill.invalid/{i}"
        assert doc["id"] == doc_id("src", info["warc_record_id"])
        assert info["warc_date"].startswith("20") and info["extractor"] == "resiliparse"
        assert f"The last water mill {i}" in doc["text"] and "Visit us" not in doc["text"]


def test_plain_warc_with_a_corrupt_record_in_the_middle_reads_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc"
    offsets = write_warc(path, [real_page(i).encode() for i in range(4)], gzip=False)
    data = bytearray(path.read_bytes())
    # garble the second record's version line and headers
    data[offsets[1] : offsets[1] + 40] = b"X" * 40
    path.write_bytes(bytes(data))
    result = ingest(source("warc"), path, tmp_path)
    check_accounting(result, {"corrupt_record": 1})
    assert [d["url"] for d in kept_rows(result)] == [
        "https://mill.invalid/0",
        "https://mill.invalid/2",
        "https://mill.invalid/3",
    ]


def test_plain_warc_cut_inside_a_record_then_going_on_reads_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc"
    offsets = write_warc(path, [real_page(i).encode() for i in range(4)], gzip=False)
    data = path.read_bytes()
    path.write_bytes(data[: offsets[1] + 700] + data[offsets[2] :])  # record 1 cut short
    result = ingest(source("warc"), path, tmp_path)
    check_accounting(result, {"corrupt_record": 1})
    assert [d["url"] for d in kept_rows(result)] == [
        "https://mill.invalid/0",
        "https://mill.invalid/2",
        "https://mill.invalid/3",
    ]


def test_gzip_warc_with_garbage_between_members_reads_on(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    offsets = write_warc(path, [real_page(i).encode() for i in range(3)])
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
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    writer.write_record(
        _response(
            writer, "https://mill.invalid/fr", page.encode("cp1252"), content_type="text/html"
        )
    )
    path.write_bytes(buffer.getvalue())
    result = ingest(source("warc"), path, tmp_path)
    check_accounting(result, {})
    [doc] = kept_rows(result)
    assert "à côté du moulin, où l'on pêchait" in doc["text"]
    assert meta(doc)["charset"] in ("cp1252", "latin_1", "iso8859-15", "cp1250")


def write_wet(path: Path) -> None:
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    writer.write_record(writer.create_warcinfo_record("crawl.warc.wet.gz", {"software": "t"}))
    for i, text in enumerate(["Le moulin tourne.\nLa farine est blanche.", "  ", ARTICLE[0]]):
        record = writer.create_warc_record(
            f"https://mill.invalid/{i}",
            "conversion",
            payload=io.BytesIO(text.encode()),
            warc_content_type="text/plain",
            warc_headers_dict={
                "WARC-Refers-To": f"<urn:uuid:0000-{i}>",
                "WARC-Identified-Content-Language": "fra" if i == 0 else "eng",
            },
        )
        writer.write_record(record)
    path.write_bytes(buffer.getvalue())


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


def test_sample_warc_with_each_extractor(shared_data: Path) -> None:
    path = shared_data / "web" / "docs.warc.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    result = ingest(source("warc"), path, shared_data)
    check_accounting(result)
    kept = kept_rows(result)
    assert len(kept) >= 500
    asyncio = next(d for d in kept if d["url"].endswith("/library/asyncio.html"))
    assert "asyncio is a library to write concurrent code" in asyncio["text"]
    assert "Found a bug?" not in asyncio["text"]  # the Sphinx footer is boilerplate
