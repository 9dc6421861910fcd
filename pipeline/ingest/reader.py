"""Ingest one unit of work: run its format's reader and cut what it yields into partitions.

A unit is one file (or one folder, archive or dataset split, see
:func:`pipeline.ingest.plan.plan_units`). Its records stream through
:func:`iter_partitions`, which closes a partition whenever the text gathered reaches
``limits.partition_bytes``; each partition is an ordinary :class:`~pipeline.stage.StageResult`
(stage ``ingest``) in which every record the reader yielded is either a kept document or a
dropped row with its ``reason``, so ``in = kept + dropped`` holds per partition and per unit.
Records a format does not consider documents at all (a WARC's request records) are not
counted; blank JSONL lines are (``blank_line``), and so is a file that holds no record at all
(``empty_file``). Memory holds one partition, never the whole unit.
"""

from __future__ import annotations

import importlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipeline.ingest.config import SourceConfig
from pipeline.ingest.formats import FORMAT_READERS
from pipeline.ingest.plan import members_label
from pipeline.ingest.records import Document, Record, Skipped, Unit
from pipeline.schema import doc_id, documents_to_table, with_reason
from pipeline.stage import StageResult, StageStats, text_bytes

STAGE = "ingest"

Reader = Callable[[Unit], Iterator[Record]]

#: format name (``SourceConfig.format``) -> the reader of that format
READERS: dict[str, Reader] = {
    name: importlib.import_module(f"pipeline.ingest.{module}").iter_records
    for name, module in FORMAT_READERS.items()
}


@dataclass
class IngestPart:
    """One partition of a unit: its documents and drops, and the reading it accounts for."""

    result: StageResult
    files: int  # files opened while this partition filled
    file_bytes: int  # their bytes on disk


def _dropped_row(source: SourceConfig, skipped: Skipped, rel_path: str) -> dict[str, Any]:
    return {
        "id": skipped.id if skipped.id is not None else doc_id(source.name, skipped.location),
        "text": skipped.text,
        "source": source.name,
        "kind": source.kind,
        "url": skipped.url,
        "path": skipped.path if skipped.path is not None else rel_path,
        "meta": skipped.meta,
    }


#: Text gathered as Python objects before it is turned into Arrow. A partition is held as Arrow
#: tables, its text once as UTF-8, rather than as Python strings: those take up to 4 bytes a
#: character (2 for most web pages: one curly quote is enough), and converting them adds a cached
#: UTF-8 copy of each, so a partition held as strings until it closes costs 3-4x its text.
BATCH_BYTES = 4 << 20


class _Gather:
    """The records of one partition, being gathered; converted to Arrow every ``BATCH_BYTES``."""

    def __init__(self) -> None:
        self.kept: list[Document] = []
        self.dropped: list[dict[str, Any]] = []
        self.reasons: list[str] = []
        self.kept_tables: list[pa.Table] = []
        self.dropped_tables: list[pa.Table] = []
        self.counts: Counter[str] = Counter()
        self.rows = 0
        self.size = 0
        self.pending = 0  # text bytes still held as Python objects
        self.started = time.perf_counter()

    def __len__(self) -> int:
        return self.rows

    def add_kept(self, document: Document, size: int) -> None:
        self.kept.append(document)
        self._added(size)

    def add_dropped(self, row: dict[str, Any], reason: str, size: int) -> None:
        self.dropped.append(row)
        self.reasons.append(reason)
        self.counts[reason] += 1
        self._added(size)

    def _added(self, size: int) -> None:
        self.rows += 1
        self.size += size
        self.pending += size
        if self.pending >= BATCH_BYTES:
            self.convert()

    def convert(self) -> None:
        """Turn the records held as Python objects into Arrow tables, and let them go."""
        if self.kept:
            self.kept_tables.append(documents_to_table(self.kept))
            self.kept = []
        if self.dropped:
            table = documents_to_table(self.dropped)
            self.dropped_tables.append(with_reason(table, pa.array(self.reasons, pa.string())))
            self.dropped, self.reasons = [], []
        self.pending = 0

    def result(self, where: str) -> StageResult:
        self.convert()
        kept_table = (
            pa.concat_tables(self.kept_tables) if self.kept_tables else documents_to_table([])
        )
        dropped_table = (
            pa.concat_tables(self.dropped_tables)
            if self.dropped_tables
            else with_reason(documents_to_table([]), pa.array([], pa.string()))
        )
        self.kept_tables, self.dropped_tables = [], []
        stats = StageStats(
            stage=STAGE,
            docs_in=len(self),
            docs_kept=kept_table.num_rows,
            dropped=dict(self.counts),
            bytes_kept=text_bytes(kept_table),
        )
        stats.bytes_in = stats.bytes_kept + text_bytes(dropped_table)
        stats.seconds = time.perf_counter() - self.started
        stats.check(where)
        return StageResult(kept=kept_table, dropped=dropped_table, stats=stats)


def iter_partitions(source: SourceConfig, path: Path | str, rel_path: str) -> Iterator[IngestPart]:
    """Read one file (or folder, or dataset split) of ``source`` into partitions; see
    :func:`iter_unit_partitions`."""
    return iter_unit_partitions(source, [(path, rel_path)])


def iter_unit_partitions(
    source: SourceConfig, members: Sequence[tuple[Path | str, str]]
) -> Iterator[IngestPart]:
    """Read one unit of ``source`` -- its ``members``, ``(path, rel_path)`` in order -- into
    partitions of about ``limits.partition_bytes`` of text.

    ``rel_path`` is a member's name as it should appear in ids and ``path`` columns (relative
    to the run config's folder, see :func:`pipeline.ingest.files.relative_name`). A unit of
    several small files fills its partitions across file boundaries. At least one partition is
    yielded, empty if the unit holds no records, so the unit is marked done.
    """
    target = source.limits.partition_bytes
    reader = READERS[source.format]
    label = members_label(members)
    units: list[Unit] = []
    gather = _Gather()
    files = file_bytes = 0
    emitted = 0

    def read_so_far() -> tuple[int, int]:
        return sum(u.files_read for u in units), sum(u.bytes_read for u in units)

    def close() -> IngestPart:
        nonlocal gather, files, file_bytes, emitted
        now_files, now_bytes = read_so_far()
        part = IngestPart(
            gather.result(f"{label} partition {emitted}"), now_files - files, now_bytes - file_bytes
        )
        files, file_bytes = now_files, now_bytes
        gather = _Gather()
        emitted += 1
        return part

    for path, rel_path in members:
        unit = Unit(source, Path(path), rel_path)
        units.append(unit)
        for record in reader(unit):
            if isinstance(record, Skipped):
                row = _dropped_row(source, record, rel_path)
                gather.add_dropped(row, record.reason, len(record.text.encode()))
            else:
                gather.add_kept(record, len(record["text"].encode()))
            if gather.size >= target:
                yield close()
    if len(gather) or not emitted or read_so_far()[0] > files:
        yield close()


def ingest_file(source: SourceConfig, path: Path | str, rel_path: str) -> StageResult:
    """Read one unit of ``source`` into a single result (all its partitions together).

    For tests and small inputs; the flow writes partitions one by one (:func:`iter_partitions`).
    """
    parts = [part.result for part in iter_partitions(source, path, rel_path)]
    stats = StageStats(stage=STAGE)
    for part in parts:
        stats.merge(part.stats)
    kept = pa.concat_tables([p.kept for p in parts])
    dropped = pa.concat_tables([p.dropped for p in parts])
    stats.check(rel_path)
    return StageResult(kept=kept, dropped=dropped, stats=stats)
