"""The dedup units' outputs carry their own fingerprint: a Parquet file whose schema metadata
holds the fingerprint of what it was made from and a small JSON record (row counts, settings).

A unit compares that fingerprint with the one it would write to decide whether its output is up
to date; a later unit reads the record to learn what an earlier one made, without opening the
data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import UserFacingError
from pipeline.rundir import write_parquet

_FP = b"gristmill.fingerprint"
_INFO = b"gristmill.dedup"


class DedupInputError(UserFacingError, ValueError):
    """A dedup input (a unit's output, a previous run's index) is missing or incompatible."""


def read_info(path: Path) -> dict[str, Any] | None:
    """The dedup metadata of a Parquet file written by these units, or None if absent."""
    if not path.is_file():
        return None
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return None
    if _INFO not in metadata:
        return None
    return {**json.loads(metadata[_INFO]), "fingerprint": metadata[_FP].decode()}


def write_with_info(path: Path, table: pa.Table, fp: str, info: dict[str, Any]) -> None:
    metadata = {_FP: fp.encode(), _INFO: json.dumps(info, sort_keys=True).encode()}
    write_parquet(path, table.replace_schema_metadata(metadata))


def required_info(path: Path, what: str) -> dict[str, Any]:
    info = read_info(path)
    if info is None:
        raise DedupInputError(f"{path}: missing or unreadable {what}")
    return info
