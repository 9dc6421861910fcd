"""Read objective shards (docs/shard-format.md) as zero-copy numpy views over memory-mapped files.

This module is the trainer's only contact with the data side, and it knows no objective: it
validates `manifest.json` (format version 2), memory-maps each split's Arrow IPC stream files, and
exposes every int32 column the manifest lists, fixed-length ones as read-only arrays of shape
`(rows, length)` and scalar ones as `(rows,)`, pointing straight into the mapped files: one array
per record batch ("chunk"), found by an offset table, never concatenated. String columns stay in
Arrow (the trainer does not feed them to a model). `ShardDataset` wraps a split for
`torch.utils.data.DataLoader`, copying only the one row it returns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc
import torch
from torch.utils.data import Dataset

from pipeline.errors import UserFacingError
from pipeline.hashing import file_sha256
from pipeline.shards.format import FORMAT, FORMAT_VERSION, MANIFEST_NAME

#: The key under which `ShardDataset` items carry their global row index.
INDEX_KEY = "index"


class ShardFormatError(UserFacingError, ValueError):
    """A manifest or shard file does not follow docs/shard-format.md; the message names the file."""


@dataclass(frozen=True)
class ShardFile:
    """One `.arrow` file of a split as the manifest lists it."""

    path: Path  # absolute: the manifest's folder joined with the listed relative path
    rows: int
    sha256: str | None


@dataclass(frozen=True)
class SplitInfo:
    """One split (`train`, `val`, ...) as the manifest lists it."""

    name: str
    rows: int
    files: tuple[ShardFile, ...]


@dataclass(frozen=True)
class ColumnInfo:
    """One column as the manifest lists it: ``shape`` ``()`` scalar, ``(n,)`` fixed length,
    ``(None,)`` any length."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]

    @property
    def numeric(self) -> bool:
        """Whether the reader exposes it as an int32 array (scalar or fixed length)."""
        return self.dtype == "int32" and (self.shape == () or self.shape[0] is not None)


@dataclass(frozen=True)
class Manifest:
    """The validated contents of a shards folder's manifest.json."""

    path: Path
    objective: str
    seq_len: int
    vocab_size: int
    special_ids: dict[str, int]
    ignore_index: int
    columns: dict[str, ColumnInfo]
    splits: dict[str, SplitInfo]
    raw: dict[str, Any] = field(repr=False)

    @property
    def root(self) -> Path:
        """The folder holding manifest.json; file paths are relative to it."""
        return self.path.parent

    @property
    def pad_id(self) -> int:
        return self.special_ids["pad"]

    def split(self, name: str) -> SplitInfo:
        if name not in self.splits:
            raise ShardFormatError(
                f"{self.path}: no split {name!r}; the manifest lists {sorted(self.splits)}"
            )
        return self.splits[name]


def _need(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise ShardFormatError(f"{where}: missing key {key!r}")
    value = obj[key]
    # bool is an int subclass; a manifest with "seq_len": true is malformed.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ShardFormatError(f"{where}: {key!r} should be {kind}, got {value!r}")
    return value


def load_manifest(shards_dir: Path | str) -> Manifest:
    """Read and validate `shards_dir/manifest.json`.

    Raises FileNotFoundError if the manifest is missing and ShardFormatError (naming the file)
    if it is not JSON, is not a gristmill-shards manifest, has an unsupported format_version, or
    lacks a field the trainer needs.
    """
    path = Path(shards_dir) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no shard manifest here (expected {MANIFEST_NAME})")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ShardFormatError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise ShardFormatError(f"{path}: expected a JSON object at top level")
    fmt = raw.get("format")
    if fmt != FORMAT:
        raise ShardFormatError(f"{path}: format is {fmt!r}, expected {FORMAT!r}")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        hint = (
            "; rebuild the shards with this version of gristmill (run the shards stage again)"
            if isinstance(version, int) and version < FORMAT_VERSION
            else ""
        )
        raise ShardFormatError(
            f"{path}: format_version {version!r} is not supported (this trainer reads "
            f"version {FORMAT_VERSION}){hint}"
        )
    where = str(path)
    seq_len = _need(raw, "seq_len", int, where)
    vocab_size = _need(raw, "vocab_size", int, where)
    if seq_len < 1 or vocab_size < 1:
        raise ShardFormatError(f"{path}: seq_len and vocab_size must be positive")
    special_ids = _need(raw, "special_ids", dict, where)
    if "pad" not in special_ids:
        raise ShardFormatError(f"{path}: special_ids has no 'pad' id")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in special_ids.values()):
        raise ShardFormatError(f"{path}: special_ids values must be integers")
    ignore_index = _need(raw, "ignore_index", int, where)
    objective = _need(raw, "objective", str, where)
    columns = _columns(_need(raw, "columns", list, where), where)
    splits_raw = _need(raw, "splits", dict, where)

    root = path.parent
    splits: dict[str, SplitInfo] = {}
    for name, info in splits_raw.items():
        split_where = f"{path} (split {name!r})"
        if not isinstance(info, dict):
            raise ShardFormatError(f"{split_where}: expected an object")
        files = []
        for entry in _need(info, "files", list, split_where):
            if not isinstance(entry, dict):
                raise ShardFormatError(f"{split_where}: file entries must be objects")
            rel = _need(entry, "path", str, split_where)
            files.append(
                ShardFile(
                    path=root / rel,
                    rows=_need(entry, "rows", int, f"{split_where} file {rel!r}"),
                    sha256=entry.get("sha256"),
                )
            )
        rows = _need(info, "rows", int, split_where)
        if rows != sum(f.rows for f in files):
            raise ShardFormatError(
                f"{split_where}: rows is {rows} but its files list {sum(f.rows for f in files)}"
            )
        splits[name] = SplitInfo(name=name, rows=rows, files=tuple(files))

    return Manifest(
        path=path,
        objective=objective,
        seq_len=seq_len,
        vocab_size=vocab_size,
        special_ids=dict(special_ids),
        ignore_index=ignore_index,
        columns=columns,
        splits=splits,
        raw=raw,
    )


