"""Reading the members of tar and zip archives without extracting them, safely.

Used by the ``code`` reader (source archives) and the ``epub`` reader (an EPUB is a zip).
Nothing is written to disk; still, a member whose name would escape an extraction folder
(absolute, ``..``, a drive letter) is reported as ``unsafe_path`` and not read, since its name
is not a trustworthy repository path. Links and device entries are listed, not read. Member
contents are read in bounded steps against :class:`~pipeline.ingest.config.ReadLimits`: a
member or an archive that expands beyond the ratio or size cap raises
:class:`~pipeline.ingest.compression.DecompressionBomb`, whatever its headers claim.

Tar archives may be compressed with anything :mod:`pipeline.ingest.compression` reads; they are
read as a stream (``tarfile`` stream mode), so an archive is read front to back once per pass.
"""

from __future__ import annotations

import posixpath
import re
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pipeline.ingest.compression import (
    CHUNK_BYTES,
    DecompressionBomb,
    ExpansionGuard,
    StreamDamage,
    iter_chunks,
)
from pipeline.ingest.config import ReadLimits

ARCHIVE_SUFFIXES = (
    ".zip",
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.bz2",
    ".tbz2",
    ".tar.xz",
    ".txz",
    ".tar.zst",
    ".tzst",
)
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveError(Exception):
    """The archive itself cannot be read (not an archive, damaged directory)."""

    reason = "corrupt_archive"


def is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def safe_member_name(name: str) -> str | None:
    """The member's path normalised to POSIX form, or None if it would escape the archive."""
    cleaned = name.replace("\\", "/")
    if cleaned.startswith("/") or _DRIVE.match(cleaned):
        return None
    normal = posixpath.normpath(cleaned)
    if normal == ".." or normal.startswith("../") or "/../" in f"/{normal}/":
        return None
    return normal.removeprefix("./")


@dataclass
class Member:
    """One archive member: its safe name (or the raw name if unsafe) and what kind it is."""

    name: str
    kind: str  # file | dir | symlink | special | unsafe_path
    size: int  # as the archive declares it
    read: Callable[[int], bytes]  # read(cap): up to cap + 1 bytes, checked against the limits


class _TarStream:
    """A file-like object over an archive's decompressed chunks, for ``tarfile`` stream mode.

    Damage in the chunks ends the stream like an end of file, so ``tarfile`` still gets every
    byte decoded before it (it reads ahead in 10 KiB records); the damage is kept in
    ``damage`` for :func:`iter_tar` to raise once ``tarfile`` has used those bytes.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self.damage: StreamDamage | None = None
        self.reported = False  # a member's read has raised ``damage`` already

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                chunk = next(self._chunks, None)
            except StreamDamage as damage:
                self.damage, chunk = damage, None
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def _tar_kind(info: tarfile.TarInfo) -> str:
    if info.isreg():
        return "file"
    if info.isdir():
        return "dir"
    if info.issym() or info.islnk():
        return "symlink"
    return "special"


def iter_tar(path: Path, limits: ReadLimits, where: str) -> Iterator[Member]:
    """The members of a (compressed) tar file, in archive order.

    Raises :class:`ArchiveError` on a damaged archive and
    :class:`~pipeline.ingest.compression.StreamDamage` on damaged compression (both after
    yielding the members before the damage).
    """
    stream = _TarStream(iter_chunks(path, limits, where))
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
            for info in tar:
                safe = safe_member_name(info.name)
                kind = _tar_kind(info) if safe is not None else "unsafe_path"

                def read(cap: int, info: tarfile.TarInfo = info) -> bytes:
                    try:
                        handle = tar.extractfile(info)
                        return handle.read(cap + 1) if handle is not None else b""
                    except StreamDamage:
                        raise
                    except (tarfile.TarError, EOFError, OSError) as error:
                        if stream.damage is not None:  # the member runs into the damage
                            stream.reported = True
                            raise stream.damage from None
                        raise ArchiveError(
                            f"{where}: member {info.name!r} cannot be read: {error}"
                        ) from None

                yield Member(safe if safe is not None else info.name, kind, info.size, read)
    except StreamDamage:
        raise
    except (tarfile.TarError, EOFError, OSError) as error:
        if stream.damage is None:
            raise ArchiveError(f"{where}: not a readable tar archive: {error}") from None
    if stream.damage is not None and not stream.reported:  # tarfile took the cut for the end
        raise stream.damage


def read_zip_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    limits: ReadLimits,
    where: str,
    total: ExpansionGuard,
    cap: int,
) -> bytes:
    """Up to ``cap + 1`` bytes of a member, checked against the member's and the archive's
    expansion limits (``total``) as they decompress."""
    guard = ExpansionGuard(limits, f"{where}: member {info.filename!r}", "zip")
    guard.consumed(info.compress_size)
    parts: list[bytes] = []
    kept = 0
    with archive.open(info) as handle:
        while chunk := handle.read(CHUNK_BYTES):
            guard.produced(len(chunk))
            total.produced(len(chunk))
            parts.append(chunk[: cap + 1 - kept])
            kept += len(parts[-1])
            if kept > cap:  # the caller only needs to know it is too long
                break
    return b"".join(parts)


def iter_zip(path: Path, limits: ReadLimits, where: str) -> Iterator[Member]:
    """The members of a zip file, in directory order. Raises :class:`ArchiveError`."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ArchiveError(f"{where}: not a readable zip archive: {error}") from None
    total = ExpansionGuard(limits, where, "zip")
    total.consumed(Path(path).stat().st_size)
    with archive:
        for info in archive.infolist():
            safe = safe_member_name(info.filename)
            mode = (info.external_attr >> 16) & 0o170000
            if safe is None:
                kind = "unsafe_path"
            elif info.is_dir():
                kind = "dir"
            elif mode == 0o120000:
                kind = "symlink"
            else:
                kind = "file"

            def read(cap: int, info: zipfile.ZipInfo = info) -> bytes:
                try:
                    return read_zip_member(archive, info, limits, where, total, cap)
                except DecompressionBomb:
                    raise
                except (
                    zipfile.BadZipFile,
                    OSError,
                    EOFError,
                    ValueError,
                    NotImplementedError,
                ) as error:
                    raise ArchiveError(
                        f"{where}: member {info.filename!r} cannot be read: {error}"
                    ) from None

            yield Member(safe if safe is not None else info.filename, kind, info.file_size, read)


def iter_archive(path: Path, limits: ReadLimits, where: str) -> Iterator[Member]:
    """Members of a zip (by its signature) or tar archive."""
    with Path(path).open("rb") as handle:
        is_zip = _is_zip(handle)
    return iter_zip(path, limits, where) if is_zip else iter_tar(path, limits, where)


def _is_zip(handle: BinaryIO) -> bool:
    return handle.read(4) in (b"PK\x03\x04", b"PK\x05\x06")
