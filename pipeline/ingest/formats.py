"""The ingest formats: each format a source may name, and the module that reads it.

This table is the one list of formats: the config's ``format`` choices
(:data:`pipeline.ingest.config.Format`) and the reader table
(:data:`pipeline.ingest.reader.READERS`) both derive from it. A new format is a module in
``pipeline/ingest/`` with an ``iter_records(unit)`` function plus one line here.
"""

from __future__ import annotations

#: format name -> module of ``pipeline.ingest`` whose ``iter_records`` reads it; one document is:
FORMAT_READERS: dict[str, str] = {
    "text": "text_files",  # a file (books, single files; gzip/zstd/bz2/xz read transparently)
    "jsonl": "jsonl",  # a line of JSON (optionally compressed)
    "parquet": "parquet_files",  # a row
    "arrow": "arrow_files",  # a row (Arrow IPC files, `datasets` cache files)
    "warc": "warc",  # an HTML response record
    "wet": "wet",  # a text conversion record
    "html": "html_files",  # an `.html` file (files, or folders of them)
    "epub": "epub",  # a book
    "code": "code_files",  # a source file of a tree, archive or git checkout
    "hf": "hf_datasets",  # a row of a `datasets.load_dataset` split
}

#: The formats, in the order the docs list them.
FORMATS: tuple[str, ...] = tuple(FORMAT_READERS)

#: Formats whose `paths` may name folders (read as one unit of work each, see the README).
FOLDER_FORMATS = frozenset({"html", "code"})
