"""The shards steps: one unit per partition writes that partition's shards for every objective,
then one merge step writes each objective's manifest.

A partition unit is skipped when its record (`shards/_parts/<part>.json`) carries the same
fingerprint (the partition's kept documents, the tokenizer, the `shards` settings) and every
file it lists is there; otherwise it deletes the manifests, rewrites its own files and record.
The merge step goes through :func:`~pipeline.steps.records.run_once`, fingerprinted by the
partitions' fingerprints in order, so it is skipped only when no partition changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.config import RunConfig
from pipeline.hashing import file_sha256
from pipeline.rundir import RunDir, atomic_write_json, fingerprint, read_json
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


def _record_intact(run: RunDir, record: dict[str, Any]) -> bool:
    """Whether every file a partition record lists is there."""
    for name, splits in record["objectives"].items():
        for split in splits.values():
            for entry in split["files"]:
                if not (run.objective_dir(name) / entry["path"]).is_file():
                    return False
    return True


def partition_fingerprint(run: RunDir, config: RunConfig, part: str) -> str:
    """What a partition's shards depend on: its name, its kept documents, the tokenizer and the
    `shards` settings."""
    return fingerprint(
        STAGE,
        part,
        file_sha256(run.kept_path(upstream(STAGE), part)),
        file_sha256(run.tokenizer_path),
        config.section_hash(STAGE),
    )


def partition_step(run: RunDir, config: RunConfig, part: str) -> dict[str, Any]:
    """Write partition ``part``'s shards for every objective, unless its record is up to date;
    return ``{part, skipped, fingerprint, stats}``."""
    from pipeline.shards.build import build_partition

    fp = partition_fingerprint(run, config, part)
    path = run.shard_record_path(part)
    record = read_json(path) if path.is_file() else None
    skipped = bool(
        record
        and record.get("fingerprint") == fp
        and sorted(record.get("objectives", {})) == sorted(config.shards.objectives)
        and _record_intact(run, record)
    )
    if not skipped:
        path.unlink(missing_ok=True)
        built = build_partition(
            [run.kept_path(upstream(STAGE), part)],
            run.tokenizer_path,
            run.shards_dir,
            config.shards,
            part,
        )
        record = {"fingerprint": fp, **built}
        atomic_write_json(path, record)
    assert record is not None
    return {
        "part": part,
        "skipped": skipped,
        "fingerprint": fp,
        "stats": {"docs_in": record["docs"]["in"]},
    }


def merge_step(ctx: RunContext, summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Write `shards/<objective>/manifest.json` for every objective from the partition records,
    in partition order (skipped when up to date); remove records of partitions gone from the
    run."""
    from pipeline.shards.build import merge_manifests

    run, config = ctx.run, ctx.config
    by_part = {s["part"]: s for s in summaries}
    fp = fingerprint(
        STAGE,
        [(part, by_part[part]["fingerprint"]) for part in ctx.parts],
        file_sha256(run.tokenizer_path),
        config.section_hash(STAGE),
    )
    objectives = list(config.shards.objectives)
    folders = [run.objective_dir(o) for o in objectives]

    def work() -> dict[str, Any]:
        records = [read_json(run.shard_record_path(part)) for part in ctx.parts]
        manifests = merge_manifests(records, run.tokenizer_path, run.shards_dir, config.shards)
        keep = {run.shard_record_path(part).name for part in ctx.parts}
        for old in sorted(run.shard_records_dir.glob("*.json")):
            if old.name not in keep:
                old.unlink()
        rows = sum(m["splits"][s]["rows"] for m in manifests.values() for s in m["splits"])
        ctx.say(f"[shards] {len(records)} partitions merged, {rows} rows")
        return {
            "objectives": objectives,
            "manifests": manifests,
            "config": config.shards.model_dump(mode="json"),
        }

    result = run_once(
        run,
        STAGE,
        fp,
        [folder / MANIFEST for folder in folders],
        work,
        intact=lambda _: all(_files_intact(folder) for folder in folders),
    )
    rebuilt = [s["part"] for s in summaries if not s["skipped"]]
    return {
        **result,
        "skipped": result["skipped"] and not rebuilt,
        "rebuilt_partitions": rebuilt,
    }
