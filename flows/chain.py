"""The run flow: the whole chain, top to bottom, as one Prefect flow.

The stages run in the order of the stage table (:data:`pipeline.stages.STAGE_TABLE`), each as
the kind of work it declares:

- ``ingest``: one task per input unit (a file, a folder or a dataset split);
- ``filter`` (langid, quality): one task per partition, then the stage's merge task if it has
  one (the quality classifier's percentile, decided over the whole run);
- ``dedup``: signatures per partition, buckets per LSH band, one cluster task, apply per
  partition;
- ``per_partition_then_merge`` (shards): one task per partition, then one merge task;
- ``whole_run`` (tokenizer, train, card): one task;
- a stage the config switches off (``off:``): one pass-through task per partition.

Tasks pass run-directory paths and partition names, never documents; the work itself is in
:mod:`pipeline.steps`, and the per-unit steps go through :func:`flows.runners.run_step` to the
run's worker processes (or Dask workers), which run the plain functions without Prefect. Each
step skips work whose fingerprint matches what is already in the run directory, so a re-run
over the same inputs does nothing and a re-run over new inputs does only the new work.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import visibility
from flows.runners import map_steps, run_step, slices_per_partition
from pipeline import __version__
from pipeline.config import RunConfig
from pipeline.hashing import stable_hash
from pipeline.ingest.plan import WorkUnit, plan_units
from pipeline.progress import Progress
from pipeline.rundir import RunDir
from pipeline.schema import SCHEMA_VERSION
from pipeline.stages import StageSpec, run_partition_unit, stages_until, work_of
from pipeline.steps import dedup as dedup_steps
from pipeline.steps import filter as filter_steps
from pipeline.steps.ingest import ingest_step
from pipeline.steps.passthrough import pass_through_step
from pipeline.steps.records import RunContext, finish_stage

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


@task(name="ingest-unit", **TASK_OPTIONS)
def ingest_task(root: str, config: RunConfig, unit: WorkUnit) -> list[dict[str, Any]]:
    summaries = run_step(ingest_step, RunDir(root), config, unit)
    for summary in summaries:
        get_run_logger().info("[ingest] %s (%s)", _counts(summary), unit.rel_path)
    return summaries


@task(name="filter-partition", **TASK_OPTIONS)
def filter_task(root: str, config: RunConfig, stage: str, pieces: int, part: str) -> dict[str, Any]:
    run = RunDir(root)
    plan = filter_steps.plan_slices(run, config, stage, part, pieces)
    if plan.done is not None:
        summary = plan.done
    elif plan.ranges:  # shared by several workers
        calls = [(run, config, stage, part, start, stop) for start, stop in plan.ranges]
        slices = map_steps(filter_steps.annotate_slice, calls)
        summary = run_step(filter_steps.decide_slices, run, config, stage, part, plan.fp, slices)
    else:
        summary = run_step(filter_steps.filter_step, run, config, stage, part)
    if summary.get("annotated"):
        state = "skipped (done)" if summary["skipped"] else f"{summary['stats']['seconds']:.1f}s"
        get_run_logger().info(
            "[%s] %s: %d measured, decided over the whole run next [%s]",
            stage,
            summary["part"],
            summary["stats"]["docs_in"],
            state,
        )
    else:
        get_run_logger().info("[%s] %s", stage, _counts(summary))
    return summary


@task(name="pass-through-partition", **TASK_OPTIONS)
def pass_through_task(root: str, config: RunConfig, stage: str, part: str) -> dict[str, Any]:
    summary = pass_through_step(RunDir(root), config, stage, part)
    get_run_logger().info("[%s] switched off: %s", stage, _counts(summary))
    return summary


@task(name="dedup-signatures", **TASK_OPTIONS)
def dedup_signature_task(root: str, config: RunConfig, part: str) -> dict[str, Any]:
    return run_step(dedup_steps.signature_step, RunDir(root), config, part)


@task(name="dedup-bucket", **TASK_OPTIONS)
def dedup_bucket_task(root: str, config: RunConfig, parts: list[str], key: str) -> dict[str, Any]:
    return run_step(dedup_steps.bucket_step, RunDir(root), config, parts, key)


@task(name="dedup-cluster", **TASK_OPTIONS)
def dedup_cluster_task(root: str, config: RunConfig, parts: list[str]) -> dict[str, Any]:
    summary = dedup_steps.cluster_step(RunDir(root), config, parts)
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
    summary = run_step(dedup_steps.apply_step, RunDir(root), config, part)
    get_run_logger().info("[dedup] %s", _counts(summary))
    return summary


@task(name="partition-unit", **TASK_OPTIONS)
def partition_task(root: str, config: RunConfig, stage: str, part: str) -> dict[str, Any]:
    return run_step(run_partition_unit, root, config, stage, part)


@task(name="merge-partitions", **TASK_OPTIONS)
def merge_task(
    root: str,
    config: RunConfig,
    stage: str,
    parts: list[str],
    title: str,
    summaries: list[dict[str, Any]],
) -> Any:
    from pipeline.stages import stage as stage_spec

    ctx = RunContext(RunDir(root), config, parts, title, progress=get_run_logger().info)
    return stage_spec(stage).load_merge()(ctx, summaries)


@task(name="whole-run-stage", **TASK_OPTIONS)
def whole_run_task(
    root: str, config: RunConfig, stage: str, parts: list[str], title: str
) -> dict[str, Any]:
    from pipeline.stages import stage as stage_spec

    ctx = RunContext(RunDir(root), config, parts, title, progress=get_run_logger().info)
    return stage_spec(stage).load()(ctx)


def _documents(result: Any) -> int:
    """Documents a task's summary (or list of summaries) counts as read."""
    summaries = result if isinstance(result, list) else [result]
    return sum(s.get("stats", {}).get("docs_in", 0) for s in summaries if isinstance(s, dict))


