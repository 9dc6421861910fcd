"""The card's "Data ablations" section: present when the run directory holds an ablation
(``gristmill ablate --config CONFIG --out RUN/ablation``), showing its table of validation loss
per variant, the verdicts and the rule, and linking its loss curves (pipeline.ablate.report)."""

from __future__ import annotations

import os
from typing import Any

from pipeline.hashing import file_sha256
from pipeline.rundir import RunDir


def report_path(run: RunDir) -> Any:
    from pipeline.ablate.report import REPORT_JSON, report_dir

    return report_dir(run.ablation_dir) / REPORT_JSON


def ablation_summary(run: RunDir) -> dict[str, Any] | None:
    """The ablation's report without its curves, or ``None`` when the run has none."""
    from pipeline.ablate.report import load_report

    if not report_path(run).is_file():
        return None
    return {k: v for k, v in load_report(run.ablation_dir).items() if k != "curves"}


def ablation_input(run: RunDir) -> str | None:
    """What the card's cache compares: the report's hash (``None``: no ablation)."""
    path = report_path(run)
    return file_sha256(path) if path.is_file() else None


def ablation_markdown(summary: dict[str, Any] | None, run: RunDir, readme_dir: Any) -> str:
    """The section's Markdown for a card written in ``readme_dir`` (plots linked from there)."""
    from pipeline.ablate.report import render_markdown, report_dir

    if not summary:
        return ""
    prefix = os.path.relpath(report_dir(run.ablation_dir), readme_dir).replace(os.sep, "/") + "/"
    return "\n## Data ablations\n\n" + render_markdown(summary, plot_prefix=prefix)
