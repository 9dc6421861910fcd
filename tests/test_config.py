"""The run config is validated before any work, with messages that name the problem."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flows.cli import main
from pipeline.config import ConfigError, load_config
from tests.corpus_fixtures import write_config, write_corpus


@pytest.fixture
def corpus(tmp_path: Path) -> dict:
    return write_corpus(tmp_path)


def test_valid_config_loads_with_defaults(tmp_path: Path, corpus: dict) -> None:
    config = load_config(write_config(tmp_path, corpus["config"]))
    assert [s.name for s in config.sources] == ["web", "code", "books"]
    assert config.langid.min_score == 0.65
    assert config.dedup.minhash.num_perm == 128
    assert config.tokenizer.vocab_size == 400


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_missing_source_file_is_named(tmp_path: Path, corpus: dict) -> None:
    corpus["config"]["sources"][0]["paths"] = ["missing-web.jsonl"]
    with pytest.raises(ConfigError, match="missing-web.jsonl"):
        load_config(write_config(tmp_path, corpus["config"]))


def test_unknown_format_is_named(tmp_path: Path, corpus: dict) -> None:
    corpus["config"]["sources"][1]["format"] = "csv"
    with pytest.raises(ConfigError, match=r"sources\.1\.format: unknown format 'csv'"):
        load_config(write_config(tmp_path, corpus["config"]))


def test_unknown_stage_section_is_named(tmp_path: Path, corpus: dict) -> None:
    corpus["config"]["dedupe"] = {"exact": True}
    with pytest.raises(ConfigError, match="dedupe: unknown key"):
        load_config(write_config(tmp_path, corpus["config"]))


def test_unknown_stage_setting_is_named(tmp_path: Path, corpus: dict) -> None:
    corpus["config"]["langid"] = {"min_scor": 0.5}
    with pytest.raises(ConfigError, match=r"langid\.min_scor: unknown key"):
        load_config(write_config(tmp_path, corpus["config"]))


def test_unreadable_source_path_is_named(tmp_path: Path, corpus: dict) -> None:
    os.symlink(tmp_path / "does-not-exist.jsonl", tmp_path / "dangling.jsonl")
    corpus["config"]["sources"][0]["paths"] = ["dangling.jsonl"]
    with pytest.raises(ConfigError, match="dangling.jsonl"):
        load_config(write_config(tmp_path, corpus["config"]))


def test_all_problems_reported_together(tmp_path: Path, corpus: dict) -> None:
    corpus["config"]["sources"][0]["format"] = "csv"
    corpus["config"]["quality"] = {"gopher_quality": {"min_doc_word": 10}}
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, corpus["config"]))
    assert "unknown format 'csv'" in str(info.value)
    assert "quality.gopher_quality.min_doc_word: unknown key" in str(info.value)


def test_cli_fails_before_any_work(tmp_path: Path, corpus: dict, capsys) -> None:
    corpus["config"]["sources"][2]["paths"] = ["books/*.epub"]
    config = write_config(tmp_path, corpus["config"])
    out = tmp_path / "run"
    assert main(["run", "--config", str(config), "--out", str(out)]) == 2
    assert "books/*.epub" in capsys.readouterr().err
    assert not out.exists()


def test_cli_rejects_unknown_stage(tmp_path: Path, corpus: dict, capsys) -> None:
    config = write_config(tmp_path, corpus["config"])
    with pytest.raises(SystemExit):
        main(["run", "--config", str(config), "--out", str(tmp_path / "r"), "--until", "mix"])
    assert "invalid choice: 'mix'" in capsys.readouterr().err
