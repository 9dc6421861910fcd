"""The units of work of a run, as plain functions over a run directory (no Prefect here).

Each function does one stage's work for one partition (or, for the global stages, the whole
stage), skips it when a finished output with the same fingerprint -- inputs, config and code
version -- is already in the run directory, and returns a small summary. `flows/chain.py` wraps
them as Prefect tasks; tests call them directly.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipeline.config import RunConfig
from pipeline.dedup import units as dedup_units
from pipeline.ingest.files import HF_UNIT, relative_name, resolve_source_files, unit_fingerprint
from pipeline.ingest.reader import iter_partitions
from pipeline.langid.fasttext_lid import LangIDStage
from pipeline.quality.stage import QualityStage
from pipeline.rundir import Partition, RunDir, file_sha256, fingerprint
from pipeline.stage import FilterStage, StageStats

Progress = Callable[[str], None]

#: The per-document stages, each reading the previous one's kept partitions.
UPSTREAM = {"langid": "ingest", "quality": "langid", "dedup": "quality"}


@dataclass(frozen=True)
class SourceFile:
    """One unit of work of ingest (a file; a folder for `html`/`code`; an `hf` split) and the
    prefix of the partitions it writes: `<part>-00000`, `<part>-00001`, ..."""

    source: str
    path: str  # absolute (or HF_UNIT)
    rel_path: str  # relative to the config's folder where possible
    part: str


def plan_inputs(config: RunConfig) -> list[SourceFile]:
    """Every unit of work of the run, in a stable order, each with its partition prefix."""
    base = Path(config.base_dir)
    files = []
    for source in config.sources:
        for path in resolve_source_files(source, base):
            if str(path) == HF_UNIT and source.hf is not None:
                rel = f"hf:{source.hf.dataset}"
            else:
                rel = relative_name(path, base)
            tag = hashlib.blake2b(rel.encode(), digest_size=5).hexdigest()
            files.append(SourceFile(source.name, str(path), rel, f"{source.name}-{tag}"))
    return sorted(files, key=lambda f: f.part)


def _summary(partition: Partition, skipped: bool) -> dict[str, Any]:
    return {
        "part": partition.name,
        "skipped": skipped,
        "stats": partition.stats.to_dict(),
        "kept_sha256": partition.kept_sha256,
    }


def _unit_record_path(run: RunDir, item: SourceFile) -> Path:
    return run.stage_dir("ingest") / "_units" / f"{item.part}.json"


def ingest_step(run: RunDir, config: RunConfig, item: SourceFile) -> list[dict[str, Any]]:
    """Read one unit into partitions `ingest/<part>-00000.parquet`, ... (one per
    `limits.partition_bytes` of text); return one summary per partition.

    The unit is done when `ingest/_units/<part>.json` (written last) lists its partitions with
    this fingerprint and every one of them is intact; otherwise it is read again whole.
    """
    from pipeline.rundir import atomic_write_json, read_json

    source = config.source(item.source)
    fp = fingerprint(
        "ingest",
        source.model_dump(mode="json"),
        item.rel_path,
        unit_fingerprint(source, Path(item.path)),
    )
    record_path = _unit_record_path(run, item)
    if record_path.is_file():
        try:
            record = read_json(record_path)
        except (OSError, ValueError):
            record = {}
        if record.get("fingerprint") == fp:
            done = [run.finished("ingest", part, fp) for part in record.get("parts", [])]
            if done and all(done):
                return [_summary(d, skipped=True) for d in done if d]
    record_path.unlink(missing_ok=True)
    summaries = []
    for index, part in enumerate(iter_partitions(source, Path(item.path), item.rel_path)):
        name = f"{item.part}-{index:05d}"
        meta = {
            "source": item.source,
            "path": item.rel_path,
            "unit": item.part,
            "files": part.files,
            "file_bytes": part.file_bytes,
        }
        written = run.write_partition("ingest", name, fp, part.result, meta)
        summaries.append(_summary(written, skipped=False))
    atomic_write_json(
        record_path,
        {
            "fingerprint": fp,
            "source": item.source,
            "path": item.rel_path,
            "parts": [s["part"] for s in summaries],
        },
    )
    return summaries


def make_filter(stage: str, config: RunConfig) -> FilterStage:
    """The filtering stage named ``stage``, configured from the run config."""
    if stage == "langid":
        return LangIDStage(config.langid)
    if stage == "quality":
        return QualityStage(config.quality)
    raise ValueError(f"{stage!r} is not a per-partition filtering stage")


def filter_step(run: RunDir, config: RunConfig, stage: str, part: str) -> dict[str, Any]:
    """Run a per-partition filtering stage (langid, quality) on one partition."""
    upstream = UPSTREAM[stage]
    upstream_sha = file_sha256(run.kept_path(upstream, part))
    fp = fingerprint(stage, upstream_sha, config.section_hash(stage))
    done = run.finished(stage, part, fp)
    if done:
        return _summary(done, skipped=True)
    table = pq.read_table(run.kept_path(upstream, part))
    result = make_filter(stage, config)(table)
    return _summary(run.write_partition(stage, part, fp, result), skipped=False)


# Dedup is four kinds of unit (pipeline/dedup/units.py): signatures per partition, buckets per
# band, one cluster step, then the split per partition. The flow maps each over its items.
def dedup_signature_step(run: RunDir, config: RunConfig, part: str) -> dict[str, Any]:
    """Exact keys, MinHash signatures and band keys of one partition."""
    return dedup_units.signature_unit(run, config.dedup, part, UPSTREAM["dedup"])


def dedup_bucket_keys(config: RunConfig) -> list[str]:
    """The bucket units of the run: `exact` and `band-000` ... (one per LSH band)."""
    return dedup_units.bucket_keys(config.dedup)


def dedup_bucket_step(run: RunDir, config: RunConfig, parts: list[str], key: str) -> dict[str, Any]:
    """Candidate edges of one LSH band (or of the exact keys), over all partitions."""
    return dedup_units.bucket_unit(run, config.dedup, parts, key, config.base_dir)


def dedup_cluster_step(run: RunDir, config: RunConfig, parts: list[str]) -> dict[str, Any]:
    """Clusters of all candidate edges; the kept document of each."""
    return dedup_units.cluster_unit(run, config.dedup, parts, config.base_dir)


def dedup_apply_step(run: RunDir, config: RunConfig, part: str) -> dict[str, Any]:
    """Split one partition by the cluster step's decisions; index its kept documents."""
    return dedup_units.apply_unit(run, config.dedup, part, UPSTREAM["dedup"])


