"""The `gristmill` inspection commands: argument handling only; the work is in
:mod:`pipeline.report`. Each prints a plain-text table, or JSON with ``--json``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from pipeline.stages import DOCUMENT_STAGES

#: The subcommands this module handles (none of them writes to a run directory).
INSPECT_COMMANDS = ("show", "stats", "dropped", "diff", "check")


def add_parsers(sub: Any) -> None:
    """Add the inspection subcommands to the `gristmill` parser's subparsers."""

    def with_json(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
        return p

    show = with_json(
        sub.add_parser(
            "show", help="a run's manifest, stage states and funnel; an ablation's table"
        )
    )
    show.add_argument("run", metavar="RUN", help="run directory or ablation folder")
    stats = with_json(
        sub.add_parser("stats", help="counts by reason and quality signals of a run's stages")
    )
    stats.add_argument("run", metavar="RUN", help="run directory")
    stats.add_argument("--stage", choices=DOCUMENT_STAGES, metavar="STAGE", help="one stage only")
    dropped = with_json(sub.add_parser("dropped", help="documents a stage removed"))
    dropped.add_argument("run", metavar="RUN", help="run directory")
    dropped.add_argument(
        "--stage",
        required=True,
        choices=DOCUMENT_STAGES,
        metavar="STAGE",
        help=f"the stage ({', '.join(DOCUMENT_STAGES)})",
    )
    dropped.add_argument("--reason", help="only documents dropped for this reason")
    dropped.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    dropped.add_argument("--full", action="store_true", help="whole texts, not excerpts")
    diff = with_json(sub.add_parser("diff", help="what changed between two runs"))
    diff.add_argument("run_a", metavar="RUN_A")
    diff.add_argument("run_b", metavar="RUN_B")
    check = with_json(
        sub.add_parser("check", help="validate a config and list the units it would read")
    )
    check.add_argument("--config", required=True, help="YAML run config")


def inspect(args: argparse.Namespace, write: Callable[[str], None] = print) -> int:
    """Run one inspection command; errors are raised for the caller to report."""
    from pipeline.ablate import report as ablation
    from pipeline.report import check, diff, dropped, show, stats

    command = args.command
    if command == "show" and ablation.is_ablation(args.run):
        data, text = ablation.show(args.run), ablation.render_text
    elif command == "show":
        data, text = show.show(args.run), show.render_show
    elif command == "stats":
        data, text = stats.stats(args.run, args.stage), stats.render_stats
    elif command == "dropped":
        limit = None if args.limit <= 0 else args.limit
        data = dropped.dropped(args.run, args.stage, args.reason, limit, args.full)

        def text(d: dict[str, Any]) -> str:
            return dropped.render_dropped(d, args.full)

    elif command == "diff":
        data, text = diff.diff(args.run_a, args.run_b), diff.render_diff
    elif command == "check":
        data, text = check.check(args.config), check.render_check
    else:
        raise ValueError(f"not an inspection command: {command}")
    write(json.dumps(data, indent=2, ensure_ascii=False) if args.json else text(data))
    return 0
