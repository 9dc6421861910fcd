"""Splitting a WARC file into records, and reading on past damaged ones.

Used by the ``warc`` and ``wet`` readers. The file is read as a stream of decompressed chunks
with bounded memory: a record's block is kept only up to ``limits.max_document_bytes`` (beyond
that the record is reported ``too_long`` with its headers and first bytes). Damage never ends
the file early when more of it can be read:

- gzip, one member per record (as Common Crawl and ``warcio`` write them): a member is
  decompressed and CRC-checked before its bytes are used; a damaged member becomes one
  :class:`Corrupt` record, and reading resumes at the next gzip member header that
  decompresses to the start of a WARC record.
- uncompressed (or whole-file zstd/gzip): after a record whose headers do not parse, reading
  resumes at the next WARC version line (``WARC/1.0``, ``WARC/1.1``).

A damaged gzip member is found exactly where it is: its bytes are held until the member's
end-of-stream and CRC are checked (members larger than ``HOLD_BYTES`` are passed on as they
decompress, as whole-file gzip needs).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pipeline.ingest.compression import (
    CHUNK_BYTES,
    GZIP_MAGIC,
    OUT_BYTES,
    DecompressionBomb,
    ExpansionGuard,
    StreamDamage,
    detect_compression,
    iter_stream,
)
from pipeline.ingest.config import ReadLimits

#: A record's header block longer than this is damage, not a header.
MAX_HEADER_BYTES = 1 << 16
#: Bytes of a block kept for a record too long to hold (enough for the HTTP headers).
HEAD_BYTES = 1 << 16
#: A gzip member's output held back until its CRC is checked.
HOLD_BYTES = 64 << 20
#: A Content-Length: ASCII digits only (``str.isdigit`` also takes "²", which ``int`` refuses),
#: and at most 20 of them (an exabyte; ``int`` refuses thousands of digits).
_CONTENT_LENGTH = re.compile(r"[0-9]{1,20}")
#: Headers every WARC record has (WARC 1.1, section 5); a record without them was cut short.
MANDATORY_HEADERS = ("warc-record-id", "content-length", "warc-date", "warc-type")


@dataclass
class RawRecord:
    """One WARC record: its headers (names lower-cased), its header bytes and its block.

    ``block`` is the whole block unless ``too_long``; then it is the block's first bytes and
    ``length`` the whole length.
    """

    index: int
    headers: dict[str, str]
    header_bytes: bytes
    block: bytes
    length: int
    too_long: bool = False

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Corrupt:
    """A record that could not be read, and why (``reason``: corrupt_record or a stream's)."""

    index: int
    error: str
    reason: str = "corrupt_record"


@dataclass(frozen=True)
class _Boundary:
    """A new gzip member starts here (events between chunks)."""


@dataclass(frozen=True)
class _Damage:
    message: str
    reason: str = "corrupt_record"
    final: bool = False  # nothing after it will be read


_BOUNDARY = _Boundary()


# -- layer 1: decompressed chunks with member boundaries and damage ------------------------------


class _Member:
    """Decompress one gzip member starting at ``start``; ``end`` is set when it is complete."""

    def __init__(self, handle: BinaryIO, start: int, guard: ExpansionGuard, where: str) -> None:
        self.handle = handle
        self.start = start
        self.guard = guard
        self.where = where
        self.end = -1

    def chunks(self) -> Iterator[bytes]:
        handle, guard = self.handle, self.guard
        handle.seek(self.start)
        decoder = zlib.decompressobj(wbits=31)
        fed = 0
        held: list[bytes] = []
        held_bytes = 0
        while not decoder.eof:
            raw = handle.read(CHUNK_BYTES)
            if not raw:
                raise StreamDamage(f"{self.where}: gzip member at byte {self.start} is truncated")
            fed += len(raw)
            guard.consumed(len(raw))
            data = raw
            while data and not decoder.eof:
                try:
                    out = decoder.decompress(data, OUT_BYTES)
                except zlib.error as error:
                    raise StreamDamage(
                        f"{self.where}: gzip member at byte {self.start} is damaged: {error}"
                    ) from None
                data = decoder.unconsumed_tail
                if out:
                    guard.produced(len(out))
                    held.append(out)
                    held_bytes += len(out)
            if held_bytes > HOLD_BYTES:
                yield from held
                held, held_bytes = [], 0
        self.end = self.start + fed - len(decoder.unused_data)
        yield from held


def _starts_warc_member(data: bytes) -> bool:
    try:
        out = zlib.decompressobj(wbits=31).decompress(data, 16)
    except zlib.error:
        return False
    return out.startswith(b"WARC/")


def _resync(handle: BinaryIO, start: int) -> int | None:
    """The offset of the next gzip member at or after ``start`` that begins a WARC record."""
    position = start
    handle.seek(position)
    window = b""
    while True:
        more = handle.read(CHUNK_BYTES)
        window += more
        found = window.find(GZIP_MAGIC + b"\x08")
        while found >= 0:
            handle.seek(position + found)
            if _starts_warc_member(handle.read(CHUNK_BYTES)):
                return position + found
            found = window.find(GZIP_MAGIC + b"\x08", found + 1)
        if not more:
            return None
        keep = 2  # the magic may straddle two reads
        position += len(window) - keep
        window = window[-keep:]
        handle.seek(position + keep)


def _gzip_events(
    handle: BinaryIO, limits: ReadLimits, where: str
) -> Iterator[bytes | _Boundary | _Damage]:
    guard = ExpansionGuard(limits, where, "gzip")
    size = handle.seek(0, 2)
    position = 0
    while position < size:
        handle.seek(position)
        head = handle.read(CHUNK_BYTES)
        if not head.strip(b"\x00") and position + len(head) >= size:
            return  # NUL padding after the last member
        if head.startswith(b"\x00"):
            position += len(head) - len(head.lstrip(b"\x00"))
            continue
        member = _Member(handle, position, guard, where)
        try:
            if not head.startswith(GZIP_MAGIC):
                raise StreamDamage(f"{where}: no gzip member at byte {position}")
            first = True
            for chunk in member.chunks():
                if first:
                    yield _BOUNDARY
                    first = False
                yield chunk
            if first:
                yield _BOUNDARY
            position = member.end
        except DecompressionBomb as bomb:
            yield _Damage(str(bomb), bomb.reason, final=True)
            return
        except StreamDamage as damage:
            yield _Damage(str(damage))
            resumed = _resync(handle, position + 1)
            if resumed is None:
                return
            position = resumed


def _stream_events(
    handle: BinaryIO, limits: ReadLimits, where: str
) -> Iterator[bytes | _Boundary | _Damage]:
    try:
        yield from iter_stream(handle, limits, where)
    except StreamDamage as damage:
        yield _Damage(
            str(damage),
            "corrupt_record" if not isinstance(damage, DecompressionBomb) else damage.reason,
            final=True,
        )


# -- layer 2: records out of the chunks ----------------------------------------------------------


@dataclass
class _Pending:
    headers: dict[str, str]
    header_bytes: bytes
    length: int
    remaining: int
    kept: list[bytes] = field(default_factory=list)
    kept_bytes: int = 0


def _parse_headers(block: bytes) -> dict[str, str]:
    lines = block.split(b"\r\n") if b"\r\n" in block else block.split(b"\n")
    version = lines[0].strip()
    if not version.startswith(b"WARC/"):
        raise ValueError(f"expected a WARC version line, found {version[:40]!r}")
    headers: dict[str, str] = {}
    last = None
    for raw in lines[1:]:
        if not raw:
            continue
        if raw[:1] in (b" ", b"\t") and last is not None:  # folded continuation line
            headers[last] += " " + raw.strip().decode("utf-8", errors="replace")
            continue
        name, sep, value = raw.partition(b":")
        if not sep:
            raise ValueError(f"header line without a colon: {raw[:60]!r}")
        last = name.strip().decode("utf-8", errors="replace").lower()
        headers[last] = value.strip().decode("utf-8", errors="replace")
    for name in MANDATORY_HEADERS:
        if not headers.get(name, "").strip():
            raise ValueError(f"no {name} header; expected the mandatory WARC headers")
    if not _CONTENT_LENGTH.fullmatch(headers["content-length"]):
        raise ValueError(f"Content-Length {headers['content-length']!r} is not a number")
    return headers


_VERSION_LINES = (b"WARC/1.0\r\n", b"WARC/1.1\r\n", b"WARC/1.0\n", b"WARC/1.1\n")


def _next_version_line(buffer: bytearray) -> int:
    """Where the next WARC version line starts in ``buffer`` (-1 if none)."""
    found = [i for i in (buffer.find(v) for v in _VERSION_LINES) if i >= 0]
    return min(found) if found else -1


class _Splitter:
    """Feed decompressed bytes and events; collect finished records and corrupt ones.

    ``line_resync``: after damage, look for the next ``WARC/1.`` line in the bytes (uncompressed
    streams); otherwise wait for the next gzip member. In line mode a record must also be
    followed by its blank-line trailer and then the next record: a Content-Length that runs
    past the real end of a truncated record is caught there, and the bytes it swallowed are
    searched again for the next record.
    """

    def __init__(self, cap: int, line_resync: bool) -> None:
        self.cap = cap
        self.line_resync = line_resync
        self.buffer = bytearray()
        self.pending: _Pending | None = None
        self.skipping = False  # after damage: wait for a boundary (gzip) or a WARC line
        self.index = 0
        self.out: list[RawRecord | Corrupt] = []

    def corrupt(self, message: str, reason: str = "corrupt_record") -> None:
        self.out.append(Corrupt(self.index, message, reason))
        self.index += 1
        self.pending = None
        self.skipping = True
        if not self.line_resync:
            self.buffer.clear()

    def boundary(self) -> None:
        if self.skipping and not self.line_resync:
            self.skipping = False
            self.buffer.clear()

    def feed(self, data: bytes) -> None:
        if self.skipping and not self.line_resync:
            return
        self.buffer += data
        while self._step(final=False):
            pass

    def _step(self, final: bool) -> bool:
        buffer = self.buffer
        if self.skipping:
            found = _next_version_line(buffer)
            if found < 0:
                del buffer[: max(0, len(buffer) - 12)]
                return False
            del buffer[:found]
            self.skipping = False
        if self.pending is not None:
            return self._block(self.pending, final)
        stripped = len(buffer) - len(buffer.lstrip(b" \t\r\n"))  # blank lines between records
        if stripped:
            del buffer[:stripped]
        end, sep = buffer.find(b"\r\n\r\n"), 4
        if end < 0:
            end, sep = buffer.find(b"\n\n"), 2
        if end < 0:
            if len(buffer) > MAX_HEADER_BYTES:
                self.corrupt(f"record {self.index}: no end of headers in {MAX_HEADER_BYTES} bytes")
                del buffer[:1]
                return True
            return False
        header_bytes = bytes(buffer[: end + sep])
        try:
            headers = _parse_headers(bytes(buffer[:end]))
        except ValueError as error:
            self.corrupt(str(error))
            if self.line_resync:
                del buffer[:1]
            return True
        del buffer[: end + sep]
        length = int(headers["content-length"])
        self.pending = _Pending(headers, header_bytes, length, length)
        return True

    def _block(self, pending: _Pending, final: bool) -> bool:
        buffer = self.buffer
        take = min(pending.remaining, len(buffer))
        if take:
            if pending.kept_bytes <= self.cap:
                piece = bytes(buffer[: min(take, self.cap + 1 - pending.kept_bytes)])
                pending.kept.append(piece)
                pending.kept_bytes += len(piece)
            del buffer[:take]
            pending.remaining -= take
        if pending.remaining:
            return False
        if self.line_resync:
            head = bytes(buffer[:16])
            following = head.lstrip(b"\r\n")
            if len(following) < 5 and not final:
                return False  # wait for what follows before trusting the block
            if (
                following
                and not head.startswith(b"\r\n\r\n")
                and not following.startswith(b"WARC/")
            ):
                swallowed = b"".join(pending.kept)
                self.corrupt(
                    f"record {self.index} is not followed by a WARC record; its "
                    "Content-Length runs past its real end"
                )
                buffer[:0] = swallowed[1:]  # the next record may start inside it
                return True
        self._finish(pending)
        self.pending = None
        return True

    def _finish(self, pending: _Pending) -> None:
        block = b"".join(pending.kept)
        too_long = pending.length > self.cap
        self.out.append(
            RawRecord(
                self.index,
                pending.headers,
                pending.header_bytes,
                block[:HEAD_BYTES] if too_long else block,
                pending.length,
                too_long,
            )
        )
        self.index += 1

    def close(self) -> None:
        while self._step(final=True):
            pass
        if self.pending is not None:
            missing = self.pending.remaining
            self.corrupt(f"the file ends {missing} bytes before the record's Content-Length")
        elif not self.skipping and self.buffer.strip():
            self.corrupt("the file ends inside a record's headers")


def iter_raw_records(path: Path, limits: ReadLimits, where: str) -> Iterator[RawRecord | Corrupt]:
    """Every record of the WARC file at ``path``, in order, damaged ones as :class:`Corrupt`."""
    with Path(path).open("rb") as handle:
        fmt = detect_compression(handle.read(6))
        handle.seek(0)
        gzip_members = fmt == "gzip"
        events = (
            _gzip_events(handle, limits, where)
            if gzip_members
            else _stream_events(handle, limits, where)
        )
        splitter = _Splitter(limits.max_document_bytes, line_resync=not gzip_members)
        for event in events:
            if isinstance(event, _Boundary):
                splitter.boundary()
            elif isinstance(event, _Damage):
                if splitter.pending is not None or not splitter.skipping or event.final:
                    splitter.corrupt(event.message, event.reason)
                splitter.buffer.clear()
            else:
                splitter.feed(event)
            if splitter.out:
                yield from splitter.out
                splitter.out.clear()
            if isinstance(event, _Damage) and event.final:
                return
        splitter.close()
        yield from splitter.out
