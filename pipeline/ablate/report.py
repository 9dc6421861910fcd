"""The ablation's report: a table of final validation loss per variant (mean +/- std over
seeds), its documents, tokens and wall time, a verdict per pair, and the loss curves.

Written to ``DIR/report/``: ``ablation.json`` (everything), ``ablation.md`` (the table, the
verdicts and the rule) and ``val_loss.png`` / ``train_loss.png``. ``gristmill show DIR`` prints
the table from the JSON; the data card and the Prefect artifact use the same Markdown.

**The verdict rule.** Seed noise is a property of the setup (the same model, budget and number
of seeds for every variant), so it is estimated from all variants together: the pooled
standard deviation s of the final validation loss, sum over variants of (n_i - 1) s_i^2 divided
by df = sum of (n_i - 1). For variants A (the baseline) and B with seed means m_A, m_B, the
spread of their difference is t(0.975, df) * s * sqrt(1/n_A + 1/n_B) (a two-sided 95% Student t
interval); B is *better* when m_B < m_A - spread, *worse* when m_B > m_A + spread, otherwise *not
different*. With one seed per variant there is no spread (df = 0) and the verdict says so. (A
first rule, std(A) + std(B) per pair, called an A/A pair different on the full-sized planted
run: two seeds give too rough a std for each variant alone.)

A variant's wall time is its own share: its document stages (a stage taken from the shared
cache costs the links, and any wait for the variant computing it), its training documents and
shards, and its models; an A/A replicate's is its models' alone.
"""

from __future__ import annotations

import io
import math
import statistics
from pathlib import Path
from typing import Any

from pipeline.report.text import table
from pipeline.rundir import atomic_write_bytes, atomic_write_json, read_json

REPORT_JSON = "ablation.json"
REPORT_MD = "ablation.md"
RULE = (
    "B is better than A when mean(B) < mean(A) - spread, worse when mean(B) > mean(A) + spread, "
    "otherwise not different; spread = t(0.975, df) * s * sqrt(1/n_A + 1/n_B), s the standard "
    "deviation of the final validation loss over seeds pooled over all variants, df = seeds - "
    "variants"
)
#: Student t's two-sided 95% quantile t(0.975, df) for df = 1..30; beyond, the normal's 1.96.
T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def report_dir(out: str | Path) -> Path:
    return Path(out) / "report"


def summarize(arm: dict[str, Any]) -> dict[str, Any]:
    """Mean and sample std of an arm's final validation losses."""
    losses = [r["final_val_loss"] for r in arm["runs"]]
    std = statistics.stdev(losses) if len(losses) > 1 else 0.0
    return {"mean": statistics.fmean(losses), "std": std, "seeds": len(losses)}


def pooled_std(rows: list[dict[str, Any]]) -> tuple[float, int]:
    """The seeds' standard deviation pooled over variants, and its degrees of freedom."""
    df = sum(r["seeds"] - 1 for r in rows)
    if df == 0:
        return 0.0, 0
    return math.sqrt(sum((r["seeds"] - 1) * r["std"] ** 2 for r in rows) / df), df


def t_975(df: int) -> float:
    return T_975[df - 1] if df <= len(T_975) else 1.96


def verdict(base: dict[str, Any], other: dict[str, Any], pooled: float, df: int) -> dict[str, Any]:
    """The rule above for ``other`` against ``base`` (both from :func:`summarize`), with the
    pooled std ``pooled`` of ``df`` degrees of freedom."""
    diff = other["mean"] - base["mean"]
    if df == 0:
        return {"difference": diff, "spread": None, "verdict": "no spread (one seed)"}
    spread = t_975(df) * pooled * math.sqrt(1 / base["seeds"] + 1 / other["seeds"])
    word = "better" if diff < -spread else "worse" if diff > spread else "not different"
    return {"difference": diff, "spread": spread, "verdict": word}


