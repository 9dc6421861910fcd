"""The quality stage's run-level cut: the classifier's ``percentile`` over every document of
the run, not partition by partition.

With ``quality.classifier.percentile`` set, the quality task of each partition only measures:
it writes the partition with every signal column (``quality_score`` included) and every
document to ``quality/_annotated/<part>.parquet`` (:func:`annotate_step`) and decides nothing.
Then :func:`cut_step`, the quality stage's ``merge`` step in the stage table, reads the
``quality_score`` column of every partition, resolves the percentile over all of them at once
and decides each partition with that score, writing its kept and dropped files and marker as
any filter partition does.

The rule (:func:`pipeline.quality.classifier.percentile_cut`): sort the run's non-null scores
(n of them); the score at 0-based index ``floor(n * percentile / 100)`` is the cut, so exactly
that many documents lie below it when no two scores tie (the lowest ``percentile`` percent,
rounded down); documents scoring strictly below it fail ``classifier_low_score``, ties at it
are kept, and the threshold still applies
(the higher of the two decides). The scores counted are those of every document the quality
stage reads, whatever other rule drops it, so a run decides exactly as
:func:`pipeline.quality.stage.refilter` over the run's kept and dropped documents together.

Caching: an annotated partition's fingerprint leaves the percentile out, so a new percentile
redoes only the decisions, never the scoring; a decided partition's fingerprint holds the cut,
so a re-run over the same inputs and config skips every partition.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from pipeline.config import RunConfig
from pipeline.hashing import file_sha256
from pipeline.quality.classifier import SCORE, percentile_cut
from pipeline.quality.stage import QualityStage
from pipeline.rundir import RunDir, fingerprint
from pipeline.stage import FilterStage, StageStats, split_by_reasons
from pipeline.steps.records import RunContext, partition_summary

STAGE = "quality"


def annotate_step(run: RunDir, stage: FilterStage, source: Path, part: str) -> dict[str, Any]:
    """Measure one partition of ``source`` and write it undecided (skipped when done for the
    same input and measuring settings). The summary counts every document as kept for now."""
    fp = fingerprint(stage.name, "annotated", file_sha256(source), stage.annotation_settings())
    record = run.finished_annotated(stage.name, part, fp)
    skipped = record is not None
    if record is None:
        started = time.perf_counter()
        table = stage.annotate(pq.read_table(source))
        record = run.write_annotated(stage.name, part, fp, table, time.perf_counter() - started)
    documents = int(record["documents"])
    stats = StageStats(
        stage=stage.name, docs_in=documents, docs_kept=documents, seconds=record["seconds"]
    )
    return {
        "part": part,
        "skipped": skipped,
        "stats": stats.to_dict(),
        "kept_sha256": record["sha256"],
        "annotated": True,
    }


def run_scores(run: RunDir, parts: list[str]) -> np.ndarray:
    """The ``quality_score`` of every annotated partition of the run (nulls as NaN)."""
    columns = []
    for part in parts:
        table = pq.read_table(run.annotated_path(STAGE, part), columns=[SCORE])
        columns.append(table.column(SCORE).to_numpy(zero_copy_only=False).astype(np.float64))
    return np.concatenate(columns) if columns else np.empty(0)


def _json_number(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def cut_step(ctx: RunContext, summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """After every quality partition: when the classifier's percentile is set, resolve it over
    the whole run and decide each annotated partition with it; else return ``summaries``."""
    config: RunConfig = ctx.config
    stage = QualityStage(config.quality)
    if not stage.decided_over_run():
        return summaries
    run = ctx.run
    parts = [summary["part"] for summary in summaries]
    scores = run_scores(run, parts)
    percentile = config.quality.classifier.percentile
    assert percentile is not None  # decided_over_run says so
    cut = percentile_cut(scores, percentile)
    stage.run_cut = cut
    scored = int((~np.isnan(scores)).sum())
    ctx.say(
        f"[{STAGE}] percentile {percentile:g} of {scored} scored documents of the run: "
        f"keep quality_score >= {cut:.6f}"
    )
    meta = {"percentile": percentile, "percentile_cut": _json_number(cut), "scored": scored}
    settings = config.section_hash(STAGE)
    out = []
    for summary in summaries:
        part = summary["part"]
        fp = fingerprint(STAGE, "decided", summary["kept_sha256"], settings, cut)
        done = run.finished(STAGE, part, fp)
        if done:
            out.append(partition_summary(done, skipped=True))
            continue
        started = time.perf_counter()
        table = pq.read_table(run.annotated_path(STAGE, part))
        result = split_by_reasons(STAGE, table, stage.reasons(table), stage.keep, started)
        result.stats.seconds += summary["stats"]["seconds"]  # the scoring's, recorded
        partition = run.write_partition(STAGE, part, fp, result, meta)
        out.append(partition_summary(partition, skipped=False))
    return out
