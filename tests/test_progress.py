"""Progress lines: done/total and rate on a terminal, nothing otherwise."""

from __future__ import annotations

import io

from pipeline.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_on_a_terminal() -> None:
    out = _Terminal()
    progress = Progress("quality", 3, stream=out, interval=0)
    for _ in range(3):
        progress.update(1, documents=10)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[-1].startswith("[quality] 3/3 partitions (") and "30 documents" in lines[-1]
    assert "/s" in lines[-1]


def test_quiet_when_not_a_terminal() -> None:
    out = io.StringIO()
    progress = Progress("dedup", 2, stream=out, interval=0)
    progress.update()
    progress.update()
    assert out.getvalue() == ""


def test_bytes_read_are_shown() -> None:
    out = _Terminal()
    progress = Progress("ingest", 2, unit="units", stream=out, interval=0)
    progress.update(1, documents=5, nbytes=3 * 2**20)
    assert "[ingest] 1/2 units (" in out.getvalue() and "3.0 MiB read" in out.getvalue()