def dedup_step(run: RunDir, config: RunConfig, parts: list[str]) -> list[dict[str, Any]]:
    """Every dedup unit in order, in this process (the flow runs them as separate tasks)."""
    return dedup_units.run_all(run, config.dedup, parts, config.base_dir, UPSTREAM["dedup"])


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
    return record


def _stage_cached(run: RunDir, stage: str, fp: str, outputs: list[Path]) -> dict[str, Any] | None:
    record = run.stage_record(stage)
    if record and record.get("fingerprint") == fp and all(p.exists() for p in outputs):
        return record
    return None


def tokenizer_step(run: RunDir, config: RunConfig, parts: list[str]) -> dict[str, Any]:
    """Train the tokenizer on the deduplicated partitions -> `tokenizer/tokenizer.json`."""
    from pipeline.tokenizer.train import train_tokenizer

    inputs = [run.kept_path("dedup", p) for p in parts]
    out = run.root / "tokenizer" / "tokenizer.json"
    fp = fingerprint(
        "tokenizer", [file_sha256(p) for p in inputs], config.section_hash("tokenizer")
    )
    cached = _stage_cached(run, "tokenizer", fp, [out])
    if cached and file_sha256(out) == cached.get("sha256"):
        return {**cached, "skipped": True}
    started = time.perf_counter()
    info = train_tokenizer(inputs, out, config.tokenizer)
    record = {
        "stage": "tokenizer",
        "fingerprint": fp,
        "path": "tokenizer/tokenizer.json",
        "sha256": file_sha256(out),
        "info": info,
        "config": config.tokenizer.model_dump(mode="json"),
        "wall_seconds": round(time.perf_counter() - started, 3),
    }
    run.write_stage_record("tokenizer", record)
    return {**record, "skipped": False}


