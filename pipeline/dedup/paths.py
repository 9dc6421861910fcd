"""Where the dedup units keep their work inside a run directory.

```
dedup/_signatures/<part>.parquet   per partition: exact key, MinHash signature, band keys
dedup/_buckets/<key>.parquet       per band (and one for exact keys): candidate edges
dedup/_plan/plan.parquet           the cluster step's decisions
dedup/_index/<part>.parquet        per partition: keys and signature bits of the kept documents
                                   and of the near duplicates (for later runs)
```
"""

from __future__ import annotations

from pathlib import Path

from pipeline.rundir import RunDir

STAGE = "dedup"


def signature_dir(run: RunDir) -> Path:
    return run.stage_dir(STAGE) / "_signatures"


def signature_path(run: RunDir, part: str) -> Path:
    return signature_dir(run) / f"{part}.parquet"


def bucket_dir(run: RunDir) -> Path:
    return run.stage_dir(STAGE) / "_buckets"


def bucket_path(run: RunDir, key: str) -> Path:
    return bucket_dir(run) / f"{key}.parquet"


def plan_path(run: RunDir) -> Path:
    return run.stage_dir(STAGE) / "_plan" / "plan.parquet"


def index_dir(run: RunDir) -> Path:
    return run.stage_dir(STAGE) / "_index"


def index_path(run: RunDir, part: str) -> Path:
    return index_dir(run) / f"{part}.parquet"
