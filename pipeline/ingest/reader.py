"""Ingest one file: run its format's reader and split what it yields into kept and dropped.

The result is an ordinary :class:`~pipeline.stage.StageResult` (stage ``ingest``): every record
the reader yielded is either a kept document or a dropped row with its ``reason``, so the
accounting ``in = kept + dropped`` holds as for every other stage. Records a format does not
consider documents at all (a WARC's request records, blank JSONL lines) are not counted.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pipeline.ingest import jsonl, parquet_files, text_files, warc
from pipeline.ingest.config import SourceConfig
from pipeline.ingest.records import Document, Record, Skipped
from pipeline.schema import doc_id, documents_to_table, with_reason
from pipeline.stage import StageResult, StageStats, text_bytes

STAGE = "ingest"

Reader = Callable[[SourceConfig, Path, str], Iterator[Record]]

#: format name (``SourceConfig.format``) -> the reader of that format
READERS: dict[str, Reader] = {
    "text": text_files.iter_records,
    "jsonl": jsonl.iter_records,
    "parquet": parquet_files.iter_records,
    "warc": warc.iter_records,
}


def _dropped_row(source: SourceConfig, skipped: Skipped, rel_path: str) -> dict[str, Any]:
    return {
        "id": skipped.id if skipped.id is not None else doc_id(source.name, skipped.location),
        "text": skipped.text,
        "source": source.name,
        "kind": source.kind,
        "url": skipped.url,
        "path": rel_path,
        "meta": skipped.meta,
    }


def ingest_file(source: SourceConfig, path: Path, rel_path: str) -> StageResult:
    """Read one file of ``source`` into kept documents and dropped records with reasons.

    ``rel_path`` is the file's name as it should appear in ids and ``path`` columns (relative
    to the run config's folder, see :func:`pipeline.ingest.files.relative_name`).
    """
    started = time.perf_counter()
    reader = READERS[source.format]
    kept: list[Document] = []
    dropped: list[dict[str, Any]] = []
    reasons: list[str] = []
    for record in reader(source, Path(path), rel_path):
        if isinstance(record, Skipped):
            dropped.append(_dropped_row(source, record, rel_path))
            reasons.append(record.reason)
        else:
            kept.append(record)
    kept_table = documents_to_table(kept)
    dropped_table = with_reason(documents_to_table(dropped), reasons)
    stats = StageStats(
        stage=STAGE,
        docs_in=len(kept) + len(dropped),
        docs_kept=len(kept),
        dropped=dict(Counter(reasons)),
        bytes_kept=text_bytes(kept_table),
    )
    stats.bytes_in = stats.bytes_kept + text_bytes(dropped_table)
    stats.seconds = time.perf_counter() - started
    stats.check(rel_path)
    return StageResult(kept=kept_table, dropped=dropped_table, stats=stats)
