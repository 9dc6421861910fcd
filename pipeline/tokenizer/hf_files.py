"""The files beside `tokenizer.json` that make the folder a tokenizer for `transformers`.

`tokenizer.json` alone loads (``AutoTokenizer.from_pretrained(folder)``) without special tokens,
so padding fails. `tokenizer_config.json` names the tokenizer class (the generic fast tokenizer
over `tokenizer.json`), the special tokens by role and the model's maximum length;
`special_tokens_map.json` repeats the roles, as ``save_pretrained`` writes it. The T5 sentinels
need no entry: `tokenizer.json` already marks them special.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.rundir import atomic_write_json
from pipeline.tokenizer.config import SPECIAL_IDS, SPECIAL_TOKENS

#: The fast tokenizer that reads `tokenizer.json` as it is, whatever model it serves.
TOKENIZER_CLASS = "PreTrainedTokenizerFast"
CONFIG_NAME = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_NAME = "special_tokens_map.json"


def special_tokens_map() -> dict[str, str]:
    """Each role (`pad_token`, `mask_token`, ...) and its token."""
    return {f"{role}_token": SPECIAL_TOKENS[token_id] for role, token_id in SPECIAL_IDS.items()}


def tokenizer_config(model_max_length: int, lowercase: bool = False) -> dict[str, Any]:
    """The contents of `tokenizer_config.json`."""
    return {
        "tokenizer_class": TOKENIZER_CLASS,
        "model_max_length": model_max_length,
        "padding_side": "right",
        "truncation_side": "right",
        "model_input_names": ["input_ids", "token_type_ids", "attention_mask"],
        "clean_up_tokenization_spaces": False,
        "do_lower_case": lowercase,
        **special_tokens_map(),
    }


def _write_if_changed(path: Path, value: dict[str, Any]) -> None:
    try:
        if json.loads(path.read_text(encoding="utf-8")) == value:
            return
    except (OSError, ValueError):
        pass
    atomic_write_json(path, value)


def write_hf_files(folder: Path, model_max_length: int, lowercase: bool = False) -> list[Path]:
    """Write `tokenizer_config.json` and `special_tokens_map.json` into ``folder`` (each only
    when its content changes, so an up-to-date run leaves them untouched)."""
    config_path, map_path = folder / CONFIG_NAME, folder / SPECIAL_TOKENS_MAP_NAME
    _write_if_changed(config_path, tokenizer_config(model_max_length, lowercase))
    _write_if_changed(map_path, special_tokens_map())
    return [config_path, map_path]
