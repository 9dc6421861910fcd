"""The quality signals on the data card: each rule's signal distribution beside its threshold.

Reads the signal columns the quality stage wrote (kept and dropped documents together, so the
distribution is the stage's input) and, per active rule, reports quantiles of the measured values
and how many documents fall on the failing side of the threshold. Nothing is re-measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.quality.config import QualityConfig
from pipeline.quality.stage import thresholds
from pipeline.rundir import RunDir

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)  # a five-number view of each distribution


def read_signals(paths: list[Path], columns: list[str]) -> dict[str, np.ndarray]:
    arrays: dict[str, list[np.ndarray]] = {c: [] for c in columns}
    for path in paths:
        present = [c for c in columns if c in pq.read_schema(path).names]
        table = pq.read_table(path, columns=present)
        for column in present:
            values = table.column(column)
            if pa.types.is_boolean(values.type):
                values = values.cast(pa.int8())
            arrays[column].append(values.to_numpy(zero_copy_only=False).astype(np.float64))
    return {c: np.concatenate(v) if v else np.empty(0) for c, v in arrays.items()}


def signal_summary(run: RunDir, config: QualityConfig) -> list[dict[str, Any]]:
    """Per active rule: signal, comparison, threshold, documents measured, failing, quantiles."""
    paths = sorted(run.stage_dir("quality").glob("*.parquet"))
    paths += sorted((run.root / "dropped" / "quality").glob("*.parquet"))
    rules = thresholds(config)
    values = read_signals(paths, sorted({r["signal"] for r in rules}))
    out = []
    for rule in rules:
        measured = values.get(rule["signal"], np.empty(0))
        measured = measured[~np.isnan(measured)]  # null: the rule set does not apply to the doc
        if measured.size == 0:
            continue
        threshold = float(rule["threshold"])
        if rule["comparison"] == "min":
            failing = int((measured < threshold).sum())
        elif rule["comparison"] == "max":
            failing = int((measured > threshold).sum())
        else:
            failing = int((measured != 0).sum())
        out.append(
            {
                **rule,
                "documents": int(measured.size),
                "failing": failing,
                "quantiles": {
                    f"p{round(q * 100)}": round(float(np.quantile(measured, q)), 4)
                    for q in QUANTILES
                },
            }
        )
    return out


def signals_markdown(summary: list[dict[str, Any]]) -> str:
    if not summary:
        return "No quality signals were measured."
    rows = [
        "| rule set | signal | fails when | threshold | measured | failing | p5 | p25 | "
        "p50 | p75 | p95 |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    fails = {"min": "below", "max": "above", "flag": "set"}
    for s in summary:
        q = s["quantiles"]
        rows.append(
            f"| {s['rule_set']} | `{s['signal']}` | {fails.get(s['comparison'], s['comparison'])}"
            f" | {s['threshold']} | {s['documents']:,} | {s['failing']:,} | {q['p5']} | "
            f"{q['p25']} | {q['p50']} | {q['p75']} | {q['p95']} |"
        )
    return "\n".join(rows)
