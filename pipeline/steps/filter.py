"""The filter step: run one filtering stage of the stage table (langid, quality, ...) on one
partition of the document stage before it; a stage decided over the whole run (the quality
classifier's percentile) only annotates here, and its ``merge`` step decides
(:func:`filter_stage` runs both, in one process)."""

from __future__ import annotations

from typing import Any

import pyarrow.parquet as pq

from pipeline.config import RunConfig
from pipeline.hashing import file_sha256
from pipeline.rundir import RunDir, fingerprint
from pipeline.stage import FilterStage
from pipeline.stages import stage as stage_spec
from pipeline.stages import upstream
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
