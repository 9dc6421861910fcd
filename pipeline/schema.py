"""The document schema: the one definition of a document as it moves between stages.

Every stage reads and writes Arrow tables with at least these columns. Stages add their own
annotation columns (quality signals, dedup cluster ids, ...) and keep every column they do not
own, so annotations accumulate down the chain. Dropped documents carry the same columns plus
``reason``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal, get_args

import pyarrow as pa

#: Bumped whenever a column is added, removed or changes meaning.
SCHEMA_VERSION = 1

#: What a document is; a source's `kind` decides its quality rule suite and its shingling.
Kind = Literal["web", "book", "code"]
KINDS: tuple[str, ...] = get_args(Kind)

DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # stable: derived from source + location
        pa.field("text", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),  # the source's `name` in the run config
        pa.field("kind", pa.string(), nullable=False),  # web | book | code
        pa.field("url", pa.string()),  # web documents
        pa.field("path", pa.string()),  # file the document came from (relative where possible)
        pa.field("lang", pa.string()),  # ISO 639 code, or the programming language for code
        pa.field("lang_score", pa.float32()),
        pa.field("meta", pa.string()),  # JSON object with everything else
    ],
    metadata={"gristmill.schema_version": str(SCHEMA_VERSION)},
)

#: Column added to dropped documents: the first rule that removed the document.
REASON = "reason"
#: Column of stages that apply several rules (quality): every rule the document fails, in order
#: (the first is ``reason``); empty for kept documents, unless the stage only flags (`keep: all`).
REASONS = "reasons"


def doc_id(source: str, location: str) -> str:
    """A stable document id from the source name and the document's location.

    ``location`` is whatever pins the document inside its source: a WARC-Record-ID, a file path
    with a line number or byte offset, a record index in a Parquet file. The same location always
    gives the same id, so reruns and partial reruns agree.
    """
    digest = hashlib.blake2b(f"{source}\x00{location}".encode(), digest_size=12).hexdigest()
    return f"{source}/{digest}"


def documents_to_table(docs: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Build a schema-conformant table from dict-like documents.

    Missing optional fields become null; ``meta`` may be given as a dict and is serialised
    to JSON with sorted keys (so the bytes are deterministic).
    """
    columns: dict[str, list[Any]] = {f.name: [] for f in DOCUMENT_SCHEMA}
    for doc in docs:
        for name in columns:
            value = doc.get(name)
            if name == "meta" and value is not None and not isinstance(value, str):
                value = json.dumps(value, sort_keys=True, ensure_ascii=False)
            columns[name].append(value)
    return pa.Table.from_pydict(columns, schema=DOCUMENT_SCHEMA)


def empty_documents(extra: pa.Schema | None = None) -> pa.Table:
    """An empty table with the document schema (plus ``extra`` fields, if given)."""
    schema = DOCUMENT_SCHEMA
    if extra is not None:
        for field in extra:
            if schema.get_field_index(field.name) < 0:
                schema = schema.append(field)
    return schema.empty_table()


def check_documents(table: pa.Table, where: str) -> None:
    """Raise ``ValueError`` naming ``where`` if ``table`` lacks a schema column or has the wrong
    type."""
    for field in DOCUMENT_SCHEMA:
        index = table.schema.get_field_index(field.name)
        if index < 0:
            raise ValueError(f"{where}: missing document column {field.name!r}")
        actual = table.schema.field(index).type
        if actual != field.type:
            raise ValueError(
                f"{where}: column {field.name!r} has type {actual}, expected {field.type}"
            )


def with_reason(table: pa.Table, reasons: list[str] | pa.Array) -> pa.Table:
    """Return ``table`` with a ``reason`` column (replacing an existing one)."""
    array = reasons if isinstance(reasons, pa.Array) else pa.array(reasons, type=pa.string())
    return set_column(table, REASON, array)


def set_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    """Return ``table`` with column ``name`` set to ``values`` (replaced, or appended)."""
    index = table.schema.get_field_index(name)
    if index >= 0:
        return table.set_column(index, name, values)
    return table.append_column(name, values)
