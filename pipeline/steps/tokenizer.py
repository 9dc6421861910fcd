"""The tokenizer step: train the tokenizer on the last document stage's partitions and write the
folder `transformers` loads (`tokenizer.json` with its config and special-tokens map)."""

from __future__ import annotations

from typing import Any

from pipeline.config import RunConfig
from pipeline.hashing import file_sha256
from pipeline.rundir import fingerprint
from pipeline.stages import upstream
from pipeline.steps.records import RunContext, run_once

STAGE = "tokenizer"


def model_max_length(config: RunConfig) -> int:
    """The longest row any objective of the run builds: the model's maximum input length."""
    return max(getattr(config.shards, objective).seq_len for objective in config.shards.objectives)


def step(ctx: RunContext) -> dict[str, Any]:
    """Train the tokenizer -> `tokenizer/tokenizer.json` (skipped when up to date), then make
    sure `tokenizer_config.json` and `special_tokens_map.json` beside it match the run (they
    depend on the objectives' row length too, which is no reason to train again)."""
    from pipeline.tokenizer.hf_files import write_hf_files
    from pipeline.tokenizer.train import train_tokenizer

    run, config = ctx.run, ctx.config
    inputs = [run.kept_path(upstream(STAGE), p) for p in ctx.parts]
    out = run.tokenizer_path
    fp = fingerprint(STAGE, [file_sha256(p) for p in inputs], config.section_hash(STAGE))

    def work() -> dict[str, Any]:
        ctx.say(f"[tokenizer] training on {len(inputs)} partitions")
        info = train_tokenizer(inputs, out, config.tokenizer)
        return {
            "path": run.relative(out),
            "sha256": file_sha256(out),
            "info": info,
            "config": config.tokenizer.model_dump(mode="json"),
        }

    result = run_once(
        run, STAGE, fp, [out], work, intact=lambda record: file_sha256(out) == record["sha256"]
    )
    max_length = model_max_length(config)
    hf_files = write_hf_files(run.tokenizer_dir, max_length, config.tokenizer.lowercase)
    return {**result, "hf_files": [run.relative(p) for p in hf_files]}
