"""`gristmill stats RUN [--stage S]`: per-reason counts of each document stage, each quality
signal's quantiles beside its threshold, and dedup's LSH shape and clusters."""

from __future__ import annotations

from typing import Any

from pipeline.report.runs import document_stage, open_run, run_config
from pipeline.report.text import heading, table
from pipeline.stages import DOCUMENT_STAGES


def stats(path: str, stage: str | None = None) -> dict[str, Any]:
    """Counts by reason per document stage (or only ``stage``), quality signals, dedup shape."""
    run = open_run(path)
    wanted = [document_stage(stage)] if stage else list(DOCUMENT_STAGES)
    out: dict[str, Any] = {"run": str(run.root), "stages": []}
    for name in wanted:
        record = run.stage_record(name)
        if not record:
            continue
        counts = record["counts"]
        entry = {
            "stage": name,
            "docs_in": counts["docs_in"],
            "docs_kept": counts["docs_kept"],
            "docs_dropped": counts["docs_dropped"],
            "dropped": counts["dropped"],
            "flagged": counts["flagged"],
            "rule_failures": counts.get("rule_failures", {}),
        }
        if name == "dedup":
            entry["lsh"] = record.get("lsh", {})
            entry["clusters"] = record.get("clusters", {})
        out["stages"].append(entry)
    if "quality" in wanted and run.stage_record("quality"):
        from pipeline.card.signals import signal_summary

        config = run_config(run)
        out["quality_signals"] = signal_summary(run, config.quality) if config else []
    return out


def render_stats(data: dict[str, Any]) -> str:
    lines = [f"run  {data['run']}"]
    if not data["stages"]:
        lines.append("no document stage has finished")
    for s in data["stages"]:
        lines.append(
            heading(
                f"{s['stage']}: {s['docs_in']:,} in, {s['docs_kept']:,} kept, "
                f"{s['docs_dropped']:,} dropped"
            )
        )
        rows = [[reason, "dropped", n] for reason, n in s["dropped"].items()]
        rows += [[reason, "flagged (kept)", n] for reason, n in s["flagged"].items()]
        rows += [[rule, "fails (any rule)", n] for rule, n in s["rule_failures"].items()]
        lines.append(
            table(["reason", "counted as", "documents"], rows, right=(2,))
            if rows
            else "nothing dropped or flagged"
        )
        if s["stage"] == "dedup" and s.get("lsh"):
            lsh, clusters = s["lsh"], s.get("clusters", {})
            lines.append(
                f"\nMinHash LSH: {lsh.get('bands')} bands x {lsh.get('rows')} rows of "
                f"{lsh.get('num_perm')} permutations, threshold {lsh.get('threshold')};\n"
                f"{clusters.get('clusters', 0):,} clusters, "
                f"largest {clusters.get('largest_cluster', 0)}"
                f", {clusters.get('previous_documents', 0):,} documents of earlier runs"
            )
    signals = data.get("quality_signals")
    if signals:
        lines.append(heading("quality signals (kept and dropped documents of the quality stage)"))
        fails = {"min": "<", "max": ">", "flag": "set"}
        rows = [
            [
                s["rule_set"],
                s["signal"],
                f"{fails.get(s['comparison'], s['comparison'])} {s['threshold']}",
                s["documents"],
                s["failing"],
                *s["quantiles"].values(),
            ]
            for s in signals
        ]
        quantiles = list(signals[0]["quantiles"])
        lines.append(
            table(
                ["rules", "signal", "fails", "docs", "failing", *quantiles],
                rows,
                right=tuple(range(3, 5 + len(quantiles))),
                shrink_first=(0,),
            )
        )
    return "\n".join(lines)
