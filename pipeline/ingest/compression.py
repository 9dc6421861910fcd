"""Reading files that may be compressed, in bounded chunks, keeping what was readable when damaged.

Compression is detected from the file's first bytes (gzip ``1f 8b``, zstd ``28 b5 2f fd``, bzip2
``BZh``, xz ``fd 37 7a 58 5a 00``), never from its name. Decompression runs on bounded input
*and* output steps, so memory stays bounded whatever the file holds, and every step checks the
expansion against :class:`~pipeline.ingest.config.ReadLimits`: a stream that expands beyond the
ratio or size cap raises :class:`DecompressionBomb` instead of filling memory or disk.
Concatenated members (``cat a.gz b.gz``, multi-frame zstd) are read one after the other. A
truncated stream yields every byte that decoded before the cut, then raises
:class:`TruncatedStream`; invalid data raises :class:`CorruptStream`.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pipeline.ingest.config import ReadLimits

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
#: Compressed input read per step.
CHUNK_BYTES = 1 << 16
#: Decompressed output per step: zlib alone can turn 64 KiB into 64 MiB in one call.
OUT_BYTES = 1 << 20


class StreamDamage(Exception):
    """The compressed stream is damaged; ``reason`` is the skip reason readers report."""

    reason = "corrupt_stream"

    def __init__(self, message: str, fmt: str = "gzip", partial: bytes = b"") -> None:
        super().__init__(message)
        self.format = fmt
        self.partial = partial  # an unfinished line, for line readers


class TruncatedStream(StreamDamage):
    """The stream ended before its end-of-stream marker."""

    @property
    def reason(self) -> str:  # type: ignore[override]
        return f"truncated_{self.format}"


class CorruptStream(StreamDamage):
    """The stream has invalid data (a garbled header, block or checksum)."""

    @property
    def reason(self) -> str:  # type: ignore[override]
        return f"corrupt_{self.format}"


class DecompressionBomb(StreamDamage):
    """The stream expands beyond the configured ratio or size."""

    reason = "decompression_bomb"


def detect_compression(head: bytes) -> str | None:
    """``gzip``, ``zstd``, ``bz2``, ``xz`` or None (not compressed) from a file's first bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(BZIP2_MAGIC) and head[3:4].isdigit():
        return "bz2"
    if head.startswith(XZ_MAGIC):
        return "xz"
    return None


def file_compression(path: Path) -> str | None:
    with Path(path).open("rb") as handle:
        return detect_compression(handle.read(6))


class ExpansionGuard:
    """Counts compressed and decompressed bytes and raises :class:`DecompressionBomb`."""

    def __init__(self, limits: ReadLimits, where: str, fmt: str) -> None:
        self.limits = limits
        self.where = where
        self.format = fmt
        self.raw = 0
        self.out = 0

    def consumed(self, n: int) -> None:
        self.raw += n

    def produced(self, n: int) -> None:
        self.out += n
        limits = self.limits
        if self.out > limits.max_expanded_bytes:
            raise DecompressionBomb(
                f"{self.where}: expands beyond {limits.max_expanded_bytes:,} bytes "
                f"(max_expanded_bytes) from {self.raw:,} compressed bytes; reading stopped",
                self.format,
            )
        if self.out > limits.ratio_grace_bytes and self.out > limits.max_expansion_ratio * max(
            self.raw, 1
        ):
            raise DecompressionBomb(
                f"{self.where}: {self.raw:,} compressed bytes expand to over {self.out:,} "
                f"(more than {limits.max_expansion_ratio:g}x, max_expansion_ratio); "
                "reading stopped",
                self.format,
            )


class _Member:
    """One member's decompressor with bounded output per step (zlib, bz2 or lzma)."""

    def __init__(self, fmt: str) -> None:
        self.format = fmt
        if fmt == "gzip":
            self._d: Any = zlib.decompressobj(wbits=31)
        elif fmt == "bz2":
            self._d = bz2.BZ2Decompressor()
        else:
            self._d = lzma.LZMADecompressor()

    @property
    def eof(self) -> bool:
        return bool(self._d.eof)

    @property
    def unused_data(self) -> bytes:
        return bytes(self._d.unused_data)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.format == "gzip":
            while data and not self._d.eof:
                out = self._d.decompress(data, OUT_BYTES)
                data = self._d.unconsumed_tail
                yield out
            return
        yield self._d.decompress(data, OUT_BYTES)
        while not self._d.eof and not self._d.needs_input:
            yield self._d.decompress(b"", OUT_BYTES)


