"""Progress of a long stage on the terminal: a periodic line with done/total and the rate.

Quiet when the output is not a terminal (logs, pipes, CI), so files and captured output hold
only the run's own log lines.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

#: Seconds between two progress lines.
INTERVAL_S = 5.0


class Progress:
    """Counts work done out of ``total`` (``unit``: what is counted) and, at most every
    ``interval`` seconds, writes `[label] done/total unit (rate/s[, documents]) ...`."""

    def __init__(
        self,
        label: str,
        total: int,
        unit: str = "partitions",
        stream: TextIO | None = None,
        interval: float = INTERVAL_S,
        force: bool = False,
    ) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.enabled = force or _is_terminal(self.stream)
        self.done = 0
        self.documents = 0
        self.bytes = 0
        self.started = time.monotonic()
        self.last = self.started
        self._lock = threading.Lock()

    def update(self, done: int = 1, documents: int = 0, nbytes: int = 0) -> None:
        """Count ``done`` more units (and ``documents`` more documents, ``nbytes`` more bytes
        read); maybe write a line."""
        with self._lock:
            self.done += done
            self.documents += documents
            self.bytes += nbytes
            now = time.monotonic()
            if self.enabled and (now - self.last >= self.interval or self.done == self.total):
                self.last = now
                self.stream.write(self.line(now) + "\n")
                self.stream.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self.started, 1e-9)
        text = (
            f"[{self.label}] {self.done:,}/{self.total:,} {self.unit} ({self.done / elapsed:.1f}/s"
        )
        if self.bytes:
            text += (
                f"; {self.bytes / 2**20:,.1f} MiB read, {self.bytes / 2**20 / elapsed:.1f} MiB/s"
            )
        if self.documents:
            text += f"; {self.documents:,} documents, {self.documents / elapsed:,.0f}/s"
        return text + f", {elapsed:.0f}s)"


def _size(nbytes: float) -> str:
    """Bytes as KiB, MiB or GiB with one decimal."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20)):
        if nbytes >= scale:
            return f"{nbytes / scale:,.1f} {unit}"
    return f"{nbytes / 2**10:,.1f} KiB"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
