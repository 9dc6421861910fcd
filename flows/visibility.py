"""What a run shows in the Prefect UI: its flow-run name (`gristmill-<run>`), its tags (sources and
stages), the funnel as a table artifact and the data card as a markdown artifact."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.config import RunConfig
from pipeline.report.runs import funnel_counts
from pipeline.rundir import RunDir
from pipeline.stages import stages_until

#: Prefect's markdown artifacts are shown whole in the UI: a card's text stays well below this.
MAX_ARTIFACT_CHARS = 200_000


def slug(name: str) -> str:
    """``name`` as Prefect accepts in artifact keys: lowercase letters, digits and dashes."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", name.lower())).strip("-") or "run"


def run_name(out: str | Path) -> str:
    """The flow-run name of a run into ``out``: `gristmill-<run directory's name>`."""
    return f"gristmill-{Path(out).resolve().name}"


def run_tags(config: RunConfig, until: str = "card") -> list[str]:
    """`source:<name>` for every source and `stage:<name>` for every stage the run executes."""
    return [f"source:{s.name}" for s in config.sources] + [
        f"stage:{spec.name}" for spec in stages_until(until)
    ]


@contextmanager
def untagged_tasks() -> Iterator[None]:
    """Inside a flow: the task runs started in this block carry no tags of the run's.

    The run's tags (:func:`run_tags`) are for finding its flow run; on task runs they would cost
    time, because Prefect has every tagged task run take a tag concurrency slot from the API
    first -- one locked database write per task, which the temporary server's SQLite answered
    with "busy, retry in 2 s" when a task started while others were finishing.
    """
    from prefect.context import TagsContext

    with TagsContext(current_tags=set()):
        yield


def funnel_rows(run: RunDir) -> list[dict[str, Any]]:
    """One row per finished document stage: in, kept, dropped and the reasons."""
    return [
        {
            "stage": counts["stage"],
            "in": counts["docs_in"],
            "kept": counts["docs_kept"],
            "dropped": counts["docs_dropped"],
            "dropped by reason": ", ".join(
                f"{reason} {n}" for reason, n in sorted(counts["dropped"].items())
            ),
        }
        for counts in funnel_counts(run)
    ]


def card_markdown(run: RunDir) -> str | None:
    """The card's Markdown without its YAML front matter (the UI shows it as text)."""
    path = run.card_paths[0]
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end >= 0:
            text = text[end + 5 :]
    if len(text) > MAX_ARTIFACT_CHARS:
        text = text[:MAX_ARTIFACT_CHARS] + f"\n\n(cut; the whole card is `{path}`)\n"
    return text


def publish_artifacts(run: RunDir) -> list[str]:
    """Create the funnel table and card markdown artifacts of the current flow run; return
    their keys."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    key = slug(f"gristmill-{run.root.resolve().name}")
    keys = []
    rows = funnel_rows(run)
    if rows:
        create_table_artifact(
            rows, key=f"{key}-funnel", description=f"Funnel of {run.root}: documents per stage"
        )
        keys.append(f"{key}-funnel")
    markdown = card_markdown(run)
    if markdown:
        create_markdown_artifact(
            markdown, key=f"{key}-card", description=f"Data card of {run.root}"
        )
        keys.append(f"{key}-card")
    return keys
