"""Checkpoints and the metrics log of a training run.

A checkpoint holds only tensors and plain containers (the config as a JSON string), so it loads
with `torch.load(weights_only=True)`; it is written to a temporary file, fsynced and renamed, so a
crash never leaves half a checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from trainer.config import TrainConfig

CHECKPOINT_FORMAT = "gristmill-checkpoint"
CHECKPOINT_VERSION = 1
# TrainConfig fields that fix the parameter shapes; a resume must not change them.
MODEL_FIELDS = ("objective", "d_model", "n_layers", "n_heads", "d_ff")


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write `payload` to `path` atomically: a temp file in the same folder, fsync, rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        torch.save(payload, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True` (tensors and plain containers only)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a {CHECKPOINT_FORMAT} file")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: checkpoint version {payload.get('version')!r} not supported")
    return payload


def check_resumable(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    changed = [k for k in MODEL_FIELDS if saved.get(k) != getattr(config, k)]
    if changed:
        detail = ", ".join(f"{k}: {saved.get(k)!r} -> {getattr(config, k)!r}" for k in changed)
        raise ValueError(f"{path}: cannot resume with a different model shape ({detail})")


def trim_metrics(path: Path, last_step: int) -> None:
    """Drop records past the checkpoint's step (logged by a run that died before saving)."""
    if not path.is_file():
        return
    kept = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line).get("step", 0) <= last_step
    ]
    path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
