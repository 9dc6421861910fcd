"""Ingest under hostile input: compression formats, decompression bombs, huge lines and files.

Every case ends in a counted skip with its reason (or documents), never a crash, never an
unbounded allocation.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import random
import tarfile
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from pipeline.ingest.compression import LongLine, iter_lines
from pipeline.schema import doc_id
from tests.corpus_fixtures import random_words
from tests.ingest_helpers import (
    check_accounting,
    dropped_rows,
    ingest,
    kept_rows,
    meta,
    reasons_by_path,
    source,
)

LINES = [json.dumps({"text": f"line number {i} of the mill"}) for i in range(50)]
DATA = ("\n".join(LINES) + "\n").encode()
SMALL = {"ratio_grace_bytes": 1 << 20, "max_expansion_ratio": 50.0}


@pytest.mark.parametrize(
    "suffix,compress",
    [
        (".gz", gzip.compress),
        (".zst", zstandard.ZstdCompressor().compress),
        (".bz2", bz2.compress),
        (".xz", lzma.compress),
        ("", lambda d: d),
    ],
)
def test_jsonl_in_every_compression_is_read_from_its_magic_bytes(
    tmp_path: Path, suffix: str, compress: Callable[[bytes], bytes]
) -> None:
    path = tmp_path / f"lines.jsonl{suffix}"
    path.write_bytes(compress(DATA))
    result = ingest(source("jsonl"), path, tmp_path)
    check_accounting(result, {})
    assert [d["text"] for d in kept_rows(result)] == [json.loads(x)["text"] for x in LINES]


@pytest.mark.parametrize(
    "suffix,compress,reason",
    [
        (".gz", gzip.compress, "truncated_gzip"),
        (".zst", zstandard.ZstdCompressor().compress, "truncated_zstd"),
    ],
)
def test_truncated_jsonl_keeps_lines_read_and_drops_one(
    tmp_path: Path, suffix: str, compress: Callable[[bytes], bytes], reason: str
) -> None:
    rng = random.Random(4)
    lines = [json.dumps({"text": random_words(rng, 50)}) for _ in range(2000)]
    data = compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / f"cut.jsonl{suffix}"
    path.write_bytes(data[: len(data) * 6 // 10])
    result = ingest(source("jsonl"), path, tmp_path)
    check_accounting(result, {reason: 1})
    kept = kept_rows(result)
    assert 500 < len(kept) < 2000
    assert [d["text"] for d in kept] == [json.loads(line)["text"] for line in lines[: len(kept)]]
    [row] = dropped_rows(result)
    assert row["id"] == doc_id("src", f"cut.jsonl{suffix}:{len(kept) + 1}")
    assert lines[len(kept)].startswith(row["text"])  # the unfinished line, for inspection


def test_truncated_gzip_text_is_dropped_with_the_part_read(tmp_path: Path) -> None:
    text = random_words(random.Random(2), 40000)
    data = gzip.compress(text.encode())
    path = tmp_path / "cut.txt.gz"
    path.write_bytes(data[: len(data) // 2])
    result = ingest(source("text", kind="book"), path, tmp_path)
    check_accounting(result, {"truncated_gzip": 1})
    [row] = dropped_rows(result)
    assert len(row["text"]) > 1000 and text.startswith(row["text"])


def test_garbled_gzip_text_is_dropped_as_corrupt(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(random_words(random.Random(3), 3000).encode()))
    data[40:80] = bytes(b ^ 0xFF for b in data[40:80])
    path = tmp_path / "garbled.txt.gz"
    path.write_bytes(bytes(data))
    result = ingest(source("text", kind="book"), path, tmp_path)
    check_accounting(result, {"corrupt_gzip": 1})


def test_concatenated_gzip_members_are_all_read(tmp_path: Path) -> None:
    path = tmp_path / "cat.jsonl.gz"
    path.write_bytes(gzip.compress(DATA) + gzip.compress(DATA))
    result = ingest(source("jsonl"), path, tmp_path)
    check_accounting(result, {})
    assert result.kept.num_rows == 100


def _write_long_line(path: Path, megabytes: int) -> None:
    """A file of one short line, one line of `megabytes` MB, one short line -- written
    streaming, never held in memory."""
    with path.open("wb") as handle:
        handle.write(json.dumps({"text": "before"}).encode() + b"\n")
        handle.write(b'{"text": "')
        block = b"a" * (1 << 20)
        for _ in range(megabytes):
            handle.write(block)
        handle.write(b'"}\n')
        handle.write(json.dumps({"text": "after"}).encode() + b"\n")


def test_single_100mb_line_is_skipped_as_too_long_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    _write_long_line(path, 100)
    src = source("jsonl", limits={"max_line_bytes": 1 << 20})
    tracemalloc.start()
    try:
        result = ingest(src, path, tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    check_accounting(result, {"too_long": 1})
    assert [d["text"] for d in kept_rows(result)] == ["before", "after"]
    [row] = dropped_rows(result)
    assert f"line of {100 * (1 << 20) + 12:,} bytes" in meta(row)["error"]
    assert row["text"].startswith('{"text": "aaa') and len(row["text"]) <= 1024
    assert peak < 16 << 20, f"peak {peak / 1e6:.1f} MB while reading a 100 MB line"


def test_line_cap_holds_across_chunk_boundaries() -> None:
    chunks = [b"ab", b"cdef\nxy", b"z" * 10, b"\nok\n", b"tail"]
    lines = list(iter_lines(iter(chunks), max_line_bytes=8))
    assert lines == [b"abcdef", LongLine(12, b"xyzzzzzzzzzz"), b"ok", b"tail"]


def test_gzip_bomb_text_file_is_skipped_not_expanded(tmp_path: Path) -> None:
    path = tmp_path / "bomb.txt.gz"
    path.write_bytes(gzip.compress(b"\0" * (24 << 20)))  # ~24 KB expanding 1000x
    result = ingest(source("text", kind="book", limits=SMALL), path, tmp_path)
    check_accounting(result, {"decompression_bomb": 1})
    assert "max_expansion_ratio" in meta(dropped_rows(result)[0])["error"]


def test_expansion_size_cap_stops_a_stream_within_the_ratio(tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl.gz"
    lines = [json.dumps({"text": f"{i} flour"}) for i in range(200_000)]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    result = ingest(source("jsonl", limits={"max_expanded_bytes": 1 << 20}), path, tmp_path)
    check_accounting(result, {"decompression_bomb": 1})
    assert 0 < result.kept.num_rows < 200_000  # what came before the cap is kept


def test_zip_bomb_member_in_code_archive_is_skipped(tmp_path: Path) -> None:
    # (with the default 1 MiB file cap it would be `too_large` without being expanded)
    path = tmp_path / "repo.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ok.py", "print('fine')\n")
        archive.writestr("bomb.py", "#" * (24 << 20))
    src = source("code", kind="code", limits=SMALL, code={"max_file_bytes": 64 << 20})
    result = ingest(src, path, tmp_path)
    check_accounting(result)
    assert reasons_by_path(result)["bomb.py"] == "decompression_bomb"
    assert [meta(d)["repo_path"] for d in kept_rows(result)] == ["ok.py"]


def test_tar_members_escaping_the_archive_are_unsafe_and_not_read(tmp_path: Path) -> None:
    path = tmp_path / "repo.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, body in [
            ("pkg/good.py", b"x = 1\n"),
            ("../escape.py", b"evil = 1\n"),
            ("/etc/abs.py", b"evil = 2\n"),
            ("pkg/../../up.py", b"evil = 3\n"),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        link = tarfile.TarInfo("pkg/link.py")
        link.type, link.linkname = tarfile.SYMTYPE, "../../etc/passwd"
        tar.addfile(link)
    result = ingest(source("code", kind="code"), path, tmp_path)
    check_accounting(result, {"unsafe_path": 3, "symlink": 1})
    assert [d["text"] for d in kept_rows(result)] == ["x = 1\n"]


def test_zip_member_with_absolute_or_parent_name_is_unsafe(tmp_path: Path) -> None:
    path = tmp_path / "repo.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.py", "a = 1\n")
        archive.writestr("../../b.py", "b = 2\n")
        archive.writestr("C:/windows/c.py", "c = 3\n")
    result = ingest(source("code", kind="code"), path, tmp_path)
    check_accounting(result, {"unsafe_path": 2})


def test_truncated_archive_keeps_members_before_the_cut_and_counts_one_skip(
    tmp_path: Path,
) -> None:
    good = tmp_path / "good.tar.gz"
    with tarfile.open(good, "w:gz") as tar:
        for i in range(40):
            body = (f"value_{i} = {i}\n" * 400).encode()
            info = tarfile.TarInfo(f"m{i:02d}.py")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    result = ingest(source("code", kind="code"), cut, tmp_path)
    check_accounting(result, {"truncated_gzip": 1})  # the member the cut runs through
    kept = [d["path"] for d in kept_rows(result)]
    assert 0 < len(kept) < 39 and kept == [f"cut.tar.gz/m{i:02d}.py" for i in range(len(kept))]
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"this is not a zip file at all")
    result = ingest(source("code", kind="code"), fake, tmp_path)
    check_accounting(result, {"corrupt_archive": 1})


def test_document_over_the_size_cap_is_skipped_whole_never_cut(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_text("word " * 100_000)
    result = ingest(
        source("text", kind="book", limits={"max_document_bytes": 100_000}), path, tmp_path
    )
    check_accounting(result, {"too_long": 1})
    [row] = dropped_rows(result)
    assert "500,000 bytes" in meta(row)["error"] and "never cut" in meta(row)["error"]
    assert 0 < len(row["text"]) <= 4096
