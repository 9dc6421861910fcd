"""Tabular sources: Parquet, Arrow IPC files and streams, and `datasets.load_dataset` (local
files, and a Hub name that cannot be reached from here)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.ingest.files import HF_UNIT, SourceError, resolve_source_files
from pipeline.ingest.reader import ingest_file
from pipeline.schema import doc_id
from tests.ingest_helpers import check_accounting, dropped_rows, ingest, kept_rows, meta, source

TABLE = pa.table(
    {"body": ["first row", None, "third row"], "key": ["k1", "k2", "k3"], "score": [0.5, 0.25, 1.0]}
)


def test_parquet_rows_become_documents_across_batches(tmp_path: Path) -> None:
    n = 2600  # more than one record batch
    texts: list[str | None] = [f"row {i} text" for i in range(n)]
    texts[5], texts[6] = None, " "
    table = pa.table(
        {
            "text": texts,
            "doc": [f"d{i}" for i in range(n)],
            "score": [i / 10 for i in range(n)],
            "url": [f"https://p.invalid/{i}" for i in range(n)],
        }
    )
    path = tmp_path / "rows.parquet"
    pq.write_table(table, path, row_group_size=700)
    result = ingest(source("parquet", id_field="doc"), path, tmp_path)
    check_accounting(result, {"missing_text": 1, "empty": 1})
    kept = kept_rows(result)
    assert len(kept) == n - 2
    assert kept[0]["id"] == "d0" and kept[-1]["id"] == f"d{n - 1}"
    assert kept[-1]["url"] == f"https://p.invalid/{n - 1}" and kept[-1]["path"] == "rows.parquet"
    assert meta(kept[1]) == {"score": 0.1, "location": "rows.parquet:1"}
    assert {row["id"] for row in dropped_rows(result)} == {"d5", "d6"}


def test_parquet_ids_default_to_row_index(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"body": ["a", "b"]}), path)
    result = ingest(source("parquet", text_field="body"), path, tmp_path)
    check_accounting(result, {})
    assert [d["id"] for d in kept_rows(result)] == [
        doc_id("src", "rows.parquet:0"),
        doc_id("src", "rows.parquet:1"),
    ]


def test_parquet_without_text_column_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"body": ["a"]}), path)
    with pytest.raises(SourceError, match=r"rows\.parquet: no text column 'text' \(columns: body"):
        ingest(source("parquet"), path, tmp_path)


def test_parquet_with_non_string_text_column_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"text": [1, 2]}), path)
    with pytest.raises(SourceError, match=r"rows\.parquet: text column 'text' has type int64"):
        ingest(source("parquet"), path, tmp_path)


def test_parquet_row_over_the_document_cap_is_too_long(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"text": ["short", "x" * 5000]}), path)
    result = ingest(source("parquet", limits={"max_document_bytes": 1000}), path, tmp_path)
    check_accounting(result, {"too_long": 1})
    assert dropped_rows(result)[0]["id"] == doc_id("src", "rows.parquet:1")


@pytest.mark.parametrize("layout", ["file", "stream"])
def test_arrow_ipc_rows_become_documents(tmp_path: Path, layout: str) -> None:
    path = tmp_path / "rows.arrow"
    with pa.OSFile(str(path), "wb") as sink:
        new = pa.ipc.new_file if layout == "file" else pa.ipc.new_stream
        with new(sink, TABLE.schema) as writer:
            for batch in TABLE.to_batches(max_chunksize=2):
                writer.write_batch(batch)
    result = ingest(source("arrow", text_field="body", id_field="key"), path, tmp_path)
    check_accounting(result, {"missing_text": 1})
    assert [d["id"] for d in kept_rows(result)] == ["k1", "k3"]
    assert meta(kept_rows(result)[1]) == {"score": 1.0, "location": "rows.arrow:2"}


def test_datasets_cache_file_reads_as_arrow(tmp_path: Path) -> None:
    import datasets

    datasets.Dataset.from_dict({"text": ["a mill", "a wheel"]}).save_to_disk(tmp_path / "ds")
    [cache] = sorted((tmp_path / "ds").glob("*.arrow"))
    result = ingest(source("arrow"), cache, tmp_path)
    check_accounting(result, {})
    assert [d["text"] for d in kept_rows(result)] == ["a mill", "a wheel"]


@pytest.mark.parametrize(
    "fmt,error",
    [
        ("parquet", r"rows\.parquet: not a readable Parquet file"),
        ("arrow", r"rows\.arrow: not an Arrow IPC file or stream"),
    ],
)
def test_file_not_in_the_format_is_a_source_error(tmp_path: Path, fmt: str, error: str) -> None:
    path = tmp_path / f"rows.{fmt}"
    path.write_text(f"not {fmt} at all")
    with pytest.raises(SourceError, match=error):
        ingest(source(fmt), path, tmp_path)


@pytest.mark.parametrize("streaming", [True, False])
def test_hf_load_dataset_on_local_json_files(
    tmp_path: Path, streaming: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    path = tmp_path / "part.jsonl"
    rows = [
        {"content": "grain one", "sha": "a"},
        {"content": "", "sha": "b"},
        {"content": "grain three", "sha": "c"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    src = source(
        "hf",
        paths=["part.jsonl"],
        text_field="content",
        id_field="sha",
        hf={"dataset": "json", "streaming": streaming},
    )
    [unit] = resolve_source_files(src, tmp_path)
    result = ingest(src, unit, tmp_path)
    check_accounting(result, {"empty": 1})
    assert [d["id"] for d in kept_rows(result)] == ["a", "c"]
    assert kept_rows(result)[0]["text"] == "grain one"


def test_hf_hub_name_offline_fails_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets.config
    import huggingface_hub.constants

    # No network here; offline mode makes the failure immediate instead of retried.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    src = source("hf", paths=[], hf={"dataset": "gristmill-test/not-reachable"})
    assert resolve_source_files(src, Path(".")) == [Path(HF_UNIT)]
    with pytest.raises(
        SourceError,
        match=r"'gristmill-test/not-reachable'.*not reachable.*"
        r"point `paths` at its files",
    ):
        ingest_file(src, HF_UNIT, "hf:gristmill-test/not-reachable")


def test_hf_and_other_formats_check_what_they_need() -> None:
    with pytest.raises(ValueError, match="needs an `hf:` section"):
        source("hf", paths=[])
    with pytest.raises(ValueError, match="needs `paths`"):
        source("jsonl", paths=[])
    with pytest.raises(ValueError, match="unknown encoding 'klingon'"):
        source("text", encoding="klingon")
