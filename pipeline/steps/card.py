"""The card step: write the data card from every stage's records."""

from __future__ import annotations

from typing import Any

from pipeline.rundir import fingerprint
from pipeline.steps.records import RunContext, run_once

STAGE = "card"


def step(ctx: RunContext) -> dict[str, Any]:
    """Write `card/README.md` and `card/card.json` (skipped when up to date)."""
    from pipeline.card.build import build_card, card_inputs

    run = ctx.run
    fp = fingerprint(STAGE, card_inputs(run), ctx.title)
    paths = list(run.card_paths)

    def work() -> dict[str, Any]:
        build_card(run, ctx.config, title=ctx.title)
        return {"paths": [run.relative(p) for p in paths]}

    return run_once(run, STAGE, fp, paths, work)
