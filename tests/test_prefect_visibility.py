"""What a finished run shows in Prefect: its flow-run name, tags, funnel and card artifacts."""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterName,
)

from flows.visibility import run_name
from pipeline.rundir import RunDir


def test_run_is_named_tagged_and_has_artifacts(finished_run: dict) -> None:
    run = RunDir(finished_run["out"])
    name = run_name(run.root)
    assert name == f"gristmill-{run.root.name}"
    with get_client(sync_client=True) as client:
        flow_runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
        )
        # other tests' runs share the name (their folders are called `run` too): the hostile
        # source is this run's own
        mine = [r for r in flow_runs if "source:hostile" in r.tags]
        assert mine, f"no flow run named {name} tagged source:hostile: {flow_runs}"
        flow_run = mine[0]
        assert {"source:web", "source:code", "source:books", "stage:ingest", "stage:card"} <= set(
            flow_run.tags
        )
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        )
    by_type = {a.type: a for a in artifacts}
    assert {"table", "markdown"} <= set(by_type)
    table = by_type["table"].data
    assert "ingest" in str(table) and "dedup" in str(table)
    assert "## Funnel" in by_type["markdown"].data
