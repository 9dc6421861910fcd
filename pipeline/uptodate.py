"""Whether a run directory already holds a finished run of a config, found without Prefect.

A re-run of a finished run does no work (every step finds its outputs by fingerprint), but
starting Prefect to find that out costs seconds to tens of seconds. This check lets the command
answer first: the run is up to date when the manifest records the same config (hash) and
gristmill version, every stage up to ``until`` is recorded done and its output is present, and
every input unit still has the fingerprint it was read with (its files unchanged, none added
or removed) with its partitions intact. Anything else -- a changed input, a new stage, a stage
killed midway -- goes through the flow as before.
"""

from __future__ import annotations

from typing import Any

from pipeline import __version__
from pipeline.config import RunConfig
from pipeline.hashing import stable_hash
from pipeline.ingest.plan import plan_units
from pipeline.rundir import RunDir
from pipeline.stages import stages_until
from pipeline.steps.ingest import finished_unit


def finished_results(config: RunConfig, run: RunDir, until: str) -> dict[str, Any] | None:
    """Per stage up to ``until``: ``{"skipped": True, "seconds": 0.0, "counts": ...}`` when the
    run directory is up to date for ``config``, else None."""
    manifest = run.manifest()
    if (
        manifest.get("config_hash") != stable_hash(config.model_dump(mode="json"))
        or manifest.get("gristmill_version") != __version__
    ):
        return None
    stages = manifest.get("stages", {})
    results: dict[str, Any] = {}
    for spec in stages_until(until):
        if stages.get(spec.name, {}).get("status") != "done":
            return None
        result: dict[str, Any] = {"skipped": True, "seconds": 0.0}
        if spec.documents:
            record = run.stage_record(spec.name)
            if record is None or "counts" not in record:
                return None
            result["counts"] = record["counts"]
        elif not run.stage_dir(spec.name).is_dir():
            return None
        results[spec.name] = result
    try:
        units = plan_units(config.sources, config.base_dir)
    except Exception:  # an input that cannot be planned: the flow reports it properly
        return None
    if not all(finished_unit(run, config, unit) for unit in units):
        return None
    return results
