"""The tokenizer folder loads in `transformers` with its special tokens (skipped where
`transformers` is not installed), and its extra files say what it needs in any case."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer

from pipeline.rundir import RunDir
from pipeline.tokenizer.config import SPECIAL_IDS


def test_folder_names_special_tokens_and_length(finished_run: dict) -> None:
    run = RunDir(finished_run["out"])
    config_path, map_path = run.tokenizer_hf_paths
    config = json.loads(config_path.read_text())
    tokens = json.loads(map_path.read_text())
    tokenizer = Tokenizer.from_file(str(run.tokenizer_path))
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert config["model_max_length"] == 64  # the test corpus's MLM rows
    for role, token_id in SPECIAL_IDS.items():
        assert tokenizer.token_to_id(tokens[f"{role}_token"]) == token_id
        assert config[f"{role}_token"] == tokens[f"{role}_token"]


def test_auto_tokenizer_pads_masks_and_builds_pairs(finished_run: dict) -> None:
    transformers = pytest.importorskip("transformers")
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        str(RunDir(finished_run["out"]).tokenizer_dir)
    )
    assert tokenizer.pad_token_id == SPECIAL_IDS["pad"]
    assert tokenizer.mask_token_id == SPECIAL_IDS["mask"]
    assert (
        tokenizer.cls_token_id == SPECIAL_IDS["cls"]
        and tokenizer.sep_token_id == SPECIAL_IDS["sep"]
    )
    batch = tokenizer(["The miller carried a letter.", "A farmer"], padding=True)
    assert batch["input_ids"][1][-1] == SPECIAL_IDS["pad"] and batch["attention_mask"][1][-1] == 0
    pair = tokenizer("The miller", "a letter")["input_ids"]
    assert pair[0] == SPECIAL_IDS["cls"] and pair.count(SPECIAL_IDS["sep"]) == 2
    assert tokenizer.model_max_length == 64
