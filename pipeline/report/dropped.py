"""`gristmill dropped RUN --stage S [--reason R] [--limit N] [--full]`: what a stage removed,
each document's id, source, reason and text (an excerpt, or all of it)."""

from __future__ import annotations

from typing import Any

import pyarrow.parquet as pq

from pipeline.card.markup import one_line
from pipeline.report.runs import RunInspectError, document_stage, open_run
from pipeline.report.text import table

EXCERPT_CHARS = 160


def excerpt(text: str, chars: int = EXCERPT_CHARS) -> str:
    """The start of ``text`` on one line (see :func:`pipeline.card.markup.one_line`)."""
    return one_line(text, chars)


def dropped(
    path: str, stage: str, reason: str | None = None, limit: int | None = 20, full: bool = False
) -> dict[str, Any]:
    """Documents ``stage`` dropped (with ``reason`` only, when given), in run order, at most
    ``limit`` (``None``: all); ``total`` counts every match."""
    run = open_run(path)
    document_stage(stage)
    record = run.stage_record(stage)
    if record is None:
        raise RunInspectError(f"{run.root}: stage {stage!r} has not finished in this run")
    known = record["counts"]["dropped"]
    if reason is not None and reason not in known:
        reasons = ", ".join(known) or "none"
        raise RunInspectError(f"stage {stage!r} dropped nothing for {reason!r}; reasons: {reasons}")
    docs: list[dict[str, Any]] = []
    total = 0
    for part in sorted(record.get("partitions", {})):
        file = run.dropped_path(stage, part)
        if not file.is_file():
            continue
        table_ = pq.read_table(file, columns=["id", "source", "kind", "reason", "text"])
        for row in table_.to_pylist():
            if reason is not None and row["reason"] != reason:
                continue
            total += 1
            if limit is None or len(docs) < limit:
                text = row["text"] if full else excerpt(row["text"])
                docs.append({**row, "part": part, "text": text})
    return {
        "run": str(run.root),
        "stage": stage,
        "reason": reason,
        "total": total,
        "documents": docs,
    }


def render_dropped(data: dict[str, Any], full: bool = False) -> str:
    what = f"{data['stage']}" + (f" / {data['reason']}" if data["reason"] else "")
    head = f"{what}: {len(data['documents'])} of {data['total']:,} dropped documents shown"
    if full:
        blocks = [head]
        for doc in data["documents"]:
            blocks.append(f"\n=== {doc['id']}  [{doc['source']}, {doc['reason']}]\n{doc['text']}")
        return "\n".join(blocks)
    rows = [[d["id"], d["reason"], d["text"]] for d in data["documents"]]
    return head + "\n\n" + table(["id", "reason", "text"], rows)
