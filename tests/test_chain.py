"""The whole chain as a Prefect flow via the CLI: accounting, card, shards, training, caching."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.cli import main
from pipeline.hashing import file_sha256
from pipeline.rundir import RunDir
from pipeline.stages import DOCUMENT_STAGES
from tests.corpus_fixtures import write_config, write_corpus

FUNNEL = DOCUMENT_STAGES


def _rows(folder: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in folder.glob("*.parquet"))


def test_every_stage_accounts_for_every_document(finished_run: dict) -> None:
    run = RunDir(finished_run["out"])
    previous_kept = None
    for stage in FUNNEL:
        counts = run.stage_record(stage)["counts"]
        assert counts["docs_in"] == counts["docs_kept"] + counts["docs_dropped"]
        assert _rows(run.stage_dir(stage)) == counts["docs_kept"]
        assert _rows(run.root / "dropped" / stage) == counts["docs_dropped"]
        if previous_kept is not None:
            assert counts["docs_in"] == previous_kept
        previous_kept = counts["docs_kept"]
    assert run.stage_record("ingest")["counts"]["docs_in"] == finished_run["expected"]["ingest_in"]


def test_dropped_documents_keep_their_reason(finished_run: dict) -> None:
    run = RunDir(finished_run["out"])
    reasons: dict[str, set[str]] = {}
    for stage in FUNNEL:
        for path in (run.root / "dropped" / stage).glob("*.parquet"):
            reasons.setdefault(stage, set()).update(
                pq.read_table(path, columns=["reason"]).column("reason").to_pylist()
            )
    assert reasons["ingest"] == {"invalid_json"}
    assert "lang_not_kept" in reasons["langid"]  # the French documents
    assert {"exact_duplicate", "near_duplicate"} <= reasons["dedup"]


def test_card_funnel_equals_stage_counts(finished_run: dict) -> None:
    run = RunDir(finished_run["out"])
    card = json.loads((run.root / "card" / "card.json").read_text())
    assert [row["stage"] for row in card["funnel"]] == list(FUNNEL)
    for row in card["funnel"]:
        counts = run.stage_record(row["stage"])["counts"]
        for key in ("docs_in", "docs_kept", "docs_dropped", "dropped"):
            assert row[key] == counts[key]
    web = next(s for s in card["sources"] if s["name"] == "web")
    assert web["license"] == "CC0-1.0" and web["files"] == 1
    assert web["skipped"] == {"invalid_json": 1}
    readme = (run.root / "card" / "README.md").read_text()
    ingest = card["funnel"][0]
    assert f"| ingest | {ingest['docs_in']:,} | {ingest['docs_kept']:,} |" in readme


def test_shards_open_with_pyarrow_and_datasets(finished_run: dict) -> None:
    import datasets

    shards = finished_run["out"] / "shards" / "mlm"
    manifest = json.loads((shards / "manifest.json").read_text())
    first = shards / manifest["splits"]["train"]["files"][0]["path"]
    with pa.memory_map(str(first)) as source:
        table = pa.ipc.open_stream(source).read_all()
    assert table.num_rows == manifest["splits"]["train"]["files"][0]["rows"] > 0
    assert table.schema.field("input_ids").type.list_size == manifest["seq_len"]
    dataset = datasets.Dataset.from_file(str(first))
    assert len(dataset) == table.num_rows
    assert dataset[0]["input_ids"] == table.column("input_ids")[0].as_py()


def test_training_loss_falls(finished_run: dict) -> None:
    record = RunDir(finished_run["out"]).stage_record("train")
    assert record["steps"] == 30
    assert record["last_loss"] < record["first_loss"]
    lines = (finished_run["out"] / "train" / "metrics.jsonl").read_text().splitlines()
    assert lines and json.loads(lines[-1])["step"] == 30


def test_second_run_does_no_work_and_leaves_identical_shards(finished_run: dict) -> None:
    out = finished_run["out"]
    shard_files = sorted((out / "shards").rglob("*.arrow"))
    before = {p: file_sha256(p) for p in shard_files}
    assert main(["run", "--config", str(finished_run["config"]), "--out", str(out)]) == 0
    manifest = RunDir(out).manifest()
    assert all(entry["skipped"] for entry in manifest["stages"].values()), manifest["stages"]
    assert {p: file_sha256(p) for p in sorted((out / "shards").rglob("*.arrow"))} == before


def test_until_stops_after_the_named_stage(tmp_path: Path, prefect_harness) -> None:
    corpus = write_corpus(tmp_path / "in")
    config = write_config(tmp_path / "in", corpus["config"])
    out = tmp_path / "run"
    assert main(["run", "--config", str(config), "--out", str(out), "--until", "quality"]) == 0
    assert (out / "quality" / "_stage.json").is_file()
    assert not (out / "dedup").exists() and not (out / "tokenizer").exists()


def test_card_shows_each_quality_signal_beside_its_threshold(finished_run: dict) -> None:
    run = RunDir(finished_run["out"])
    card = json.loads((run.root / "card" / "card.json").read_text())
    signals = {(s["rule_set"], s["reason"]): s for s in card["quality_signals"]}
    assert signals, "no quality signals on the card"
    quality = run.stage_record("quality")["counts"]
    for reason, count in quality["dropped"].items():
        matching = [s for (_, r), s in signals.items() if r == reason]
        if matching:  # a document's first failing rule fails: its signal is on the failing side
            assert matching[0]["failing"] >= count
    for summary in signals.values():
        assert 0 <= summary["failing"] <= summary["documents"] <= quality["docs_in"]
        q = summary["quantiles"]
        assert q["p5"] <= q["p25"] <= q["p50"] <= q["p75"] <= q["p95"]
    readme = (run.root / "card" / "README.md").read_text()
    assert "## Quality signals" in readme and "`gopher_" in readme


def test_worker_processes_give_the_outputs_of_one_worker(
    tmp_path: Path, prefect_harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from pipeline.steps import filter as filter_steps

    # Partitions are cut into slices measured by both workers even though they are small.
    monkeypatch.setattr(filter_steps, "MIN_SLICE_ROWS", 4)
    plans = []
    plan_slices = filter_steps.plan_slices

    def recorded(*args):
        plans.append(plan_slices(*args))
        return plans[-1]

    monkeypatch.setattr(filter_steps, "plan_slices", recorded)

    spec = importlib.util.spec_from_file_location(
        "output_digest", Path(__file__).resolve().parents[1] / "bench" / "output_digest.py"
    )
    assert spec is not None and spec.loader is not None
    digest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(digest)
    corpus = write_corpus(tmp_path / "in")
    config = write_config(tmp_path / "in", corpus["config"])
    digests = []
    for name, runner, workers in (("one", "threads", "1"), ("pool", "processes", "2")):
        out = tmp_path / name
        args = ["--until", "dedup", "--runner", runner, "--workers", workers]
        assert main(["run", "--config", str(config), "--out", str(out), *args]) == 0
        digests.append(digest.digest_run(out))
    assert any(key.startswith("dedup/") for key in digests[0])
    assert digests[0] == digests[1]
    assert max(len(plan.ranges) for plan in plans) == 2  # 3 partitions, 2 workers: 2 slices each


def test_an_up_to_date_run_is_found_without_prefect_and_a_changed_input_is_not(
    tmp_path: Path, prefect_harness
) -> None:
    from pipeline.config import load_config
    from pipeline.uptodate import finished_results

    corpus = write_corpus(tmp_path / "in")
    config_path = write_config(tmp_path / "in", corpus["config"])
    out = tmp_path / "run"
    args = ["run", "--config", str(config_path), "--out", str(out), "--until", "langid"]
    assert main([*args, "--runner", "threads"]) == 0
    run = RunDir(out)
    config = load_config(config_path)
    done = finished_results(config, run, "langid")
    assert done is not None and set(done) == {"ingest", "langid"}
    assert done["langid"]["counts"] == run.stage_record("langid")["counts"]
    assert finished_results(config, run, "quality") is None  # a stage not run yet
    other = config.model_copy(update={"langid": config.langid.model_copy(update={"keep": "all"})})
    assert finished_results(other, run, "langid") is None  # another config
    with (tmp_path / "in" / "web.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"text": "A new document arrives."}) + "\n")
    assert finished_results(config, run, "langid") is None  # an input changed
