"""The quality classifier on the data card: the distribution of ``quality_score`` and the
documents on either side of the threshold.

Reads the ``quality_score`` column of the quality stage's kept and dropped documents (the stage's
input, scored once); nothing is re-scored. The threshold shown is the one the run decided with:
the configured probability, or the percentile's score over the run where that is higher. The
examples are the documents scored just below and just above it -- where a reader sees whether the
cut falls in the right place.
"""

from __future__ import annotations

import heapq
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from pipeline.card.markup import code_span
from pipeline.quality.classifier import SCORE, Classifier
from pipeline.quality.config import QualityConfig
from pipeline.rundir import RunDir

BINS = 10  # score deciles: 0-0.1, ..., 0.9-1
EXAMPLES = 3  # on each side of the threshold
EXCERPT_CHARS = 240


def _paths(run: RunDir) -> list[Path]:
    paths = sorted(run.stage_dir("quality").glob("*.parquet"))
    return paths + sorted((run.root / "dropped" / "quality").glob("*.parquet"))


def _scores(paths: list[Path]) -> np.ndarray:
    arrays = []
    for path in paths:
        if SCORE in pq.read_schema(path).names:
            column = pq.read_table(path, columns=[SCORE]).column(SCORE)
            arrays.append(column.to_numpy(zero_copy_only=False).astype(np.float64))
    scores = np.concatenate(arrays) if arrays else np.empty(0)
    return scores[~np.isnan(scores)]


def classifier_summary(run: RunDir, config: QualityConfig) -> dict[str, Any] | None:
    """Score histogram, the threshold decided with, and examples around it (None: no scores)."""
    paths = _paths(run)
    scores = _scores(paths)
    if scores.size == 0:
        return None
    threshold = Classifier(config.classifier).resolved(scores).effective_threshold()
    counts, edges = np.histogram(scores, bins=BINS, range=(0.0, 1.0))
    below: list[tuple[float, str, str]] = []  # min-heap of the highest scores under the cut
    above: list[tuple[float, str, str]] = []  # min-heap of (-score): the lowest at or over it
    for path in paths:
        if SCORE not in pq.read_schema(path).names:
            continue
        table = pq.read_table(path, columns=["id", "text", SCORE])
        for doc_id, text, score in zip(*(c.to_pylist() for c in table.columns), strict=True):
            if score is None:
                continue
            item = (text[:EXCERPT_CHARS], doc_id)
            if threshold is not None and score < threshold:
                heapq.heappush(below, (score, *item))
                if len(below) > EXAMPLES:
                    heapq.heappop(below)
            else:
                heapq.heappush(above, (-score, *item))
                if len(above) > EXAMPLES:
                    heapq.heappop(above)
    return {
        "documents": int(scores.size),
        "threshold": threshold,
        "percentile": config.classifier.percentile,
        "below_threshold": int((scores < threshold).sum()) if threshold is not None else 0,
        "quantiles": {
            f"p{q}": round(float(np.percentile(scores, q)), 4) for q in (5, 25, 50, 75, 95)
        },
        "histogram": [
            {"from": round(float(lo), 2), "to": round(float(hi), 2), "documents": int(n)}
            for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True)
        ],
        "just_below": [{"id": i, "score": s, "text": t} for s, t, i in sorted(below, reverse=True)],
        "just_above": [
            {"id": i, "score": -s, "text": t} for s, t, i in sorted(above, reverse=True)
        ],
    }


def classifier_markdown(summary: dict[str, Any] | None) -> str:
    """The card's section on the classifier ('' when no document was scored)."""
    if not summary:
        return ""
    threshold = summary["threshold"]
    cut = "no cut" if threshold is None else f"threshold {threshold:.4f}"
    if summary["percentile"] is not None:
        cut += f" (percentile {summary['percentile']:g} of the run)"
    lines = [
        "",
        "",
        f"**Quality classifier**: {summary['documents']:,} documents scored; {cut}; "
        f"{summary['below_threshold']:,} below it.",
        "",
        "| quality_score | "
        + " | ".join(f"{b['from']:.1f}-{b['to']:.1f}" for b in summary["histogram"])
        + " |",
        "|---|" + "---:|" * len(summary["histogram"]),
        "| documents | " + " | ".join(f"{b['documents']:,}" for b in summary["histogram"]) + " |",
        "",
    ]
    for label, key in (("Just below the threshold", "just_below"), ("Just above", "just_above")):
        if summary[key]:
            lines += ["", f"{label}:"]
            lines += [
                f"- {d['score']:.4f} {code_span(d['id'])}: {code_span(d['text'], EXCERPT_CHARS)}"
                for d in summary[key]
            ]
    return "\n".join(lines)
