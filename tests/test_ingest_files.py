"""Finding a source's files: globs, paths that are not readable files, fingerprints and names,
and a reader for every format."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.ingest.config import SourceConfig
from pipeline.ingest.files import (
    SourceError,
    file_fingerprint,
    relative_name,
    resolve_source_files,
)
from pipeline.ingest.formats import FORMATS
from pipeline.ingest.reader import READERS


def books(*paths: str) -> SourceConfig:
    return SourceConfig(name="books", kind="book", format="text", paths=list(paths))


def test_globs_expand_recursively_sorted_and_without_duplicates(tmp_path: Path) -> None:
    for rel in ["a/2.txt", "a/1.txt", "a/deep/er/3.txt", "b/4.txt", "b/skip.md"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    src = books("a/**/*.txt", "a/1.txt", str(tmp_path / "b" / "*.txt"), "b/4.txt")
    files = resolve_source_files(src, tmp_path)
    assert [relative_name(f, tmp_path) for f in files] == [
        "a/1.txt",
        "a/2.txt",
        "a/deep/er/3.txt",
        "b/4.txt",
    ]
    assert all(f.is_absolute() for f in files)


def test_glob_matching_nothing_names_source_and_glob(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"'books'.*nothing/\*\.txt.*matches no files"):
        resolve_source_files(books("nothing/*.txt"), tmp_path)


def test_missing_literal_path_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"'books'.*missing\.txt: does not exist"):
        resolve_source_files(books("missing.txt"), tmp_path)


def test_directory_is_rejected_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises(SourceError, match=r"folder: is a directory"):
        resolve_source_files(books("folder"), tmp_path)
    with pytest.raises(SourceError, match=r"folder.*is a directory"):
        resolve_source_files(books("fold*"), tmp_path)


def test_broken_symlink_is_rejected_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "gone.txt")
    with pytest.raises(SourceError, match=r"dangling\.txt.*broken symlink"):
        resolve_source_files(books("*.txt"), tmp_path)


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
    try:
        with pytest.raises(SourceError, match=r"secret\.txt: cannot be read"):
            resolve_source_files(books("secret.txt"), tmp_path)
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
