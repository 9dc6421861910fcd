"""Planning ingest: the units of work of a run's sources, each with the prefix of its partitions.

A unit of work is what one ingest task reads: a file; for the ``html`` and ``code`` formats a
folder (a tree of pages, a repository or checkout); for an ``hf`` source without ``paths``, the
dataset split. Units come in a stable order (by partition prefix), so runs agree on names and on
"first" whatever the scheduling.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.ingest.config import SourceConfig
from pipeline.ingest.files import HF_UNIT, relative_name, resolve_source_files


@dataclass(frozen=True)
class WorkUnit:
    """One unit of work of ingest and the prefix of the partitions it writes:
    `<part>-00000`, `<part>-00001`, ..."""

    source: str
    path: str  # absolute (or HF_UNIT)
    rel_path: str  # relative to the config's folder where possible
    part: str


def plan_units(sources: Sequence[SourceConfig], base_dir: str | Path) -> list[WorkUnit]:
    """Every unit of work of ``sources``, in a stable order, each with its partition prefix."""
    base = Path(base_dir)
    units = []
    for source in sources:
        for path in resolve_source_files(source, base):
            if str(path) == HF_UNIT and source.hf is not None:
                rel = f"hf:{source.hf.dataset}"
            else:
                rel = relative_name(path, base)
            tag = hashlib.blake2b(rel.encode(), digest_size=5).hexdigest()
            units.append(WorkUnit(source.name, str(path), rel, f"{source.name}-{tag}"))
    return sorted(units, key=lambda unit: unit.part)