def _columns(entries: list[Any], where: str) -> dict[str, ColumnInfo]:
    """The manifest's column list, checked: names, dtypes and shapes."""
    columns: dict[str, ColumnInfo] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise ShardFormatError(f"{where}: each column must be an object, got {entry!r}")
        name = _need(entry, "name", str, where)
        dtype = _need(entry, "dtype", str, f"{where} column {name!r}")
        shape = _need(entry, "shape", list, f"{where} column {name!r}")
        fixed = len(shape) == 1 and isinstance(shape[0], int) and shape[0] > 0
        if dtype not in ("int32", "string") or not (shape == [] or fixed or shape == [None]):
            raise ShardFormatError(
                f"{where}: column {name!r} has dtype {dtype!r} and shape {shape!r}; expected "
                "int32 or string, of shape [], [n] or [null]"
            )
        columns[name] = ColumnInfo(name, dtype, tuple(shape))
    return columns


def _column_view(table: pa.Table, column: ColumnInfo, path: Path) -> list[np.ndarray]:
    """Per-chunk int32 views of one column, no copy: `(rows, n)` for a fixed_size_list<int32>[n]
    column, `(rows,)` for an int32 scalar column."""
    name = column.name
    if name not in table.column_names:
        raise ShardFormatError(f"{path}: no column {name!r} (has {table.column_names})")
    col = table.column(name)
    kind = col.type
    length = column.shape[0] if column.shape else None
    expected = pa.int32() if length is None else pa.list_(pa.int32(), length)
    if kind != expected:
        raise ShardFormatError(f"{path}: column {name!r} is {kind}, expected {expected}")
    views = []
    for chunk in col.chunks:
        if len(chunk) == 0:
            continue
        if chunk.null_count:
            raise ShardFormatError(f"{path}: column {name!r} has nulls")
        if length is None:
            views.append(chunk.to_numpy(zero_copy_only=True))
            continue
        # `.values` is the flat child array and ignores the chunk's own offset, so slice it to
        # this chunk's rows; slicing an Arrow array is zero-copy.
        values = chunk.values.slice(chunk.offset * length, len(chunk) * length)
        if values.null_count:
            raise ShardFormatError(f"{path}: column {name!r} has nulls")
        views.append(values.to_numpy(zero_copy_only=True).reshape(len(chunk), length))
    return views


