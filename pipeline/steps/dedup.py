"""The dedup steps: the four kinds of dedup unit (:mod:`pipeline.dedup.units`) fed from the run
config, reading the document stage before dedup in the stage table.

Signatures per partition, candidate pairs per LSH band (and one bucket of exact keys), one
cluster step, then the split per partition; the flow maps each over its items.
"""

from __future__ import annotations

from typing import Any

from pipeline.config import RunConfig
from pipeline.dedup import units
from pipeline.rundir import RunDir
from pipeline.stages import upstream

STAGE = "dedup"


def signature_step(run: RunDir, config: RunConfig, part: str) -> dict[str, Any]:
    """Exact keys, MinHash signatures and band keys of one partition."""
    return units.signature_unit(run, config.dedup, part, upstream(STAGE))


def bucket_keys(config: RunConfig) -> list[str]:
    """The bucket units of the run: `exact` and `band-000` ... (one per LSH band)."""
    return units.bucket_keys(config.dedup)


def bucket_step(run: RunDir, config: RunConfig, parts: list[str], key: str) -> dict[str, Any]:
    """Candidate edges of one LSH band (or of the exact keys), over all partitions."""
    return units.bucket_unit(run, config.dedup, parts, key, config.base_dir)


def cluster_step(run: RunDir, config: RunConfig, parts: list[str]) -> dict[str, Any]:
    """Clusters of all candidate edges; the kept document of each."""
    return units.cluster_unit(run, config.dedup, parts, config.base_dir)


def apply_step(run: RunDir, config: RunConfig, part: str) -> dict[str, Any]:
    """Split one partition by the cluster step's decisions; index its kept documents."""
    return units.apply_unit(run, config.dedup, part, upstream(STAGE))


def stage_extra(run: RunDir, config: RunConfig) -> dict[str, Any]:
    """What dedup's stage record holds beyond counts: the LSH shape and the cluster step."""
    return units.stage_summary(run, config.dedup)
