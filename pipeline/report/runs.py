"""Opening a finished (or partly finished) run directory for inspection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.config import RunConfig
from pipeline.errors import UserFacingError
from pipeline.rundir import RunDir
from pipeline.stages import DOCUMENT_STAGES


class RunInspectError(UserFacingError):
    """A run directory or a stage asked about does not exist."""


def open_run(path: str | Path) -> RunDir:
    """The run directory at ``path``; an error naming it when it holds no run."""
    run = RunDir(path)
    if not run.manifest_path.is_file():
        raise RunInspectError(f"{path}: not a gristmill run directory (no manifest.json)")
    try:
        run.manifest()
    except (OSError, ValueError) as error:
        raise RunInspectError(f"{run.manifest_path}: unreadable manifest ({error})") from None
    return run


def run_config(run: RunDir) -> RunConfig | None:
    """The config the run recorded in its manifest, or ``None`` where it no longer validates."""
    try:
        return RunConfig.model_validate(run.manifest().get("config") or {})
    except ValueError:
        return None


def document_stage(name: str) -> str:
    """``name`` if it is a document stage; otherwise an error listing them."""
    if name not in DOCUMENT_STAGES:
        raise RunInspectError(
            f"stage {name!r} has no documents; document stages are: {', '.join(DOCUMENT_STAGES)}"
        )
    return name


def stage_counts(run: RunDir, stage: str) -> dict[str, Any] | None:
    """The merged counts of a document stage from its record, or ``None`` if it has none."""
    record = run.stage_record(stage)
    return record.get("counts") if record else None


def funnel_counts(run: RunDir) -> list[dict[str, Any]]:
    """The merged counts (each with its ``stage``) of every document stage that has a record,
    in run order: the funnel the card, `gristmill show` and the Prefect artifact present."""
    return [counts for stage in DOCUMENT_STAGES if (counts := stage_counts(run, stage))]
