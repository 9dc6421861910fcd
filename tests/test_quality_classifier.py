"""The trainable quality classifier: deterministic training, the `quality_score` column,
re-filtering at a new threshold or percentile without the model, the percentile of a run cut
over the whole run, the `quality-model train` command, the config check and the card's view of
the scores."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows import cli
from pipeline.card.classifier import classifier_markdown, classifier_summary
from pipeline.config import ConfigError, RunConfig, load_config
from pipeline.hashing import file_sha256
from pipeline.quality.classifier import SCORE, load_classifier, score_texts
from pipeline.quality.classifier_train import LabelledDocs, summary_path, train_classifier
from pipeline.quality.config import ClassifierTrainConfig, QualityConfig
from pipeline.quality.stage import QualityStage, refilter
from pipeline.rundir import RunDir
from pipeline.steps.filter import filter_stage, filter_step
from pipeline.steps.records import finish_stage
from tests.corpus_fixtures import docs, write_config


def good_texts() -> list[str]:
    """Real prose: the first 2,000 characters of each topic of the Python language reference
    shipped with Python (``pydoc_data``)."""
    from pydoc_data.topics import topics

    return [topics[name][:2000] for name in sorted(topics)[:40]]


def junk_text(seed: int) -> str:
    """A package log: dated lines of package names, versions and hashes."""
    rng = random.Random(seed)
    return "\n".join(
        f"2026-11-{rng.randint(1, 28):02d} 12:{rng.randint(0, 59):02d}:07 status installed "
        f"lib{rng.choice('abcdefghxyz')}{rng.randint(0, 999)}:amd64 {rng.randint(0, 9)}."
        f"{rng.randint(0, 99)}.{rng.randint(0, 9)}-{rng.getrandbits(32):08x}"
        for _ in range(25)
    )


#: Small and quick: a few thousand buckets, short vectors (the defaults make a 50 MB model).
SMALL = {"dim": 16, "bucket": 20000}
GOOD = good_texts()
JUNK = [junk_text(i) for i in range(40)]


def train(out: Path, seed: int = 1) -> Path:
    groups = [
        LabelledDocs("prose", True, [f"p{i}" for i in range(len(GOOD))], GOOD),
        LabelledDocs("logs", False, [f"l{i}" for i in range(len(JUNK))], JUNK),
    ]
    train_classifier(groups, out, ClassifierTrainConfig(seed=seed, **SMALL))
    return out


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(tmp_path_factory.mktemp("model") / "quality.bin")


def classifier_config(
    model: Path | None, keep: str = "filter", **settings: object
) -> QualityConfig:
    section = {"model": str(model) if model else None, **settings}
    return QualityConfig.model_validate(
        {"keep": keep, "suites": {"web": ["classifier"]}, "classifier": section}
    )


def test_training_is_deterministic_with_a_fixed_seed(model: Path, tmp_path: Path) -> None:
    again = train(tmp_path / "again.bin")
    assert again.read_bytes() == model.read_bytes()
    texts = GOOD[:5] + JUNK[:5] + ["Something else entirely, never seen in training."]
    first = score_texts(load_classifier(str(model)), texts)
    assert np.array_equal(first, score_texts(load_classifier(str(again)), texts))
    summary = json.loads(summary_path(model).read_text())
    assert summary["sha256"] == json.loads(summary_path(again).read_text())["sha256"]
    assert [s["documents"] for s in summary["sources"]] == [40, 40]
    assert summary["held_out"]["documents"] == summary["held_out_documents"] > 0
    assert summary["held_out"]["accuracy"] >= 0.9


def test_quality_score_is_a_column_and_low_scores_are_dropped(model: Path) -> None:
    result = QualityStage(classifier_config(model))(docs(GOOD[:6] + JUNK[:6]))
    assert SCORE in result.kept.schema.names and SCORE in result.dropped.schema.names
    kept = result.kept.column(SCORE).to_pylist()
    assert len(kept) == 6 and min(kept) >= 0.5
    assert set(result.dropped.column("reason").to_pylist()) == {"classifier_low_score"}
    assert max(result.dropped.column(SCORE).to_pylist()) < 0.5


def test_refiltering_at_a_new_threshold_needs_no_model(model: Path, tmp_path: Path) -> None:
    scored = QualityStage(classifier_config(model, threshold=None, keep="all"))(
        docs(GOOD[:10] + JUNK[:10])
    )
    table = scored.kept
    scores = np.array(table.column(SCORE).to_pylist())
    cut = float(np.sort(scores)[12])
    # The model is gone: deciding again reads the column only.
    gone = tmp_path / "deleted.bin"
    again = refilter(table, classifier_config(gone, threshold=cut))
    assert again.kept.num_rows == int((scores >= cut).sum()) == 8
    assert again.kept.column(SCORE).to_pylist() == [s for s in scores.tolist() if s >= cut]


def test_a_percentile_drops_the_lowest_share_of_the_documents_decided_together(
    model: Path,
) -> None:
    scored = QualityStage(classifier_config(model, threshold=None, keep="all"))(
        docs(GOOD[:10] + JUNK[:10])
    )
    result = refilter(scored.kept, classifier_config(None, threshold=None, percentile=25))
    assert result.dropped.num_rows == 5
    lowest = sorted(scored.kept.column(SCORE).to_pylist())[:5]
    assert sorted(result.dropped.column(SCORE).to_pylist()) == lowest
    # the higher of a threshold and the percentile's score decides
    both = refilter(scored.kept, classifier_config(None, threshold=0.5, percentile=25))
    assert both.dropped.num_rows == 10


def _write_sources(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, texts in (("prose", GOOD), ("logs", JUNK)):
        lines = [json.dumps({"text": t}) for t in texts]
        (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return write_config(
        folder,
        {
            "sources": [
                {"name": n, "kind": "web", "format": "jsonl", "paths": [f"{n}.jsonl"]}
                for n in ("prose", "logs")
            ],
            "quality": {"classifier": {"train": SMALL}},
        },
    )


def test_the_command_trains_a_model_from_named_sources(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write_sources(tmp_path)
    out = tmp_path / "models" / "quality.bin"
    argv = ["quality-model", "train", "--config", str(config), "--out", str(out)]
    assert cli.main([*argv, "--positive", "prose", "--negative", "logs"]) == 0
    summary = json.loads(summary_path(out).read_text())
    assert {(s["name"], s["label"]) for s in summary["sources"]} == {
        ("prose", "positive"),
        ("logs", "negative"),
    }
    assert summary["settings"]["dim"] == SMALL["dim"] and summary["settings"]["thread"] == 1
    assert "held-out accuracy" in capsys.readouterr().out
    # the model is usable by a run config that names it, relative to the config's folder
    run = {
        "sources": [{"name": "prose", "kind": "web", "format": "jsonl", "paths": ["prose.jsonl"]}]
    }
    run["quality"] = {
        "suites": {"web": ["classifier"]},
        "classifier": {"model": "models/quality.bin"},
    }
    loaded = load_config(write_config(tmp_path, run))
    assert loaded.quality.classifier.model == str(out.resolve())


def test_the_command_names_an_unknown_source_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write_sources(tmp_path)
    argv = ["quality-model", "train", "--config", str(config), "--out", str(tmp_path / "m.bin")]
    assert cli.main([*argv, "--positive", "prose", "--negative", "forum"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "forum" in error and "prose, logs" in error


def test_a_suite_with_the_classifier_needs_a_model_file(tmp_path: Path) -> None:
    config = _write_sources(tmp_path)
    data = {
        "sources": [{"name": "prose", "kind": "web", "format": "jsonl", "paths": ["prose.jsonl"]}]
    }
    data["quality"] = {"suites": {"web": ["classifier"]}}
    with pytest.raises(ConfigError, match="quality.classifier.model"):
        load_config(write_config(tmp_path, data))
    data["quality"]["classifier"] = {"model": "missing.bin"}
    with pytest.raises(ConfigError, match="missing.bin: file not found"):
        load_config(write_config(tmp_path, data))
    assert config.is_file()


def test_the_card_shows_the_score_distribution_and_examples_around_the_threshold(
    model: Path, tmp_path: Path
) -> None:
    result = QualityStage(classifier_config(model))(docs(GOOD[:6] + JUNK[:6]))
    run = RunDir(tmp_path / "run")
    for folder, table in (
        (run.stage_dir("quality"), result.kept),
        (run.dropped_dir("quality"), result.dropped),
    ):
        folder.mkdir(parents=True)
        pq.write_table(table, folder / "part-0.parquet")
    summary = classifier_summary(run, classifier_config(model))
    assert summary is not None and summary["documents"] == 12
    assert sum(b["documents"] for b in summary["histogram"]) == 12
    assert summary["threshold"] == 0.5 and summary["below_threshold"] == 6
    below, above = summary["just_below"], summary["just_above"]
    assert len(below) == len(above) == 3
    assert max(d["score"] for d in below) < 0.5 <= min(d["score"] for d in above)
    # the closest to the threshold come first on each side
    assert [d["score"] for d in below] == sorted((d["score"] for d in below), reverse=True)
    assert [d["score"] for d in above] == sorted(d["score"] for d in above)
    text = classifier_markdown(summary)
    assert "threshold 0.5000" in text and "Just below the threshold" in text


def test_no_scores_no_card_section(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    folder = run.stage_dir("quality")
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a"], "text": ["x"]}), folder / "part-0.parquet")
    assert classifier_summary(run, QualityConfig()) is None
    assert classifier_markdown(None) == ""


def test_the_command_trains_on_a_run_folders_documents(tmp_path: Path) -> None:
    config = _write_sources(tmp_path)
    run = tmp_path / "curated-run"
    (run / "quality").mkdir(parents=True)
    (run / "manifest.json").write_text("{}", encoding="utf-8")
    pq.write_table(docs(GOOD, source="curated"), run / "quality" / "part-0.parquet")
    out = tmp_path / "from-run.bin"
    argv = ["quality-model", "train", "--config", str(config), "--out", str(out)]
    assert cli.main([*argv, "--positive", str(run), "--negative", "logs"]) == 0
    sources = json.loads(summary_path(out).read_text())["sources"]
    assert sources[0] == {**sources[0], "name": str(run), "documents": len(GOOD)}


# -- the percentile over the whole run ----------------------------------------------------------
def _percentile_run(tmp_path: Path, model: Path, percentile: float) -> tuple[RunConfig, RunDir]:
    """A run config whose web suite is the classifier alone with ``percentile``, and a run
    directory whose langid stage holds two partitions: mostly prose, mostly logs."""
    folder = tmp_path / "in"
    _write_sources(folder)
    data = {
        "sources": [
            {"name": n, "kind": "web", "format": "jsonl", "paths": [f"{n}.jsonl"]}
            for n in ("prose", "logs")
        ],
        "quality": {
            "suites": {"web": ["classifier"]},
            "classifier": {"model": str(model), "threshold": None, "percentile": percentile},
        },
    }
    config = load_config(write_config(folder, data))
    run = RunDir(tmp_path / "run")
    upstream = run.stage_dir("langid")
    upstream.mkdir(parents=True, exist_ok=True)
    pq.write_table(docs(GOOD[:10] + JUNK[:2], source="a"), upstream / "a.parquet")
    pq.write_table(docs(GOOD[10:12] + JUNK[2:12], source="b"), upstream / "b.parquet")
    return config, run


def _outputs(run: RunDir, parts: list[str]) -> dict[str, str]:
    paths = [run.kept_path("quality", p) for p in parts]
    paths += [run.dropped_path("quality", p) for p in parts]
    return {run.relative(p): file_sha256(p) for p in paths if p.is_file()}


def test_a_percentile_in_a_run_cuts_over_the_whole_run_not_each_partition(
    model: Path, tmp_path: Path
) -> None:
    config, run = _percentile_run(tmp_path, model, percentile=50)
    parts = ["a", "b"]
    summaries = filter_stage(run, config, "quality", parts)
    record = finish_stage(run, "quality", None, summaries, 0.0)
    scored = {
        p: pq.read_table(run.annotated_path("quality", p)).column(SCORE).to_pylist() for p in parts
    }
    every = sorted(s for scores in scored.values() for s in scores)
    assert len(every) == 24 and len(set(every)) == 24  # distinct: the cut is exact
    cut = every[12]  # floor(24 * 50 / 100) places up from the lowest
    kept = {p: run.kept_path("quality", p) for p in parts}
    kept_scores = {p: pq.read_table(kept[p]).column(SCORE).to_pylist() for p in parts}
    # exactly the top half of the whole run is kept, however it falls across the partitions
    assert sorted(s for p in parts for s in kept_scores[p]) == every[12:]
    for p in parts:
        assert sorted(kept_scores[p]) == sorted(s for s in scored[p] if s >= cut)
    # ... which is not what cutting each partition at its own median keeps
    assert len(kept_scores["a"]) > 6 > len(kept_scores["b"])
    # the same decisions as re-filtering the whole run's documents together
    together = pa.concat_tables([pq.read_table(run.annotated_path("quality", p)) for p in parts])
    again = refilter(together, config.quality)
    assert sorted(again.kept.column("id").to_pylist()) == sorted(
        i for p in parts for i in pq.read_table(kept[p]).column("id").to_pylist()
    )
    # accounting: per partition and over the stage
    for summary in summaries:
        stats = summary["stats"]
        assert stats["docs_in"] == 12 == stats["docs_kept"] + stats["docs_dropped"]
        assert set(stats["dropped"]) == {"classifier_low_score"}
        dropped = pq.read_table(run.dropped_path("quality", summary["part"]))
        assert dropped.num_rows == stats["docs_dropped"]
        assert set(dropped.column("reason").to_pylist()) == {"classifier_low_score"}
        assert max(dropped.column(SCORE).to_pylist()) < cut
    counts = record["counts"]
    assert (counts["docs_in"], counts["docs_kept"], counts["dropped"]) == (
        24,
        12,
        {"classifier_low_score": 12},
    )
    assert run.read_marker("quality", "a")["meta"]["percentile_cut"] == cut


def test_a_run_level_percentile_is_resumable_and_byte_identical(
    model: Path, tmp_path: Path
) -> None:
    config, run = _percentile_run(tmp_path / "first", model, percentile=25)
    parts = ["a", "b"]
    filter_stage(run, config, "quality", parts)
    first = _outputs(run, parts)
    # a re-run skips every partition and leaves the same bytes
    again = filter_stage(run, config, "quality", parts)
    assert all(s["skipped"] for s in again) and _outputs(run, parts) == first
    # a fresh run directory gets the same bytes
    config_b, fresh = _percentile_run(tmp_path / "second", model, percentile=25)
    filter_stage(fresh, config_b, "quality", parts)
    assert _outputs(fresh, parts) == first
    # a new percentile decides again from the scores already measured
    config_c, _ = _percentile_run(tmp_path / "first", model, percentile=75)
    measured = [filter_step(run, config_c, "quality", p) for p in parts]
    assert all(s["annotated"] and s["skipped"] for s in measured)
    decided = filter_stage(run, config_c, "quality", parts)
    assert not any(s["skipped"] for s in decided)
    assert sum(s["stats"]["docs_kept"] for s in decided) == 6


def test_a_run_cuts_its_percentile_over_every_partition(
    model: Path, tmp_path: Path, prefect_harness: None
) -> None:
    folder = tmp_path / "in"
    _write_sources(folder)
    data = {
        "sources": [
            {"name": n, "kind": "web", "format": "jsonl", "paths": [f"{n}.jsonl"]}
            for n in ("prose", "logs")
        ],
        "off": ["langid"],
        "quality": {
            "suites": {"web": ["classifier"]},
            "classifier": {"model": str(model), "threshold": None, "percentile": 75},
        },
    }
    config = write_config(folder, data)
    out = tmp_path / "run"
    argv = ["run", "--config", str(config), "--out", str(out), "--until", "quality"]
    assert cli.main(argv) == 0
    run = RunDir(out)
    record = run.stage_record("quality")
    assert record is not None and len(record["partitions"]) == 2
    scores = sorted(
        s
        for p in record["partitions"]
        for s in pq.read_table(run.annotated_path("quality", p)).column(SCORE).to_pylist()
    )
    kept = sorted(
        s
        for p in record["partitions"]
        for s in pq.read_table(run.kept_path("quality", p)).column(SCORE).to_pylist()
    )
    assert len(scores) == 80 and kept == scores[60:]
    assert record["counts"]["docs_kept"] == 20
    assert record["counts"]["dropped"] == {"classifier_low_score": 60}
    first = _outputs(run, sorted(record["partitions"]))
    assert cli.main(argv) == 0
    assert _outputs(run, sorted(record["partitions"])) == first
