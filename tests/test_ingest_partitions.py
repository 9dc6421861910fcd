"""Ingest as units of work: partitions of a target size, per-unit resume, determinism, the card."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.card.build import source_rows
from pipeline.config import parse_config
from pipeline.ingest import reader
from pipeline.ingest.plan import plan_units
from pipeline.rundir import RunDir
from pipeline.steps.ingest import ingest_step
from pipeline.steps.records import finish_stage
from tests.ingest_helpers import check_accounting, source, write_tree

LINE = "The miller weighed every sack of grain before it went to the stones. "


def _corpus(folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"text": f"{i} {LINE * 5}"}) for i in range(400)] + ["{broken"]
    (folder / "big.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "small.jsonl").write_text(json.dumps({"text": LINE}) + "\n")
    write_tree(folder / "repo", {"a.py": "A = 1\n", "b.py": "B = 2\n", "c.bin": "x"})
    return {
        "sources": [
            {
                "name": "web",
                "kind": "web",
                "format": "jsonl",
                "paths": ["*.jsonl"],
                "license": "CC0-1.0",
                # batch_bytes 0: every file a unit of its own, as this test's counts assume
                "limits": {"partition_bytes": 50_000, "batch_bytes": 0},
            },
            {"name": "code", "kind": "code", "format": "code", "paths": ["repo"], "license": "MIT"},
        ]
    }


def _ingest_all(run: RunDir, config) -> list[dict]:
    return [
        s
        for item in plan_units(config.sources, config.base_dir)
        for s in ingest_step(run, config, item)
    ]


def test_large_file_writes_several_partitions_that_account_for_every_record(
    tmp_path: Path,
) -> None:
    config = parse_config(_corpus(tmp_path / "in"), tmp_path / "in")
    run = RunDir(tmp_path / "run")
    items = plan_units(config.sources, config.base_dir)
    assert len(items) == 3  # two files and one tree, each one unit
    summaries = _ingest_all(run, config)
    names = [s["part"] for s in summaries]
    assert all(n.rsplit("-", 1)[1].isdigit() and len(n.rsplit("-", 1)[1]) == 5 for n in names)
    web_parts = [n for n in names if n.startswith("web-")]
    assert len(web_parts) >= 4  # 400 lines of ~360 bytes at 50 kB per partition
    total_in = sum(s["stats"]["docs_in"] for s in summaries)
    total_kept = sum(s["stats"]["docs_kept"] for s in summaries)
    assert total_in == 401 + 1 + 3 and total_kept == 400 + 1 + 2
    for name in names:
        rows = pq.read_metadata(run.kept_path("ingest", name)).num_rows
        marker = json.loads(run.marker_path("ingest", name).read_text())
        assert rows == marker["stats"]["docs_kept"]
        assert marker["meta"]["unit"] == name.rsplit("-", 1)[0]


def test_rerun_skips_units_and_redoes_a_unit_with_a_lost_partition(tmp_path: Path) -> None:
    config = parse_config(_corpus(tmp_path / "in"), tmp_path / "in")
    run = RunDir(tmp_path / "run")
    first = _ingest_all(run, config)
    again = _ingest_all(run, config)
    assert all(s["skipped"] for s in again)
    assert [s["kept_sha256"] for s in again] == [s["kept_sha256"] for s in first]
    lost = next(
        s["part"] for s in first if s["part"].startswith("web-") and s["part"].endswith("-00002")
    )
    run.kept_path("ingest", lost).unlink()
    third = _ingest_all(run, config)
    unit = lost.rsplit("-", 1)[0]
    redone = {s["part"] for s in third if not s["skipped"]}
    assert redone == {s["part"] for s in first if s["part"].startswith(unit + "-")}
    assert [s["kept_sha256"] for s in third] == [s["kept_sha256"] for s in first]


def test_changed_file_in_a_tree_redoes_that_tree(tmp_path: Path) -> None:
    config = parse_config(_corpus(tmp_path / "in"), tmp_path / "in")
    run = RunDir(tmp_path / "run")
    _ingest_all(run, config)
    (tmp_path / "in" / "repo" / "b.py").write_text("B = 3  # changed\n")
    again = _ingest_all(run, config)
    assert {s["part"].split("-")[0] for s in again if not s["skipped"]} == {"code"}


def test_outputs_are_byte_identical_across_runs(tmp_path: Path) -> None:
    config = parse_config(_corpus(tmp_path / "in"), tmp_path / "in")
    one = _ingest_all(RunDir(tmp_path / "one"), config)
    two = _ingest_all(RunDir(tmp_path / "two"), config)
    assert [(s["part"], s["kept_sha256"]) for s in one] == [
        (s["part"], s["kept_sha256"]) for s in two
    ]


def test_card_counts_each_unit_once_however_many_partitions(tmp_path: Path) -> None:
    config = parse_config(_corpus(tmp_path / "in"), tmp_path / "in")
    run = RunDir(tmp_path / "run")
    summaries = _ingest_all(run, config)
    finish_stage(run, "ingest", [], summaries, 0.0)
    rows = {row["name"]: row for row in source_rows(run, config)}
    web, code = rows["web"], rows["code"]
    files = sorted((tmp_path / "in").glob("*.jsonl"))
    assert web["files"] == 2 and web["bytes_read"] == sum(f.stat().st_size for f in files)
    assert web["documents"] == 401 and web["skipped"] == {"invalid_json": 1}
    assert web["license"] == "CC0-1.0"
    assert code["files"] == 3 and code["documents"] == 2  # the tree's files, all opened
    assert code["skipped"] == {"unknown_extension": 1}


def _tiny_files(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"note-{i:05d}.txt").write_text(f"Note {i}: the mill wheel turned {i} times.\n")


def _tiny_config(folder: Path) -> dict:
    return {"sources": [{"name": "notes", "kind": "book", "format": "text", "paths": ["n/*.txt"]}]}


def test_ten_thousand_tiny_files_become_a_few_units_with_every_document(tmp_path: Path) -> None:
    _tiny_files(tmp_path / "in" / "n", 10_000)
    config = parse_config(_tiny_config(tmp_path / "in"), tmp_path / "in")
    units = plan_units(config.sources, config.base_dir)
    assert 10 <= len(units) <= 200  # batched by bytes and by content, not one per file
    assert sum(len(u.members) for u in units) == 10_000
    run = RunDir(tmp_path / "run")
    summaries = _ingest_all(run, config)
    assert len(summaries) == len(units)  # one partition each: the files are tiny
    record = finish_stage(run, "ingest", [], summaries, 0.0)
    assert record["counts"]["docs_in"] == record["counts"]["docs_kept"] == 10_000
    paths = set()
    for summary in summaries:
        paths.update(
            pq.read_table(run.kept_path("ingest", summary["part"])).column("path").to_pylist()
        )
    assert paths == {f"n/note-{i:05d}.txt" for i in range(10_000)}  # ids and paths per file
    again = _ingest_all(run, config)
    assert all(s["skipped"] for s in again)


def test_a_new_small_file_changes_only_its_own_group(tmp_path: Path) -> None:
    _tiny_files(tmp_path / "in" / "n", 3000)
    config = parse_config(_tiny_config(tmp_path / "in"), tmp_path / "in")
    before = {u.part: u.members for u in plan_units(config.sources, config.base_dir)}
    (tmp_path / "in" / "n" / "note-01500a.txt").write_text("A late note.\n")
    config = parse_config(_tiny_config(tmp_path / "in"), tmp_path / "in")
    after = {u.part: u.members for u in plan_units(config.sources, config.base_dir)}
    changed = set(after) - set(before)
    assert 1 <= len(changed) <= 2
    assert len(set(before) - set(after)) == len(changed)  # the rest keep their names and files


def test_a_file_at_least_batch_bytes_is_a_unit_of_its_own(tmp_path: Path) -> None:
    _tiny_files(tmp_path / "in" / "n", 5)
    (tmp_path / "in" / "n" / "big.txt").write_text("The long book. " * 200)
    data = _tiny_config(tmp_path / "in")
    data["sources"][0]["limits"] = {"batch_bytes": 1000}
    config = parse_config(data, tmp_path / "in")
    units = plan_units(config.sources, config.base_dir)
    assert [u.members[0][1] for u in units if len(u.members) == 1] == ["n/big.txt"]
    assert sum(len(u.members) for u in units) == 6


# One curly quote makes Python store a whole string at 2 bytes a character, as most web pages are.
QUOTED = "The miller\u2019s sacks went to the stones before noon. " * 40


def _quoted_jsonl(path: Path, lines: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for i in range(lines):
            handle.write(json.dumps({"text": f"{i} {QUOTED}"}, ensure_ascii=False) + "\n")
            if i % 500 == 7:
                handle.write("{broken\n")
    return path


def test_a_filling_partition_is_held_as_arrow_not_as_python_strings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _quoted_jsonl(tmp_path / "quoted.jsonl", 4000)  # 8 MB of text
    monkeypatch.setattr(reader, "BATCH_BYTES", 256 << 10)
    src = source("jsonl", limits={"partition_bytes": 4 << 20})
    list(reader.iter_partitions(src, path, "warm-up"))  # the first conversion imports modules
    tracemalloc.start()
    try:
        kept = 0
        for part in reader.iter_partitions(src, path, "quoted.jsonl"):
            kept += part.result.stats.docs_kept
            del part
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept == 4000
    # Held as Python strings until the partition closed, its 4 MiB of text took 13 MB here.
    assert peak < 2 << 20, f"Python objects peaked at {peak / 1e6:.1f} MB for 4 MiB partitions"


def test_partitions_are_the_same_whether_converted_record_by_record_or_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _quoted_jsonl(tmp_path / "quoted.jsonl", 1200)
    src = source("jsonl", limits={"partition_bytes": 1 << 20})
    whole = [p.result for p in reader.iter_partitions(src, path, "quoted.jsonl")]
    monkeypatch.setattr(reader, "BATCH_BYTES", 1)
    each = [p.result for p in reader.iter_partitions(src, path, "quoted.jsonl")]
    assert len(each) == len(whole) == 3
    for one, other in zip(each, whole, strict=True):
        check_accounting(one, {"invalid_json": one.stats.docs_in - one.stats.docs_kept})
        assert one.kept.to_pylist() == other.kept.to_pylist()
        assert one.dropped.to_pylist() == other.dropped.to_pylist()
        assert one.stats.dropped == other.stats.dropped
        assert one.stats.bytes_in == other.stats.bytes_in
    assert sum(r.stats.dropped.get("invalid_json", 0) for r in each) == 3