def _map(
    task_: Any,
    *args: Any,
    label: str = "",
    unit: str = "partitions",
    sizes: list[int] | None = None,
) -> list[Any]:
    """Submit one task per item of the last argument and wait for all, in order; on a terminal,
    a progress line every few seconds (done/total, rate, documents, and the bytes read when each
    item's ``sizes`` are given)."""
    *fixed, items = args
    futures = [task_.submit(*fixed, item) for item in items]
    progress = Progress(label or task_.name, len(futures), unit)
    results = []
    for index, future in enumerate(futures):
        results.append(future.result())
        progress.update(1, _documents(results[-1]), sizes[index] if sizes else 0)
    return results


def _unit_bytes(unit: WorkUnit) -> int:
    """Bytes on disk of a unit's files (0 for a folder or a dataset split)."""
    return sum(os.path.getsize(path) if os.path.isfile(path) else 0 for path, _ in unit.members)


# -- how each kind of work runs: (run, spec, config, parts, title) -> partition summaries or the
# -- whole-run stage's summary
def _run_ingest(
    root: str,
    spec: StageSpec,
    config: RunConfig,
    parts: list[str],
    title: str,
    only_units: list[str] | None = None,
) -> Any:
    units = plan_units(config.sources, config.base_dir)
    if only_units is not None:
        units = [unit for unit in units if unit.part in set(only_units)]
    get_run_logger().info("[ingest] %d units from %d sources", len(units), len(config.sources))
    # a unit may write several partitions
    sizes = [_unit_bytes(unit) for unit in units]
    done = _map(ingest_task, root, config, units, label="ingest", unit="units", sizes=sizes)
    return [s for unit in done for s in unit]


def _run_filter(root: str, spec: StageSpec, config: RunConfig, parts: list[str], title: str) -> Any:
    pieces = slices_per_partition(len(parts))
    summaries = _map(filter_task, root, config, spec.name, pieces, parts, label=spec.name)
    if spec.merge is None:
        return summaries
    return merge_task(root, config, spec.name, parts, title, summaries)


def _run_pass_through(
    root: str, spec: StageSpec, config: RunConfig, parts: list[str], title: str
) -> Any:
    """A stage the config switches off: each partition passes through unchanged."""
    return _map(pass_through_task, root, config, spec.name, parts, label=spec.name)


def _run_dedup(root: str, spec: StageSpec, config: RunConfig, parts: list[str], title: str) -> Any:
    """Signatures per partition -> buckets per band -> one cluster step -> apply per partition."""
    _map(dedup_signature_task, root, config, parts, label="dedup signatures")
    keys = dedup_steps.bucket_keys(config)
    _map(dedup_bucket_task, root, config, parts, keys, label="dedup buckets", unit="bands")
    dedup_cluster_task(root, config, parts)
    return _map(dedup_apply_task, root, config, parts, label="dedup")


