"""Stopping a run cleanly on SIGTERM or Ctrl-C: within seconds, with one line, resumable.

Every output of a run is written under a temporary name and renamed when complete, and every
stage skips what is already done, so the quickest clean stop is also the right one: say so in
one line, end the processes this run started (Prefect's embedded server, Dask workers), and
exit at once -- no retries against a server that is going away. Temporary files left behind are
swept when the run resumes, and the run directory's lock is released by the operating system.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import FrameType
from typing import Any

#: how long children get to end after SIGTERM before they are killed
GRACE_SECONDS = 2.0


def _children_by_parent() -> dict[int, list[int]]:
    """Every process's children, read from /proc (empty where there is no /proc)."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*") if Path("/proc").is_dir() else []:
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command may hold spaces and parentheses: the fields after its last ')' are fixed
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1:
            tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    """The processes started, directly or not, by ``pid``."""
    tree = _children_by_parent()
    found: list[int] = []
    stack = list(tree.get(pid, []))
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(tree.get(child, []))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def end_processes(pids: Iterable[int], grace: float = GRACE_SECONDS) -> None:
    """SIGTERM each of ``pids``, then SIGKILL those still alive after ``grace`` seconds."""
    pids = list(pids)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


Handlers = dict[int, Any]


def install(out: Path) -> Handlers:
    """Stop this process cleanly on SIGTERM and SIGINT (Ctrl-C) while it runs into ``out``;
    return the handlers it replaced (for :func:`restore`). Outside the main thread, where
    signal handlers cannot be set, it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def stop(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        sys.stderr.write(
            f"\ngristmill: stopped ({name}); finished work in {out} is kept -- run the same "
            "command again to resume\n"
        )
        sys.stderr.flush()
        end_processes(descendants(os.getpid()))
        os._exit(128 + signum)

    return {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}


def restore(handlers: Handlers) -> None:
    """Put back the signal handlers :func:`install` replaced."""
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
