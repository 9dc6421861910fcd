"""The card's pictures: PNG plots beside its tables, drawn with matplotlib (no pyplot, so it is
safe in worker threads; no timestamps in the files, so the same run draws the same bytes).

Each function takes what the card already holds (or the stage outputs it reads) and writes one
PNG; :func:`draw_all` writes every plot a run has data for and returns their file names.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from pipeline.rundir import atomic_write_bytes

SIZE = (7.0, 3.6)
DPI = 80
COLORS = {"kept": "#4c9a6a", "dropped": "#c8553d", "threshold": "#222222"}


def _figure(
    rows: int = 1, cols: int = 1, size: tuple[float, float] = SIZE, **spacing: float
) -> Any:
    """A figure of ``rows`` x ``cols`` axes with fixed margins (a layout engine would cost
    seconds per figure)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=DPI)
    margins = {"left": 0.12, "right": 0.97, "bottom": 0.14, "top": 0.88, "wspace": 0.35}
    figure.subplots_adjust(**(margins | spacing))
    axes = figure.subplots(rows, cols, squeeze=False)
    return figure, axes


def _save(figure: Any, path: Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    atomic_write_bytes(path, buffer.getvalue())


def funnel(card: dict[str, Any], path: Path) -> bool:
    rows = card.get("funnel") or []
    if not rows:
        return False
    figure, axes = _figure()
    ax = axes[0][0]
    stages = [r["stage"] for r in rows]
    kept = [r["docs_kept"] for r in rows]
    dropped = [r["docs_dropped"] for r in rows]
    ax.bar(stages, kept, color=COLORS["kept"], label="kept")
    ax.bar(stages, dropped, bottom=kept, color=COLORS["dropped"], label="dropped")
    ax.set_ylabel("documents")
    ax.set_title("Funnel: documents in at each stage, kept and dropped")
    ax.legend()
    _save(figure, path)
    return True


def composition(card: dict[str, Any], path: Path) -> bool:
    comp = card.get("composition") or {}
    if not comp.get("documents_by_kind"):
        return False
    figure, axes = _figure(1, 2, left=0.1, wspace=0.45)
    for ax, key, title in (
        (axes[0][0], "documents_by_kind", "final documents by kind"),
        (axes[0][1], "documents_by_lang", "by language (top 15)"),
    ):
        items = list(comp[key].items())[:15]
        ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color=COLORS["kept"])
        ax.set_title(title)
        ax.set_xlabel("documents")
    _save(figure, path)
    return True


def lengths(parquet_files: list[Path], path: Path) -> bool:
    by_kind: dict[str, list[int]] = defaultdict(list)
    for file in parquet_files:
        table = pq.read_table(file, columns=["kind", "text"])
        lengths_ = table.column("text").to_pylist()
        for kind, text in zip(table.column("kind").to_pylist(), lengths_, strict=True):
            by_kind[kind].append(len(text))
    if not by_kind:
        return False
    kinds = sorted(by_kind)
    figure, axes = _figure(1, len(kinds), (3.2 * len(kinds) + 1, 3.2))
    for ax, kind in zip(axes[0], kinds, strict=True):
        values = np.asarray(by_kind[kind], dtype=np.float64)
        bins = np.logspace(0, np.log10(max(values.max(), 10)), 30)
        ax.hist(np.maximum(values, 1), bins=bins, color=COLORS["kept"])
        ax.set_xscale("log")
        ax.set_title(f"{kind}: {len(values):,} documents")
        ax.set_xlabel("characters")
    axes[0][0].set_ylabel("documents")
    _save(figure, path)
    return True


def signals(rules: list[dict[str, Any]], values: dict[str, np.ndarray], folder: Path) -> list[str]:
    """One PNG per rule set: each rule's measured signal as a histogram with its threshold."""
    by_set: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rule in rules:
        measured = values.get(rule["signal"])
        if measured is not None and np.count_nonzero(~np.isnan(measured)):
            by_set[rule["rule_set"]].append(rule)
    names = []
    for rule_set, chosen in sorted(by_set.items()):
        cols = min(4, len(chosen))
        rows = -(-len(chosen) // cols)
        height = 2.2 * rows + 0.6
        figure, axes = _figure(
            rows,
            cols,
            (3.0 * cols + 0.5, height),
            left=0.08,
            bottom=0.35 / height,
            top=1 - 0.8 / height,
            hspace=0.75,
        )
        for ax in axes.flat[len(chosen) :]:
            ax.set_visible(False)
        for ax, rule in zip(axes.flat, chosen, strict=False):
            measured = values[rule["signal"]]
            measured = measured[~np.isnan(measured)]
            ax.hist(measured, bins=30, color=COLORS["kept"])
            if rule["comparison"] in ("min", "max"):
                ax.axvline(float(rule["threshold"]), color=COLORS["threshold"], linestyle="--")
            sign = {"min": "<", "max": ">", "flag": "set:"}.get(rule["comparison"], "")
            ax.set_title(f"{rule['signal']}\nfails {sign} {rule['threshold']}", fontsize=8)
            ax.tick_params(labelsize=7)
        figure.suptitle(
            f"{rule_set}: signal distributions (dashed: threshold)", fontsize=9, y=1 - 0.15 / height
        )
        name = f"signals-{rule_set}.png"
        _save(figure, folder / name)
        names.append(name)
    return names


def cluster_sizes(sizes: list[int], path: Path) -> bool:
    figure, axes = _figure()
    ax = axes[0][0]
    if sizes:
        counts = np.bincount(np.asarray(sizes))
        present = np.flatnonzero(counts)
        ax.bar([str(s) for s in present], counts[present], color=COLORS["dropped"])
        ax.set_xlabel("documents in the cluster")
        ax.set_ylabel("clusters")
    else:
        ax.text(0.5, 0.5, "no duplicate clusters", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title("Duplicate clusters by size")
    _save(figure, path)
    return True


def fertility(rows: list[dict[str, Any]], path: Path) -> bool:
    rows = [r for r in rows if r["tokens_per_word"] is not None][:20]
    if not rows:
        return False
    figure, axes = _figure(left=0.25)
    ax = axes[0][0]
    labels = [f"{r['kind']} / {r['lang']}" for r in rows]
    ax.barh(labels[::-1], [r["tokens_per_word"] for r in rows][::-1], color=COLORS["kept"])
    ax.set_xlabel("tokens per word")
    ax.set_title("Tokenizer fertility by kind / language")
    _save(figure, path)
    return True


Plot = Callable[[], bool]


def draw(plots: dict[str, Plot]) -> list[str]:
    """Run each plot; the names of those that had data to draw."""
    return [name for name, plot in plots.items() if plot()]
