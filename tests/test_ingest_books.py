"""Books: a text file is one document; encodings detected, Gutenberg boilerplate removed,
whitespace normalised, EPUBs read in spine order -- and never truncated."""

from __future__ import annotations

import gzip
import random
import zipfile
from pathlib import Path

import pytest

from pipeline.ingest.books import normalize_whitespace, strip_gutenberg, unwrap_lines
from pipeline.ingest.encoding import Undecodable, decode
from pipeline.schema import doc_id
from tests.corpus_fixtures import random_words
from tests.ingest_helpers import check_accounting, dropped_rows, ingest, kept_rows, meta, source

PROSE = (
    "It was the best of times at the mill, and the river ran high with the spring rain. "
    "The miller's daughter kept the ledger, and she wrote down every sack in a careful "
    "hand, because the farmers did not trust the scales and the miller did not trust the "
    "farmers. "
) * 4

GUTENBERG = """\ufeffThe Project Gutenberg eBook of The Mill on the River

This ebook is for the use of anyone anywhere in the United States and
most other parts of the world at no cost and with almost no restrictions
whatsoever.

Title: The Mill on the River
Author: A. Miller

*** START OF THE PROJECT GUTENBERG EBOOK THE MILL ON THE RIVER ***

Produced by Jane Doe and the Online Distributed
Proofreading Team.


CHAPTER I.

{prose}

*** END OF THE PROJECT GUTENBERG EBOOK THE MILL ON THE RIVER ***

Updated editions will replace the previous one--the old editions will
be renamed.  START: FULL LICENSE  THE FULL PROJECT GUTENBERG LICENSE
"""


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
    body = random_words(random.Random(1), 5000) + "\n\x00\x08[index\x00\x08]\n* Menu:\n"
    path = tmp_path / "manual.info.txt"
    path.write_text(body, encoding="utf-8")
    result = ingest(source("text", kind="book"), path, tmp_path)
    check_accounting(result, {})
    assert kept_rows(result)[0]["text"] == body.rstrip("\n")  # normalised: no trailing newline


def test_gutenberg_header_credit_and_licence_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "mill.txt"
    path.write_text(GUTENBERG.format(prose=PROSE).replace("\n", "\r\n"), encoding="utf-8")
    result = ingest(source("text", kind="book"), path, tmp_path)
    check_accounting(result, {})
    [doc] = kept_rows(result)
    assert doc["text"] == "CHAPTER I.\n\n" + PROSE.rstrip()
    removed = meta(doc)["gutenberg"]
    assert removed["end_marker"] and removed["header_chars"] > 300 and removed["footer_chars"] > 100


def test_gutenberg_text_without_markers_is_kept_whole_and_flagged() -> None:
    text = "A Project Gutenberg book with its markers lost.\n\n" + PROSE
    body, removed = strip_gutenberg(text)
    assert body == text and removed == {"markers": "not found"}
    assert strip_gutenberg(PROSE) == (PROSE, None)  # not a Gutenberg text at all


def test_older_gutenberg_small_print_header_is_removed() -> None:
    text = (
        "Project Gutenberg's Etext\n\n*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04"
        "*END*\n\nThe text.\n\nEnd of the Project Gutenberg EBook of the text\nlicence..."
    )
    body, removed = strip_gutenberg(text)
    assert body.strip() == "The text." and removed and removed["end_marker"]


def test_whitespace_normalisation_keeps_indentation_and_paragraphs() -> None:
    text = "Title  \r\n\r\n\r\n\r\n    an indented verse line\t\r\n  another\rlast line   \n\n\n"
    assert normalize_whitespace(text) == (
        "Title\n\n    an indented verse line\n  another\nlast line"
    )
    assert normalize_whitespace("e\u0301") == "\u00e9"  # NFC


def test_unwrap_joins_hard_wrapped_prose_but_not_verse() -> None:
    prose = (
        "The miller rose before the sun and walked down to the\n"
        "river, where the wheel had stopped in the night because\n"
        "a branch was caught in it."
    )
    verse = "Turn, wheel, turn,\nThe grain is in,\n  the flour is out."
    assert unwrap_lines(prose + "\n\n" + verse) == " ".join(prose.split("\n")) + "\n\n" + verse


def test_unwrap_option_applies_to_books(tmp_path: Path) -> None:
    path = tmp_path / "wrapped.txt"
    path.write_text(
        "The miller rose before the sun and walked down to the\n"
        "river, where the wheel had stopped in the night.\n"
    )
    result = ingest(source("text", kind="book", book={"unwrap_lines": True}), path, tmp_path)
    assert kept_rows(result)[0]["text"] == (
        "The miller rose before the sun and walked down to "
        "the river, where the wheel had stopped in the night."
    )


@pytest.mark.parametrize("codec", ["cp1252", "latin-1", "utf-16", "utf-8-sig"])
def test_book_encoding_is_detected_not_assumed(tmp_path: Path, codec: str) -> None:
    text = (
        "Le meunier était déjà levé à l'aube ; il descendit à la rivière où la roue "
        "s'était arrêtée pendant la nuit, à cause d'une branche prise dans les pales. "
    ) * 5
    path = tmp_path / "livre.txt.gz"
    path.write_bytes(gzip.compress(text.encode(codec)))
    result = ingest(source("text", kind="book"), path, tmp_path)
    check_accounting(result, {})
    [doc] = kept_rows(result)
    assert doc["text"] == text.strip()
    assert meta(doc)["encoding"]


