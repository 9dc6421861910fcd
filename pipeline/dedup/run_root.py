"""A run root's cumulative band index: every finished run under a folder of runs, in a few files.

Scheduled runs write their run directories side by side (``runs/daily/2026-11-30/``, ...). When
``dedup.previous_runs`` names such a folder, its index lives in ``<root>/_dedup_index/``:

```
_dedup_index/manifest.json        the runs it holds, in the order they were added, and its segments
_dedup_index/seg-<fp>.parquet     the index rows of consecutive runs (columns of dedup/_index/)
```

A run reading the root first brings the index up to date, under an exclusive lock: finished runs
not yet in it are appended as one new segment, a run re-run since it was added has its rows
replaced in place, and segments are merged like a counter in base :data:`FANOUT` (whenever the last
``FANOUT`` segments are of one level they become one segment of the next level). After ``N`` added
runs there are at most ``(FANOUT - 1) * log_FANOUT(N)`` segments and each row has been rewritten
at most ``log_FANOUT(N)`` times. Rows keep the order in which their runs were added, whatever the
merges, and a reader records the fingerprints of the runs it read, not of the segments, so what
it sees and records does not depend on how the segments happen to be cut.

A run never reads itself: a run inside the root reads the runs added before it (all of them when
it is not added yet; it is added by the next run that reads the root). Runs removed from the folder
stay in the index: their documents were published. A root the run cannot write to is read as it
is, plus the index files of the finished runs it does not hold yet.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.dedup.artifacts import DedupInputError, required_info, write_with_info
from pipeline.dedup.paths import STAGE, index_path
from pipeline.rundir import RunDir, atomic_write_json, fingerprint, read_json

INDEX_DIR = "_dedup_index"
#: Segments of one level merged into one of the next. 8 keeps a year of daily runs (365 = 5 x 64
#: + 5 x 8 + 5) in 15 files, at most 21 up to 511 runs, while each row is written at most three
#: times; a larger fanout means fewer files but more rows rewritten per merge.
FANOUT = 8
#: Seconds a segment no longer in the manifest is kept, so that a run which read the manifest
#: just before a merge can still open the segments it names. A dedup stage reads them within
#: minutes; an hour is a wide margin.
GRACE_SECONDS = 3600


@dataclass(frozen=True)
class RootFile:
    """Rows ``0 .. rows-1`` of one index file of a root, and the fingerprints of the runs whose
    rows they are (in order)."""

    path: Path
    runs: tuple[str, ...]
    rows: int


def is_run_dir(path: Path) -> bool:
    """A run directory (it has a manifest or a dedup stage), as opposed to a folder of runs."""
    return (path / "manifest.json").is_file() or (path / STAGE).is_dir()


def _finished_runs(root: Path, current: Path) -> dict[str, Path]:
    """The run directories directly under ``root`` with a finished dedup stage, by name."""
    found = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        path = Path(entry.path)
        if (
            entry.is_dir()
            and entry.name != INDEX_DIR
            and path.resolve() != current.resolve()
            and RunDir(path).stage_json_path(STAGE).is_file()
        ):
            found[entry.name] = path
    return found


def _run_files(run_dir: Path, wanted: dict[str, Any]) -> tuple[list[Path], str, int]:
    """A finished run's index files (checked against ``wanted`` settings), its fingerprint and
    its row count."""
    run = RunDir(run_dir)
    record = run.stage_record(STAGE) or {}
    files, fps, rows = [], [], 0
    for part in sorted(record.get("partitions", {})):
        path = index_path(run, part)
        info = required_info(path, "dedup index of a previous run")
        check_settings(path, info, wanted)
        files.append(path)
        fps.append(info["fingerprint"])
        rows += info["rows"]
    return files, fingerprint("dedup-run-index", fps), rows


def check_settings(path: Path, info: dict[str, Any], wanted: dict[str, Any]) -> None:
    """Refuse an index whose keys cannot be compared with this run's."""
    differ = sorted(k for k in wanted if info["settings"].get(k) != wanted[k])
    if differ:
        got = {k: info["settings"].get(k) for k in differ}
        raise DedupInputError(
            f"{path}: made with other dedup settings ({got}; this run: "
            f"{ {k: wanted[k] for k in differ} }), so its keys cannot be compared"
        )


def _stage_sha(run_dir: Path) -> str:
    return hashlib.sha256(RunDir(run_dir).stage_json_path(STAGE).read_bytes()).hexdigest()


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _concat(tables: list[pa.Table]) -> pa.Table:
    tables = [t for t in tables if t.num_columns]
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables, promote_options="permissive")


def _write_segment(
    folder: Path, runs: list[dict[str, Any]], table: pa.Table, level: int, settings: dict[str, Any]
) -> dict[str, Any]:
    fp = fingerprint("dedup-root-segment", [(r["name"], r["fingerprint"]) for r in runs])
    name = f"seg-{fp}.parquet"
    write_with_info(folder / name, table, fp, {"rows": table.num_rows, "settings": settings})
    return {"file": name, "level": level, "runs": [r["name"] for r in runs]}


