"""What steps report and record: partition summaries, stage records, and whole-run caching.

A document stage's tasks each return a partition summary; :func:`finish_stage` merges them into
`<stage>/_stage.json` (checking ``in = kept + dropped`` over the whole stage) and removes
partitions that earlier configs left behind. A whole-run stage goes through :func:`run_once`:
fingerprint, skip if its record and outputs are there, else work and record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import RunConfig
from pipeline.faults import fault_point
from pipeline.rundir import Partition, RunDir
from pipeline.stage import StageStats

#: A callback that shows one line of progress (the flow passes its logger's ``info``).
Progress = Callable[[str], None]


@dataclass
class RunContext:
    """What a whole-run step gets: the run, its config, the partitions ingest reported, the
    run's title (for the card) and where progress lines go."""

    run: RunDir
    config: RunConfig
    parts: list[str]
    title: str = "gristmill run"
    progress: Progress | None = None

    def say(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)


def partition_summary(partition: Partition, skipped: bool) -> dict[str, Any]:
    """What a per-partition task returns: the partition, whether it was cached, its stats."""
    return {
        "part": partition.name,
        "skipped": skipped,
        "stats": partition.stats.to_dict(),
        "kept_sha256": partition.kept_sha256,
    }


def finish_stage(
    run: RunDir,
    stage: str,
    config_section: Any,
    summaries: list[dict[str, Any]],
    seconds: float,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge partition stats into `<stage>/_stage.json` and drop partitions of old configs."""
    total = StageStats(stage=stage)
    for summary in summaries:
        total.merge(StageStats.from_dict(summary["stats"]))
    total.check()
    parts = [s["part"] for s in summaries]
    pruned = run.prune(stage, parts)
    record = {
        "stage": stage,
        "config": config_section,
        "partitions": {s["part"]: s["kept_sha256"] for s in summaries},
        "counts": total.to_dict(),
        "skipped_partitions": sum(s["skipped"] for s in summaries),
        "pruned_partitions": pruned,
        "wall_seconds": round(seconds, 3),
        **(extra or {}),
    }
    run.write_stage_record(stage, record)
    fault_point("stage.recorded")
    return record


def run_once(
    run: RunDir,
    stage: str,
    fp: str,
    outputs: list[Path],
    work: Callable[[], dict[str, Any]],
    intact: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """The whole-run skeleton: return the stage's record (``skipped: True``) when it was made
    with fingerprint ``fp``, every path of ``outputs`` exists and ``intact(record)`` holds;
    otherwise call ``work()``, record what it returns with the fingerprint and timing, and
    return that (``skipped: False``)."""
    record = run.stage_record(stage)
    if (
        record
        and record.get("fingerprint") == fp
        and all(path.exists() for path in outputs)
        and (intact is None or intact(record))
    ):
        return {**record, "skipped": True}
    started = time.perf_counter()
    fields = work()
    record = {
        "stage": stage,
        "fingerprint": fp,
        **fields,
        "wall_seconds": round(time.perf_counter() - started, 3),
    }
    run.write_stage_record(stage, record)
    fault_point("stage.recorded")
    return {**record, "skipped": False}
