"""Format ``hf``: one document per row of a ``datasets.load_dataset`` split.

With ``paths``, each matched file is one unit of work, loaded with the builder named in
``hf.dataset`` (``json``, ``parquet``, ``csv``, ``text``, ``arrow``); without, ``hf.dataset`` is a
Hub dataset name and the whole split is one unit, streamed by default (nothing is downloaded
ahead; rows arrive as they are read). Rows follow the same rules as JSON lines
(:func:`pipeline.ingest.jsonl.record_to_document`); the location is ``<dataset>:<split>:<row>``
(or ``<file>:<row>``), stable for a pinned ``revision``.

When the Hub cannot be reached, the error says so and names the dataset
(:class:`~pipeline.ingest.files.SourceError`), rather than a network stack trace. ``datasets``
is imported on first use, so sources of other formats never pay for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pipeline.ingest.config import HFOptions
from pipeline.ingest.files import HF_UNIT, SourceError
from pipeline.ingest.jsonl import record_to_document
from pipeline.ingest.records import Record, Skipped, Unit, jsonable

#: Words in an exception that mean "the Hub could not be reached".
_NETWORK_HINTS = (
    "connection",
    "offline",
    "resolve",
    "timed out",
    "timeout",
    "network",
    "max retries",
    "name or service",
    "temporary failure",
    "unreachable",
    "couldn't reach",
    "cannot reach",
    "hub",
)


def _load(options: HFOptions, data_files: list[str] | None, where: str) -> Iterable[Any]:
    import datasets

    kwargs: dict[str, Any] = {"split": options.split, "streaming": options.streaming}
    if options.name:
        kwargs["name"] = options.name
    if options.revision:
        kwargs["revision"] = options.revision
    if data_files is not None:
        kwargs["data_files"] = data_files
    try:
        return datasets.load_dataset(options.dataset, **kwargs)
    except Exception as error:  # datasets raises many types; name the source either way
        message = f"{type(error).__name__}: {error}"
        if data_files is None and any(h in message.lower() for h in _NETWORK_HINTS):
            raise SourceError(
                f"{where}: cannot load Hub dataset {options.dataset!r} (split "
                f"{options.split!r}): the Hugging Face Hub is not reachable from here "
                f"({message[:300]}). Run where the Hub is reachable, or download the dataset "
                "and point `paths` at its files with `hf.dataset` set to their builder "
                "(json, parquet, ...)."
            ) from None
        raise SourceError(
            f"{where}: load_dataset({options.dataset!r}) failed: {message[:500]}"
        ) from None


def iter_records(unit: Unit) -> Iterator[Record]:
    """Yield one record per row of the split (of one file, or of the Hub dataset)."""
    source = unit.source
    options = source.hf
    assert options is not None  # SourceConfig requires it for this format
    where = f"source {source.name!r}"
    if str(unit.path) == HF_UNIT:
        data_files = None
        prefix = f"{options.dataset}:{options.name or 'default'}:{options.split}"
    else:
        data_files = [str(unit.path)]
        prefix = unit.rel_path
        unit.opened(unit.path.stat().st_size)
    rows = _load(options, data_files, where)
    row = 0
    try:
        for values in rows:
            location = f"{prefix}:{row}"
            record = {key: jsonable(value) for key, value in dict(values).items()}
            yield record_to_document(source, record, location, unit.rel_path)
            row += 1
    except Exception as error:  # a row that fails to decode ends the split, counted
        message = f"{type(error).__name__}: {error}"
        if data_files is None and any(h in message.lower() for h in _NETWORK_HINTS):
            # Not a bad row: the connection dropped. Fail the unit so a rerun reads it again.
            raise SourceError(
                f"{where}: reading {options.dataset!r} stopped at row {row}: {message[:300]}"
            ) from None
        location = f"{prefix}:{row}"
        detail = f"{location}: cannot read rows from here on: {type(error).__name__}: {error}"
        yield Skipped(location, "corrupt_record", "", {"location": location, "error": detail})
