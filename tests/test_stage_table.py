"""The stage table is the one list of stages: the config, the CLI, the flow and the card agree."""

from __future__ import annotations

import pytest

from flows.chain import WORK
from flows.cli import _parser
from pipeline.config import RunConfig
from pipeline.ingest.config import SourceConfig
from pipeline.ingest.formats import FORMATS
from pipeline.ingest.reader import READERS
from pipeline.stage import FilterStage
from pipeline.stages import (
    CONFIG_SECTIONS,
    DOCUMENT_STAGES,
    STAGE_TABLE,
    STAGES,
    stage,
    stages_until,
    upstream,
)


def test_config_sections_are_the_stage_tables() -> None:
    fields = set(RunConfig.model_fields) - {"sources", "base_dir", "off"}
    assert fields == set(CONFIG_SECTIONS)
    config = RunConfig(sources=[{"name": "a", "kind": "web", "format": "jsonl", "paths": ["x"]}])
    for name, model in CONFIG_SECTIONS.items():
        assert isinstance(config.section(name), model)


def test_cli_until_choices_are_the_stage_names() -> None:
    parser = _parser()
    run = parser._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    until = next(a for a in run._actions if a.dest == "until")
    assert tuple(until.choices) == STAGES


def test_every_stage_has_a_way_to_run_and_its_step_loads() -> None:
    for spec in STAGE_TABLE:
        assert spec.work in WORK
        if spec.work == "filter":
            assert issubclass(spec.load(), FilterStage)
            assert spec.merge is None or callable(spec.load_merge())
        elif spec.work == "whole_run":
            assert callable(spec.load())
        elif spec.work == "per_partition_then_merge":
            assert callable(spec.load()) and callable(spec.load_merge())


def test_document_stages_read_the_one_before_them() -> None:
    assert DOCUMENT_STAGES == ("ingest", "langid", "quality", "dedup")
    assert [upstream(s) for s in DOCUMENT_STAGES[1:]] == list(DOCUMENT_STAGES[:-1])
    assert upstream("tokenizer") == DOCUMENT_STAGES[-1]
    with pytest.raises(ValueError):
        upstream("ingest")
    with pytest.raises(KeyError, match="stages are"):
        stage("toxicity")
    assert [s.name for s in stages_until("quality")] == ["ingest", "langid", "quality"]


def test_format_choices_and_readers_come_from_one_table() -> None:
    assert tuple(READERS) == FORMATS
    with pytest.raises(ValueError, match="jsonl"):
        SourceConfig(name="a", kind="web", format="csv", paths=["x"])
