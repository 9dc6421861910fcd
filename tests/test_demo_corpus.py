"""The embedded demo corpus: built offline from the Python install, deterministic, cacheable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.demo_corpus import write_demo_corpus
from pipeline.ingest.config import SourceConfig
from pipeline.ingest.reader import ingest_file


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("demo")
    return out, write_demo_corpus(out)


def test_sources_are_valid_source_configs_with_files(demo: tuple[Path, list[dict]]) -> None:
    out, sources = demo
    configs = [SourceConfig.model_validate(s) for s in sources]
    assert [c.name for c in configs] == ["stdlib-code", "python-reference", "package-docs"]
    assert [c.kind for c in configs] == ["code", "book", "web"]
    for config in configs:
        assert config.format == "jsonl" and config.weight == 1.0
        [name] = config.paths
        assert (out / name).is_file() and (out / name).stat().st_size > 10_000, name


def test_total_size_keeps_the_demo_small(demo: tuple[Path, list[dict]]) -> None:
    out, sources = demo
    sizes = [(out / s["paths"][0]).stat().st_size for s in sources]
    assert all(size <= 1_500_000 for size in sizes)
    assert 1_000_000 < sum(sizes) < 5_500_000


def test_every_line_ingests_as_a_document(demo: tuple[Path, list[dict]]) -> None:
    out, sources = demo
    for entry in sources:
        config = SourceConfig.model_validate(entry)
        path = out / config.paths[0]
        result = ingest_file(config, path, config.paths[0])
        assert result.stats.dropped == {}, config.name
        assert result.kept.num_rows == len(path.read_bytes().splitlines())
        assert all(result.kept.column("path").to_pylist())


def test_lines_carry_their_origin(demo: tuple[Path, list[dict]]) -> None:
    out, _ = demo
    code = [json.loads(line) for line in (out / "stdlib-code.jsonl").open(encoding="utf-8")]
    assert all(c["path"].startswith("stdlib/") and c["path"].endswith(".py") for c in code)
    assert not any("/test" in c["path"] or "site-packages" in c["path"] for c in code)
    assert [c["path"] for c in code] == sorted(c["path"] for c in code)
    reference = [json.loads(x) for x in (out / "python-reference.jsonl").open(encoding="utf-8")]
    assert len(reference) > 20 and all(r["topic"] and r["text"].strip() for r in reference)
    docs = [json.loads(line) for line in (out / "package-docs.jsonl").open(encoding="utf-8")]
    assert {d["doc"] for d in docs} <= {"description", "license"}
    assert all(d["distribution"] and d["version"] for d in docs)


def test_second_call_writes_identical_bytes_and_keeps_mtimes(tmp_path: Path) -> None:
    budget = 200_000  # small, to keep this test quick
    first = write_demo_corpus(tmp_path, max_bytes_per_source=budget)
    files = [tmp_path / s["paths"][0] for s in first]
    before = {f: (f.read_bytes(), f.stat().st_mtime_ns) for f in files}
    second = write_demo_corpus(tmp_path, max_bytes_per_source=budget)
    assert second == first
    assert {f: (f.read_bytes(), f.stat().st_mtime_ns) for f in files} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f.name for f in files)


def test_changed_file_is_rewritten(tmp_path: Path) -> None:
    sources = write_demo_corpus(tmp_path, max_bytes_per_source=100_000)
    path = tmp_path / sources[0]["paths"][0]
    original = path.read_bytes()
    path.write_bytes(b"stale\n")
    write_demo_corpus(tmp_path, max_bytes_per_source=100_000)
    assert path.read_bytes() == original