_ERRORS = (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError)


def _iter_members(handle: BinaryIO, fmt: str, guard: ExpansionGuard, where: str) -> Iterator[bytes]:
    member: _Member | None = None
    started = False  # a member has begun and not ended
    while True:
        raw = handle.read(CHUNK_BYTES)
        guard.consumed(len(raw))
        if not raw:
            if started:
                raise TruncatedStream(
                    f"{where}: {fmt} stream ends before its end-of-stream marker (truncated)", fmt
                )
            return
        while raw:
            if member is None:
                if not raw.strip(b"\x00"):  # NUL padding after the last member
                    break
                member = _Member(fmt)
                started = True
            try:
                for out in member.feed(raw):
                    if out:
                        guard.produced(len(out))
                        yield out
            except _ERRORS as error:
                raise CorruptStream(
                    f"{where}: invalid {fmt} data after {guard.out:,} decompressed bytes: {error}",
                    fmt,
                ) from None
            if member.eof:  # end of one member; what follows may be another one
                raw = member.unused_data
                member = None
                started = False
            else:
                raw = b""


def _iter_zstd(handle: BinaryIO, guard: ExpansionGuard, where: str) -> Iterator[bytes]:
    """Decompress the file's zstd frames one by one, each from exactly its own bytes.

    Frame by frame, so damage in one frame costs only that frame: what the frames before it
    hold has been yielded already (one decoder call over several frames would lose all of it).
    """
    import zstandard

    for start, end, complete in _zstd_frames(handle):
        handle.seek(start)
        remaining = end - start

        class _Frame:
            def read(self, size: int = -1) -> bytes:
                nonlocal remaining
                data = handle.read(remaining if size < 0 else min(size, remaining))
                remaining -= len(data)
                guard.consumed(len(data))
                return data

        reader = zstandard.ZstdDecompressor().stream_reader(
            _Frame(), read_size=CHUNK_BYTES, read_across_frames=False
        )
        while True:
            try:
                out = reader.read(OUT_BYTES)
            except zstandard.ZstdError as error:
                message = str(error)
                if "incomplete" in message or "truncated" in message:
                    raise TruncatedStream(
                        f"{where}: zstd stream ends before its end-of-frame marker (truncated)",
                        "zstd",
                    ) from None
                raise CorruptStream(
                    f"{where}: invalid zstd data after {guard.out:,} decompressed bytes: {error}",
                    "zstd",
                ) from None
            if not out:
                break
            guard.produced(len(out))
            yield out
        if not complete:
            raise TruncatedStream(f"{where}: zstd stream ends inside a frame (truncated)", "zstd")


def _zstd_frames(handle: BinaryIO) -> Iterator[tuple[int, int, bool]]:
    """``(start, end, complete)`` of each zstd frame of the file, from the frame and block
    headers alone (RFC 8878, section 3.1); skippable frames are left out. Where the headers run
    past the end of the file, or the bytes are no frame, the last span reaches the end of the
    file with ``complete`` False (the decoder itself stops silently at a cut)."""
    size = handle.seek(0, 2)
    position = 0
    while position < size:
        end = _zstd_frame_end(handle, position)
        if end is None or end > size:
            yield position, size, False
            return
        if end > 0:
            yield position, end, True
        position = abs(end)


def _zstd_frame_end(handle: BinaryIO, position: int) -> int | None:
    """Where the frame at ``position`` ends (negated for a skippable frame), or None if the
    file ends inside its headers or no frame starts there."""
    handle.seek(position)
    magic = handle.read(4)
    if len(magic) < 4:
        return None
    number = int.from_bytes(magic, "little")
    if 0x184D2A50 <= number <= 0x184D2A5F:  # skippable frame
        length = handle.read(4)
        if len(length) < 4:
            return None
        return -(position + 8 + int.from_bytes(length, "little"))
    if magic != ZSTD_MAGIC:
        return None
    descriptor = handle.read(1)
    if not descriptor:
        return None
    fhd = descriptor[0]
    single_segment = bool(fhd & 0x20)
    fcs_size = (1 if single_segment else 0, 2, 4, 8)[fhd >> 6]
    header = 1 + (0 if single_segment else 1) + (0, 1, 2, 4)[fhd & 3] + fcs_size
    position += 4 + header
    while True:
        handle.seek(position)
        block = handle.read(3)
        if len(block) < 3:
            return None
        value = int.from_bytes(block, "little")
        kind, length = (value >> 1) & 3, value >> 3
        position += 3 + (1 if kind == 1 else length)
        if value & 1:  # last block
            break
    return position + (4 if fhd & 0x04 else 0)  # content checksum


