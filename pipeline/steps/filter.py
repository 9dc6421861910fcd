"""The filter step: run one filtering stage of the stage table (langid, quality, ...) on one
partition of the document stage before it; a stage decided over the whole run (the quality
classifier's percentile) only annotates here, and its ``merge`` step decides
(:func:`filter_stage` runs both, in one process).

A partition can also be filtered in slices, so that several workers share it when a run has
fewer partitions than workers: :func:`plan_slices` cuts it into row ranges, each worker measures
its range (:func:`annotate_slice`, the costly part), and :func:`decide_slices` joins the
measured slices in order and decides and writes the partition as :func:`filter_step` would.
Every stage measures each document on its own, so the outputs are byte-identical however the
partition was cut.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import RunConfig
from pipeline.hashing import file_sha256
from pipeline.rundir import RunDir, fingerprint
from pipeline.stage import FilterStage, split_by_reasons
from pipeline.stages import stage as stage_spec
from pipeline.stages import stages_until, upstream, work_of
from pipeline.steps.records import RunContext, partition_summary


def make_filter(stage: str, config: RunConfig) -> FilterStage:
    """The filtering stage named ``stage``, built from its config section."""
    spec = stage_spec(stage)
    if spec.work != "filter" or spec.section is None:
        raise ValueError(f"{stage!r} is not a per-partition filtering stage")
    return spec.load()(config.section(spec.section))


def filter_step(run: RunDir, config: RunConfig, stage: str, part: str) -> dict[str, Any]:
    """Filter one partition of the stage upstream of ``stage``."""
    spec = stage_spec(stage)
    source = run.kept_path(upstream(stage), part)
    if spec.merge is not None:  # a stage that may be decided over the whole run
        filtering = make_filter(stage, config)
        if filtering.decided_over_run():
            from pipeline.steps.run_cut import annotate_step

            return annotate_step(run, filtering, source, part)
    fp = fingerprint(stage, file_sha256(source), config.section_hash(spec.section or stage))
    done = run.finished(stage, part, fp)
    if done:
        return partition_summary(done, skipped=True)
    result = make_filter(stage, config)(pq.read_table(source))
    return partition_summary(run.write_partition(stage, part, fp, result), skipped=False)


def filter_stage(run: RunDir, config: RunConfig, stage: str, parts: list[str]) -> list[Any]:
    """Every partition of ``stage``, then its ``merge`` step if it has one, in this process
    (the flow runs the partitions as tasks instead); the partition summaries."""
    spec = stage_spec(stage)
    summaries = [filter_step(run, config, stage, part) for part in parts]
    if spec.merge is None:
        return summaries
    return spec.load_merge()(RunContext(run, config, parts), summaries)


#: Fewer rows than this per slice cost more in reading and sending than a worker saves.
MIN_SLICE_ROWS = 64


@dataclass
class SlicePlan:
    """How to filter one partition in slices: ``done`` (its summary) when it is finished, else
    the fingerprint its outputs get and the row ranges to measure; ``ranges`` is empty when the
    partition should go whole to :func:`filter_step` instead."""

    fp: str = ""
    ranges: list[tuple[int, int]] = field(default_factory=list)
    done: dict[str, Any] | None = None


def row_ranges(rows: int, pieces: int, min_rows: int) -> list[tuple[int, int]]:
    """``rows`` cut into at most ``pieces`` consecutive ranges of near-equal size, none shorter
    than ``min_rows`` (one range when there are too few rows to share)."""
    count = max(1, min(pieces, rows // max(min_rows, 1)))
    bounds = [rows * i // count for i in range(count + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(count)]


def plan_slices(run: RunDir, config: RunConfig, stage: str, part: str, pieces: int) -> SlicePlan:
    """Whether to cut a partition of ``stage`` into at most ``pieces`` slices, and where."""
    spec = stage_spec(stage)
    if pieces <= 1 or (spec.merge is not None and make_filter(stage, config).decided_over_run()):
        return SlicePlan()  # decided over the run: annotated whole by filter_step
    source = run.kept_path(upstream(stage), part)
    ranges = row_ranges(pq.ParquetFile(source).metadata.num_rows, pieces, MIN_SLICE_ROWS)
    if len(ranges) == 1:
        return SlicePlan()  # too few rows to share: filter_step checks and does it whole
    fp = fingerprint(stage, file_sha256(source), config.section_hash(spec.section or stage))
    done = run.finished(stage, part, fp)
    if done:
        return SlicePlan(fp, done=partition_summary(done, skipped=True))
    return SlicePlan(fp, ranges)


def read_rows(path: Any, start: int, stop: int) -> pa.Table:
    """Rows ``[start, stop)`` of a Parquet file, reading only the row groups that hold them."""
    handle = pq.ParquetFile(path)
    groups, first, offset = [], None, 0
    for index in range(handle.metadata.num_row_groups):
        size = handle.metadata.row_group(index).num_rows
        if offset < stop and offset + size > start:
            groups.append(index)
            first = offset if first is None else first
        offset += size
    table = handle.read_row_groups(groups) if groups else handle.schema_arrow.empty_table()
    return table.slice(start - (first or 0), stop - start)


def annotate_slice(
    run: RunDir, config: RunConfig, stage: str, part: str, start: int, stop: int
) -> tuple[pa.Table, float]:
    """Measure rows ``[start, stop)`` of a partition (signal columns added); the seconds taken."""
    started = time.perf_counter()
    table = read_rows(run.kept_path(upstream(stage), part), start, stop)
    annotated = make_filter(stage, config).annotate(table)
    return annotated, time.perf_counter() - started


def decide_slices(
    run: RunDir,
    config: RunConfig,
    stage: str,
    part: str,
    fp: str,
    slices: list[tuple[pa.Table, float]],
) -> dict[str, Any]:
    """Join a partition's measured slices in order, decide every document and write the
    partition; its summary (seconds: the slices' and this step's, summed)."""
    started = time.perf_counter()
    filtering = make_filter(stage, config)
    table = pa.concat_tables([piece for piece, _ in slices]).combine_chunks()
    result = split_by_reasons(
        filtering.name, table, filtering.reasons(table), filtering.keep, started
    )
    result.stats.seconds += math.fsum(seconds for _, seconds in slices)
    return partition_summary(run.write_partition(stage, part, fp, result), skipped=False)


def warm_up(config: RunConfig, until: str) -> None:
    """Load what the run's filtering stages measure with (models, compiled kernels), in a
    worker process before its first step. Best effort: a stage that cannot load now reports
    why when it runs."""
    sources = [(source.name, source.kind) for source in config.sources]
    for spec in stages_until(until):
        if work_of(spec, config.off) != "filter":
            continue
        try:
            make_filter(spec.name, config).warm_up(sources)
        except Exception:  # noqa: BLE001 - the stage's own step reports the error
            continue
