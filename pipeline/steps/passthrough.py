"""The pass-through step: a stage the run config switches off (``off: [quality]``) passes one
partition of the stage before it on unchanged, as a link of its file, so the stages after it
read it as they read any other (see ``can_switch_off`` in :mod:`pipeline.stages`)."""

from __future__ import annotations

from typing import Any

from pipeline.config import RunConfig
from pipeline.rundir import RunDir, fingerprint
from pipeline.stage import StageStats
from pipeline.stages import upstream
from pipeline.steps.records import partition_summary


def pass_through_step(run: RunDir, config: RunConfig, stage: str, part: str) -> dict[str, Any]:
    """Pass partition ``part`` of the stage upstream of ``stage`` through ``stage`` (skipped
    when already done for the same upstream file)."""
    source = upstream(stage)
    before = run.read_marker(source, part)
    fp = fingerprint(stage, "pass-through", before["kept_sha256"])
    done = run.finished(stage, part, fp)
    if done:
        return partition_summary(done, skipped=True)
    kept = StageStats.from_dict(before["stats"])
    stats = StageStats(
        stage=stage,
        docs_in=kept.docs_kept,
        docs_kept=kept.docs_kept,
        bytes_in=kept.bytes_kept,
        bytes_kept=kept.bytes_kept,
    )
    return partition_summary(run.link_partition(stage, part, fp, source, stats), skipped=False)
