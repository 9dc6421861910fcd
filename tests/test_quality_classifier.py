"""The trainable quality classifier: deterministic training, the `quality_score` column,
re-filtering at a new threshold or percentile without the model, the `quality-model train`
command, the config check and the card's view of the scores."""

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
from pipeline.config import ConfigError, load_config
from pipeline.quality.classifier import SCORE, load_classifier, score_texts
from pipeline.quality.classifier_train import LabelledDocs, summary_path, train_classifier
from pipeline.quality.config import ClassifierTrainConfig, QualityConfig
from pipeline.quality.stage import QualityStage, refilter
from pipeline.rundir import RunDir
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
