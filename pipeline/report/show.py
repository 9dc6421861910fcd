"""`gristmill show RUN`: the manifest (config hash, stage states and times) and the funnel."""

from __future__ import annotations

from typing import Any

from pipeline.report.runs import funnel_counts, open_run
from pipeline.report.text import heading, table
from pipeline.stages import STAGES

FUNNEL_KEYS = ("docs_in", "docs_kept", "docs_dropped", "bytes_in", "bytes_kept", "dropped")


def show(path: str) -> dict[str, Any]:
    """The run's manifest summary, each stage's state and the funnel of document stages."""
    run = open_run(path)
    manifest = run.manifest()
    recorded = manifest.get("stages", {})
    stages = []
    for name in STAGES:
        entry = recorded.get(name)
        stages.append(
            {
                "stage": name,
                "status": entry.get("status", "?") if entry else "not run",
                "skipped": entry.get("skipped") if entry else None,
                "seconds": entry.get("seconds") if entry else None,
            }
        )
    funnel = [{k: c[k] for k in ("stage", *FUNNEL_KEYS)} for c in funnel_counts(run)]
    return {
        "run": str(run.root),
        "gristmill_version": manifest.get("gristmill_version"),
        "created": manifest.get("created"),
        "config_hash": manifest.get("config_hash"),
        "sources": manifest.get("sources", []),
        "stages": stages,
        "funnel": funnel,
    }


def render_show(data: dict[str, Any]) -> str:
    lines = [
        f"run          {data['run']}",
        f"created      {data['created'] or '-'} (gristmill {data['gristmill_version'] or '?'})",
        f"config hash  {data['config_hash'] or '-'}",
        f"sources      {', '.join(data['sources']) or '-'}",
        heading("stages"),
        table(
            ["stage", "status", "up to date", "seconds"],
            [
                [
                    s["stage"],
                    s["status"],
                    "-" if s["skipped"] is None else s["skipped"],
                    s["seconds"],
                ]
                for s in data["stages"]
            ],
            right=(3,),
        ),
        heading("funnel"),
    ]
    if data["funnel"]:
        lines.append(
            table(
                ["stage", "in", "kept", "dropped", "bytes in", "bytes kept", "dropped by reason"],
                [
                    [
                        f["stage"],
                        f["docs_in"],
                        f["docs_kept"],
                        f["docs_dropped"],
                        f["bytes_in"],
                        f["bytes_kept"],
                        f["dropped"],
                    ]
                    for f in data["funnel"]
                ],
                right=(1, 2, 3, 4, 5),
            )
        )
    else:
        lines.append("no document stage has finished")
    return "\n".join(lines)
