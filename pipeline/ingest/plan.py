"""Planning ingest: the units of work of a run's sources, each with the prefix of its partitions.

A unit of work is what one ingest task reads: a file, or several small files read together; for
the ``html`` and ``code`` formats a folder (a tree of pages, a repository or checkout); for an
``hf`` source without ``paths``, the dataset split. Units come in a stable order (by partition
prefix), so runs agree on names and on "first" whatever the scheduling.

**Small files are batched.** A file of at least ``limits.batch_bytes`` is a unit of its own;
smaller files of one source are grouped, in path order, into units of about ``batch_bytes`` on
disk. A group also ends after any file whose path hashes to a boundary (1 in
:data:`BOUNDARY_EVERY`), so the groups are cut by content, not by position: a file added to a
source later changes its own group (and at most the next), and every other group keeps its name
and its cached output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.ingest.config import SourceConfig
from pipeline.ingest.files import HF_UNIT, relative_name, resolve_source_files

#: One small file in this many (by its path's hash) ends its group: groups of tiny files stay
#: a few hundred files long, and an added file disturbs only its neighbourhood.
BOUNDARY_EVERY = 256


@dataclass(frozen=True)
class WorkUnit:
    """One unit of work of ingest and the prefix of the partitions it writes:
    `<part>-00000`, `<part>-00001`, ...

    ``members`` are ``(path, rel_path)`` pairs read in order: one for a file, a folder or a
    dataset split; several for a group of small files. ``path`` is absolute (or ``HF_UNIT``),
    ``rel_path`` relative to the config's folder where possible.
    """

    source: str
    part: str
    members: tuple[tuple[str, str], ...]

    @property
    def rel_path(self) -> str:
        """The unit's name in logs and records (see :func:`members_label`)."""
        return members_label(self.members)


def members_label(members: Sequence[tuple[object, str]]) -> str:
    """A unit's name in logs and records: its first member's relative path, and how many files
    follow it in a group."""
    first = members[0][1]
    return first if len(members) == 1 else f"{first} (+{len(members) - 1} files)"


def _tag(rel: str) -> str:
    return hashlib.blake2b(rel.encode(), digest_size=5).hexdigest()


def _is_boundary(rel: str) -> bool:
    digest = hashlib.blake2b(rel.encode(), digest_size=8, person=b"gm-batch").digest()
    return int.from_bytes(digest, "big") % BOUNDARY_EVERY == 0


def _source_units(source: SourceConfig, base: Path) -> list[WorkUnit]:
    units: list[WorkUnit] = []
    group: list[tuple[str, str]] = []
    group_bytes = 0

    def close_group() -> None:
        nonlocal group, group_bytes
        if group:
            tag = _tag(group[0][1]) if len(group) == 1 else _tag("\0".join(r for _, r in group))
            units.append(WorkUnit(source.name, f"{source.name}-{tag}", tuple(group)))
        group, group_bytes = [], 0

    for path in resolve_source_files(source, base):
        if str(path) == HF_UNIT and source.hf is not None:
            rel = f"hf:{source.hf.dataset}"
            units.append(WorkUnit(source.name, f"{source.name}-{_tag(rel)}", ((str(path), rel),)))
            continue
        rel = relative_name(path, base)
        size = path.stat().st_size if path.is_file() else None
        if size is None or size >= source.limits.batch_bytes:  # a folder, or a large file
            units.append(WorkUnit(source.name, f"{source.name}-{_tag(rel)}", ((str(path), rel),)))
            continue
        group.append((str(path), rel))
        group_bytes += size
        if group_bytes >= source.limits.batch_bytes or _is_boundary(rel):
            close_group()
    close_group()
    return units


def plan_units(sources: Sequence[SourceConfig], base_dir: str | Path) -> list[WorkUnit]:
    """Every unit of work of ``sources``, in a stable order, each with its partition prefix."""
    base = Path(base_dir)
    units = [unit for source in sources for unit in _source_units(source, base)]
    return sorted(units, key=lambda unit: unit.part)