def _read_segment(folder: Path, segment: dict[str, Any]) -> pa.Table:
    return pq.read_table(folder / segment["file"])


def refresh(root: Path, current: Path, wanted: dict[str, Any]) -> dict[str, Any]:
    """Bring ``root``'s index up to date (see the module docstring); returns its manifest."""
    folder = root / INDEX_DIR
    with _locked(folder):
        manifest_file = folder / "manifest.json"
        manifest = read_json(manifest_file) if manifest_file.is_file() else {}
        if manifest:
            check_settings(manifest_file, manifest, wanted)
        runs: list[dict[str, Any]] = manifest.get("runs", [])
        segments: list[dict[str, Any]] = manifest.get("segments", [])
        known = {r["name"]: r for r in runs}
        new_rows: dict[str, pa.Table] = {}  # index rows of added and changed runs
        old_rows = {r["name"]: r["rows"] for r in runs}
        added: list[dict[str, Any]] = []
        dirty = False
        for name, run_dir in _finished_runs(root, current).items():
            sha = _stage_sha(run_dir)
            if name in known and known[name]["stage_sha256"] == sha:
                continue
            dirty = True
            files, fp, rows = _run_files(run_dir, wanted)
            entry = {"name": name, "stage_sha256": sha, "fingerprint": fp, "rows": rows}
            if name not in known or known[name]["fingerprint"] != fp:
                new_rows[name] = _concat([pq.read_table(f) for f in files])
            if name in known:
                known[name].update(entry)
            else:
                added.append(entry)
        if not dirty:
            return manifest
        for i, segment in enumerate(segments):  # runs re-run since: rows replaced in place
            if new_rows.keys() & set(segment["runs"]):
                table, offset, pieces = _read_segment(folder, segment), 0, []
                for name in segment["runs"]:
                    pieces.append(new_rows.get(name, table.slice(offset, old_rows[name])))
                    offset += old_rows[name]
                members = [known[n] for n in segment["runs"]]
                segments[i] = _write_segment(
                    folder, members, _concat(pieces), segment["level"], wanted
                )
        if added:
            runs = runs + added
            table = _concat([new_rows[r["name"]] for r in added])
            segments.append(_write_segment(folder, added, table, 0, wanted))
        by_name = {r["name"]: r for r in runs}
        while len(segments) >= FANOUT and len({s["level"] for s in segments[-FANOUT:]}) == 1:
            merged = segments[-FANOUT:]
            members = [by_name[n] for s in merged for n in s["runs"]]
            table = _concat([_read_segment(folder, s) for s in merged])
            level = merged[0]["level"] + 1
            segments = segments[:-FANOUT] + [_write_segment(folder, members, table, level, wanted)]
        manifest = {"format": 1, "settings": wanted, "runs": runs, "segments": segments}
        atomic_write_json(manifest_file, manifest)
        _remove_unused(folder, {s["file"] for s in segments})
        return manifest


def _remove_unused(folder: Path, used: set[str]) -> None:
    now = time.time()
    for path in folder.glob("seg-*.parquet"):
        if path.name not in used and now - path.stat().st_mtime > GRACE_SECONDS:
            path.unlink(missing_ok=True)


def root_files(root: Path, current: Path, wanted: dict[str, Any]) -> list[RootFile]:
    """The index files a run reads for the run root ``root``: the root's segments (each cut to
    the runs added before ``current`` when ``current`` is one of them), plus, where the root
    cannot be written, the index files of finished runs it does not hold yet."""
    try:
        manifest = refresh(root, current, wanted)
        pending: dict[str, Path] = {}
    except OSError as error:
        if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        manifest_file = root / INDEX_DIR / "manifest.json"
        manifest = read_json(manifest_file) if manifest_file.is_file() else {}
        if manifest:
            check_settings(manifest_file, manifest, wanted)
        names = {r["name"] for r in manifest.get("runs", [])}
        pending = {n: p for n, p in _finished_runs(root, current).items() if n not in names}
    runs = manifest.get("runs", [])
    names = [r["name"] for r in runs]
    if current.resolve().parent == root.resolve() and current.name in names:
        included = set(names[: names.index(current.name)])
        pending = {}
    else:
        included = set(names)
    by_name = {r["name"]: r for r in runs}
    files = []
    for segment in manifest.get("segments", []):
        members = [by_name[n] for n in segment["runs"] if n in included]
        if members:
            fps = tuple(r["fingerprint"] for r in members)
            rows = sum(r["rows"] for r in members)
            files.append(RootFile(root / INDEX_DIR / segment["file"], fps, rows))
    for run_dir in pending.values():
        for path in _run_files(run_dir, wanted)[0]:
            info = required_info(path, "dedup index of a previous run")
            files.append(RootFile(path, (info["fingerprint"],), info["rows"]))
    return files
