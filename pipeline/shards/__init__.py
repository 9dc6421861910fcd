"""Objective shards: the last data stage, from documents + tokenizer to training rows.

`format` holds the constants the trainer shares, `config` the settings, `writer` writes rows as
Arrow IPC stream files that roll over at a fixed row count, and `build` runs the stage: read
documents, encode, build each objective's rows, split train/val, write shards and a manifest.
The format is docs/shard-format.md.

The names below load on first use, so the objective modules can import `pipeline.shards.format`
without importing the stage (which imports them).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "ShardWriter": "pipeline.shards.writer",
    "ShardsConfig": "pipeline.shards.config",
    "build_shards": "pipeline.shards.build",
    "is_val_doc": "pipeline.shards.build",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pipeline.shards' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