def build_report(arms: list[dict[str, Any]], baseline: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The report's data from each arm (``name``, ``describe``, ``replicate_of``, ``runs``,
    ``docs``, ``tokens``, ``wall_seconds``, ...)."""
    rows = []
    by_name = {}
    for arm in arms:
        row = {k: v for k, v in arm.items() if k != "runs"} | summarize(arm)
        row["final_val_losses"] = [r["final_val_loss"] for r in arm["runs"]]
        by_name[arm["name"]] = row
        rows.append(row)
    pooled, df = pooled_std(rows)
    pairs = []
    for row in rows:
        if row["name"] != baseline:
            pairs.append(
                {"a": baseline, "b": row["name"], **verdict(by_name[baseline], row, pooled, df)}
            )
        original = row.get("replicate_of")
        if original and original in by_name and original != baseline:
            pairs.append(
                {
                    "a": original,
                    "b": row["name"],
                    "aa": True,
                    **verdict(by_name[original], row, pooled, df),
                }
            )
    curves = {
        arm["name"]: {
            "val": [r["val_losses"] for r in arm["runs"]],
            "train": [r["train_losses"] for r in arm["runs"]],
        }
        for arm in arms
    }
    return {
        "baseline": baseline,
        "rule": RULE,
        "pooled_std": pooled,
        "pooled_df": df,
        **meta,
        "variants": rows,
        "pairs": pairs,
        "curves": curves,
    }


def table_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    headers = ["variant", "val loss", "± std", "seeds", "train docs", "train tokens", "wall s"]
    rows = [
        [
            v["name"],
            f"{v['mean']:.4f}",
            f"{v['std']:.4f}",
            v["seeds"],
            v["docs"],
            v["tokens"],
            f"{v['wall_seconds']:.1f}",
        ]
        for v in report["variants"]
    ]
    return headers, rows


def _verdict_line(pair: dict[str, Any]) -> str:
    kind = " (A/A)" if pair.get("aa") else ""
    return (
        f"{pair['b']} vs {pair['a']}{kind}: {pair['verdict']} "
        f"(difference {pair['difference']:+.4f}"
        + (f", spread {pair['spread']:.4f})" if pair["spread"] is not None else ")")
    )


def render_text(report: dict[str, Any]) -> str:
    """The table and verdicts for a terminal (`gristmill show DIR`)."""
    headers, rows = table_rows(report)
    lines = [
        f"ablation     {report.get('out', '')}",
        f"objective    {report['objective']}, {report['tokens']:,} tokens per model, "
        f"{report['validation']['docs']:,} validation documents",
        "",
        table(headers, rows, right=(1, 2, 3, 4, 5, 6)),
        "",
        f"seed noise   std {report['pooled_std']:.4f} pooled over variants "
        f"({report['pooled_df']} df)",
        f"verdicts against {report['baseline']}:",
        *(f"  {_verdict_line(p)}" for p in report["pairs"]),
        f"rule: {report['rule']}",
    ]
    return "\n".join(lines)


def render_markdown(report: dict[str, Any], plot_prefix: str = "") -> str:
    """The table, verdicts, rule and curves as Markdown (the report, the card, the artifact)."""
    headers, rows = table_rows(report)
    lines = [
        f"Objective `{report['objective']}`, {report['tokens']:,} tokens per model, "
        f"{report['validation']['docs']:,} validation documents (held out from and "
        f"deduplicated against every variant), tokenizer trained on {report['tokenizer_on']}.",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "---|" + "---:|" * (len(headers) - 1),
        *("| " + " | ".join(str(c) for c in row) + " |" for row in rows),
        "",
        *(f"- {_verdict_line(p)}" for p in report["pairs"]),
        "",
        f"Rule: {report['rule']}. Here s = {report['pooled_std']:.4f} with "
        f"{report['pooled_df']} degrees of freedom.",
        "",
        "What each variant is: "
        + "; ".join(f"`{v['name']}`: {v['describe']}" for v in report["variants"]),
    ]
    for name in report.get("plots", []):
        lines += ["", f"![{name[:-4]}]({plot_prefix}{name})"]
    return "\n".join(lines) + "\n"


def draw_curves(report: dict[str, Any], folder: Path) -> list[str]:
    """`val_loss.png` and `train_loss.png`: per variant its seeds' curves, matplotlib without
    pyplot (safe in worker threads), no timestamps in the files."""
    from matplotlib.figure import Figure

    names = []
    for kind, title in (("val", "validation loss"), ("train", "training loss")):
        figure = Figure(figsize=(7.0, 3.8), dpi=80)
        figure.subplots_adjust(left=0.1, right=0.74, bottom=0.14, top=0.9)
        axes = figure.subplots()
        for index, (variant, curves) in enumerate(report["curves"].items()):
            color = f"C{index % 10}"
            for seed_index, curve in enumerate(curves[kind]):
                if kind == "val":
                    xs, ys = [p[0] for p in curve], [p[1] for p in curve]
                else:
                    xs, ys = list(range(1, len(curve) + 1)), curve
                axes.plot(
                    xs,
                    ys,
                    color=color,
                    linewidth=1.2,
                    alpha=0.8,
                    label=variant if seed_index == 0 else None,
                )
        axes.set_xlabel("step")
        axes.set_ylabel("loss")
        axes.set_title(f"{title} per variant (one line per seed)")
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={"Software": None})
        name = f"{kind}_loss.png"
        atomic_write_bytes(folder / name, buffer.getvalue())
        names.append(name)
    return names


def write_report(out: str | Path, report: dict[str, Any]) -> dict[str, Any]:
    """Write ``DIR/report/`` (JSON, Markdown, plots); return the report with its plot names."""
    folder = report_dir(out)
    report = {**report, "plots": draw_curves(report, folder)}
    atomic_write_json(folder / REPORT_JSON, report)
    text = "# Data ablation\n\n" + render_markdown(report)
    atomic_write_bytes(folder / REPORT_MD, text.encode())
    return report


def is_ablation(path: str | Path) -> bool:
    """Whether ``path`` is an ablation folder (it has ``report/ablation.json``)."""
    return (report_dir(path) / REPORT_JSON).is_file()


def load_report(path: str | Path) -> dict[str, Any]:
    data = read_json(report_dir(path) / REPORT_JSON)
    data.setdefault("out", str(path))
    return data


def show(path: str | Path) -> dict[str, Any]:
    """`gristmill show DIR` of an ablation folder: the report without its curves."""
    return {k: v for k, v in load_report(path).items() if k != "curves"}
