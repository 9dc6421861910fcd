"""Write one split's rows as Arrow IPC stream files of a fixed number of rows.

Rows come in as record batches of any size; every `rows_per_shard` rows become one file,
`part-<partition>-00000.arrow`, `part-<partition>-00001.arrow`, ..., each holding exactly one
record batch (so a column is one contiguous buffer a reader can view as a matrix). Each file is
written to a temporary name and renamed when complete; its sha256 is recorded for the manifest.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa

from pipeline.faults import fault_point
from pipeline.rundir import atomic_write_bytes


def shard_prefix(part: str) -> str:
    """What the file names of partition ``part``'s shards start with."""
    return f"part-{part}-"


def shard_name(part: str, index: int) -> str:
    """The file name of partition ``part``'s shard number ``index``."""
    return f"{shard_prefix(part)}{index:05d}.arrow"


class ShardWriter:
    """Accumulate record batches of ``schema``; write a shard every ``rows_per_shard`` rows.

    ``split_dir`` is where the files go, named after partition ``part``; the entries returned by
    :meth:`close` name them relative to ``manifest_dir``.
    """

    def __init__(
        self,
        split_dir: Path,
        schema: pa.Schema,
        rows_per_shard: int,
        manifest_dir: Path,
        part: str,
    ) -> None:
        if rows_per_shard <= 0:
            raise ValueError(f"rows_per_shard must be positive, got {rows_per_shard}")
        self.split_dir = Path(split_dir)
        self.schema = schema
        self.rows_per_shard = rows_per_shard
        self.manifest_dir = Path(manifest_dir)
        self.part = part
        self.files: list[dict] = []
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._closed = False

    def write(self, batch: pa.RecordBatch) -> None:
        """Add rows; full shards are written as soon as they are complete."""
        if self._closed:
            raise RuntimeError(f"{self.split_dir}: write after close")
        if not batch.schema.equals(self.schema):
            raise ValueError(
                f"{self.split_dir}: batch schema\n{batch.schema}\ndiffers from the shard schema\n"
                f"{self.schema}"
            )
        if batch.num_rows == 0:
            return
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        while self._pending_rows >= self.rows_per_shard:
            self._flush(self.rows_per_shard)

    def close(self) -> list[dict]:
        """Write the last, partial shard; return the file entries ``{path, rows, sha256}``."""
        if not self._closed:
            if self._pending_rows:
                self._flush(self._pending_rows)
            self._closed = True
        return self.files

    def _flush(self, rows: int) -> None:
        combined = pa.concat_batches(self._pending)
        # Concatenating the slice copies it into compact buffers: a slice would carry its
        # parent's buffers into the file, and the bytes would depend on how rows arrived.
        head, rest = pa.concat_batches([combined.slice(0, rows)]), combined.slice(rows)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows
        path = self.split_dir / shard_name(self.part, len(self.files))
        data = _stream_bytes(self.schema, head)
        atomic_write_bytes(path, data)
        self.files.append(
            {
                "path": path.relative_to(self.manifest_dir).as_posix(),
                "rows": rows,
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
        fault_point("shards.shard_written")


def _stream_bytes(schema: pa.Schema, batch: pa.RecordBatch) -> bytes:
    """One record batch as the bytes of an uncompressed Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as stream:
        stream.write_batch(batch)
    return sink.getvalue().to_pybytes()
