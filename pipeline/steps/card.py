"""The card step: write the data card from every stage's records."""

from __future__ import annotations

from typing import Any

from pipeline.rundir import fingerprint
from pipeline.steps.records import RunContext, run_once

STAGE = "card"


def step(ctx: RunContext) -> dict[str, Any]:
    """Write `card/README.md`, `card/card.json`, the plots and the run's `README.md` (skipped
    when up to date)."""
    from pipeline.card.build import build_card, card_inputs

    run = ctx.run
    fp = fingerprint(STAGE, card_inputs(run), ctx.title)
    paths = [*run.card_paths, run.dataset_readme_path]

    def work() -> dict[str, Any]:
        ctx.say("[card] writing the data card and its plots")
        card = build_card(run, ctx.config, title=ctx.title)
        return {"paths": [run.relative(p) for p in paths], "plots": card.get("plots", [])}

    def intact(record: dict[str, Any]) -> bool:
        return all(run.card_plot_path(name).is_file() for name in record.get("plots", []))

    return run_once(run, STAGE, fp, paths, work, intact=intact)
