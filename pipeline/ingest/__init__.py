"""Ingest: readers that turn source files into documents of the schema in `pipeline.schema`.

Where to look: `config` (SourceConfig and its per-format options), `files` (a source's units of
work and their fingerprints), `reader` (one unit -> partitions; the format -> reader table), the
readers (`warc`, `wet`, `html_files`, `text_files`, `epub`, `code_files`, `jsonl`,
`parquet_files`, `arrow_files`, `hf_datasets`), and what they share: `compression` (bounded,
bomb-checked decompression), `encoding` (charset detection), `warc_records` (WARC splitting
that reads past damage), `html_pages` / `html_extract` / `html_text` (pages to text), `books`
(Gutenberg and whitespace clean-up), `trees` / `archives` (folders, checkouts, tar/zip members),
`code_languages` / `code_licenses` / `code_filters` (what a source file is).
"""
