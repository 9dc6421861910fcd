"""The tokenizer step: train the tokenizer on the last document stage's partitions."""

from __future__ import annotations

from typing import Any

from pipeline.hashing import file_sha256
from pipeline.rundir import fingerprint
from pipeline.stages import upstream
from pipeline.steps.records import RunContext, run_once

STAGE = "tokenizer"


def step(ctx: RunContext) -> dict[str, Any]:
    """Train the tokenizer -> `tokenizer/tokenizer.json` (skipped when up to date)."""
    from pipeline.tokenizer.train import train_tokenizer

    run, config = ctx.run, ctx.config
    inputs = [run.kept_path(upstream(STAGE), p) for p in ctx.parts]
    out = run.tokenizer_path
    fp = fingerprint(STAGE, [file_sha256(p) for p in inputs], config.section_hash(STAGE))

    def work() -> dict[str, Any]:
        info = train_tokenizer(inputs, out, config.tokenizer)
        return {
            "path": run.relative(out),
            "sha256": file_sha256(out),
            "info": info,
            "config": config.tokenizer.model_dump(mode="json"),
        }

    return run_once(
        run, STAGE, fp, [out], work, intact=lambda record: file_sha256(out) == record["sha256"]
    )
