"""`gristmill check --config FILE`: validate a run config and list the units of work ingest would
read, without running anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.config import load_config
from pipeline.ingest.plan import plan_units
from pipeline.report.text import table


def check(config_path: str) -> dict[str, Any]:
    """The config's sources and, per source, the units ingest would read (raises the config's
    own error, naming every problem, when it is invalid)."""
    config = load_config(config_path)
    units = plan_units(config.sources, config.base_dir)
    sources = []
    for source in config.sources:
        mine = [u for u in units if u.source == source.name]
        sources.append(
            {
                "name": source.name,
                "kind": source.kind,
                "format": source.format,
                "license": source.license,
                "units": [
                    {"part": u.part, "path": u.rel_path, "files": len(u.members)} for u in mine
                ],
            }
        )
    return {
        "config": str(Path(config_path)),
        "valid": True,
        "units": len(units),
        "sources": sources,
    }


def render_check(data: dict[str, Any]) -> str:
    rows = [
        [s["name"], s["kind"], s["format"], unit["part"], unit["files"], unit["path"]]
        for s in data["sources"]
        for unit in s["units"]
    ]
    head = (
        f"{data['config']}: valid; {data['units']} units of work from "
        f"{len(data['sources'])} sources"
    )
    return head + "\n\n" + table(["source", "kind", "format", "unit", "files", "path"], rows, (4,))
