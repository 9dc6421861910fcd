"""The `gristmill ablate` command: argument handling only; the ablation is
:mod:`pipeline.ablate` run by the flow of :mod:`flows.ablate`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

COMMAND = "ablate"


def add_parser(sub: Any) -> None:
    """Add `gristmill ablate` to the `gristmill` parser's subparsers."""
    p = sub.add_parser(
        COMMAND,
        help="train the same tiny model on variants of the data and compare them",
        description="Each variant (stages switched off, thresholds changed) trains an identical "
        "tiny model with the same tokenizer, token budget and seeds; all are evaluated on one "
        "validation set held out from and deduplicated against every variant's training data.",
    )
    p.add_argument("--config", required=True, help="YAML run config (the `full` variant)")
    p.add_argument("--out", required=True, help="ablation folder (report in OUT/report/)")
    p.add_argument(
        "--variants",
        help="built-in variants raw, langid, quality, dedup, full; NAME-aa is an A/A replicate "
        "(default: raw,langid,quality,dedup,full, or none with --sweep)",
    )
    p.add_argument(
        "--sweep",
        metavar="KEY=V1,V2,...",
        help="one variant per value of a setting, e.g. quality.gopher_quality.min_doc_words=50,100",
    )
    p.add_argument("--seeds", type=int, default=3, help="models per variant (default 3)")
    p.add_argument(
        "--tokens",
        type=int,
        help="training tokens per model (default: the train section's steps x batch x seq_len)",
    )
    p.add_argument("--objective", default="clm", help="training objective (default clm)")
    p.add_argument("--baseline", help="the variant others are compared with (default raw)")
    p.add_argument("--runner", default="threads", choices=("threads", "dask"))
    p.add_argument("--workers", type=int, default=None, help="parallel tasks (default: cores)")
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="if another process holds the folder, wait this long for it (default: 0)",
    )


def run(args: argparse.Namespace, check_writable: Callable[[Path], None]) -> int:
    """Plan, run the flow under the folder's lock, print the table; errors are raised for the
    caller to report as one line."""
    from flows.console import quiet_console
    from pipeline.ablate.report import render_text
    from pipeline.ablate.run import make_plan
    from pipeline.config import load_config
    from pipeline.rundir import RunDir
    from pipeline.runlock import run_lock

    out = Path(args.out)
    config = load_config(args.config)
    plan = make_plan(
        config,
        out,
        args.variants,
        args.sweep,
        args.seeds,
        args.tokens,
        args.objective,
        args.baseline,
    )
    check_writable(out)
    with run_lock(out, wait_seconds=args.wait):
        names = ", ".join(v.name for v in plan.variants)
        print(
            f"gristmill: ablation of {args.config}: {names}; {plan.seeds} seeds, "
            f"{plan.tokens:,} tokens each; writing to {out}"
        )
        from flows.ablate import ablate_flow
        from flows.runners import make_task_runner

        undo_console = quiet_console(RunDir(out).log_path)
        try:
            flow_ = ablate_flow.with_options(
                task_runner=make_task_runner(args.runner, args.workers)
            )
            report = flow_(plan)
        finally:
            undo_console()
    print(render_text(report))
    print(f"report: {out / 'report'}")
    return 0
