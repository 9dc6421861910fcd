"""A variant's document stages, sharing every stage output it has in common with others.

Each variant is a run directory (``DIR/variants/<name>/``) whose document stages run through the
same steps as ``gristmill run`` (:mod:`pipeline.steps`). A stage's output depends only on the
inputs (each unit's fingerprint, as ingest compares them), the settings of that stage and of
the ones before it (switched off or not) and the code version, so those are its **prefix
key**: two variants with the same key at a stage have the same output
there. The stage cache (``DIR/cache/<stage>-<key>/``) keeps the first variant's output of each
key, as hard links; a later variant with that key links it into its own run directory instead
of running the stage. `raw`, `quality`, `langid`, `dedup` and `full` thus ingest once, and run
language ID with filtering once (for `langid` and `full`). No corpus is copied: every kept file
of a stage switched off, and every file taken from the cache, is a link of the one file written.

A lock per key makes a variant that needs a key another is computing wait for it, so variants
can be prepared in parallel (threads, processes or Dask workers on one file system).
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.config import RunConfig
from pipeline.hashing import stable_hash
from pipeline.ingest.files import unit_fingerprint
from pipeline.ingest.plan import plan_units
from pipeline.rundir import RunDir, atomic_write_json, fingerprint, link_or_copy, read_json
from pipeline.stages import STAGE_TABLE, StageSpec, work_of
from pipeline.steps import dedup as dedup_steps
from pipeline.steps.filter import filter_stage
from pipeline.steps.ingest import ingest_step
from pipeline.steps.passthrough import pass_through_step
from pipeline.steps.records import finish_stage

DOCUMENT_SPECS: tuple[StageSpec, ...] = tuple(spec for spec in STAGE_TABLE if spec.documents)
CACHE_RECORD = "_cache.json"


def input_fingerprint(config: RunConfig) -> list[Any]:
    """The sources' settings and every input unit's fingerprint (what ingest's caching
    compares: a changed file changes it)."""
    units = plan_units(config.sources, config.base_dir)
    return [
        [s.model_dump(mode="json") for s in config.sources],
        [
            [
                unit.part,
                [unit_fingerprint(config.source(unit.source), Path(p)) for p, _ in unit.members],
            ]
            for unit in units
        ],
    ]


def prefix_keys(config: RunConfig) -> dict[str, str]:
    """Per document stage, the hash of everything its output depends on: the inputs and each
    stage up to it, as ``off`` or its settings."""
    keys: dict[str, str] = {}
    prefix: list[Any] = []
    for spec in DOCUMENT_SPECS:
        if spec.work == "ingest":
            item: Any = input_fingerprint(config)
        elif spec.name in config.off:
            item = "off"
        else:
            item = config.section(spec.section or spec.name).model_dump(mode="json")
        prefix.append([spec.name, item])
        keys[spec.name] = fingerprint(prefix)
    return keys


# -- running one document stage in a run directory, as the flow does ---------------------------
def _ingest(run: RunDir, config: RunConfig, spec: StageSpec, parts: list[str]) -> list[dict]:
    units = plan_units(config.sources, config.base_dir)
    return [s for unit in units for s in ingest_step(run, config, unit)]


def _filter(run: RunDir, config: RunConfig, spec: StageSpec, parts: list[str]) -> list[dict]:
    return filter_stage(run, config, spec.name, parts)


def _pass(run: RunDir, config: RunConfig, spec: StageSpec, parts: list[str]) -> list[dict]:
    return [pass_through_step(run, config, spec.name, part) for part in parts]


def _dedup(run: RunDir, config: RunConfig, spec: StageSpec, parts: list[str]) -> list[dict]:
    for part in parts:
        dedup_steps.signature_step(run, config, part)
    for key in dedup_steps.bucket_keys(config):
        dedup_steps.bucket_step(run, config, parts, key)
    dedup_steps.cluster_step(run, config, parts)
    return [dedup_steps.apply_step(run, config, part) for part in parts]


#: How each kind of document work runs in one process (the flow's table, without tasks).
DOCUMENT_WORK: dict[str, Callable[[RunDir, RunConfig, StageSpec, list[str]], list[dict]]] = {
    "ingest": _ingest,
    "filter": _filter,
    "pass_through": _pass,
    "dedup": _dedup,
}


def run_document_stage(
    run: RunDir, config: RunConfig, spec: StageSpec, parts: list[str]
) -> list[dict[str, Any]]:
    """Run one document stage over ``parts`` and write its stage record; return the partition
    summaries."""
    started = time.perf_counter()
    work = work_of(spec, config.off)
    summaries = DOCUMENT_WORK[work](run, config, spec, parts)
    extra = dedup_steps.stage_extra(run, config) if work == "dedup" else None
    if spec.work == "ingest":
        section: Any = [s.model_dump(mode="json") for s in config.sources]
    else:
        section = config.section(spec.section or spec.name).model_dump(mode="json")
    finish_stage(run, spec.name, section, summaries, time.perf_counter() - started, extra)
    return summaries


# -- the stage cache -----------------------------------------------------------------------------
class StageCache:
    """Stage outputs by prefix key, as hard links: ``ROOT/<stage>-<key>/`` holds the stage's
    folder and its ``dropped/<stage>/`` folder as a run directory lays them out, and
    ``_cache.json`` (the partition summaries), written last."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def entry(self, stage: str, key: str) -> Path:
        return self.root / f"{stage}-{key}"

    @contextmanager
    def claim(self, stage: str, key: str) -> Iterator[Path]:
        """Hold the key's lock while a variant fills or reads its entry."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{stage}-{key}.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield self.entry(stage, key)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @staticmethod
    def _folders(run_root: Path, stage: str) -> list[Path]:
        return [run_root / stage, run_root / "dropped" / stage]

    def lookup(self, entry: Path) -> list[dict[str, Any]] | None:
        record = entry / CACHE_RECORD
        return read_json(record)["summaries"] if record.is_file() else None

    def store(self, entry: Path, run: RunDir, stage: str, summaries: list[dict]) -> None:
        _link_tree(self._folders(run.root, stage), run.root, entry)
        atomic_write_json(entry / CACHE_RECORD, {"stage": stage, "summaries": summaries})

    def restore(self, entry: Path, run: RunDir, stage: str) -> None:
        for folder in self._folders(run.root, stage):
            run.reset_dir(folder)
        _link_tree(self._folders(entry, stage), entry, run.root)


def _link_tree(folders: list[Path], source_root: Path, target_root: Path) -> None:
    """Link every file under ``folders`` (below ``source_root``) to the same place below
    ``target_root``."""
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.endswith(".tmp"):
                link_or_copy(path, target_root / path.relative_to(source_root))


def prepare_documents(
    config: RunConfig, out: str | Path, cache: StageCache, say: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run (or take from ``cache``) every document stage of ``config`` in run directory ``out``;
    return ``{parts, stages: {stage: "cached" | "ran"}, counts: {stage: counts}}``."""
    run = RunDir(out)
    run.root.mkdir(parents=True, exist_ok=True)
    run.sweep_temporaries()
    run.update_manifest(
        config=config.model_dump(mode="json"),
        config_hash=stable_hash(config.model_dump(mode="json")),
        sources=[s.name for s in config.sources],
    )
    keys = prefix_keys(config)
    parts: list[str] = []
    where: dict[str, str] = {}
    started = time.perf_counter()
    for spec in DOCUMENT_SPECS:
        t0 = time.perf_counter()
        with cache.claim(spec.name, keys[spec.name]) as entry:
            summaries = cache.lookup(entry)
            if summaries is not None:
                cache.restore(entry, run, spec.name)
                where[spec.name] = "cached"
            else:
                summaries = run_document_stage(run, config, spec, parts)
                cache.store(entry, run, spec.name, summaries)
                where[spec.name] = "ran"
        if spec.work == "ingest":
            parts = sorted(s["part"] for s in summaries)
        seconds = round(time.perf_counter() - t0, 3)
        run.update_manifest(
            stages={
                spec.name: {
                    "status": "done",
                    "skipped": where[spec.name] == "cached",
                    "seconds": seconds,
                }
            }
        )
        say(f"[ablate] {run.root.name}: {spec.name} {where[spec.name]} ({seconds:.1f}s)")
        if not sum(s["stats"]["docs_kept"] for s in summaries):
            from pipeline.ablate.variants import AblationError

            raise AblationError(
                f"{run.root}: {spec.name} keeps no documents with this variant's settings; "
                "nothing is left to train on"
            )
    counts = {
        spec.name: (run.stage_record(spec.name) or {}).get("counts") for spec in DOCUMENT_SPECS
    }
    return {
        "parts": parts,
        "stages": where,
        "counts": counts,
        "seconds": round(time.perf_counter() - started, 3),
    }
