"""The shards step: encode the last document stage's partitions and write objective shards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.hashing import file_sha256
from pipeline.rundir import fingerprint, read_json
from pipeline.shards.format import MANIFEST_NAME
from pipeline.stages import upstream
from pipeline.steps.records import RunContext, run_once

STAGE = "shards"
MANIFEST = MANIFEST_NAME


def _files_intact(objective_dir: Path) -> bool:
    """Whether every file the objective's shard manifest lists is there."""
    manifest = objective_dir / MANIFEST
    if not manifest.is_file():
        return False
    for split in read_json(manifest).get("splits", {}).values():
        for entry in split.get("files", []):
            if not (objective_dir / entry["path"]).is_file():
                return False
    return True


def step(ctx: RunContext) -> dict[str, Any]:
    """Write `shards/<objective>/` for every objective of the config (skipped when up to
    date)."""
    from pipeline.shards.build import build_shards

    run, config = ctx.run, ctx.config
    inputs = [run.kept_path(upstream(STAGE), p) for p in ctx.parts]
    tokenizer = run.tokenizer_path
    fp = fingerprint(
        STAGE,
        [file_sha256(p) for p in inputs],
        file_sha256(tokenizer),
        config.section_hash(STAGE),
    )
    objectives = list(config.shards.objectives)
    folders = [run.objective_dir(o) for o in objectives]

    def report(done: dict[str, int]) -> None:
        ctx.say(f"[shards] {done['docs']} documents encoded, {done['rows']} rows written")

    def work() -> dict[str, Any]:
        for folder in folders:
            run.reset_dir(folder)
        manifests = build_shards(inputs, tokenizer, run.shards_dir, config.shards, progress=report)
        return {
            "objectives": objectives,
            "manifests": manifests,
            "config": config.shards.model_dump(mode="json"),
        }

    return run_once(
        run,
        STAGE,
        fp,
        [folder / MANIFEST for folder in folders],
        work,
        intact=lambda _: all(_files_intact(folder) for folder in folders),
    )
