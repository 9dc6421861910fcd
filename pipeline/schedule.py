"""Scheduled runs: every run of a schedule writes a new run directory, named by its date, under
one root; reads only the input files that no earlier run under that root has read (an input's
fingerprint -- its path, size and modification time, or a folder's listing -- decides); and
deduplicates against every earlier run there (the dedup stage's ``previous_runs``).

Plain Python: :mod:`flows.schedule` runs these decisions as a Prefect deployment.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from pipeline.config import RunConfig
from pipeline.hashing import stable_hash
from pipeline.ingest.files import unit_fingerprint
from pipeline.ingest.plan import WorkUnit, plan_units
from pipeline.rundir import RunDir

#: A scheduled run directory's name: its UTC date and time (sorts in run order).
DIR_FORMAT = "%Y-%m-%dT%H%M%SZ"
#: The manifest field listing the inputs a scheduled run read.
INPUTS_FIELD = "inputs"


def new_run_dir(root: Path, when: datetime | None = None) -> Path:
    """Create and return a new run directory under ``root`` named by ``when`` (now by default);
    `-2`, `-3`, ... follow the name when it is taken, so no two runs share one."""
    when = (when or datetime.now(UTC)).astimezone(UTC)
    root.mkdir(parents=True, exist_ok=True)
    base = when.strftime(DIR_FORMAT)
    for attempt in range(1, 1000):
        path = root / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise FileExistsError(os.path.join(root, base))


def earlier_runs(root: Path, exclude: Path | None = None) -> list[Path]:
    """The run directories under ``root`` whose dedup stage finished, oldest first."""
    if not root.is_dir():
        return []
    found = []
    for path in sorted(p for p in root.iterdir() if p.is_dir()):
        if exclude is not None and path.resolve() == exclude.resolve():
            continue
        if RunDir(path).stage_json_path("dedup").is_file():
            found.append(path.resolve())
    return found


def input_keys(config: RunConfig, unit: WorkUnit) -> list[str]:
    """One key per input of ``unit``: its source, its path and its fingerprint."""
    source = config.source(unit.source)
    return [
        f"{unit.source}:{rel}:{stable_hash(unit_fingerprint(source, Path(path)))}"
        for path, rel in unit.members
    ]


def seen_inputs(runs: list[Path]) -> set[str]:
    """Every input key the manifests of ``runs`` record."""
    seen: set[str] = set()
    for path in runs:
        seen.update(RunDir(path).manifest().get(INPUTS_FIELD, []))
    return seen


def new_units(config: RunConfig, runs: list[Path]) -> tuple[list[WorkUnit], list[str]]:
    """The units holding an input no run of ``runs`` has read, and the keys of their inputs."""
    seen = seen_inputs(runs)
    units, keys = [], []
    for unit in plan_units(config.sources, config.base_dir):
        mine = input_keys(config, unit)
        if any(key not in seen for key in mine):
            units.append(unit)
            keys += mine
    return units, keys


def with_previous_runs(config: RunConfig, runs: list[Path]) -> RunConfig:
    """``config`` deduplicating also against ``runs``."""
    previous = list(dict.fromkeys([*config.dedup.previous_runs, *(str(p) for p in runs)]))
    dedup = config.dedup.model_copy(update={"previous_runs": previous})
    return config.model_copy(update={"dedup": dedup})
