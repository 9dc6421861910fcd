"""Ingest: readers that turn source files into documents of the schema in `pipeline.schema`."""
