"""A variant's shards and its tiny models: the same tokenizer, validation rows, model, token
budget and seeds for every variant; only the training documents differ.

The shards of a variant (``<variant>/shards/<objective>/``) hold its training documents in the
`train` split and the shared validation rows in the `val` split, as links of the files built
once from the validation set; the manifest lists both, so the trainer reads them as any shards
(docs/shard-format.md). Training calls :func:`trainer.loop.train` once per seed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pipeline.config import RunConfig
from pipeline.rundir import atomic_write_json, link_or_copy, read_json
from pipeline.shards.format import MANIFEST_NAME
from trainer.config import TrainConfig

#: validation points per loss curve: enough to see the curves part, few enough that evaluating
#: the whole validation set each time stays a small share of training
CURVE_POINTS = 8


def shards_config(config: RunConfig, objective: str) -> Any:
    """The run's shards settings for ``objective`` alone, every document in `train` (the
    validation rows come from the shared set)."""
    return config.shards.model_copy(update={"objectives": [objective], "val_fraction": 0.0})


def build_split(
    files: list[Path], tokenizer: Path, out: Path, config: RunConfig, objective: str
) -> dict[str, Any]:
    """Shards of ``files``, all in the `train` split; return ``objective``'s manifest."""
    from pipeline.shards.build import build_shards

    manifests = build_shards(files, tokenizer, out, shards_config(config, objective))
    return manifests[objective]


def attach_validation(objective_dir: Path, validation_dir: Path) -> dict[str, Any]:
    """Make the shared validation rows (the `train` split of ``validation_dir``'s shards) the
    `val` split of ``objective_dir``'s, as links; rewrite its manifest and return it."""
    manifest = read_json(objective_dir / MANIFEST_NAME)
    shared = read_json(validation_dir / MANIFEST_NAME)
    if shared["tokenizer_sha256"] != manifest["tokenizer_sha256"]:
        raise ValueError(f"{validation_dir}: validation shards of another tokenizer")
    entry = dict(shared["splits"]["train"])
    files = []
    for item in entry["files"]:
        name = "val/" + Path(item["path"]).name
        link_or_copy(validation_dir / item["path"], objective_dir / name)
        files.append({**item, "path": name})
    manifest["splits"]["val"] = {**entry, "files": files}
    (objective_dir / MANIFEST_NAME).unlink()
    atomic_write_json(objective_dir / MANIFEST_NAME, manifest)
    return manifest


def seeds_of(config: RunConfig, count: int, replicate: bool) -> list[int]:
    """The training seeds: the train section's seed and the next ``count - 1``; an A/A
    replicate takes the ``count`` after those."""
    first = config.train.seed + (count if replicate else 0)
    return [first + i for i in range(count)]


def default_tokens(config: RunConfig, objective: str) -> int:
    """The run's own training length in tokens: steps x batch x accumulation x row length."""
    train = config.train
    seq_len = config.shards.objective_config(objective).seq_len
    return train.steps * train.batch_size * train.grad_accum * seq_len


def train_config(
    config: RunConfig, objective: str, tokens: int, seed: int, val_rows: int
) -> TrainConfig:
    """The train section with this objective, seed and the step count that spends ``tokens``
    (every variant the same); evaluation covers the whole validation set at every curve point."""
    train = config.train
    seq_len = config.shards.objective_config(objective).seq_len
    steps = max(1, math.ceil(tokens / (train.batch_size * train.grad_accum * seq_len)))
    return train.model_copy(
        update={
            "objective": objective,
            "steps": steps,
            "seed": seed,
            "eval_every": max(1, steps // CURVE_POINTS),
            "eval_batches": max(1, math.ceil(val_rows / train.batch_size)),
            "checkpoint_every": 0,
        }
    )


def train_seed(shards: Path, out: Path, config: TrainConfig) -> dict[str, Any]:
    """Train one model; return its final validation loss, curves and counts (also written to
    ``out/result.json``)."""
    from trainer.loop import train

    result = train(shards, out, config, progress=None, resume=False)
    if not result.val_losses:
        raise ValueError(f"{shards}: no validation loss was measured")
    record = {
        "seed": config.seed,
        "steps": result.steps,
        "tokens_seen": result.tokens_seen,
        "parameters": result.parameters,
        "device": result.device,
        "final_val_loss": result.val_losses[-1][1],
        "val_losses": [[step, loss] for step, loss in result.val_losses],
        "train_losses": result.losses,
        "seconds": round(result.seconds, 3),
    }
    atomic_write_json(out / "result.json", record)
    return record
