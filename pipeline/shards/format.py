"""Constants of the shard format (docs/shard-format.md) shared by the data side and the trainer.

Torch-free and import-light, so `pipeline.objectives`, `pipeline.shards` and `trainer.shards` all
take the format name, version, manifest file name, loss-ignore label and special token ids from
this one place.
"""

from __future__ import annotations

from pipeline.tokenizer.config import FIRST_REGULAR_ID, SPECIAL_IDS

#: What a shard manifest's `format` says.
FORMAT = "gristmill-shards"
#: Version 2: the manifest lists every column with its dtype and shape; columns use the names of
#: Hugging Face models and collators (`input_ids`, `attention_mask`, `labels`, ...).
FORMAT_VERSION = 2
#: The manifest's file name inside `shards/<objective>/`; a folder without it is incomplete.
MANIFEST_NAME = "manifest.json"
#: The splits a build writes, in order.
SPLITS = ("train", "val")
#: Label of positions that take no loss (PyTorch cross-entropy's default ignore_index).
IGNORE_INDEX = -100

PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID, BOS_ID, EOS_ID = (
    SPECIAL_IDS[k] for k in ("pad", "unk", "cls", "sep", "mask", "bos", "eos")
)

__all__ = [
    "BOS_ID",
    "CLS_ID",
    "EOS_ID",
    "FIRST_REGULAR_ID",
    "FORMAT",
    "FORMAT_VERSION",
    "IGNORE_INDEX",
    "MANIFEST_NAME",
    "MASK_ID",
    "PAD_ID",
    "SEP_ID",
    "SPECIAL_IDS",
    "SPLITS",
    "UNK_ID",
]
