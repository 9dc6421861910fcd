"""Which checkpoint, if any, a training run continues from.

Every checkpoint carries the `identity` of the run that wrote it: the config fields that affect the
trained weights or metrics.jsonl, the sha256 of the shards' manifest (which lists each shard file's
sha256), the device type, the autocast precision and the number of ranks. A run continues from a
checkpoint in its output folder only when that identity equals its own, since only then does the
resumed run end where an uninterrupted one would.

Candidates (the final checkpoint.pt and the periodic ones) are tried newest step first; each one
passed over, being unreadable or from another run, is reported with the reason.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.checkpoint import (
    CheckpointError,
    load_checkpoint,
    periodic_checkpoints,
)
from trainer.config import TrainConfig
from trainer.outputs import CHECKPOINT_NAME

# TrainConfig fields that change neither the trained weights nor metrics.jsonl, so a checkpoint
# written under other values of them is as good as this run's own. `device` and `precision` are
# here because the identity holds what they resolved to ("auto" and "cpu", or "auto" and "fp32",
# train alike on a CPU).
NEUTRAL_FIELDS = frozenset(
    {"checkpoint_every", "keep_checkpoints", "num_workers", "device", "precision"}
    | {"prefetch_factor", "tensorboard", "peak_tflops"}  # loading and reporting only
)
# How much of a sha256 a mismatch message shows: enough to tell two manifests apart by eye.
_SHOWN_HASH_CHARS = 12
# The manifest entries an identity keeps per objective, so a mismatch can name them.
_SHARDS_KEYS = ("objective", "seq_len", "vocab_size", "tokenizer_sha256")
# Identity entries beside the config and shards, with the word a mismatch message uses.
_RUN_KEYS = (("device_type", "device"), ("precision", "precision"), ("world_size", "ranks"))


def manifest_sha256(manifest_path: Path) -> str:
    """The sha256 of the shards' manifest.json, which pins every shard file by its own sha256."""
    return hashlib.sha256(manifest_path.read_bytes()).hexdigest()


def shards_summary(manifest_path: Path) -> dict[str, Any]:
    """What a mismatch message names about a shards folder: its data-side objective, row length,
    vocabulary size and tokenizer (the sha256 of tokenizer.json, as the manifest records it)."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    return {key: manifest.get(key) for key in _SHARDS_KEYS}


def run_identity(
    config: TrainConfig,
    *,
    manifest_hash: str,
    device_type: str,
    precision: str,
    world_size: int,
    shards: dict[str, dict[str, Any]] | None = None,
    model: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a checkpoint must share with this run to be resumed from (plain values only):
    `shards` maps each trained objective to its `shards_summary`, `model` is the model's shape."""
    fields = config.model_dump(mode="json")
    return {
        "config": {k: v for k, v in fields.items() if k not in NEUTRAL_FIELDS},
        "shards_manifest_sha256": manifest_hash,
        "shards": shards or {},
        "model": model or {},
        "device_type": device_type,
        "precision": precision,
        "world_size": world_size,
    }


def _changes(before: Any, now: dict[str, Any]) -> list[str]:
    """`key old -> new` for each key whose value differs between two flat dicts."""
    before = before if isinstance(before, dict) else {}
    keys = list(now) + [k for k in before if k not in now]
    return [
        f"{k} {_shown(k, before.get(k))} -> {_shown(k, now.get(k))}"
        for k in keys
        if before.get(k) != now.get(k)
    ]


def _shown(key: str, value: Any) -> str:
    """A value as a mismatch message shows it: hashes cut to `_SHOWN_HASH_CHARS`."""
    if key.endswith("sha256") and isinstance(value, str):
        return value[:_SHOWN_HASH_CHARS] + "…"
    return repr(value)


def identity_mismatch(saved: Any, current: dict[str, Any]) -> str | None:
    """Why a checkpoint with identity `saved` cannot continue this run, or None if it can."""
    if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
        return "it records no run identity"
    problems = []
    saved_config, config = saved["config"], current["config"]
    keys = list(config) + [k for k in saved_config if k not in config]
    changed = [
        f"{k} {saved_config.get(k)!r} -> {config.get(k)!r}"
        for k in keys
        if saved_config.get(k) != config.get(k)
    ]
    if changed:
        problems.append(f"config differs ({', '.join(changed)})")
    saved_shards = saved.get("shards") if isinstance(saved.get("shards"), dict) else {}
    for name, summary in current.get("shards", {}).items():
        if name not in saved_shards:
            continue  # a new objective in the mix: the config's difference says so
        changed = _changes(saved_shards[name], summary)
        if changed:
            problems.append(f"{name} shards differ ({', '.join(changed)})")
    changed = _changes(saved.get("model"), current.get("model", {}))
    if changed:
        problems.append(f"model shape differs ({', '.join(changed)})")
    before, now = saved.get("shards_manifest_sha256"), current["shards_manifest_sha256"]
    if before != now:
        shown = str(before)[:_SHOWN_HASH_CHARS]
        problems.append(f"shards differ (manifest sha256 {shown}… -> {now[:_SHOWN_HASH_CHARS]}…)")
    for key, label in _RUN_KEYS:
        if saved.get(key) != current[key]:
            problems.append(f"{label} differs ({saved.get(key)!r} -> {current[key]!r})")
    return "; ".join(problems) or None


def _unreadable(err: Exception) -> str:
    if isinstance(err, CheckpointError):
        return err.reason
    first_line = (str(err).strip().splitlines() or [""])[0]
    return f"unreadable ({type(err).__name__}: {first_line})"


@dataclass
class ResumeSearch:
    """The outcome of looking for a checkpoint to continue from."""

    path: Path | None = None  # the checkpoint to continue from, if any
    payload: dict[str, Any] | None = None
    passed_over: list[tuple[Path, str]] = field(default_factory=list)  # (file, why not used)


def find_resume_point(out_dir: Path, identity: dict[str, Any]) -> ResumeSearch:
    """The newest checkpoint in `out_dir` that loads and has this `identity`.

    Periodic checkpoints are ordered by the step in their names; checkpoint.pt has to be loaded to
    learn its step (it may be older than the periodic ones, e.g. after `stop_after`). At equal
    steps checkpoint.pt is preferred.
    """
    search = ResumeSearch()
    candidates: list[tuple[int, int, Path]] = [(s, 0, p) for s, p in periodic_checkpoints(out_dir)]
    final = out_dir / CHECKPOINT_NAME
    final_payload: dict[str, Any] | None = None
    if final.is_file():
        final_payload = _try_load(final, identity, None, search)
        if final_payload is not None:
            candidates.append((int(final_payload["step"]), 1, final))
    for step, _, path in sorted(candidates, reverse=True):
        payload = final_payload if path == final else _try_load(path, identity, step, search)
        if payload is not None:
            search.path, search.payload = path, payload
            return search
    return search


def _try_load(
    path: Path, identity: dict[str, Any], step: int | None, search: ResumeSearch
) -> dict[str, Any] | None:
    """Load `path` if it can continue this run; else note why not in `search` and return None."""
    try:
        payload = load_checkpoint(path)
    except Exception as err:  # torch.load's errors for damaged files are of many types
        search.passed_over.append((path, _unreadable(err)))
        return None
    reason = identity_mismatch(payload["identity"], identity)
    if reason is None and step is not None and int(payload["step"]) != step:
        reason = f"holds step {payload['step']}, not the {step} its name says"
    if reason is not None:
        search.passed_over.append((path, reason))
        return None
    return payload