def test_declared_encoding_is_strict() -> None:
    assert decode("café".encode("latin-1"), "latin-1") == ("café", "iso8859-1")
    with pytest.raises(Undecodable, match="not valid utf-8 at byte 3"):
        decode(b"caf\xe9", "utf-8")


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
    assert "bad.txt: not valid utf-8 at byte 3" in meta(row)["error"]


def test_random_bytes_without_nuls_are_undecodable_or_binary(tmp_path: Path) -> None:
    rng = random.Random(5)
    path = tmp_path / "noise.txt"
    path.write_bytes(bytes(rng.choice(range(0x80, 0x100)) for _ in range(4000)))
    result = ingest(source("text", kind="book"), path, tmp_path)
    check_accounting(result)
    # Either no encoding fits, or one "fits" and the text is kept for the quality stage: never
    # a crash, always accounted.
    assert result.stats.docs_in == 1


def _epub(
    path: Path,
    chapters: dict[str, str],
    spine: list[str],
    nav: bool = True,
    encrypted: bool = False,
    container: bool = True,
) -> None:
    manifest = "".join(
        f'<item id="{name}" href="text/{name}.xhtml" media-type="application/xhtml+xml"/>'
        for name in chapters
    )
    if nav:
        manifest += (
            '<item id="nav" href="nav.xhtml" properties="nav" media-type="application/xhtml+xml"/>'
        )
    itemrefs = "".join(f'<itemref idref="{name}"/>' for name in (["nav"] if nav else []) + spine)
    opf = f"""<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:title>The Mill</dc:title><dc:creator>A. Miller</dc:creator><dc:creator>B. Baker</dc:creator>
<dc:language>en</dc:language><dc:identifier id="id">urn:isbn:0000</dc:identifier></metadata>
<manifest>{manifest}</manifest><spine>{itemrefs}</spine></package>"""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip")
        if container:
            archive.writestr(
                "META-INF/container.xml",
                """<?xml version="1.0"?>
<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container" version="1.0">
<rootfiles><rootfile full-path="OEBPS/content.opf"
 media-type="application/oebps-package+xml"/></rootfiles></container>""",
            )
        if encrypted:
            archive.writestr("META-INF/encryption.xml", "<encryption/>")
        archive.writestr("OEBPS/content.opf", opf)
        archive.writestr(
            "OEBPS/nav.xhtml", "<html><body><nav><ol><li>Contents</li></ol></nav></body></html>"
        )
        for name, body in sorted(chapters.items()):  # zip order differs from the spine
            archive.writestr(
                f"OEBPS/text/{name}.xhtml",
                f'<?xml version="1.0" encoding="utf-8"?><html xmlns='
                f'"http://www.w3.org/1999/xhtml"><body>{body}</body></html>',
            )


def test_epub_chapters_in_spine_order_without_the_table_of_contents(tmp_path: Path) -> None:
    path = tmp_path / "mill.epub"
    _epub(
        path,
        {
            "a_last": "<h1>Three</h1><p>The end.</p>",
            "b_first": "<h1>One</h1><p>Dawn.</p>",
            "c_middle": "<h1>Two</h1><p>Noon.</p>",
        },
        ["b_first", "c_middle", "a_last"],
    )
    result = ingest(source("epub", kind="book"), path, tmp_path)
    check_accounting(result, {})
    [doc] = kept_rows(result)
    assert doc["text"] == "One\n\nDawn.\n\nTwo\n\nNoon.\n\nThree\n\nThe end."
    info = meta(doc)
    assert info["title"] == "The Mill" and info["authors"] == ["A. Miller", "B. Baker"]
    assert info["language"] == "en" and info["chapters"] == 3


@pytest.mark.parametrize(
    "damage,reason",
    [
        ("not_zip", "corrupt_archive"),
        ("no_container", "corrupt_epub"),
        ("drm", "encrypted"),
        ("no_chapters", "corrupt_epub"),
    ],
)
def test_damaged_epubs_are_counted_skips(tmp_path: Path, damage: str, reason: str) -> None:
    path = tmp_path / "bad.epub"
    if damage == "not_zip":
        path.write_bytes(b"%PDF-1.4 not an epub")
    else:
        _epub(
            path,
            {"one": "<p>text</p>"},
            ["one", "ghost"] if damage != "no_chapters" else ["ghost"],
            container=damage != "no_container",
            encrypted=damage == "drm",
        )
    result = ingest(source("epub", kind="book"), path, tmp_path)
    check_accounting(result, {reason: 1})
    assert dropped_rows(result)[0]["path"] == "bad.epub"


def test_sample_books_are_all_kept_and_never_truncated(shared_data: Path) -> None:
    books = sorted((shared_data / "books").glob("*.txt.gz"))
    if not books:
        pytest.skip("no sample books")
    src = source("text", kind="book")
    for path in books:
        raw = gzip.decompress(path.read_bytes()).decode("utf-8")
        result = ingest(src, path, shared_data)
        check_accounting(result, {})
        [doc] = kept_rows(result)
        # normalisation only removes whitespace: every non-space character is still there
        assert len("".join(doc["text"].split())) == len("".join(raw.split())), path.name
        assert len(doc["text"]) > 100_000, path.name
