"""Format ``parquet``: one document per row, read in record batches so memory stays bounded.

The file's schema is checked before any row is read: a missing or non-string text column (or a
missing id column, when ``id_field`` is set) is a configuration error and raises
:class:`~pipeline.ingest.files.SourceError` naming the file. Rows follow the same rules as
JSON lines (:func:`pipeline.ingest.jsonl.record_to_document`); a batch that fails to decode
mid-file ends the file with one ``corrupt_record``; a row whose strings are not UTF-8 is
``undecodable``; a file without rows is one ``empty_file`` record.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.ingest.config import SourceConfig
from pipeline.ingest.files import SourceError
from pipeline.ingest.jsonl import record_to_document
from pipeline.ingest.records import Record, Skipped, Unit, jsonable

#: Rows per record batch: small enough that a batch of long documents stays well bounded.
BATCH_ROWS = 256


def check_schema(source: SourceConfig, schema: pa.Schema, where: str) -> None:
    """Raise :class:`SourceError` unless ``schema`` has the text (and id) column."""
    names = ", ".join(schema.names)
    index = schema.get_field_index(source.text_field)
    if index < 0:
        raise SourceError(
            f"{where}: no text column {source.text_field!r} (columns: {names}); "
            "set `text_field` to the column that holds the text"
        )
    text_type = schema.field(index).type
    if not (
        pa.types.is_string(text_type)
        or pa.types.is_large_string(text_type)
        or pa.types.is_string_view(text_type)
    ):
        raise SourceError(
            f"{where}: text column {source.text_field!r} has type {text_type}, expected string"
        )
    if source.id_field is not None and schema.get_field_index(source.id_field) < 0:
        raise SourceError(f"{where}: no id column {source.id_field!r} (columns: {names})")


def _batch_rows(batch: pa.RecordBatch) -> Iterator[dict[str, Any] | UnicodeDecodeError]:
    """The rows of ``batch`` as dicts; a row with a string that is not UTF-8 as its error.

    Arrow does not check string columns read from files, so a bad value surfaces only on
    conversion; then the batch is converted row by row to lose no more than that row.
    """
    try:
        yield from batch.to_pylist()
        return
    except UnicodeDecodeError:
        pass
    for index in range(batch.num_rows):
        try:
            [values] = batch.slice(index, 1).to_pylist()
        except UnicodeDecodeError as error:
            yield error
        else:
            yield values


def iter_rows(
    unit: Unit, batches: Iterable[pa.RecordBatch], errors: tuple[type[BaseException], ...]
) -> Iterator[Record]:
    """One record per row of ``batches``, ``rel_path:row`` (0-based) as the location; a row
    with a string that is not UTF-8 is ``undecodable``; a batch that fails to decode ends the
    unit with one ``corrupt_record``; a file without rows is one ``empty_file`` record."""
    source, rel_path = unit.source, unit.rel_path
    row = 0
    try:
        for batch in batches:
            for values in _batch_rows(batch):
                location = f"{rel_path}:{row}"
                row += 1
                if isinstance(values, UnicodeDecodeError):
                    detail = f"{location}: a string value is not valid UTF-8: {values}"
                    meta = {"location": location, "error": detail}
                    yield Skipped(location, "undecodable", "", meta)
                    continue
                record = {key: jsonable(value) for key, value in values.items()}
                yield record_to_document(source, record, location, rel_path)
    except errors as error:
        location = f"{rel_path}:{row}"
        detail = f"{location}: cannot decode rows from here on: {error}"
        yield Skipped(location, "corrupt_record", "", {"location": location, "error": detail})
        return
    if row == 0:
        detail = f"{rel_path}: no rows; expected one document per row"
        yield Skipped(rel_path, "empty_file", "", {"location": rel_path, "error": detail})


def _open(source: SourceConfig, path: Path) -> pq.ParquetFile:
    where = f"source {source.name!r}: {path}"
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise SourceError(f"{where}: not a readable Parquet file: {error}") from None
    check_schema(source, parquet.schema_arrow, where)
    return parquet


def check_file(source: SourceConfig, path: Path) -> None:
    """Before the run: the file is Parquet and has the columns the source names."""
    _open(source, path)


def iter_records(unit: Unit) -> Iterator[Record]:
    """Yield one record per row."""
    parquet = _open(unit.source, unit.path)
    unit.opened(unit.path.stat().st_size)
    yield from iter_rows(
        unit, parquet.iter_batches(batch_size=BATCH_ROWS), (pa.ArrowException, OSError)
    )
