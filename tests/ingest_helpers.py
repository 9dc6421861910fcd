"""Helpers for the ingest tests: a source config, reading one unit, the accounting check, and
the inputs several readers are tested on."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pipeline.ingest.config import SourceConfig
from pipeline.ingest.files import relative_name
from pipeline.ingest.reader import ingest_file
from pipeline.schema import REASON, check_documents
from pipeline.stage import StageResult


def source(fmt: str, kind: str = "web", **extra: Any) -> SourceConfig:
    extra.setdefault("paths", ["unused"])
    return SourceConfig(name="src", kind=kind, format=fmt, **extra)


def ingest(src: SourceConfig, path: Path, base: Path) -> StageResult:
    return ingest_file(src, path, relative_name(path, base))


def check_accounting(result: StageResult, dropped: dict[str, int] | None = None) -> None:
    """in = kept + dropped, tables valid, and every dropped row's reason counted."""
    stats = result.stats
    assert stats.stage == "ingest"
    assert stats.docs_in == result.kept.num_rows + result.dropped.num_rows
    assert stats.docs_kept == result.kept.num_rows
    stats.check()
    check_documents(result.kept, "kept")
    check_documents(result.dropped, "dropped")
    reasons = Counter(result.dropped.column(REASON).to_pylist())
    assert dict(reasons) == stats.dropped
    if dropped is not None:
        assert stats.dropped == dropped


def kept_rows(result: StageResult) -> list[dict[str, Any]]:
    return result.kept.to_pylist()


def dropped_rows(result: StageResult) -> list[dict[str, Any]]:
    return result.dropped.to_pylist()


def meta(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row["meta"])


def reasons_by_path(result: StageResult) -> dict[str, str]:
    """repo path (or path) -> skip reason, for readers of trees and archives."""
    out = {}
    for row in dropped_rows(result):
        out[meta(row).get("repo_path", row["path"])] = row[REASON]
    return out


def write_lines(path: Path, lines: list[str | bytes], compress: bool = False) -> Path:
    """Lines joined by newlines (with a last one), gzip-compressed if ``compress``."""
    data = b"\n".join(line if isinstance(line, bytes) else line.encode() for line in lines) + b"\n"
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """A folder of ``files`` (relative path -> body) under ``root``."""
    for rel, body in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body, encoding="utf-8")
    return root


def sample_file(shared_data: Path, rel: str) -> Path:
    """A file of the sample data; the test skips where it is absent."""
    path = shared_data / rel
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path
