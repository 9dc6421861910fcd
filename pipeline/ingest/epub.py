"""Format ``epub``: one document per EPUB book, its chapters in reading order.

An EPUB is a zip: ``META-INF/container.xml`` names the package document (OPF), whose
``<spine>`` lists the chapters (XHTML) in reading order. Each chapter's text is extracted with
the structure-keeping builtin extractor (chapters have no site boilerplate to remove) and the
chapters are joined with blank lines; the navigation document (the table of contents) is left
out. Title, authors, language and identifier go to ``meta``. For kind ``book`` the book options
apply (Gutenberg EPUBs carry the same licence text as plain ones).

Skips: ``corrupt_archive`` (not a zip), ``corrupt_epub`` (no container or package document, no
readable chapter), ``encrypted`` (DRM: the chapters are not text), ``decompression_bomb``,
``too_long`` (over ``limits.max_document_bytes`` in all), ``empty``.
"""

from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from pipeline.ingest.archives import read_zip_member, safe_member_name
from pipeline.ingest.compression import DecompressionBomb, ExpansionGuard
from pipeline.ingest.encoding import Undecodable, decode
from pipeline.ingest.html_text import html_to_text
from pipeline.ingest.records import Record, Skipped, Unit
from pipeline.ingest.text_files import whole_file_record

CONTAINER = "META-INF/container.xml"
ENCRYPTION = "META-INF/encryption.xml"
#: The package and container documents are small; more is not an EPUB's metadata.
META_MAX_BYTES = 1 << 22
_DC = "{http://purl.org/dc/elements/1.1/}"


class _EpubError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml(data: bytes, what: str) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError as error:
        raise _EpubError("corrupt_epub", f"{what} is not well-formed XML: {error}") from None


class _Book:
    def __init__(self, unit: Unit, archive: zipfile.ZipFile) -> None:
        self.unit = unit
        self.archive = archive
        self.names = set(archive.namelist())
        limits = unit.source.limits
        self.total = ExpansionGuard(limits, unit.rel_path, "zip")
        self.total.consumed(unit.path.stat().st_size)

    def read(self, name: str, cap: int) -> bytes:
        info = self.archive.getinfo(name)
        return read_zip_member(
            self.archive, info, self.unit.source.limits, self.unit.rel_path, self.total, cap
        )

    def package(self) -> tuple[str, ET.Element]:
        if CONTAINER not in self.names:
            raise _EpubError("corrupt_epub", f"no {CONTAINER}; expected an EPUB container")
        container = _xml(self.read(CONTAINER, META_MAX_BYTES), CONTAINER)
        for element in container.iter():
            if _local(element.tag) == "rootfile" and element.get("full-path"):
                opf = element.get("full-path", "")
                if opf not in self.names:
                    raise _EpubError("corrupt_epub", f"package document {opf!r} is missing")
                return opf, _xml(self.read(opf, META_MAX_BYTES), opf)
        raise _EpubError("corrupt_epub", f"{CONTAINER} names no package document (rootfile)")


def _metadata(package: ET.Element) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for element in package.iter():
        if element.tag.startswith(_DC) and (element.text or "").strip():
            key = {"creator": "authors"}.get(_local(element.tag), _local(element.tag))
            if key in ("title", "language", "identifier") and key not in meta:
                meta[key] = element.text.strip()  # type: ignore[union-attr]
            elif key == "authors":
                meta.setdefault("authors", []).append(element.text.strip())  # type: ignore[union-attr]
    return meta


def _spine(package: ET.Element, opf: str) -> list[str]:
    """Member names of the spine's chapters, in reading order (navigation document left out)."""
    manifest: dict[str, tuple[str, str]] = {}
    for element in package.iter():
        if _local(element.tag) == "item" and element.get("id") and element.get("href"):
            manifest[element.get("id", "")] = (
                element.get("href", ""),
                element.get("properties", ""),
            )
    base = posixpath.dirname(opf)
    chapters = []
    for element in package.iter():
        if _local(element.tag) != "itemref":
            continue
        if element.get("idref") not in manifest:
            chapters.append(f"<unlisted item {element.get('idref')!r}>")  # counts as missing
            continue
        href, properties = manifest[element.get("idref", "")]
        if "nav" in properties.split():
            continue
        name = safe_member_name(posixpath.join(base, unquote(href.split("#", 1)[0])))
        if name is not None:
            chapters.append(name)
    return chapters


def _book_text(book: _Book, meta: dict[str, Any]) -> str:
    if ENCRYPTION in book.names:
        raise _EpubError("encrypted", f"{ENCRYPTION} present: the chapters are encrypted (DRM)")
    opf, package = book.package()
    meta.update(_metadata(package))
    chapters = _spine(package, opf)
    cap = book.unit.source.limits.max_document_bytes
    texts, missing, used = [], 0, 0
    for name in chapters:
        if name not in book.names:
            missing += 1
            continue
        data = book.read(name, cap - used)
        used += len(data)
        if used > cap:
            raise _EpubError("too_long", f"chapters hold more than max_document_bytes ({cap:,})")
        try:
            html, _ = decode(data, "auto")
        except Undecodable:
            missing += 1
            continue
        text = html_to_text(html)
        if text:
            texts.append(text)
    meta["chapters"] = len(chapters)
    if missing:
        meta["chapters_missing"] = missing
    if chapters and missing == len(chapters):
        raise _EpubError("corrupt_epub", "no chapter of the spine could be read")
    return "\n\n".join(texts)


def iter_records(unit: Unit) -> Iterator[Record]:
    """Yield the book's one document, or one :class:`Skipped` saying why there is none."""
    source, rel_path = unit.source, unit.rel_path
    unit.opened(unit.path.stat().st_size)
    meta: dict[str, Any] = {"location": rel_path}
    try:
        archive = zipfile.ZipFile(unit.path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        yield Skipped(
            rel_path,
            "corrupt_archive",
            "",
            {**meta, "error": f"{rel_path}: not a zip archive, so not an EPUB: {error}"},
        )
        return
    try:
        with archive:
            text = _book_text(_Book(unit, archive), meta)
    except _EpubError as error:
        yield Skipped(rel_path, error.reason, "", {**meta, "error": f"{rel_path}: {error}"})
        return
    except DecompressionBomb as bomb:
        yield Skipped(rel_path, bomb.reason, "", {**meta, "error": str(bomb)})
        return
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as error:
        yield Skipped(
            rel_path,
            "corrupt_epub",
            "",
            {**meta, "error": f"{rel_path}: a member cannot be read: {error}"},
        )
        return
    yield whole_file_record(source, rel_path, text, meta)
