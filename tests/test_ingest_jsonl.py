"""JSON lines: a document per line, fields to `meta`, ids from the line or a field, and every bad
line dropped with its reason while the rest is read."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.schema import doc_id
from tests.ingest_helpers import (
    check_accounting,
    dropped_rows,
    ingest,
    kept_rows,
    meta,
    sample_file,
    source,
    write_lines,
)


def test_jsonl_lines_become_documents_with_fields_in_meta(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "web.jsonl",
        [
            json.dumps({"text": "first page", "url": "https://a.invalid/1", "lang_hint": "en"}),
            json.dumps({"text": "second\u2028page", "path": "mirror/page2.html", "n": 2}),
        ],
    )
    result = ingest(source("jsonl"), path, tmp_path)
    check_accounting(result, {})
    first, second = kept_rows(result)
    assert first["id"] == doc_id("src", "web.jsonl:1")
    assert second["id"] == doc_id("src", "web.jsonl:2")
    assert (first["url"], first["path"]) == ("https://a.invalid/1", "web.jsonl")
    assert meta(first) == {"lang_hint": "en", "location": "web.jsonl:1"}
    assert second["text"] == "second\u2028page"  # U+2028 is not a line break in JSON lines
    assert (second["url"], second["path"]) == (None, "mirror/page2.html")
    assert meta(second) == {"n": 2, "location": "web.jsonl:2"}


def test_jsonl_gz_with_text_and_id_fields_named(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "code.jsonl.gz",
        [
            json.dumps({"content": "print(1)", "sha": "abc"}),
            json.dumps({"content": "print(2)", "sha": 7}),
            json.dumps({"content": "print(3)"}),
        ],
        compress=True,
    )
    src = source("jsonl", kind="code", text_field="content", id_field="sha")
    result = ingest(src, path, tmp_path)
    check_accounting(result, {"missing_id": 1})
    assert [d["id"] for d in kept_rows(result)] == ["abc", "7"]
    assert all("sha" not in meta(d) for d in kept_rows(result))
    [row] = dropped_rows(result)
    assert row["id"] == doc_id("src", "code.jsonl.gz:3") and row["text"] == "print(3)"


def test_invalid_json_line_in_the_middle_is_dropped_and_the_rest_read(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "web.jsonl",
        [
            json.dumps({"text": "before"}),
            '{"text": "broken',
            "[1, 2, 3]",
            "",
            json.dumps({"text": "after"}),
        ],
    )
    result = ingest(source("jsonl"), path, tmp_path)
    check_accounting(result, {"invalid_json": 2, "blank_line": 1})
    assert [d["text"] for d in kept_rows(result)] == ["before", "after"]
    broken, array, blank = dropped_rows(result)
    assert broken["text"] == '{"text": "broken' and broken["id"] == doc_id("src", "web.jsonl:2")
    assert "web.jsonl:2: invalid JSON" in meta(broken)["error"]
    assert "expected a JSON object, got list" in meta(array)["error"]
    assert blank["id"] == doc_id("src", "web.jsonl:4") and blank["reason"] == "blank_line"
    assert kept_rows(result)[1]["id"] == doc_id("src", "web.jsonl:5")


def test_jsonl_missing_text_empty_text_and_undecodable_lines(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "web.jsonl",
        [
            json.dumps({"body": "no text field"}),
            json.dumps({"text": 42}),
            json.dumps({"text": None}),
            json.dumps({"text": "   "}),
            b'{"text": "caf\xe9"}',
            json.dumps({"text": "good"}),
        ],
    )
    result = ingest(source("jsonl"), path, tmp_path)
    check_accounting(result, {"missing_text": 3, "empty": 1, "undecodable": 1})
    rows = {row["id"]: row for row in dropped_rows(result)}
    absent = meta(rows[doc_id("src", "web.jsonl:1")])
    assert "text field 'text' is absent, expected a string" in absent["error"]
    assert absent["body"] == "no text field"
    number = meta(rows[doc_id("src", "web.jsonl:2")])["error"]
    assert "text field 'text' is of type int, expected a string" in number
    assert rows[doc_id("src", "web.jsonl:5")]["text"] == '{"text": "caf\ufffd"}'
    assert [d["text"] for d in kept_rows(result)] == ["good"]


def test_sample_code_jsonl_is_read_with_paths_and_languages(shared_data: Path) -> None:
    path = sample_file(shared_data, "code/code.jsonl.gz")
    result = ingest(source("jsonl", kind="code"), path, shared_data)
    check_accounting(result)
    kept = kept_rows(result)
    assert len(kept) >= 2000
    assert sum(d["path"].startswith("python3.11-stdlib/") for d in kept) >= 500
    assert meta(kept[0])["language"]
