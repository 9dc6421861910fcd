"""The inspection commands (`gristmill show`, `stats`, `dropped`, `diff`, `check`,
`--version`) on a finished run: their numbers are the stage records'."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from flows.cli import main
from pipeline import __version__
from pipeline.rundir import RunDir
from pipeline.stages import DOCUMENT_STAGES


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100, out
    return out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"gristmill {__version__}"


def test_show_is_the_manifest_and_the_funnel(finished_run: dict, capsys) -> None:
    run = RunDir(finished_run["out"])
    data = _json(capsys, "show", str(run.root))
    manifest = run.manifest()
    assert data["config_hash"] == manifest["config_hash"]
    assert {s["stage"]: s["status"] for s in data["stages"]} == {
        name: entry["status"] for name, entry in manifest["stages"].items()
    }
    assert [f["stage"] for f in data["funnel"]] == list(DOCUMENT_STAGES)
    for row in data["funnel"]:
        counts = run.stage_record(row["stage"])["counts"]
        for key in ("docs_in", "docs_kept", "docs_dropped", "dropped"):
            assert row[key] == counts[key]
    text = _text(capsys, "show", str(run.root))
    ingest = run.stage_record("ingest")["counts"]
    assert manifest["config_hash"] in text and f"{ingest['docs_in']:,}" in text


def test_stats_counts_and_signals(finished_run: dict, capsys) -> None:
    run = RunDir(finished_run["out"])
    data = _json(capsys, "stats", str(run.root))
    for entry in data["stages"]:
        counts = run.stage_record(entry["stage"])["counts"]
        assert entry["dropped"] == counts["dropped"]
        assert entry["docs_in"] == counts["docs_in"]
    card = json.loads(run.card_paths[1].read_text())
    assert data["quality_signals"] == card["quality_signals"]
    dedup = _json(capsys, "stats", str(run.root), "--stage", "dedup")
    assert [s["stage"] for s in dedup["stages"]] == ["dedup"]
    assert dedup["stages"][0]["lsh"]["bands"] == run.stage_record("dedup")["lsh"]["bands"]
    text = _text(capsys, "stats", str(run.root))
    assert "near_duplicate" in text and "gopher_words" in text


def test_dropped_shows_what_a_filter_removed(finished_run: dict, capsys) -> None:
    run = RunDir(finished_run["out"])
    ids = {
        row["id"]: row["reason"]
        for path in run.dropped_dir("dedup").glob("*.parquet")
        for row in pq.read_table(path, columns=["id", "reason"]).to_pylist()
    }
    data = _json(capsys, "dropped", str(run.root), "--stage", "dedup")
    assert {d["id"]: d["reason"] for d in data["documents"]} == ids
    assert data["total"] == run.stage_record("dedup")["counts"]["docs_dropped"]
    near = _json(capsys, "dropped", str(run.root), "--stage", "dedup", "--reason", "near_duplicate")
    assert [d["reason"] for d in near["documents"]] == ["near_duplicate"]
    assert (
        "harbour"
        in _json(
            capsys,
            "dropped",
            str(run.root),
            "--stage",
            "dedup",
            "--reason",
            "near_duplicate",
            "--full",
        )["documents"][0]["text"]
    )
    text = _text(capsys, "dropped", str(run.root), "--stage", "langid", "--limit", "2")
    assert "lang_not_kept" in text


def test_diff_of_a_run_with_itself_is_empty(finished_run: dict, capsys) -> None:
    out = str(finished_run["out"])
    data = _json(capsys, "diff", out, out)
    assert not any(data[k] for k in ("counts", "reasons", "languages", "kinds", "config"))
    assert "no differences" in _text(capsys, "diff", out, out)


def test_diff_shows_counts_and_config(finished_run: dict, tmp_path: Path, capsys) -> None:
    """A copy of the run's records with one stage's counts and the config changed."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(finished_run["out"], copy, ignore=shutil.ignore_patterns("train", "shards"))
    run = RunDir(copy)
    record = run.stage_record("langid")
    record["counts"]["docs_kept"] -= 1
    record["counts"]["dropped"]["lang_not_kept"] += 1
    run.write_stage_record("langid", record)
    config = run.manifest()["config"]
    config["dedup"]["minhash"]["threshold"] = 0.7
    run.update_manifest(config=config)
    data = _json(capsys, "diff", str(finished_run["out"]), str(copy))
    assert data["counts"]["langid"]["docs_kept"][1] == data["counts"]["langid"]["docs_kept"][0] - 1
    assert "lang_not_kept" in data["reasons"]["langid"]
    assert data["config"] == {"dedup.minhash.threshold": [0.8, 0.7]}
    assert "dedup.minhash.threshold" in _text(capsys, "diff", str(finished_run["out"]), str(copy))


def test_check_lists_the_units(finished_run: dict, capsys) -> None:
    data = _json(capsys, "check", "--config", str(finished_run["config"]))
    assert data["valid"] and {s["name"] for s in data["sources"]} >= {"web", "code", "books"}
    books = next(s for s in data["sources"] if s["name"] == "books")
    assert sum(u["files"] for u in books["units"]) == 2
    assert "web.jsonl" in _text(capsys, "check", "--config", str(finished_run["config"]))


def test_bad_inputs_are_one_line(tmp_path: Path, capsys) -> None:
    assert main(["show", str(tmp_path)]) == 2
    assert "not a gristmill run directory" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [{name: x, kind: web, format: nope, paths: [a]}]\n")
    assert main(["check", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "unknown format" in err and "Traceback" not in err
