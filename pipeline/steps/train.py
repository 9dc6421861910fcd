"""The train step: train a model on the shards of `train.objective`."""

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
    shards = run.objective_dir(get_objective(config.train.objective).shards)
    fp = fingerprint(STAGE, file_sha256(shards / "manifest.json"), config.section_hash(STAGE))

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
