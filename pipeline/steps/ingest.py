"""The ingest step: read one input unit into partitions `ingest/<unit>-00000.parquet`, ..."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.config import RunConfig
from pipeline.faults import fault_point
from pipeline.ingest.files import unit_fingerprint
from pipeline.ingest.plan import WorkUnit
from pipeline.ingest.reader import iter_unit_partitions
from pipeline.rundir import RunDir, atomic_write_json, fingerprint, read_json
from pipeline.steps.records import partition_summary


def unit_fp(config: RunConfig, unit: WorkUnit) -> str:
    """The fingerprint of one input unit: its source's settings and its files' fingerprints."""
    source = config.source(unit.source)
    return fingerprint(
        "ingest",
        source.model_dump(mode="json"),
        [[rel, unit_fingerprint(source, Path(path))] for path, rel in unit.members],
    )


def finished_unit(
    run: RunDir, config: RunConfig, unit: WorkUnit, fp: str | None = None
) -> list[dict[str, Any]] | None:
    """The summaries of a unit read before with the same fingerprint, every partition intact
    (None: it must be read again)."""
    record_path = run.ingest_unit_record(unit.part)
    if not record_path.is_file():
        return None
    try:
        record = read_json(record_path)
    except (OSError, ValueError):
        return None
    if record.get("fingerprint") != (fp or unit_fp(config, unit)):
        return None
    done = [run.finished("ingest", part, record["fingerprint"]) for part in record.get("parts", [])]
    if done and all(done):
        return [partition_summary(d, skipped=True) for d in done if d]
    return None


def ingest_step(run: RunDir, config: RunConfig, unit: WorkUnit) -> list[dict[str, Any]]:
    """Read one unit into partitions (one per `limits.partition_bytes` of text); return one
    summary per partition.

    The unit is done when its record (`ingest/_units/<unit>.json`, written last) lists its
    partitions with this fingerprint and every one of them is intact; otherwise it is read again
    whole.
    """
    source = config.source(unit.source)
    fp = unit_fp(config, unit)
    done = finished_unit(run, config, unit, fp)
    if done is not None:
        return done
    record_path = run.ingest_unit_record(unit.part)
    record_path.unlink(missing_ok=True)
    summaries = []
    for index, part in enumerate(iter_unit_partitions(source, unit.members)):
        if index:
            fault_point("ingest.next_partition")
        name = f"{unit.part}-{index:05d}"
        meta = {
            "source": unit.source,
            "path": unit.rel_path,
            "unit": unit.part,
            "files": part.files,
            "file_bytes": part.file_bytes,
        }
        written = run.write_partition("ingest", name, fp, part.result, meta)
        summaries.append(partition_summary(written, skipped=False))
        del part, written  # free this partition's tables while the next one fills
    atomic_write_json(
        record_path,
        {
            "fingerprint": fp,
            "source": unit.source,
            "path": unit.rel_path,
            "parts": [s["part"] for s in summaries],
        },
    )
    return summaries