class SplitArrays:
    """One split's int32 columns, as zero-copy views over its memory-mapped files.

    `chunks[name][k]` is a read-only int32 array (`(rows_k, n)` or `(rows_k,)`) of column `name`
    for the k-th record batch across all files, in manifest order; `offsets` holds each chunk's
    first global row (plus the total at the end). Row `i` is found by a binary search over
    `offsets`. `columns` picks which columns to map (default: every int32 column the manifest
    lists that is scalar or of fixed length).
    """

    def __init__(
        self,
        manifest: Manifest,
        split: str,
        *,
        verify: bool = False,
        columns: tuple[str, ...] | None = None,
    ) -> None:
        self.manifest = manifest
        self.split = split
        info = manifest.split(split)
        if columns is None:
            columns = tuple(n for n, c in manifest.columns.items() if c.numeric)
        for name in columns:
            if name not in manifest.columns:
                raise ShardFormatError(
                    f"{manifest.path}: no column {name!r}; the manifest lists "
                    f"{list(manifest.columns)}"
                )
            if not manifest.columns[name].numeric:
                raise ShardFormatError(
                    f"{manifest.path}: column {name!r} is not an int32 scalar or fixed-length list"
                )
        self.column_names = columns
        self.sources: list[pa.MemoryMappedFile] = []
        self._tables: list[pa.Table] = []  # keep the Arrow owners of the views alive
        self.chunks: dict[str, list[np.ndarray]] = {name: [] for name in columns}
        self.chunk_files: list[int] = []  # which entry of `sources` each chunk lives in
        for shard in info.files:
            if not shard.path.is_file():
                raise ShardFormatError(f"{shard.path}: listed in {manifest.path} but missing")
            if verify and shard.sha256 is not None and file_sha256(shard.path) != shard.sha256:
                raise ShardFormatError(f"{shard.path}: sha256 differs from {manifest.path}")
            source = pa.memory_map(str(shard.path), "r")
            try:
                table = pyarrow.ipc.open_stream(source).read_all()
            except pa.ArrowInvalid as exc:
                raise ShardFormatError(f"{shard.path}: not an Arrow IPC stream ({exc})") from exc
            if table.num_rows != shard.rows:
                raise ShardFormatError(
                    f"{shard.path}: has {table.num_rows} rows, {manifest.path} says {shard.rows}"
                )
            views = {n: _column_view(table, manifest.columns[n], shard.path) for n in columns}
            sizes = {tuple(len(a) for a in v) for v in views.values()}
            # All columns come from the same record batches, so their chunks line up.
            if len(sizes) > 1:
                raise ShardFormatError(f"{shard.path}: the columns' record batches differ")
            (n_chunks,) = {len(v) for v in views.values()} or {0}
            self.sources.append(source)
            self._tables.append(table)
            self.chunk_files.extend([len(self.sources) - 1] * n_chunks)
            for name, view in views.items():
                self.chunks[name].extend(view)
        first = self.chunks[columns[0]] if columns else []
        sizes = [len(a) for a in first]
        self.offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)

    @property
    def seq_len(self) -> int:
        return self.manifest.seq_len

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _locate(self, index: int) -> tuple[int, int]:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"row {index} out of range for split {self.split!r} ({n} rows)")
        chunk = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return chunk, index - int(self.offsets[chunk])

    def row(self, index: int) -> dict[str, np.ndarray]:
        """Row `index`'s columns: read-only views into the mapped file, no copy."""
        chunk, local = self._locate(index)
        return {name: chunks[chunk][local] for name, chunks in self.chunks.items()}

    def close(self) -> None:
        """Drop the views and close the maps (Arrow keeps a map alive while any view uses it)."""
        for chunks in self.chunks.values():
            chunks.clear()
        self.chunk_files.clear()
        self._tables.clear()
        for source in self.sources:
            source.close()
        self.sources.clear()
        self.offsets = np.zeros(1, dtype=np.int64)


def open_split(
    shards_dir: Path | str,
    split: str,
    *,
    verify: bool = False,
    columns: tuple[str, ...] | None = None,
) -> SplitArrays:
    """Validate the manifest in `shards_dir` and memory-map one split's `columns` (default:
    all int32 ones).

    `verify=True` also checks each file's sha256 against the manifest (reads every byte).
    """
    return SplitArrays(load_manifest(shards_dir), split, verify=verify, columns=columns)


class ShardDataset(Dataset):
    """A split as a map-style torch Dataset: each item maps column names to int64 tensors, plus
    `index`, the row's global index (what per-sample randomness is seeded by).

    Each item copies its one row out of the mapped file (torch wants writable memory, and the
    embedding / loss want int64). `columns` picks the columns (default: every int32 one). The
    dataset pickles as (folder, split, columns) and re-maps the files on unpickling, so
    DataLoader workers started with `spawn` do not copy the shards.
    """

    def __init__(
        self,
        shards_dir: Path | str,
        split: str,
        *,
        verify: bool = False,
        columns: tuple[str, ...] | None = None,
    ) -> None:
        self.shards_dir = Path(shards_dir)
        self.split = split
        self.columns = columns
        self.arrays = open_split(self.shards_dir, split, verify=verify, columns=columns)

    @property
    def manifest(self) -> Manifest:
        return self.arrays.manifest

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = self.arrays.row(int(index))
        item = {n: torch.from_numpy(np.array(v, dtype=np.int64)) for n, v in row.items()}
        item[INDEX_KEY] = torch.tensor(int(index) % len(self.arrays), dtype=torch.int64)
        return item

    def __getstate__(self) -> dict[str, Any]:
        return {"shards_dir": self.shards_dir, "split": self.split, "columns": self.columns}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.shards_dir = state["shards_dir"]
        self.split = state["split"]
        self.columns = state["columns"]
        self.arrays = open_split(self.shards_dir, self.split, columns=self.columns)
