"""Objective shards: the last data stage, from documents + tokenizer to training rows.

`config` holds the settings, `writer` writes rows as Arrow IPC stream files that roll over at a
fixed row count, and `build` runs the stage: read documents, encode, build each objective's rows,
split train/val, write shards and a manifest. The format is docs/shard-format.md.
"""

from pipeline.shards.build import build_shards, is_val_doc
from pipeline.shards.config import ShardsConfig
from pipeline.shards.writer import ShardWriter

__all__ = ["ShardWriter", "ShardsConfig", "build_shards", "is_val_doc"]
