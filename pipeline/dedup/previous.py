"""Earlier runs that a run deduplicates against (``dedup.previous_runs``): finding their run
directories and their band indexes, and refusing an index made with settings whose keys cannot
be compared with this run's."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

from pipeline.dedup.artifacts import DedupInputError, required_info
from pipeline.dedup.config import DedupConfig
from pipeline.dedup.paths import STAGE, index_path
from pipeline.dedup.settings import index_settings
from pipeline.rundir import RunDir


@dataclass(frozen=True)
class PreviousIndex:
    """One index file of a previous run: the kept documents of one of its partitions."""

    path: Path
    fingerprint: str
    rows: int


def previous_run_dirs(config: DedupConfig, base_dir: str | Path, current: Path) -> list[Path]:
    """The run directories named by ``previous_runs`` (globs expanded, sorted), without
    ``current``; a path that is not a glob must exist."""
    found: list[Path] = []
    for pattern in config.previous_runs:
        path = Path(pattern) if Path(pattern).is_absolute() else Path(base_dir) / pattern
        if glob.has_magic(str(path)):
            matches = [Path(p) for p in sorted(glob.glob(str(path))) if Path(p).is_dir()]
        elif path.is_dir():
            matches = [path]
        else:
            raise DedupInputError(f"dedup.previous_runs: {pattern!r} ({path}) is not a directory")
        for match in matches:
            resolved = match.resolve()
            if resolved != current.resolve() and resolved not in found:
                found.append(resolved)
    return found


def previous_index(run: RunDir, config: DedupConfig, base_dir: str | Path) -> list[PreviousIndex]:
    """The index files of every previous run, in a fixed order, checked to be comparable."""
    wanted = index_settings(config)
    files: list[PreviousIndex] = []
    for run_dir in previous_run_dirs(config, base_dir, run.root):
        previous = RunDir(run_dir)
        record = previous.stage_record(STAGE)
        if record is None:
            raise DedupInputError(
                f"{previous.stage_json_path(STAGE)}: previous run has no finished dedup stage"
            )
        for part in sorted(record.get("partitions", {})):
            path = index_path(previous, part)
            info = required_info(path, "dedup index of a previous run")
            differ = sorted(k for k in wanted if info["settings"].get(k) != wanted[k])
            if differ:
                got = {k: info["settings"].get(k) for k in differ}
                raise DedupInputError(
                    f"{path}: made with other dedup settings ({got}; this run: "
                    f"{ {k: wanted[k] for k in differ} }), so its keys cannot be compared"
                )
            files.append(PreviousIndex(path, info["fingerprint"], info["rows"]))
    return files