def _run_per_partition_then_merge(
    root: str, spec: StageSpec, config: RunConfig, parts: list[str], title: str
) -> Any:
    """One task per partition, then one merge task over their summaries."""
    summaries = _map(partition_task, root, config, spec.name, parts, label=spec.name)
    return merge_task(root, config, spec.name, parts, title, summaries)


def _run_whole(root: str, spec: StageSpec, config: RunConfig, parts: list[str], title: str) -> Any:
    return whole_run_task(root, config, spec.name, parts, title)


WORK: dict[str, Callable[..., Any]] = {
    "ingest": _run_ingest,
    "filter": _run_filter,
    "dedup": _run_dedup,
    "pass_through": _run_pass_through,
    "per_partition_then_merge": _run_per_partition_then_merge,
    "whole_run": _run_whole,
}


def _section_json(spec: StageSpec, config: RunConfig) -> Any:
    if spec.section == "sources":
        return [source.model_dump(mode="json") for source in config.sources]
    return config.section(spec.section).model_dump(mode="json") if spec.section else None


def _flow_run_name() -> str:
    from prefect.runtime import flow_run

    return visibility.run_name(flow_run.parameters.get("out", "run"))


@flow(name="gristmill-run", flow_run_name=_flow_run_name)
def run_chain(
    config: RunConfig,
    out: str,
    until: str = "card",
    title: str = "gristmill run",
    only_units: list[str] | None = None,
) -> dict[str, Any]:
    """Run the stages of ``config`` into run directory ``out``, stopping after ``until``;
    ``only_units`` (partition prefixes of ingest's units) restricts ingest to those units."""
    logger = get_run_logger()
    specs = stages_until(until)
    run = RunDir(out)
    run.root.mkdir(parents=True, exist_ok=True)
    run.sweep_temporaries(progress=logger.info)  # a killed run's; one writer per run directory
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
    with visibility.untagged_tasks():
        results = _run_stages(run, config, specs, title, only_units)
    try:
        visibility.publish_artifacts(run)
    except Exception as error:  # the UI's view of a run must never fail the run
        logger.warning("could not publish the run's artifacts to Prefect: %s", error)
    return results


def _run_stages(
    run: RunDir,
    config: RunConfig,
    specs: list[StageSpec],
    title: str,
    only_units: list[str] | None,
) -> dict[str, Any]:
    """Each stage of ``specs`` in turn, recording each in the manifest; their results."""
    logger = get_run_logger()
    root = str(run.root)
    results: dict[str, Any] = {}
    parts: list[str] = []  # the partitions ingest wrote; every later stage works on these
    for spec in specs:
        started = time.perf_counter()
        run.update_manifest(stages={spec.name: {"status": "running"}})
        work = work_of(spec, config.off)
        if work == "ingest":
            outcome = _run_ingest(root, spec, config, parts, title, only_units)
        else:
            outcome = WORK[work](root, spec, config, parts, title)
        if spec.documents:
            summaries: list[dict[str, Any]] = outcome
            extra = dedup_steps.stage_extra(run, config) if work == "dedup" else None
            seconds = time.perf_counter() - started
            record = finish_stage(
                run, spec.name, _section_json(spec, config), summaries, seconds, extra
            )
            counts = record["counts"]
            logger.info(
                "[%s] %d in -> %d kept, %d dropped %s",
                spec.name,
                counts["docs_in"],
                counts["docs_kept"],
                counts["docs_dropped"],
                counts["dropped"] or "",
            )
            if spec.work == "ingest":
                parts = sorted(summary["part"] for summary in summaries)
            summary = {"skipped": all(s["skipped"] for s in summaries), "counts": counts}
        else:
            summary = outcome
        seconds = round(time.perf_counter() - started, 3)
        skipped = bool(summary["skipped"])
        run.update_manifest(
            stages={spec.name: {"status": "done", "skipped": skipped, "seconds": seconds}}
        )
        results[spec.name] = {**summary, "skipped": skipped, "seconds": seconds}
        logger.info(
            "[%s] %s in %.1fs", spec.name, "skipped (up to date)" if skipped else "done", seconds
        )
    return results
