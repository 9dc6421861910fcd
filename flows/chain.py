"""The run flow: the whole chain, top to bottom, as one Prefect flow.

ingest (one task per input file or folder) -> langid -> quality (one task per partition) ->
dedup (signatures per partition, buckets per LSH band, one cluster task, apply per partition) ->
tokenizer -> shards -> train -> card. Tasks pass run-directory paths and partition names, never
documents. Each step skips work whose fingerprint matches what is already in the run directory,
so a re-run over the same inputs does nothing and a re-run over new inputs does only the new
work.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import steps
from pipeline import __version__
from pipeline.config import STAGES, RunConfig, stable_hash
from pipeline.dedup import units as dedup_units
from pipeline.rundir import RunDir
from pipeline.schema import SCHEMA_VERSION

# Caching is done by the steps against the run directory (fingerprints of inputs + config), so
# it survives a wiped Prefect database and works the same under every task runner.
TASK_OPTIONS: dict[str, Any] = {"cache_policy": NO_CACHE, "retries": 0}


def _counts(summary: dict[str, Any]) -> str:
    stats = summary["stats"]
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(stats["dropped"].items()))
    state = "skipped (done)" if summary["skipped"] else f"{stats['seconds']:.1f}s"
    return (
        f"{summary['part']}: {stats['docs_in']} in, {stats['docs_kept']} kept"
        + (f", dropped {dropped}" if dropped else "")
        + f" [{state}]"
    )


@task(name="ingest-file", **TASK_OPTIONS)
def ingest_task(root: str, config: RunConfig, item: steps.SourceFile) -> list[dict[str, Any]]:
    summaries = steps.ingest_step(RunDir(root), config, item)
    for summary in summaries:
        get_run_logger().info("[ingest] %s (%s)", _counts(summary), item.rel_path)
    return summaries


@task(name="filter-partition", **TASK_OPTIONS)
def filter_task(root: str, config: RunConfig, stage: str, part: str) -> dict[str, Any]:
    summary = steps.filter_step(RunDir(root), config, stage, part)
    get_run_logger().info("[%s] %s", stage, _counts(summary))
    return summary


@task(name="dedup-signatures", **TASK_OPTIONS)
def dedup_signature_task(root: str, config: RunConfig, part: str) -> dict[str, Any]:
    return steps.dedup_signature_step(RunDir(root), config, part)


@task(name="dedup-bucket", **TASK_OPTIONS)
def dedup_bucket_task(root: str, config: RunConfig, parts: list[str], key: str) -> dict[str, Any]:
    return steps.dedup_bucket_step(RunDir(root), config, parts, key)


@task(name="dedup-cluster", **TASK_OPTIONS)
def dedup_cluster_task(root: str, config: RunConfig, parts: list[str]) -> dict[str, Any]:
    summary = steps.dedup_cluster_step(RunDir(root), config, parts)
    get_run_logger().info(
        "[dedup] %d clusters, %d exact + %d near duplicates (%d of earlier runs' documents)%s",
        summary["clusters"],
        summary["exact_duplicate"],
        summary["near_duplicate"],
        summary["dropped_for_previous_runs"],
        " [skipped (done)]" if summary["skipped"] else "",
    )
    return summary


@task(name="dedup-apply", **TASK_OPTIONS)
def dedup_apply_task(root: str, config: RunConfig, part: str) -> dict[str, Any]:
    summary = steps.dedup_apply_step(RunDir(root), config, part)
    get_run_logger().info("[dedup] %s", _counts(summary))
    return summary


def _dedup(root: str, config: RunConfig, parts: list[str]) -> list[dict[str, Any]]:
    """Signatures per partition -> buckets per band -> one cluster step -> apply per partition."""
    _map(dedup_signature_task, root, config, parts)
    _map(dedup_bucket_task, root, config, parts, steps.dedup_bucket_keys(config))
    dedup_cluster_task(root, config, parts)
    return _map(dedup_apply_task, root, config, parts)


@task(name="tokenizer", **TASK_OPTIONS)
def tokenizer_task(root: str, config: RunConfig, parts: list[str]) -> dict[str, Any]:
    return steps.tokenizer_step(RunDir(root), config, parts)


@task(name="shards", **TASK_OPTIONS)
def shards_task(root: str, config: RunConfig, parts: list[str]) -> dict[str, Any]:
    logger = get_run_logger()
    return steps.shards_step(RunDir(root), config, parts, progress=logger.info)


@task(name="train", **TASK_OPTIONS)
def train_task(root: str, config: RunConfig) -> dict[str, Any]:
    logger = get_run_logger()
    return steps.train_step(RunDir(root), config, progress=logger.info)


@task(name="card", **TASK_OPTIONS)
def card_task(root: str, config: RunConfig, title: str) -> dict[str, Any]:
    return steps.card_step(RunDir(root), config, title=title)


def _map(task_: Any, *args: Any) -> list[Any]:
    """Submit one task per item of the last argument and wait for all, in order."""
    *fixed, items = args
    futures = [task_.submit(*fixed, item) for item in items]
    return [future.result() for future in futures]


@flow(name="gristmill-run")
def run_chain(
    config: RunConfig, out: str, until: str = "card", title: str = "gristmill run"
) -> dict[str, Any]:
    """Run the stages of ``config`` into run directory ``out``, stopping after ``until``."""
    logger = get_run_logger()
    if until not in STAGES:
        raise ValueError(f"unknown stage {until!r}; stages are: {', '.join(STAGES)}")
    last = STAGES.index(until)
    run = RunDir(out)
    run.root.mkdir(parents=True, exist_ok=True)
    root = str(run.root)
    manifest = run.manifest()
    run.update_manifest(
        gristmill_version=__version__,
        schema_version=SCHEMA_VERSION,
        created=manifest.get("created") or datetime.now(UTC).isoformat(timespec="seconds"),
        config=config.model_dump(mode="json"),
        config_hash=stable_hash(config.model_dump(mode="json")),
        seeds={"shards": config.shards.seed, "train": config.train.seed},
        sources=[s.name for s in config.sources],
    )
    results: dict[str, Any] = {}

    def record(stage: str, started: float, skipped: bool, summary: dict[str, Any]) -> None:
        seconds = round(time.perf_counter() - started, 3)
        run.update_manifest(
            stages={stage: {"status": "done", "skipped": skipped, "seconds": seconds}}
        )
        results[stage] = {"skipped": skipped, "seconds": seconds, **summary}
        logger.info(
            "[%s] %s in %.1fs", stage, "skipped (up to date)" if skipped else "done", seconds
        )

    items = steps.plan_inputs(config)
    parts: list[str] = []  # the partitions ingest wrote; every later stage works on these
    for stage in STAGES[: last + 1]:
        started = time.perf_counter()
        run.update_manifest(stages={stage: {"status": "running"}})
        if stage == "ingest":
            logger.info("[ingest] %d files from %d sources", len(items), len(config.sources))
            # one task per unit (file, folder, dataset); a unit may write several partitions
            summaries = [s for unit in _map(ingest_task, root, config, items) for s in unit]
            parts = sorted(summary["part"] for summary in summaries)
        elif stage in ("langid", "quality"):
            summaries = _map(filter_task, root, config, stage, parts)
        elif stage == "dedup":
            summaries = _dedup(root, config, parts)
        if stage in ("ingest", "langid", "quality", "dedup"):
            section = config.sources if stage == "ingest" else getattr(config, stage)
            section_json = (
                [s.model_dump(mode="json") for s in section]
                if stage == "ingest"
                else section.model_dump(mode="json")
            )
            extra = dedup_units.stage_summary(run, config.dedup) if stage == "dedup" else None
            stage_record = steps.finish_stage(
                run, stage, section_json, summaries, time.perf_counter() - started, extra
            )
            counts = stage_record["counts"]
            logger.info(
                "[%s] %d in -> %d kept, %d dropped %s",
                stage,
                counts["docs_in"],
                counts["docs_kept"],
                counts["docs_dropped"],
                counts["dropped"] or "",
            )
            record(stage, started, all(s["skipped"] for s in summaries), {"counts": counts})
        elif stage == "tokenizer":
            summary = tokenizer_task(root, config, parts)
            record(stage, started, summary["skipped"], {"path": summary["path"]})
        elif stage == "shards":
            summary = shards_task(root, config, parts)
            record(stage, started, summary["skipped"], {"objectives": summary["objectives"]})
        elif stage == "train":
            summary = train_task(root, config)
            record(
                stage,
                started,
                summary["skipped"],
                {
                    "checkpoint": summary["checkpoint"],
                    "first_loss": summary["first_loss"],
                    "last_loss": summary["last_loss"],
                },
            )
        elif stage == "card":
            summary = card_task(root, config, title)
            record(stage, started, summary["skipped"], {"paths": summary["paths"]})
    return results
