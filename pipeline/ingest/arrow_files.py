"""Format ``arrow``: one document per row of an Arrow IPC file or stream (``.arrow``,
``.feather`` v2, and the cache files ``datasets`` writes), read batch by batch from a memory map.

The IPC *file* format is tried first, then the *stream* format (what ``datasets`` caches hold).
Schema checks and row rules are those of the ``parquet`` reader.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from pipeline.ingest.config import SourceConfig
from pipeline.ingest.files import SourceError
from pipeline.ingest.parquet_files import check_schema, iter_rows
from pipeline.ingest.records import Record, Unit


def _batches(
    reader: pa.ipc.RecordBatchFileReader | pa.ipc.RecordBatchStreamReader,
) -> Iterator[pa.RecordBatch]:
    if isinstance(reader, pa.ipc.RecordBatchFileReader):
        for index in range(reader.num_record_batches):
            yield reader.get_batch(index)
    else:
        yield from reader


def _open(
    source: SourceConfig, path: Path, mapped: pa.MemoryMappedFile
) -> pa.ipc.RecordBatchFileReader | pa.ipc.RecordBatchStreamReader:
    where = f"source {source.name!r}: {path}"
    reader: pa.ipc.RecordBatchFileReader | pa.ipc.RecordBatchStreamReader
    try:
        reader = pa.ipc.open_file(mapped)
    except (pa.ArrowException, OSError):
        mapped.seek(0)
        try:
            reader = pa.ipc.open_stream(mapped)
        except (pa.ArrowException, OSError) as error:
            raise SourceError(f"{where}: not an Arrow IPC file or stream: {error}") from None
    check_schema(source, reader.schema, where)
    return reader


def check_file(source: SourceConfig, path: Path) -> None:
    """Before the run: the file is Arrow IPC and has the columns the source names."""
    with pa.memory_map(str(path)) as mapped:
        _open(source, path, mapped)


def iter_records(unit: Unit) -> Iterator[Record]:
    """Yield one record per row."""
    with pa.memory_map(str(unit.path)) as mapped:
        reader = _open(unit.source, unit.path, mapped)
        unit.opened(unit.path.stat().st_size)
        yield from iter_rows(unit, _batches(reader), (pa.ArrowException, OSError))
