"""What a format reader yields: a document for the schema, or a record it had to skip.

Readers never raise on bad content; they yield :class:`Skipped` with a reason, and
:func:`pipeline.ingest.reader.iter_partitions` routes those to the ``dropped`` table so every
input record is accounted for. Only problems with the source's configuration or files
(a missing column, a file that is not Parquet) raise :class:`~pipeline.ingest.files.SourceError`.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from pipeline.ingest.config import SourceConfig
from pipeline.schema import doc_id


class Document(TypedDict):
    """One document, with the columns of :data:`pipeline.schema.DOCUMENT_SCHEMA`."""

    id: str
    text: str
    source: str
    kind: str
    url: str | None
    path: str | None
    lang: str | None
    lang_score: float | None
    meta: dict[str, Any]


@dataclass(frozen=True)
class Skipped:
    """A record a reader could not turn into a document, and why.

    ``location`` pins the record inside its source (as for document ids); ``text`` is whatever
    could be recovered, so a user looking at ``dropped/ingest`` can see what went wrong.
    ``id`` and ``url`` are set where the record had them (an ``id_field`` value, a WARC target);
    ``path`` where the record is a file of its own inside the unit (a file of a code tree).
    """

    location: str
    reason: str
    text: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    url: str | None = None
    path: str | None = None


@dataclass
class Unit:
    """One unit of work for a reader -- a file, a folder, an archive or a dataset split -- and
    what reading it has cost so far (files opened, bytes read from disk), for the data card."""

    source: SourceConfig
    path: Path
    rel_path: str  # the unit's name in ids and `path` columns (relative to the config's folder)
    files_read: int = 0
    bytes_read: int = 0

    def opened(self, size: int) -> None:
        """Count one file of ``size`` bytes (on disk) as read."""
        self.files_read += 1
        self.bytes_read += size


Record = Document | Skipped


def make_document(
    source_name: str,
    kind: str,
    location: str,
    text: str,
    *,
    path: str | None,
    url: str | None = None,
    id: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Document:
    """A :class:`Document`; its id is ``id`` if given, else derived from source and location."""
    return Document(
        id=id if id is not None else doc_id(source_name, location),
        text=text,
        source=source_name,
        kind=kind,
        url=url,
        path=path,
        lang=None,
        lang_score=None,
        meta=meta if meta is not None else {},
    )


def is_blank(text: str) -> bool:
    """True for empty or whitespace-only text (the ``empty`` skip reason)."""
    return not text.strip()


def jsonable(value: Any) -> Any:
    """``value`` converted so :func:`json.dumps` accepts it (for Parquet columns put in meta).

    NaN and infinities become null, dates and times ISO strings, decimals strings, bytes UTF-8
    text where they decode and ``base64:...`` otherwise; containers are converted recursively.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN and infinities are not JSON
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(value).decode("ascii")
    if isinstance(value, decimal.Decimal):
        return str(value)
    return str(value)