def _shard_files_intact(objective_dir: Path) -> bool:
    from pipeline.rundir import read_json

    manifest = objective_dir / "manifest.json"
    if not manifest.is_file():
        return False
    for split in read_json(manifest).get("splits", {}).values():
        for entry in split.get("files", []):
            if not (objective_dir / entry["path"]).is_file():
                return False
    return True


def shards_step(
    run: RunDir, config: RunConfig, parts: list[str], progress: Progress | None = None
) -> dict[str, Any]:
    """Encode the deduplicated documents and write objective shards -> `shards/<objective>/`."""
    from pipeline.shards.build import build_shards

    inputs = [run.kept_path("dedup", p) for p in parts]
    tokenizer = run.root / "tokenizer" / "tokenizer.json"
    fp = fingerprint(
        "shards",
        [file_sha256(p) for p in inputs],
        file_sha256(tokenizer),
        config.section_hash("shards"),
    )
    out = run.root / "shards"
    objectives = list(config.shards.objectives)
    cached = _stage_cached(run, "shards", fp, [out / o / "manifest.json" for o in objectives])
    if cached and all(_shard_files_intact(out / o) for o in objectives):
        return {**cached, "skipped": True}
    started = time.perf_counter()
    for objective in objectives:
        run.reset_dir(out / objective)

    def report(done: dict[str, int]) -> None:
        if progress:
            progress(f"[shards] {done['docs']} documents encoded, {done['rows']} rows written")

    manifests = build_shards(inputs, tokenizer, out, config.shards, progress=report)
    record = {
        "stage": "shards",
        "fingerprint": fp,
        "objectives": objectives,
        "manifests": manifests,
        "config": config.shards.model_dump(mode="json"),
        "wall_seconds": round(time.perf_counter() - started, 3),
    }
    run.write_stage_record("shards", record)
    return {**record, "skipped": False}


def train_step(run: RunDir, config: RunConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Train a model on the shards of `train.objective` -> `train/checkpoint.pt`."""
    shards_dir = run.root / "shards" / config.train.objective
    out = run.root / "train"
    fp = fingerprint(
        "train", file_sha256(shards_dir / "manifest.json"), config.section_hash("train")
    )
    cached = _stage_cached(run, "train", fp, [out / "checkpoint.pt", out / "metrics.jsonl"])
    if cached:
        return {**cached, "skipped": True}
    started = time.perf_counter()
    from trainer.loop import train  # torch loads only when there is training to do

    result = train(shards_dir, out, config.train, progress=progress)
    record = {
        "stage": "train",
        "fingerprint": fp,
        "checkpoint": "train/checkpoint.pt",
        "metrics": "train/metrics.jsonl",
        "steps": result.steps,
        "first_loss": result.losses[0],
        "last_loss": result.losses[-1],
        "val_losses": result.val_losses,
        "tokens_seen": result.tokens_seen,
        "parameters": result.parameters,
        "device": result.device,
        "train_seconds": round(result.seconds, 3),
        "config": config.train.model_dump(mode="json"),
        "wall_seconds": round(time.perf_counter() - started, 3),
    }
    run.write_stage_record("train", record)
    return {**record, "skipped": False}


def card_step(run: RunDir, config: RunConfig, title: str = "gristmill run") -> dict[str, Any]:
    """Write the data card from every stage's records -> `card/README.md`, `card/card.json`."""
    from pipeline.card.build import build_card, card_inputs

    fp = fingerprint("card", card_inputs(run), title)
    out = run.root / "card"
    cached = _stage_cached(run, "card", fp, [out / "README.md", out / "card.json"])
    if cached:
        return {**cached, "skipped": True}
    started = time.perf_counter()
    build_card(run, config, title=title)
    record = {
        "stage": "card",
        "fingerprint": fp,
        "paths": ["card/README.md", "card/card.json"],
        "wall_seconds": round(time.perf_counter() - started, 3),
    }
    run.write_stage_record("card", record)
    return {**record, "skipped": False}
