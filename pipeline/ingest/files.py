"""Finding a source's units of work: expand its globs and check every path can be read.

Run before any work starts (config loading calls :func:`resolve_source_files`), so a typo in a
path or an unreadable file is reported up front, naming the source and the path, instead of
surfacing as an empty source or a crash halfway through a run.

A unit of work is one file; for the ``html`` and ``code`` formats a folder (a tree of pages, a
repository or git checkout) is one unit too; an ``hf`` source without ``paths`` is one unit,
named :data:`HF_UNIT`. :func:`unit_fingerprint` says when a unit has changed: a file's size and
mtime, a folder's whole listing (every file's size and mtime, and a checkout's commit).
"""

from __future__ import annotations

import glob
import os
import stat
from pathlib import Path
from typing import Any

from pipeline.errors import UserFacingError
from pipeline.ingest.config import SourceConfig
from pipeline.ingest.formats import FOLDER_FORMATS

_GLOB_CHARS = frozenset("*?[")
#: The path of the one unit of an `hf` source that names a Hub dataset.
HF_UNIT = "<hf>"


class SourceError(UserFacingError, ValueError):
    """A source's files are missing, unreadable or not what its config says they are."""


def _is_pattern(path: str) -> bool:
    return any(ch in _GLOB_CHARS for ch in path)


def _check_readable(source: SourceConfig, path: Path, pattern: str) -> None:
    where = f"source {source.name!r}: {path}"
    if pattern != str(path):
        where += f" (matched by {pattern!r})"
    try:
        info = path.stat()  # follows symlinks
    except FileNotFoundError:
        if path.is_symlink():
            raise SourceError(
                f"{where}: broken symlink (points to {os.readlink(path)!r})"
            ) from None
        raise SourceError(f"{where}: does not exist") from None
    except OSError as error:
        raise SourceError(f"{where}: cannot stat: {error.strerror or error}") from None
    if stat.S_ISDIR(info.st_mode):
        if source.format in FOLDER_FORMATS:
            if not os.access(path, os.R_OK | os.X_OK):
                raise SourceError(f"{where}: folder cannot be listed")
            return
        raise SourceError(f"{where}: is a directory; expected a file (use a glob like 'dir/*')")
    if not stat.S_ISREG(info.st_mode):
        # Checked before opening: opening a FIFO for reading blocks until a writer appears.
        raise SourceError(f"{where}: not a regular file (a FIFO, socket or device)")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        raise SourceError(f"{where}: cannot be read: {error.strerror or error}") from None


def _check_format(source: SourceConfig, path: Path) -> None:
    """What its reader can check of a file before the run (a Parquet file's columns, say):
    the reader module's optional ``check_file(source, path)``."""
    import importlib

    from pipeline.ingest.formats import FORMAT_READERS

    module = importlib.import_module(f"pipeline.ingest.{FORMAT_READERS[source.format]}")
    check = getattr(module, "check_file", None)
    if check is not None and path.is_file():
        check(source, path)


def resolve_source_files(source: SourceConfig, base_dir: Path) -> list[Path]:
    """The files of ``source``: its globs expanded, sorted and de-duplicated.

    Relative globs resolve against ``base_dir``; ``**`` matches any number of folders. Files
    starting with a dot are matched only by patterns that name the dot. Raises
    :class:`SourceError` naming the source and the path when a glob matches nothing, a literal
    path does not exist, or a matched path is a directory (allowed for ``html`` and ``code``),
    a broken symlink, not a regular file or cannot be opened and read. An ``hf`` source without
    paths has the one unit ``Path(HF_UNIT)``.
    """
    if source.format == "hf" and not source.paths:
        return [Path(HF_UNIT)]
    found: dict[str, Path] = {}
    for entry in source.paths:
        pattern = os.path.expanduser(entry)
        full = pattern if os.path.isabs(pattern) else os.path.join(base_dir, pattern)
        full = os.path.normpath(full)
        if _is_pattern(entry):
            matches = glob.glob(full, recursive=True)
            if not matches:
                raise SourceError(
                    f"source {source.name!r}: glob {entry!r} matches no files (looked in {full})"
                )
        else:
            if not os.path.lexists(full):
                raise SourceError(f"source {source.name!r}: {full}: does not exist")
            matches = [full]
        for match in matches:
            path = Path(os.path.normpath(match))
            _check_readable(source, path, entry if _is_pattern(entry) else str(path))
            if str(path) not in found:
                _check_format(source, path)
            found.setdefault(str(path), path)
    if source.format in FOLDER_FORMATS:  # a folder unit already covers what lies inside it
        folders = {key for key, path in found.items() if path.is_dir()}
        found = {
            key: path
            for key, path in found.items()
            if not any(key.startswith(folder + os.sep) for folder in folders)
        }
    return [found[key] for key in sorted(found)]


def relative_name(path: Path, base_dir: Path) -> str:
    """``path`` relative to ``base_dir`` in POSIX form, or absolute where it lies outside.

    This is the ``rel_path`` that readers put in ``path`` columns and document ids, so ids
    do not change when the whole run folder moves.
    """
    full = os.path.abspath(path)
    base = os.path.abspath(base_dir)
    if os.path.commonpath([full, base]) == base:
        return Path(os.path.relpath(full, base)).as_posix()
    return Path(full).as_posix()


def file_fingerprint(path: Path) -> dict[str, Any]:
    """What caching compares to decide a file is unchanged: path, size and mtime (ns)."""
    info = Path(path).stat()
    return {"path": str(path), "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def unit_fingerprint(source: SourceConfig, path: Path) -> dict[str, Any]:
    """What caching compares to decide a unit is unchanged (see the module docstring)."""
    from pipeline.ingest import trees

    if str(path) == HF_UNIT:
        return {"path": HF_UNIT}  # the Hub: its config (with `revision`) is the fingerprint
    if not Path(path).is_dir():
        return file_fingerprint(path)
    vendored = frozenset(source.code.vendored_dirs)
    follow = source.code.follow_symlinks and source.format == "code"
    if source.format == "code" and source.code.git != "never" and trees.is_git_checkout(path):
        entries = trees.walk_git(path, follow, vendored)
        extra = trees.git_head(path) or ""
    else:
        entries, extra = trees.walk_folder(path, follow, vendored), ""
    return {"path": str(path), "listing": trees.listing_fingerprint(entries, extra)}
