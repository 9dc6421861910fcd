"""The train step: train a model on the shards of `train.objective` (or of each objective
in `train.objectives`)."""

from __future__ import annotations

from typing import Any

from pipeline.hashing import file_sha256
from pipeline.rundir import fingerprint
from pipeline.steps.records import RunContext, run_once

STAGE = "train"


def step(ctx: RunContext) -> dict[str, Any]:
    """Train -> `train/checkpoint.pt` and `train/metrics.jsonl` (skipped when up to date)."""
    from trainer.objectives import get_objective  # the shards it reads: `rtd` reads `mlm`'s

    run, config = ctx.run, ctx.config
    folders = sorted({get_objective(name).shards for name in config.train.mix()})
    # One objective's folder, or, for objectives mixed from several, the shards folder above.
    shards = run.objective_dir(folders[0]) if len(folders) == 1 else run.shards_dir
    manifests = [file_sha256(run.objective_dir(name) / "manifest.json") for name in folders]
    fp = fingerprint(STAGE, *manifests, config.section_hash(STAGE))

    def work() -> dict[str, Any]:
        from trainer.loop import train

        result = train(shards, run.train_dir, config.train, progress=ctx.progress)
        return {
            "checkpoint": run.relative(run.checkpoint_path),
            "metrics": run.relative(run.metrics_path),
            "steps": result.steps,
            "first_loss": result.losses[0],
            "last_loss": result.losses[-1],
            "val_losses": result.val_losses,
            "tokens_seen": result.tokens_seen,
            "parameters": result.parameters,
            "device": result.device,
            "train_seconds": round(result.seconds, 3),
            "config": config.train.model_dump(mode="json"),
        }

    return run_once(run, STAGE, fp, [run.checkpoint_path, run.metrics_path], work)
