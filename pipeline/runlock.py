"""One run directory, one writer: the lock a run holds on its directory while it writes.

The lock is an exclusive ``flock`` on ``RUN_DIR/.lock``, taken before anything is written to
the directory and held until the process ends. The operating system releases it when its
holder dies, however it dies (SIGKILL included), so a stale lock needs no clean-up: the file may
remain, but it is only locked while its holder lives. The file records who holds it (pid, host,
command, since when) so that a second run can say whom it is waiting for.

Separate run directories share nothing: each has its own lock and its own outputs.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.errors import UserFacingError
from pipeline.redact import redact_text

LOCK_NAME = ".lock"
#: how often a waiting run tries the lock again
POLL_SECONDS = 1.0


class RunLockError(UserFacingError, RuntimeError):
    """Another live process holds the run directory's lock; the message names it."""


def _holder(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def describe_holder(path: Path) -> str:
    """Who holds the lock at ``path``, as its file records it."""
    holder = _holder(path)
    if not holder:
        return "another process"
    return (
        f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')} "
        f"({holder.get('command')})"
    )


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


@contextmanager
def run_lock(root: str | Path, wait_seconds: float = 0.0) -> Iterator[Path]:
    """Hold the lock of run directory ``root`` (created if missing) for the ``with`` block.

    When another live process holds it, wait up to ``wait_seconds`` for it to finish, then
    raise :class:`RunLockError` naming the holder.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise RunLockError(
                    f"{root}: run directory in use by {describe_holder(path)}; wait for it to "
                    "finish, or write to another --out"
                )
            time.sleep(POLL_SECONDS)
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": redact_text(" ".join(["gristmill", *sys.argv[1:]]))[:300],
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock
