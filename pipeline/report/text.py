"""Plain-text tables that fit a terminal of a given width (100 columns by default)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

WIDTH = 100
GAP = "  "


def cell(value: Any) -> str:
    """One value as table text: thousands separators for integers, 4 significant decimals."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k} {cell(v)}" for k, v in value.items()) or "-"
    return " ".join(str(value).split())


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    right: Sequence[int] = (),
    width: int = WIDTH,
    shrink_first: Sequence[int] = (),
) -> str:
    """Rows under headers, columns padded; columns are clipped (with an ellipsis) until every
    line fits in ``width`` characters: those of ``shrink_first`` (down to their header's
    width), then the widest. ``right`` lists right-aligned columns."""
    texts = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in texts]) for i, h in enumerate(headers)]
    budget = width - len(GAP) * (len(headers) - 1)
    for i in shrink_first:
        widths[i] = max(len(headers[i]), 4, widths[i] - max(sum(widths) - budget, 0))
    while sum(widths) > budget:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= max(len(headers[widest]), 4):
            break
        widths[widest] -= 1

    def line(values: Sequence[str]) -> str:
        out = []
        for i, value in enumerate(values):
            text = _clip(value, widths[i])
            out.append(text.rjust(widths[i]) if i in right else text.ljust(widths[i]))
        return GAP.join(out).rstrip()

    rule = GAP.join("-" * w for w in widths)
    return "\n".join([line(list(headers)), rule] + [line(r) for r in texts])


def heading(text: str) -> str:
    return f"\n{text}\n"
