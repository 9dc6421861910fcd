"""Partitions are units of work: a re-run redoes exactly what is missing or out of date."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import load_config
from pipeline.hashing import file_sha256
from pipeline.ingest.plan import plan_units
from pipeline.rundir import RunDir
from pipeline.steps.filter import filter_step
from pipeline.steps.ingest import ingest_step
from tests.corpus_fixtures import write_config, write_corpus


def _run_per_partition_stages(run: RunDir, config) -> dict[str, list[dict]]:
    items = plan_units(config.sources, config.base_dir)
    out = {"ingest": [s for item in items for s in ingest_step(run, config, item)]}
    parts = [summary["part"] for summary in out["ingest"]]
    for stage in ("langid", "quality"):
        out[stage] = [filter_step(run, config, stage, part) for part in parts]
    return out


def test_rerun_skips_finished_partitions_and_redoes_deleted_ones(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "in")
    config = load_config(write_config(tmp_path / "in", corpus["config"]))
    run = RunDir(tmp_path / "run")
    first = _run_per_partition_stages(run, config)
    assert not any(s["skipped"] for summaries in first.values() for s in summaries)
    parts = [s["part"] for s in first["langid"]]
    assert len(parts) == 3  # web, code, and the two small book files read as one unit
    before = {p: file_sha256(run.kept_path("quality", p)) for p in parts}

    # A crash halfway through langid: one partition's output gone, another's marker gone.
    run.kept_path("langid", parts[0]).unlink()
    run.marker_path("langid", parts[1]).unlink()
    second = _run_per_partition_stages(run, config)
    assert all(s["skipped"] for s in second["ingest"])
    redone = {s["part"] for s in second["langid"] if not s["skipped"]}
    assert redone == {parts[0], parts[1]}
    # langid's redone outputs are byte-identical, so quality has nothing to redo.
    assert all(s["skipped"] for s in second["quality"])
    assert {p: file_sha256(run.kept_path("quality", p)) for p in parts} == before


def test_changed_config_redoes_only_that_stage_onwards(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "in")
    path = write_config(tmp_path / "in", corpus["config"])
    run = RunDir(tmp_path / "run")
    _run_per_partition_stages(run, load_config(path))
    corpus["config"]["quality"] = {"gopher_quality": {"min_doc_words": 20}}
    again = _run_per_partition_stages(
        run, load_config(write_config(tmp_path / "in", corpus["config"]))
    )
    assert all(s["skipped"] for s in again["ingest"] + again["langid"])
    assert not any(s["skipped"] for s in again["quality"])


def test_ingest_accounts_for_every_record(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "in")
    config = load_config(write_config(tmp_path / "in", corpus["config"]))
    run = RunDir(tmp_path / "run")
    summaries = _run_per_partition_stages(run, config)
    stats = [s["stats"] for s in summaries["ingest"]]
    assert sum(s["docs_in"] for s in stats) == corpus["expected"]["ingest_in"]
    dropped: dict[str, int] = {}
    for s in stats:
        for reason, count in s["dropped"].items():
            dropped[reason] = dropped.get(reason, 0) + count
    assert dropped == corpus["expected"]["ingest_dropped"]
    for stage_summaries in summaries.values():
        for s in stage_summaries:
            st = s["stats"]
            assert st["docs_in"] == st["docs_kept"] + sum(st["dropped"].values())
