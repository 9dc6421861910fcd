"""One validation set for every variant, and each variant's training documents.

The validation documents are drawn from the reference variant's output (the config as given,
`full`: the text the pipeline is meant to produce) by the same stable hash of the document id
the shards stage uses (:func:`pipeline.shards.build.is_val_doc`, ``shards.val_fraction``), so
every variant is judged on the same clean text. Each variant's training documents are its
output less every document that is one of them, an exact duplicate of one, or a near duplicate
of one (MinHash LSH with the run's `dedup` settings, whether or not the variant runs dedup):
no variant trains on the text it is evaluated on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.dedup.config import DedupConfig
from pipeline.dedup.in_memory import plan_dedup
from pipeline.rundir import write_parquet
from pipeline.shards.build import is_val_doc

COLUMNS = ["id", "text", "source", "kind"]


def _read(files: Sequence[Path]) -> pa.Table:
    tables = [pq.read_table(f, columns=COLUMNS) for f in files]
    return (
        pa.concat_tables(tables)
        if tables
        else pa.table({c: pa.array([], pa.string()) for c in COLUMNS})
    )


def select_validation(files: Sequence[Path], fraction: float, out: Path) -> dict[str, Any]:
    """Write the documents of ``files`` whose id hashes below ``fraction`` to ``out``."""
    table = _read(files)
    mask = pa.array([is_val_doc(i, fraction) for i in table.column("id").to_pylist()], pa.bool_())
    val = table.filter(mask)
    if val.num_rows == 0:
        from pipeline.ablate.variants import AblationError

        raise AblationError(
            f"the validation set is empty: shards.val_fraction {fraction} of the reference "
            f"variant's {table.num_rows} documents; raise shards.val_fraction"
        )
    write_parquet(out, val)
    return {
        "docs": val.num_rows,
        "bytes": int(pc.sum(pc.binary_length(val.column("text"))).as_py()),
    }


def training_documents(
    files: Sequence[Path], validation: Path, dedup: DedupConfig, out_dir: Path
) -> dict[str, Any]:
    """Write ``files``' documents less those overlapping the validation set to
    ``out_dir/<name>.parquet`` (one per input file); return the paths and counts."""
    val = pq.read_table(validation, columns=COLUMNS)
    tables = [pq.read_table(f, columns=COLUMNS) for f in files]
    texts = val.column("text").to_pylist()
    kinds = val.column("kind").to_pylist()
    for table in tables:
        texts += table.column("text").to_pylist()
        kinds += table.column("kind").to_pylist()
    plan = plan_dedup(texts, dedup.model_copy(update={"keep_policy": "first"}), kinds)
    n_val = val.num_rows
    val_ids = set(val.column("id").to_pylist())
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.parquet"):
        old.unlink()
    written, kept_docs, removed = [], 0, 0
    offset = n_val
    for path, table in zip(files, tables, strict=True):
        ids = table.column("id").to_pylist()
        keep = []
        for row, doc_id in enumerate(ids):
            keeper = plan.dup_of[offset + row]
            # documents in run order, validation first: a cluster holding a validation
            # document is kept for it, so its other members point below n_val
            overlaps = doc_id in val_ids or (keeper is not None and keeper < n_val)
            keep.append(not overlaps)
        offset += len(ids)
        kept = table.filter(pa.array(keep, pa.bool_()))
        kept_docs += kept.num_rows
        removed += table.num_rows - kept.num_rows
        if kept.num_rows:
            target = out_dir / Path(path).name
            write_parquet(target, kept)
            written.append(target)
    return {"files": written, "docs": kept_docs, "removed_for_validation": removed}
