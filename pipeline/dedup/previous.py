"""Earlier runs that a run deduplicates against (``dedup.previous_runs``): finding their run
directories or run roots and their band indexes, refusing an index made with settings whose keys
cannot be compared with this run's, and reading them.

An entry of ``previous_runs`` is a path or a glob, relative to the config file. A run directory
gives its own index files (``dedup/_index/<part>.parquet``); a folder of runs (a *run root*, such
as the parent of scheduled runs) gives its cumulative index (:mod:`pipeline.dedup.run_root`), so
every run ever finished under it is found without naming each one.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.dedup.artifacts import DedupInputError, required_info
from pipeline.dedup.config import DedupConfig
from pipeline.dedup.paths import STAGE, index_path
from pipeline.dedup.run_root import check_settings, is_run_dir, root_files
from pipeline.dedup.settings import index_settings
from pipeline.rundir import RunDir


@dataclass(frozen=True)
class PreviousIndex:
    """The first ``rows`` rows of one index file of previous runs, and the fingerprints of what
    they hold: the file's own, or for a run root's segment those of the runs in it, so that
    the fingerprints do not depend on how the root's segments are cut."""

    path: Path
    fingerprints: tuple[str, ...]
    rows: int
    source: Path  # the run directory or run root named by ``previous_runs``


def read_previous(previous: PreviousIndex, columns: list[str]) -> pa.Table:
    """``columns`` of the rows of ``previous`` (a root's segment may hold later runs too)."""
    table = pq.read_table(previous.path, columns=columns)
    return table.slice(0, previous.rows) if table.num_rows != previous.rows else table


def previous_run_dirs(config: DedupConfig, base_dir: str | Path, current: Path) -> list[Path]:
    """The run directories and run roots named by ``previous_runs`` (globs expanded, sorted),
    without ``current``; a path that is not a glob must exist."""
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
        if not is_run_dir(run_dir):
            files += [
                PreviousIndex(f.path, f.runs, f.rows, run_dir)
                for f in root_files(run_dir, run.root, wanted)
            ]
            continue
        previous = RunDir(run_dir)
        record = previous.stage_record(STAGE)
        if record is None:
            raise DedupInputError(
                f"{previous.stage_json_path(STAGE)}: previous run has no finished dedup stage"
            )
        for part in sorted(record.get("partitions", {})):
            path = index_path(previous, part)
            info = required_info(path, "dedup index of a previous run")
            check_settings(path, info, wanted)
            files.append(PreviousIndex(path, (info["fingerprint"],), info["rows"], run_dir))
    return files


def previous_fingerprints(previous: list[PreviousIndex]) -> list[str]:
    """The fingerprints of everything ``previous`` holds, in order."""
    return [fp for p in previous for fp in p.fingerprints]
