"""Throughput of every ingest reader on the sample data in ../shared/data.

Formats the sample data does not ship in (Parquet, Arrow, a code tree, a tar.gz, a git
checkout, a folder of HTML files, WET, EPUB) are built first, in a temporary folder, from the
same sample files, so every reader reads the same real text; only the reading is timed. Each
reader runs through `pipeline.ingest.reader.iter_partitions` (what the flow runs), once, in one
process, one after the other.

    .venv/bin/python bench/ingest_readers.py [--data ../shared/data] [--only warc,text]

Reports documents/s, MB/s of input (bytes on disk) and MB/s of text produced.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.ingest.config import SourceConfig
from pipeline.ingest.html_extract import extract_text
from pipeline.ingest.reader import iter_partitions

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _code_rows(data: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in gzip.decompress((data / "code" / "code.jsonl.gz").read_bytes()).splitlines()
    ]


def _warc_pages(data: Path) -> list[tuple[str, str, str]]:
    from warcio.archiveiterator import ArchiveIterator

    pages = []
    with (data / "web" / "docs.warc.gz").open("rb") as handle:
        for record in ArchiveIterator(handle):
            if record.rec_type == "response":
                pages.append(
                    (
                        record.rec_headers.get_header("WARC-Target-URI"),
                        record.rec_headers.get_header("WARC-Date"),
                        record.content_stream().read().decode("utf-8"),
                    )
                )
    return pages


def build_inputs(data: Path, work: Path) -> dict[str, list[Path]]:
    """The derived inputs, by case name."""
    rows = _code_rows(data)
    table = pa.table(
        {
            "path": [r["path"] for r in rows],
            "language": [r["language"] for r in rows],
            "text": [r["text"] for r in rows],
        }
    )
    pq.write_table(table, work / "code.parquet", compression="zstd")
    with (
        pa.OSFile(str(work / "code.arrow"), "wb") as sink,
        pa.ipc.new_file(sink, table.schema) as writer,
    ):
        writer.write_table(table)
    tree = work / "tree"
    for row in rows:
        target = tree / row["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(row["text"], encoding="utf-8")
    with tarfile.open(work / "tree.tar.gz", "w:gz") as tar:
        tar.add(tree, arcname="tree")
    checkout = work / "checkout"
    shutil.copytree(tree, checkout)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@invalid",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@invalid",
    }
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "sample"]):
        subprocess.run(["git", "-C", str(checkout), *args], check=True, env=env)

    pages = _warc_pages(data)
    site = work / "site"
    for url, _, html in pages:
        target = site / url.split("/", 3)[3]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html, encoding="utf-8")
    from warcio.warcwriter import WARCWriter

    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    for url, date, html in pages:
        text = extract_text(html, "builtin").encode()
        writer.write_record(
            writer.create_warc_record(
                url,
                "conversion",
                payload=io.BytesIO(text),
                warc_content_type="text/plain",
                warc_headers_dict={"WARC-Date": date},
            )
        )
    (work / "docs.warc.wet.gz").write_bytes(buffer.getvalue())

    epubs = []
    for book in sorted((data / "books").glob("*.txt.gz")):
        text = gzip.decompress(book.read_bytes()).decode("utf-8")
        epubs.append(_write_epub(work / (book.name.removesuffix(".txt.gz") + ".epub"), text))
    return {
        "parquet": [work / "code.parquet"],
        "arrow": [work / "code.arrow"],
        "code-tree": [tree],
        "code-tar.gz": [work / "tree.tar.gz"],
        "code-git": [checkout],
        "html-folder": [site],
        "wet": [work / "docs.warc.wet.gz"],
        "epub": epubs,
        "hf-json": [data / "code" / "code.jsonl.gz"],
    }


def _write_epub(path: Path, text: str, chapter_chars: int = 100_000) -> Path:
    from html import escape

    chapters = [text[i : i + chapter_chars] for i in range(0, len(text), chapter_chars)]
    manifest = "".join(
        f'<item id="c{i}" href="c{i}.xhtml" media-type="application/xhtml+xml"/>'
        for i in range(len(chapters))
    )
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/epub+zip")
        archive.writestr(
            "META-INF/container.xml",
            '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
            '<rootfiles><rootfile full-path="content.opf"/></rootfiles></container>',
        )
        archive.writestr(
            "content.opf",
            '<package xmlns="http://www.idpf.org/2007/opf"><metadata/>'
            f"<manifest>{manifest}</manifest><spine>{spine}</spine></package>",
        )
        for i, chapter in enumerate(chapters):
            body = "".join(f"<p>{escape(p)}</p>" for p in chapter.split("\n\n"))
            archive.writestr(f"c{i}.xhtml", f"<html><body>{body}</body></html>")
    return path


Case = tuple[str, dict[str, Any], list[Path]]


def cases(data: Path, derived: dict[str, list[Path]]) -> list[Case]:
    books = sorted((data / "books").glob("*.txt.gz"))
    jsonl = [
        data / "code" / "code.jsonl.gz",
        data / "neardup" / "neardup.jsonl.gz",
        data / "langid" / "langid.jsonl.gz",
    ]
    warc = [data / "web" / "docs.warc.gz"]
    return [
        ("warc (resiliparse)", {"format": "warc", "kind": "web"}, warc),
        (
            "warc (trafilatura)",
            {"format": "warc", "kind": "web", "web": {"extractor": "trafilatura"}},
            warc,
        ),
        (
            "warc (builtin)",
            {"format": "warc", "kind": "web", "web": {"extractor": "builtin"}},
            warc,
        ),
        ("wet", {"format": "wet", "kind": "web"}, derived["wet"]),
        ("html folder (resiliparse)", {"format": "html", "kind": "web"}, derived["html-folder"]),
        ("text (books)", {"format": "text", "kind": "book"}, books),
        ("epub (books)", {"format": "epub", "kind": "book"}, derived["epub"]),
        ("jsonl.gz", {"format": "jsonl", "kind": "code"}, jsonl),
        ("parquet", {"format": "parquet", "kind": "code"}, derived["parquet"]),
        ("arrow", {"format": "arrow", "kind": "code"}, derived["arrow"]),
        (
            "hf (json, streaming)",
            {"format": "hf", "kind": "code", "hf": {"dataset": "json"}},
            derived["hf-json"],
        ),
        ("code (folder)", {"format": "code", "kind": "code"}, derived["code-tree"]),
        ("code (git checkout)", {"format": "code", "kind": "code"}, derived["code-git"]),
        ("code (tar.gz)", {"format": "code", "kind": "code"}, derived["code-tar.gz"]),
    ]


def _disk_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(
            p.stat().st_size for p in path.rglob("*") if p.is_file() and ".git" not in p.parts
        )
    return path.stat().st_size


def measure(name: str, settings: dict[str, Any], paths: list[Path]) -> dict[str, Any]:
    source = SourceConfig(name="bench", paths=[str(p) for p in paths], **settings)
    docs = dropped = text = 0
    started = time.perf_counter()
    for path in paths:
        for part in iter_partitions(source, path, path.name):
            docs += part.result.stats.docs_kept
            dropped += part.result.stats.docs_dropped
            text += part.result.stats.bytes_kept
    seconds = time.perf_counter() - started
    disk = sum(_disk_bytes(p) for p in paths)
    return {
        "case": name,
        "files": len(paths),
        "docs": docs,
        "dropped": dropped,
        "seconds": seconds,
        "disk_mb": disk / 1e6,
        "text_mb": text / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--only", default="", help="comma-separated case name prefixes")
    args = parser.parse_args()
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    print(
        f"{args.data}; {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        derived = build_inputs(args.data, Path(tmp))
        print(f"derived inputs built in {time.perf_counter() - started:.1f} s (not timed)\n")
        extract_text("<p>warm up</p>", "resiliparse")
        extract_text("<p>warm up</p>", "trafilatura")
        print(
            "| reader | files | docs kept | dropped | seconds | docs/s | MB/s in (disk) "
            "| MB/s text out |"
        )
        print("|---|---|---|---|---|---|---|---|")
        selected: list[Callable[[], dict[str, Any]]] = []
        for name, settings, paths in cases(args.data, derived):
            if wanted and not any(name.startswith(w) for w in wanted):
                continue
            selected.append(lambda n=name, s=settings, p=paths: measure(n, s, p))
        for run in selected:
            r = run()
            print(
                f"| {r['case']} | {r['files']} | {r['docs']:,} | {r['dropped']:,} | "
                f"{r['seconds']:.2f} | {r['docs'] / r['seconds']:,.0f} | "
                f"{r['disk_mb'] / r['seconds']:.1f} | {r['text_mb'] / r['seconds']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
