"""The ablation flow: every step of :mod:`pipeline.ablate.run` as a Prefect task, variants in
parallel, on the thread runner or a Dask cluster like the run flow.

1. each variant's document stages (one task per variant; shared stage outputs come from the
   stage cache, whose per-key locks make a variant wait for a stage another is computing);
2. the validation set, the tokenizer and the validation rows (one task);
3. each variant's training documents and shards (one task per variant);
4. one model per variant and seed (one task each);
5. the report, published as a table and a Markdown artifact.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import stopping
from flows.visibility import slug
from pipeline.ablate import run as steps
from pipeline.ablate.report import render_markdown, table_rows

TASK_OPTIONS: dict[str, Any] = {"cache_policy": NO_CACHE, "retries": 0}
#: Training seeds torch's process-wide random generator; two trainings in threads of one
#: process would draw from it in turn and lose their determinism, so they take turns (Dask
#: workers are processes of one thread each and train in parallel).
_TORCH_GLOBAL_STATE = threading.Lock()


def training_turn() -> threading.Lock:
    """The lock trainings in this process take turns on (a function, so that tasks pickled for
    Dask refer to it by name instead of carrying a lock)."""
    return _TORCH_GLOBAL_STATE


@task(name="ablate-prepare-variant", **TASK_OPTIONS)
def prepare_task(plan: steps.Plan, name: str) -> dict[str, Any]:
    return steps.prepare_variant(plan, name, say=get_run_logger().info)


@task(name="ablate-shared", **TASK_OPTIONS)
def shared_task(plan: steps.Plan) -> dict[str, Any]:
    return steps.shared_pieces(plan, say=get_run_logger().info)


@task(name="ablate-variant-data", **TASK_OPTIONS)
def data_task(plan: steps.Plan, name: str) -> dict[str, Any]:
    return steps.arm_data(plan, name, say=get_run_logger().info)


@task(name="ablate-train", **TASK_OPTIONS)
def train_task(plan: steps.Plan, name: str, seed: int) -> dict[str, Any]:
    with training_turn():
        return steps.train_arm_seed(plan, name, seed, say=get_run_logger().info)


def _flow_run_name() -> str:
    from pathlib import Path

    from prefect.runtime import flow_run

    plan = flow_run.parameters.get("plan")
    out = getattr(plan, "out", None) or (plan or {}).get("out", "ablation")
    return f"gristmill-ablate-{Path(out).resolve().name}"


@flow(name="gristmill-ablate", flow_run_name=_flow_run_name)
def ablate_flow(plan: steps.Plan) -> dict[str, Any]:
    """Run the ablation ``plan``; return its report."""
    # Stop at once on SIGTERM / Ctrl-C. Prefect's own handler, installed as the flow started,
    # would end the flow only after the trainings already running had finished (minutes).
    stopping.install(Path(plan.out))
    started = time.perf_counter()
    prepared_futures = {v.name: prepare_task.submit(plan, v.name) for v in plan.prepared}
    prepared = {name: future.result() for name, future in prepared_futures.items()}
    shared = shared_task(plan)
    own = [v.name for v in plan.variants if not v.replicate_of]
    data_futures = {name: data_task.submit(plan, name) for name in own}
    data = {name: future.result() for name, future in data_futures.items()}
    train_futures = {
        (v.name, seed): train_task.submit(plan, v.name, seed)
        for v in plan.variants
        for seed in steps.seeds_for(plan, v.name)
    }
    runs: dict[str, list[dict[str, Any]]] = {v.name: [] for v in plan.variants}
    for (name, _seed), future in train_futures.items():
        runs[name].append(future.result())
    report = steps.finish(plan, prepared, shared, data, runs, time.perf_counter() - started)
    try:
        publish(report)
    except Exception as error:  # the UI's view must never fail the ablation
        get_run_logger().warning("could not publish the ablation's artifacts: %s", error)
    return report


def publish(report: dict[str, Any]) -> None:
    """The table and the Markdown report as artifacts of the current flow run."""
    from pathlib import Path

    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    key = slug(f"gristmill-ablate-{Path(report['out']).resolve().name}")
    headers, rows = table_rows(report)
    create_table_artifact(
        [dict(zip(headers, row, strict=True)) for row in rows],
        key=f"{key}-table",
        description=f"Ablation {report['out']}: final validation loss per variant",
    )
    create_markdown_artifact(
        render_markdown(report), key=f"{key}-report", description=f"Ablation {report['out']}"
    )