def iter_chunks(
    path: Path, limits: ReadLimits | None = None, where: str | None = None
) -> Iterator[bytes]:
    """The file's bytes in bounded chunks, decompressed if it is compressed.

    Raises :class:`TruncatedStream`, :class:`CorruptStream` or :class:`DecompressionBomb` after
    yielding everything that decoded before the damage.
    """
    path = Path(path)
    limits = limits or ReadLimits()
    where = where or str(path)
    with path.open("rb") as handle:
        yield from iter_stream(handle, limits, where)


def iter_stream(handle: BinaryIO, limits: ReadLimits, where: str) -> Iterator[bytes]:
    """Like :func:`iter_chunks` over an open binary handle positioned at the stream's start."""
    head = handle.read(6)
    fmt = detect_compression(head)
    guard = ExpansionGuard(limits, where, fmt or "plain")
    if fmt is None:
        if head:
            yield head
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk
        return
    if fmt == "zstd":
        yield from _iter_zstd(handle, guard, where)
    else:
        yield from _iter_members(_Prefixed(head, handle), fmt, guard, where)  # type: ignore[arg-type]


class _Prefixed:
    """A read-only handle that first returns ``head``, then the rest of ``handle``."""

    def __init__(self, head: bytes, handle: BinaryIO) -> None:
        self._head = head
        self._handle = handle

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._handle.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            if len(data) < size:
                data += self._handle.read(size - len(data))
            return data
        return self._handle.read(size)


@dataclass(frozen=True)
class LongLine:
    """A line longer than the cap: its length and first bytes (it was never held whole)."""

    length: int
    head: bytes


HEAD_BYTES = 1024  # what a too-long line keeps for inspection


def iter_lines(
    chunks: Iterator[bytes] | Callable[[], Iterator[bytes]], max_line_bytes: int
) -> Iterator[bytes | LongLine]:
    """Lines split on ``\\n`` only (a trailing ``\\r`` removed), each at most ``max_line_bytes``.

    A longer line is yielded as a :class:`LongLine` (its bytes are dropped as they arrive, so a
    100 MB line costs no more memory than a short one). Splitting on bytes, not
    ``str.splitlines``, keeps U+2028 and friends inside JSON strings. On damage the unfinished
    last line is attached to the :class:`StreamDamage` raised, as ``partial``.
    """
    source = chunks() if callable(chunks) else chunks
    pending: list[bytes] = []
    pending_len = 0
    long_head: bytes | None = None  # set while skipping a too-long line
    long_len = 0

    def finish(piece: bytes) -> bytes | LongLine:
        nonlocal pending_len, long_head, long_len
        if long_head is not None:
            line: bytes | LongLine = LongLine(long_len + len(piece), long_head)
            long_head, long_len = None, 0
            return line
        joined = b"".join(pending) + piece if pending else piece
        pending.clear()
        pending_len = 0
        if len(joined) > max_line_bytes:
            return LongLine(len(joined), joined[:HEAD_BYTES])
        return joined[:-1] if joined.endswith(b"\r") else joined

    try:
        for chunk in source:
            pieces = chunk.split(b"\n")
            for piece in pieces[:-1]:
                yield finish(piece)
            tail = pieces[-1]
            if not tail:
                continue
            if long_head is not None:
                long_len += len(tail)
            else:
                pending.append(tail)
                pending_len += len(tail)
                if pending_len > max_line_bytes:
                    joined = b"".join(pending)
                    long_head, long_len = joined[:HEAD_BYTES], len(joined)
                    pending.clear()
                    pending_len = 0
    except StreamDamage as damage:
        damage.partial = long_head if long_head is not None else b"".join(pending)
        raise
    if long_head is not None or pending:
        yield finish(b"")


def read_bounded(
    path: Path, limits: ReadLimits, where: str, cap: int
) -> tuple[bytes, int, StreamDamage | None]:
    """Up to ``cap`` decompressed bytes of the file, its whole decompressed length, and damage.

    Bytes past ``cap`` are read (to learn the length and find damage) but not kept.
    """
    parts: list[bytes] = []
    kept = total = 0
    try:
        for chunk in iter_chunks(path, limits, where):
            total += len(chunk)
            if kept < cap:
                piece = chunk[: cap - kept]
                parts.append(piece)
                kept += len(piece)
    except StreamDamage as damage:
        return b"".join(parts), total, damage
    return b"".join(parts), total, None
