"""Reading files that may be gzip-compressed, keeping what was readable when they are damaged.

Compression is detected from the file's first bytes (the gzip magic ``1f 8b``), not its name.
Decompression runs on bounded input chunks with :mod:`zlib`, so a truncated file yields every
byte that could be decompressed before the cut, and then raises :class:`TruncatedGzip`;
concatenated gzip members (as ``cat a.gz b.gz`` makes) are read one after the other.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
CHUNK_BYTES = 1 << 16  # compressed input per step; output per step is bounded by zlib's ratio


class TruncatedGzip(Exception):
    """The gzip stream ended before its end-of-stream marker; ``partial`` is an unfinished line."""

    def __init__(self, path: Path, partial: bytes = b"") -> None:
        super().__init__(f"{path}: gzip stream ends before its end-of-stream marker (truncated)")
        self.partial = partial


class CorruptGzip(Exception):
    """The gzip stream has invalid data (a garbled header, block or checksum)."""


def is_gzip(path: Path) -> bool:
    """True if the file starts with the gzip magic bytes."""
    with Path(path).open("rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def iter_chunks(path: Path) -> Iterator[bytes]:
    """The file's bytes in chunks, decompressed if it is gzip.

    Raises :class:`TruncatedGzip` or :class:`CorruptGzip` after yielding everything that
    decoded before the damage.
    """
    path = Path(path)
    with path.open("rb") as handle:
        if handle.read(2) != GZIP_MAGIC:
            handle.seek(0)
            while chunk := handle.read(CHUNK_BYTES):
                yield chunk
            return
        handle.seek(0)
        decoder: zlib._Decompress | None = None
        while raw := handle.read(CHUNK_BYTES):
            while raw:
                if decoder is None:
                    if not raw.strip(b"\x00"):  # NUL padding after the last member
                        break
                    decoder = zlib.decompressobj(wbits=31)
                try:
                    out = decoder.decompress(raw)
                except zlib.error as error:
                    raise CorruptGzip(f"{path}: invalid gzip data: {error}") from None
                if out:
                    yield out
                if decoder.eof:  # end of one member; what follows may be another one
                    raw = decoder.unused_data
                    decoder = None
                else:
                    raw = b""
        if decoder is not None:
            raise TruncatedGzip(path)


def read_prefix(path: Path) -> tuple[bytes, Exception | None]:
    """The (decompressed) bytes that could be read, and the damage that stopped reading, if any."""
    parts: list[bytes] = []
    try:
        for chunk in iter_chunks(path):
            parts.append(chunk)
    except (TruncatedGzip, CorruptGzip) as error:
        return b"".join(parts), error
    return b"".join(parts), None


def iter_lines(path: Path) -> Iterator[bytes]:
    """The file's lines split on ``\\n`` only (a trailing ``\\r`` removed), decompressing gzip.

    Splitting on bytes, not ``str.splitlines``, keeps U+2028 and friends inside JSON strings.
    On a truncated gzip stream the unfinished last line is not yielded but attached to the
    :class:`TruncatedGzip` raised as ``partial``.
    """
    pending: list[bytes] = []
    try:
        for chunk in iter_chunks(path):
            start = 0
            while (end := chunk.find(b"\n", start)) >= 0:
                pending.append(chunk[start:end])
                line = b"".join(pending)
                pending.clear()
                yield line[:-1] if line.endswith(b"\r") else line
                start = end + 1
            if start < len(chunk):
                pending.append(chunk[start:])
    except TruncatedGzip:
        raise TruncatedGzip(Path(path), b"".join(pending)) from None
    if pending:
        line = b"".join(pending)
        yield line[:-1] if line.endswith(b"\r") else line


class MemberStream:
    """A read-only file-like view of a file's decompressed bytes, one checked gzip member at a time.

    For WARC files, which gzip each record as its own member: a member is decompressed whole
    (and its CRC checked) before any of its bytes are handed out, and one ``read`` never spans
    two members, so damage in record *n* surfaces exactly when the reader moves on to record
    *n*, never while it is still reading record *n - 1*. Members larger than ``hold_bytes`` are
    handed out as they decompress. Files that are not gzip pass through unchanged. Raises
    :class:`TruncatedGzip` / :class:`CorruptGzip` from ``read`` at the damaged member.
    """

    def __init__(self, handle: BinaryIO, path: Path, hold_bytes: int = 64 << 20) -> None:
        self._handle = handle
        self._path = path
        self._hold = hold_bytes
        self._gzip = handle.read(2) == GZIP_MAGIC
        handle.seek(0)
        self._buffer = memoryview(b"")
        self._raw = b""
        self._decoder: zlib._Decompress | None = None
        self._eof = False
        self._position = 0

    def tell(self) -> int:
        """Bytes handed out so far (the decompressed offset)."""
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        while not self._buffer and not self._eof:
            self._buffer = memoryview(self._next_block())
        if size is None or size < 0:
            size = len(self._buffer)
        out = bytes(self._buffer[:size])
        self._buffer = self._buffer[size:]
        self._position += len(out)
        return out

    def _next_block(self) -> bytes:
        if not self._gzip:
            data = self._handle.read(CHUNK_BYTES)
            self._eof = not data
            return data
        parts: list[bytes] = []
        held = 0
        while True:
            if not self._raw:
                self._raw = self._handle.read(CHUNK_BYTES)
                if not self._raw:
                    if self._decoder is not None:
                        raise TruncatedGzip(self._path)
                    self._eof = True
                    break
            if self._decoder is None:
                if not self._raw.strip(b"\x00"):  # NUL padding after the last member
                    self._raw = b""
                    continue
                self._decoder = zlib.decompressobj(wbits=31)
            try:
                out = self._decoder.decompress(self._raw)
            except zlib.error as error:
                raise CorruptGzip(
                    f"{self._path}: invalid gzip data after {self._position} bytes: {error}"
                ) from None
            parts.append(out)
            held += len(out)
            if self._decoder.eof:
                self._raw = self._decoder.unused_data
                self._decoder = None
                break
            self._raw = b""
            if held >= self._hold:
                break
        return b"".join(parts)
