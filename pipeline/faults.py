"""Named fault points: places where a test can kill the process to prove a run survives it.

This is a testing hook, not configuration. The environment variable ``GRISTMILL_FAULT`` names
one point; when the process reaches it, the process sends itself SIGKILL, as a crash, an
out-of-memory kill or a pulled plug would end it, with no ``finally`` and no ``atexit``:

- ``GRISTMILL_FAULT=dedup.cluster`` dies the first time ``dedup.cluster`` is reached;
- ``GRISTMILL_FAULT=write.before_rename:5`` dies on the fifth time that point is reached in
  this process.

The variable is read once, on the first call. Unset (the normal case), a fault point costs a
dictionary lookup. `bench/crash_resume.py` kills a run at every point and checks that the
re-run's outputs are byte-identical to those of an uninterrupted run. The points:

| point | where |
|---|---|
| ``write.before_rename`` | `atomic_write_bytes`: the temporary file is written, not renamed |
| ``partition.before_marker`` | a partition's data files are written, its marker is not |
| ``ingest.next_partition`` | an input unit has written a partition and is about to cut the next |
| ``stage.recorded`` | a stage's `_stage.json` is written, the flow has not moved on |
| ``dedup.signatures`` | one partition's signatures are written |
| ``dedup.bucket`` | a bucket unit has read one more partition's band keys |
| ``dedup.cluster`` | the clusters are decided, the plan is not written |
| ``dedup.apply`` | a partition is split, its index of kept keys is not written |
| ``tokenizer.save`` | the tokenizer is trained, `tokenizer.json` is not written |
| ``shards.shard_written`` | one shard file is written, the next and the manifest are not |
| ``train.step`` | an optimiser step is taken (mid-training) |
| ``train.checkpoint`` | the checkpoint's temporary file is written, not renamed |
| ``card.write`` | `card.json` is written, `README.md` is not |
"""

from __future__ import annotations

import os
import signal
import threading

ENV = "GRISTMILL_FAULT"

_target: tuple[str, int] | None = None
_read = False
_hits: dict[str, int] = {}
_lock = threading.Lock()
_parent: int | None = None  # a worker process's run process, killed with it


def _parse(value: str) -> tuple[str, int] | None:
    """``name`` or ``name:N`` -> (name, N); N defaults to 1."""
    value = value.strip()
    if not value:
        return None
    name, _, count = value.partition(":")
    return name, int(count) if count else 1


def fault_point(name: str) -> None:
    """Kill this process with SIGKILL if ``GRISTMILL_FAULT`` names this point (and hit)."""
    global _target, _read
    if not _read:
        _target = _parse(os.environ.get(ENV, ""))
        _read = True
    if _target is None or _target[0] != name:
        return
    with _lock:  # tasks run in threads: count each hit once
        _hits[name] = _hits.get(name, 0) + 1
        hit = _hits[name] == _target[1]
    if hit:
        if _parent is not None:
            os.kill(_parent, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)


def take_parent_along() -> None:
    """Make a fault point in this (worker) process kill its parent (the run) first, so a fault
    ends the whole run as it would in a single process."""
    global _parent
    _parent = os.getppid()


def reset() -> None:
    """Forget the variable's value and the hit counts (for tests that change the variable)."""
    global _target, _read
    _target, _read = None, False
    _hits.clear()
