"""`gristmill run` with every delivered objective in `shards.objectives`, then `gristmill train`
on one of them: the stage and the command train through the same code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.cli import main
from tests.corpus_fixtures import write_config, write_corpus
from tests.objectives.helpers import TINY, check_contract

OBJECTIVES = ["mlm", "clm", "nsp"]


def test_run_builds_every_objective_and_trains_from_the_cli(
    tmp_path: Path, prefect_harness: None, capsys: pytest.CaptureFixture
) -> None:
    corpus = write_corpus(tmp_path / "in")
    config = corpus["config"]
    config["shards"] = {
        "objectives": OBJECTIVES,
        "mlm": {"seq_len": 64, "whole_word": True},
        "clm": {"seq_len": 64},
        "nsp": {"seq_len": 64},
        "val_fraction": 0.1,
    }
    config["train"] = {**config["train"], **TINY, "objective": "clm", "steps": 5}
    out = tmp_path / "run"
    assert (
        main(["run", "--config", str(write_config(tmp_path / "in", config)), "--out", str(out)])
        == 0
    )
    for name in OBJECTIVES:
        check_contract(out / "shards" / name)
    records = [
        json.loads(line) for line in (out / "train" / "metrics.jsonl").read_text().splitlines()
    ]
    assert records[-1]["step"] == 5 and "clm_loss" in records[-1]

    args = ["train", "--shards", str(out / "shards"), "--out", str(tmp_path / "cli")]
    assert main([*args, "--objective", "mlm", "--steps", "3"]) == 0
    assert "3 steps of mlm" in capsys.readouterr().out
    records = [
        json.loads(line) for line in (tmp_path / "cli" / "metrics.jsonl").read_text().splitlines()
    ]
    assert records[-1]["step"] == 3 and {"step", "loss", "mlm_loss"} <= set(records[-1])
