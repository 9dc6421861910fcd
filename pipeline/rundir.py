"""The run directory: where every stage's outputs, markers and stats live.

```
RUN_DIR/
  manifest.json                      # config, code version, seed, status of each stage
  <stage>/<part>.parquet             # kept documents of one partition (zstd Parquet)
  <stage>/_done/<part>.json          # completion marker: fingerprint, output hashes, stats
  <stage>/_stage.json                # the stage's config, inputs, merged counts, timings
  <stage>/_annotated/<part>.parquet  # a partition measured, not yet decided (a run-level cut)
  <stage>/_annotated/<part>.json     # its record: fingerprint, hash, size, documents, seconds
  dropped/<stage>/<part>.parquet     # dropped documents with their `reason`
  tokenizer/tokenizer.json           # + tokenizer_config.json, special_tokens_map.json
  shards/<objective>/                # training shards and their manifest
  shards/_parts/<part>.json          # one partition's shard record: fingerprint, files, counts
  train/checkpoint.pt  train/metrics.jsonl
  card/README.md  card/card.json  card/*.png   # the data card, its JSON and its plots
  README.md                          # the card again, as the dataset's README at its root
```

Every path of a run is named here, by a method or property of :class:`RunDir`; no other module
spells a path inside a run directory.

Every file is written under a temporary name and renamed when complete, and a partition's marker
is written last. A partition counts as done only when its marker's fingerprint matches the one
asked for and its output files still exist with the recorded hashes' sizes, so a crashed or
half-deleted run resumes by redoing exactly the missing partitions. A killed run leaves its
temporary files behind (`.<name>.<random>.tmp`, the trainer's `.<name>.tmp`); the next run over
the directory sweeps them first (:meth:`RunDir.sweep_temporaries`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import __version__
from pipeline.faults import fault_point
from pipeline.redact import redact
from pipeline.schema import SCHEMA_VERSION
from pipeline.stage import StageResult, StageStats
from trainer.outputs import CHECKPOINT_NAME, METRICS_NAME

PARQUET_OPTIONS = {"compression": "zstd", "row_group_size": 4096}

#: Names of temporary files: `atomic_write_bytes` makes `.<name>.<random>.tmp`, the trainer's
#: checkpoint writer `.<name>.tmp`. Nothing else in a run directory is a hidden `.tmp` file.
TEMPORARY_NAME = re.compile(r"^\..+\.tmp$")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder.

    An ``OSError`` (a full disk, a read-only folder) names ``path``, whatever call raised it.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise OSError(error.errno, error.strerror or str(error), str(path)) from error
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; outputs are meant to be shared
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        fault_point("write.before_rename")
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename is None:
            raise OSError(error.errno, error.strerror or str(error), str(path)) from error
        raise


def link_or_copy(source: Path, path: Path) -> None:
    """Make ``path`` a hard link of ``source`` (the same bytes, no copy), through a temporary
    name; a copy where the file system has no hard links. ``source`` is never written to
    afterwards: every write in a run directory replaces a file, never changes it in place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.link.tmp"
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, path)


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def write_parquet(path: Path, table: pa.Table) -> str:
    """Write ``table`` atomically as zstd Parquet; return the sha256 of the file."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **PARQUET_OPTIONS)
    data = sink.getvalue().to_pybytes()
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def fingerprint(*parts: Any) -> str:
    """Hash of JSON-serialisable parts plus the code and schema versions."""
    data = json.dumps([__version__, SCHEMA_VERSION, *parts], sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Partition:
    """One finished partition of a stage, as its marker records it."""

    stage: str
    name: str
    fingerprint: str
    kept_sha256: str
    stats: StageStats
    meta: dict[str, Any]


class RunDir:
    """Paths and atomic writes of one run."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # -- paths ---------------------------------------------------------------------------------
    def stage_dir(self, stage: str) -> Path:
        return self.root / stage

    def kept_path(self, stage: str, part: str) -> Path:
        return self.root / stage / f"{part}.parquet"

    def dropped_path(self, stage: str, part: str) -> Path:
        return self.dropped_dir(stage) / f"{part}.parquet"

    def marker_path(self, stage: str, part: str) -> Path:
        return self.marker_dir(stage) / f"{part}.json"

    def annotated_path(self, stage: str, part: str) -> Path:
        """A partition with the stage's signal columns, every document, nothing decided yet:
        what a stage decided over the whole run writes per partition first."""
        return self.stage_dir(stage) / "_annotated" / f"{part}.parquet"

    def annotated_record_path(self, stage: str, part: str) -> Path:
        return self.stage_dir(stage) / "_annotated" / f"{part}.json"

    @property
    def dropped_root(self) -> Path:
        """Where every stage's dropped documents are, one folder per stage."""
        return self.root / "dropped"

    def dropped_dir(self, stage: str) -> Path:
        return self.dropped_root / stage

    def marker_dir(self, stage: str) -> Path:
        return self.root / stage / "_done"

    def stage_json_path(self, stage: str) -> Path:
        return self.root / stage / "_stage.json"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def ingest_unit_record(self, unit: str) -> Path:
        """The record of one ingest unit: its fingerprint and partitions, written last."""
        return self.root / "ingest" / "_units" / f"{unit}.json"

    @property
    def log_path(self) -> Path:
        """The run's log: every log line and the full traceback of anything that failed."""
        return self.root / "logs" / "gristmill.log"

    @property
    def tokenizer_dir(self) -> Path:
        """The tokenizer folder: `AutoTokenizer.from_pretrained` loads it."""
        return self.root / "tokenizer"

    @property
    def tokenizer_path(self) -> Path:
        return self.tokenizer_dir / "tokenizer.json"

    @property
    def tokenizer_hf_paths(self) -> tuple[Path, Path]:
        """`tokenizer_config.json` and `special_tokens_map.json`, beside `tokenizer.json`."""
        return (
            self.tokenizer_dir / "tokenizer_config.json",
            self.tokenizer_dir / "special_tokens_map.json",
        )

    @property
    def shards_dir(self) -> Path:
        return self.root / "shards"

    def objective_dir(self, objective: str) -> Path:
        return self.shards_dir / objective

    @property
    def shard_records_dir(self) -> Path:
        return self.shards_dir / "_parts"

    def shard_record_path(self, part: str) -> Path:
        return self.shard_records_dir / f"{part}.json"

    @property
    def train_dir(self) -> Path:
        return self.root / "train"

    @property
    def checkpoint_path(self) -> Path:
        return self.train_dir / CHECKPOINT_NAME

    @property
    def metrics_path(self) -> Path:
        return self.train_dir / METRICS_NAME

    @property
    def card_dir(self) -> Path:
        return self.root / "card"

    @property
    def card_paths(self) -> tuple[Path, Path]:
        """The card as Markdown and as JSON."""
        return self.card_dir / "README.md", self.card_dir / "card.json"

    def card_plot_path(self, name: str) -> Path:
        """One PNG plot of the card (``name`` ends in `.png`)."""
        return self.card_dir / name

    @property
    def dataset_readme_path(self) -> Path:
        """The card at the run's root: the README of the run directory published as a dataset
        (its `configs` paths are relative to the run directory)."""
        return self.root / "README.md"

    @property
    def ablation_dir(self) -> Path:
        """Where `gristmill ablate --out RUN/ablation` puts an ablation of this run's config;
        the card shows its report when there is one."""
        return self.root / "ablation"

    def relative(self, path: Path) -> str:
        """``path`` relative to the run directory, as records store it."""
        return path.relative_to(self.root).as_posix()

    # -- partitions ----------------------------------------------------------------------------
    def finished(self, stage: str, part: str, fp: str) -> Partition | None:
        """The partition's record if it was finished with fingerprint ``fp`` and is intact."""
        marker = self.marker_path(stage, part)
        if not marker.is_file():
            return None
        try:
            record = read_json(marker)
        except (OSError, ValueError):
            return None
        if record.get("fingerprint") != fp:
            return None
        kept, dropped = self.kept_path(stage, part), self.dropped_path(stage, part)
        if not kept.is_file() or kept.stat().st_size != record.get("kept_bytes"):
            return None
        if record.get("dropped_bytes") is not None and (
            not dropped.is_file() or dropped.stat().st_size != record["dropped_bytes"]
        ):
            return None
        return Partition(
            stage,
            part,
            fp,
            record["kept_sha256"],
            StageStats.from_dict(record["stats"]),
            record.get("meta", {}),
        )

    def write_partition(
        self,
        stage: str,
        part: str,
        fp: str,
        result: StageResult,
        meta: dict[str, Any] | None = None,
    ) -> Partition:
        """Write kept and dropped tables, then the marker (last, so it means 'complete')."""
        result.stats.check(f"partition {part}")
        self.marker_path(stage, part).unlink(missing_ok=True)
        kept_path = self.kept_path(stage, part)
        kept_sha = write_parquet(kept_path, result.kept)
        dropped_path = self.dropped_path(stage, part)
        dropped_bytes = None
        if result.dropped.num_rows:
            write_parquet(dropped_path, result.dropped)
            dropped_bytes = dropped_path.stat().st_size
        else:
            dropped_path.unlink(missing_ok=True)
        fault_point("partition.before_marker")
        record = {
            "stage": stage,
            "part": part,
            "fingerprint": fp,
            "kept_sha256": kept_sha,
            "kept_bytes": kept_path.stat().st_size,
            "dropped_bytes": dropped_bytes,
            "stats": result.stats.to_dict(),
            "meta": meta or {},
        }
        atomic_write_json(self.marker_path(stage, part), record)
        return Partition(stage, part, fp, kept_sha, result.stats, meta or {})

    def link_partition(
        self, stage: str, part: str, fp: str, source_stage: str, stats: StageStats
    ) -> Partition:
        """Finish ``part`` of ``stage`` as the same documents as ``source_stage``'s (a stage
        switched off): its kept file a link of the source's, nothing dropped, then the marker."""
        source = self.read_marker(source_stage, part)
        stats.check(f"partition {part}")
        self.marker_path(stage, part).unlink(missing_ok=True)
        self.dropped_path(stage, part).unlink(missing_ok=True)
        kept_path = self.kept_path(stage, part)
        link_or_copy(self.kept_path(source_stage, part), kept_path)
        record = {
            "stage": stage,
            "part": part,
            "fingerprint": fp,
            "kept_sha256": source["kept_sha256"],
            "kept_bytes": kept_path.stat().st_size,
            "dropped_bytes": None,
            "stats": stats.to_dict(),
            "meta": {"passed_through_from": source_stage},
        }
        atomic_write_json(self.marker_path(stage, part), record)
        return Partition(stage, part, fp, source["kept_sha256"], stats, record["meta"])

    def finished_annotated(self, stage: str, part: str, fp: str) -> dict[str, Any] | None:
        """The record of an annotated partition written with fingerprint ``fp``, if intact."""
        path = self.annotated_record_path(stage, part)
        try:
            record = read_json(path)
        except (OSError, ValueError):
            return None
        table = self.annotated_path(stage, part)
        if (
            record.get("fingerprint") != fp
            or not table.is_file()
            or table.stat().st_size != record.get("bytes")
        ):
            return None
        return record

    def write_annotated(
        self, stage: str, part: str, fp: str, table: pa.Table, seconds: float
    ) -> dict[str, Any]:
        """Write an annotated partition, then its record (last, so it means 'complete')."""
        record_path = self.annotated_record_path(stage, part)
        record_path.unlink(missing_ok=True)
        path = self.annotated_path(stage, part)
        sha = write_parquet(path, table)
        record = {
            "fingerprint": fp,
            "sha256": sha,
            "bytes": path.stat().st_size,
            "documents": table.num_rows,
            "seconds": round(seconds, 6),
        }
        atomic_write_json(record_path, record)
        return record

    def read_marker(self, stage: str, part: str) -> dict[str, Any]:
        """The completion marker of a finished partition, as written."""
        return read_json(self.marker_path(stage, part))

    def prune(self, stage: str, keep_parts: Iterable[str]) -> list[str]:
        """Remove partitions of ``stage`` that are not in ``keep_parts`` (from earlier configs)."""
        wanted = set(keep_parts)
        removed = []
        stage_dir = self.stage_dir(stage)
        if not stage_dir.is_dir():
            return removed
        for path in sorted(stage_dir.glob("*.parquet")):
            if path.stem not in wanted:
                path.unlink()
                self.marker_path(stage, path.stem).unlink(missing_ok=True)
                self.dropped_path(stage, path.stem).unlink(missing_ok=True)
                self.annotated_path(stage, path.stem).unlink(missing_ok=True)
                self.annotated_record_path(stage, path.stem).unlink(missing_ok=True)
                removed.append(path.stem)
        return removed

    def sweep_temporaries(self, progress: Callable[[str], None] | None = None) -> list[Path]:
        """Remove the temporary files a killed run left (see :data:`TEMPORARY_NAME`); return
        them, and name each in a line to ``progress`` if given.

        Only the run's own files are swept: those at the top of the run directory and those
        under a stage's folder or `dropped/`, never other folders a user keeps there (the
        demo's `sources/`). Call it only while no other process writes to this run directory.
        """
        from pipeline.stages import STAGES  # the stage table imports modules that import this

        removed = []
        candidates = [p for p in self.root.glob(".*.tmp") if p.is_file()]
        for folder in [*(self.stage_dir(stage) for stage in STAGES), self.dropped_root]:
            if folder.is_dir():
                candidates += [p for p in folder.rglob(".*.tmp") if p.is_file()]
        for path in sorted(candidates):
            if TEMPORARY_NAME.match(path.name):
                path.unlink(missing_ok=True)
                removed.append(path)
                if progress is not None:
                    progress(f"removed {self.relative(path)}, left by an interrupted run")
        return removed

    def reset_dir(self, path: Path) -> None:
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)

    # -- stage records and the manifest --------------------------------------------------------
    def stage_record(self, stage: str) -> dict[str, Any] | None:
        path = self.stage_json_path(stage)
        if not path.is_file():
            return None
        try:
            return read_json(path)
        except (OSError, ValueError):
            return None

    def write_stage_record(self, stage: str, record: dict[str, Any]) -> None:
        """Write `<stage>/_stage.json` (secrets in it redacted, see :mod:`pipeline.redact`)."""
        atomic_write_json(self.stage_json_path(stage), redact(record))

    def manifest(self) -> dict[str, Any]:
        if self.manifest_path.is_file():
            return read_json(self.manifest_path)
        return {}

    def update_manifest(self, **fields: Any) -> dict[str, Any]:
        manifest = self.manifest()
        for key, value in fields.items():
            if isinstance(value, dict) and isinstance(manifest.get(key), dict):
                manifest[key].update(value)
            else:
                manifest[key] = value
        manifest = redact(manifest)
        atomic_write_json(self.manifest_path, manifest)
        return manifest
