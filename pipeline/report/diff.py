"""`gristmill diff RUN_A RUN_B`: what changed between two runs -- counts per stage and reason,
the final documents' languages and kinds, and the config keys that differ. Two runs of the same
config over the same inputs differ in nothing."""

from __future__ import annotations

from typing import Any

from pipeline.report.runs import open_run
from pipeline.report.text import heading, table
from pipeline.rundir import RunDir
from pipeline.stages import DOCUMENT_STAGES

COUNT_KEYS = ("docs_in", "docs_kept", "docs_dropped")


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for index, item in enumerate(value):
            name = item.get("name", index) if isinstance(item, dict) else index
            out.update(_flatten(item, f"{prefix}[{name}]"))
        return out
    return {prefix: value}


def _changed(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def _composition(run: RunDir) -> dict[str, dict[str, int]]:
    if not run.stage_record(DOCUMENT_STAGES[-1]):
        return {}
    from pipeline.card.build import composition

    return composition(run)


def diff(path_a: str, path_b: str) -> dict[str, Any]:
    """The differences of run ``path_b`` from run ``path_a``; every section is empty when the
    runs agree. Each difference is ``[value in A, value in B]``."""
    a, b = open_run(path_a), open_run(path_b)
    counts: dict[str, dict[str, list[Any]]] = {}
    reasons: dict[str, dict[str, list[Any]]] = {}
    for stage in DOCUMENT_STAGES:
        ra, rb = a.stage_record(stage), b.stage_record(stage)
        ca = (ra or {}).get("counts", {})
        cb = (rb or {}).get("counts", {})
        changed = _changed({k: ca.get(k) for k in COUNT_KEYS}, {k: cb.get(k) for k in COUNT_KEYS})
        if changed:
            counts[stage] = changed
        by_reason = _changed(ca.get("dropped", {}), cb.get("dropped", {}))
        if by_reason:
            reasons[stage] = by_reason
    comp_a, comp_b = _composition(a), _composition(b)
    config_a = _flatten(a.manifest().get("config") or {})
    config_b = _flatten(b.manifest().get("config") or {})
    return {
        "a": str(a.root),
        "b": str(b.root),
        "counts": counts,
        "reasons": reasons,
        "languages": _changed(
            comp_a.get("documents_by_lang", {}), comp_b.get("documents_by_lang", {})
        ),
        "kinds": _changed(comp_a.get("documents_by_kind", {}), comp_b.get("documents_by_kind", {})),
        "config": _changed(config_a, config_b),
    }


def is_empty(data: dict[str, Any]) -> bool:
    return not any(data[k] for k in ("counts", "reasons", "languages", "kinds", "config"))


def render_diff(data: dict[str, Any]) -> str:
    lines = [f"A  {data['a']}", f"B  {data['b']}"]
    if is_empty(data):
        lines.append("\nno differences")
        return "\n".join(lines)

    def delta(a: Any, b: Any) -> Any:
        if isinstance(a, int | None) and isinstance(b, int | None):
            return f"{(b or 0) - (a or 0):+,}"
        return ""

    rows = [
        [stage, key, a, b, delta(a, b)]
        for stage, changed in data["counts"].items()
        for key, (a, b) in changed.items()
    ]
    rows += [
        [stage, f"dropped: {reason}", a, b, delta(a, b)]
        for stage, changed in data["reasons"].items()
        for reason, (a, b) in changed.items()
    ]
    if rows:
        lines += [heading("counts"), table(["stage", "count", "A", "B", "B - A"], rows, (2, 3, 4))]
    for title, key in (("final documents by language", "languages"), ("by kind", "kinds")):
        if data[key]:
            rows = [[name, a, b, delta(a, b)] for name, (a, b) in data[key].items()]
            lines += [heading(title), table([key[:-1], "A", "B", "B - A"], rows, (1, 2, 3))]
    if data["config"]:
        rows = [[name, str(a), str(b)] for name, (a, b) in data["config"].items()]
        lines += [heading("config keys that differ"), table(["key", "A", "B"], rows)]
    return "\n".join(lines)
