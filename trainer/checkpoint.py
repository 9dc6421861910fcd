"""Checkpoint files of a training run, and its metrics log.

A run's output folder holds

    checkpoint.pt                    the final checkpoint (or where `stop_after` ended a call)
    checkpoints/step-00000500.pt     periodic checkpoints; the newest `keep_checkpoints` are kept
    metrics.jsonl                    one JSON record per logged step

A checkpoint holds only tensors and plain containers (the config as a JSON string), so it loads
with `torch.load(weights_only=True)`. It is written to a temporary file in the same folder,
fsynced and renamed, so a crash leaves the previous file or the new one, never half of one.

Its bytes depend on its contents alone, so identical runs write identical files, and a resumed
run writes the files an uninterrupted one would: the payload holds nothing from the wall clock; it
is pickled from a canonical copy (see `canonical`); and `torch.save` writes a zip whose entries
carry a fixed date, whose serialization id is a hash of the records, and whose top folder is
named `archive` when it is given a file object (given a path it would take the file's name, here
the temporary one).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import torch

from pipeline.faults import fault_point
from trainer.outputs import PERIODIC_DIR

CHECKPOINT_FORMAT = "gristmill-checkpoint"
# 2: adds `identity` and `history`, drops the wall-clock `elapsed` of version 1.
# 3: `sampler` holds each objective's count of samples consumed (by objective name, not by
#    rank); `identity` names the shards and the model shape.
CHECKPOINT_VERSION = 3
# Keys every checkpoint of this version has; one lacking any is treated as damaged.
REQUIRED_KEYS = frozenset(
    {
        "format",
        "version",
        "step",
        "tokens_seen",
        "model",
        "model_config",
        "optimizer",
        "scheduler",
        "sampler",
        "rng",
        "config",
        "identity",
        "history",
        "shards",
    }
)


class CheckpointError(ValueError):
    """A file that loads but is not a usable checkpoint of this version; `reason` says why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


_PERIODIC_RE = re.compile(r"step-(\d+)\.pt")
_TEMP_SUFFIX = ".tmp"


def periodic_path(out_dir: Path, step: int) -> Path:
    """Where the periodic checkpoint of `step` goes (zero-padded, so names sort by step)."""
    return out_dir / PERIODIC_DIR / f"step-{step:08d}.pt"


def periodic_checkpoints(out_dir: Path) -> list[tuple[int, Path]]:
    """The periodic checkpoints in `out_dir`, as (step, path), oldest first."""
    folder = out_dir / PERIODIC_DIR
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _PERIODIC_RE.fullmatch(path.name)
        if match and path.is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def prune_periodic(out_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` periodic checkpoints; returns the deleted paths."""
    doomed = [path for _, path in periodic_checkpoints(out_dir)[:-keep]] if keep > 0 else []
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def remove_temp_files(out_dir: Path) -> list[Path]:
    """Delete temporary files a crash left mid-write (never valid checkpoints); returns them."""
    leftovers = []
    for folder in (out_dir, out_dir / PERIODIC_DIR):
        if folder.is_dir():
            leftovers += [
                p for p in folder.glob(f".*.pt{_TEMP_SUFFIX}") if p.is_file() or p.is_symlink()
            ]
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers


def canonical(obj: Any) -> Any:
    """A copy of `obj` whose pickle depends on its values alone, not on which objects it shares.

    Pickle writes an object seen before as a back-reference, so the same values pickle to
    different bytes when, say, a dict key is the very string object used elsewhere in one run but
    an equal, separately loaded one in a resumed run. Here every container is a fresh copy (never
    shared) and every string is interned (equal strings always shared). Tensors are kept as they
    are: torch.save writes each storage once whatever refers to it.
    """
    if isinstance(obj, str):
        return sys.intern(obj)
    if isinstance(obj, dict):
        copy = type(obj)((canonical(k), canonical(v)) for k, v in obj.items())
        metadata = getattr(obj, "_metadata", None)  # nn.Module.state_dict()'s version info
        if metadata is not None:
            copy._metadata = canonical(metadata)  # type: ignore[attr-defined]
        return copy
    if isinstance(obj, list):
        return [canonical(v) for v in obj]
    if type(obj) is tuple:
        return tuple(canonical(v) for v in obj)
    return obj


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write `payload` to `path` atomically: temp file in the same folder, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{_TEMP_SUFFIX}")
    with tmp.open("wb") as fh:
        # A file object, not a path: the archive's inner folder is then always `archive`.
        torch.save(canonical(payload), fh)
        fh.flush()
        os.fsync(fh.fileno())
    fault_point("train.checkpoint")
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True` and check its format, version and keys.

    Raises CheckpointError for a file that loads but is not a usable checkpoint of this version;
    a truncated or otherwise damaged file raises whatever `torch.load` raises.
    """
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(path, f"not a {CHECKPOINT_FORMAT} file")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(path, f"checkpoint version {payload.get('version')!r} not supported")
    missing = sorted(REQUIRED_KEYS - set(payload))
    if missing:
        raise CheckpointError(path, f"checkpoint lacks {', '.join(missing)}")
    losses = payload["history"].get("losses") if isinstance(payload["history"], dict) else None
    if not isinstance(losses, torch.Tensor) or losses.numel() != payload["step"]:
        raise CheckpointError(path, f"loss history does not cover its {payload['step']} steps")
    return payload


def trim_metrics(path: Path, last_step: int) -> float:
    """Drop records past `last_step` (logged by a run that died before its next checkpoint).

    Returns the `elapsed` of the last record kept (0.0 if none), so a resumed run's wall-clock
    count carries on from there; wall time is kept out of checkpoints to keep their bytes
    reproducible. A final line cut short by a crash is dropped too.
    """
    if not path.is_file():
        path.write_text("", encoding="utf-8")
        return 0.0
    kept: list[str] = []
    elapsed = 0.0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a half-written line
        if not isinstance(record, dict) or record.get("step", 0) > last_step:
            continue
        kept.append(line)
        elapsed = float(record.get("elapsed", elapsed))
    path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
    return elapsed
