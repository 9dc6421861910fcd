"""Hashes the pipeline and the trainer share: of files, and of JSON-serialisable values.

Torch-free and dependency-free, so the trainer imports it to verify shard checksums exactly as
the shard writer computed them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

_BLOCK = 1 << 20  # read files a MiB at a time: memory stays flat whatever the file's size


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def stable_hash(value: Any) -> str:
    """sha256 of a JSON-serialisable value with sorted keys (hex, 16 chars)."""
    data = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode()).hexdigest()[:16]
