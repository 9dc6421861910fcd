"""Scheduled runs as a Prefect deployment: `gristmill schedule` serves :func:`scheduled_run` with a
cron schedule; `prefect.yaml` at the repository root deploys the same flow to a work pool.

Each run of the deployment makes a new dated run directory under the run root, ingests only the
inputs no earlier run there has read, and deduplicates against every earlier run
(:mod:`pipeline.schedule`). Two runs never write one directory: each makes its own, holds its
lock, and the deployment runs one at a time (concurrency limit 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, tags
from prefect.types.entrypoint import EntrypointType

from flows.chain import run_chain
from flows.visibility import run_tags
from pipeline import schedule
from pipeline.config import load_config
from pipeline.rundir import RunDir
from pipeline.runlock import run_lock

#: The flow's name; a deployment is addressed as `gristmill-scheduled/<deployment name>`.
FLOW_NAME = "gristmill-scheduled"


def _flow_run_name() -> str:
    from prefect.runtime import flow_run

    root = Path(str(flow_run.parameters.get("run_root", "runs"))).name
    when = flow_run.scheduled_start_time.strftime(schedule.DIR_FORMAT)
    return f"gristmill-{root}-{when}"


@flow(name=FLOW_NAME, flow_run_name=_flow_run_name)
def scheduled_run(config_path: str, run_root: str, until: str = "card") -> dict[str, Any]:
    """One scheduled run of ``config_path`` into a new run directory under ``run_root``."""
    from prefect.runtime import flow_run

    logger = get_run_logger()
    config = load_config(config_path)
    root = Path(run_root)
    earlier = schedule.earlier_runs(root)
    units, keys = schedule.new_units(config, earlier)
    if not units:
        logger.info("no inputs that %d earlier runs under %s have not read", len(earlier), root)
        return {"run_dir": None, "units": 0, "earlier_runs": [str(p) for p in earlier]}
    out = schedule.new_run_dir(root, flow_run.scheduled_start_time)
    logger.info(
        "%d new units of work -> %s; deduplicating against %d earlier runs",
        len(units),
        out,
        len(earlier),
    )
    config = schedule.with_previous_runs(config, earlier)
    with run_lock(out), tags(*run_tags(config, until), f"run-root:{root.name}"):
        results = run_chain(
            config,
            str(out),
            until=until,
            title=f"gristmill scheduled run of {Path(config_path).name} ({out.name})",
            only_units=[unit.part for unit in units],
        )
        RunDir(out).update_manifest(**{schedule.INPUTS_FIELD: keys})
    return {
        "run_dir": str(out),
        "units": len(units),
        "earlier_runs": [str(p) for p in earlier],
        "stages": {name: result.get("skipped") for name, result in results.items()},
    }


def deployment(config_path: Path, run_root: Path, cron: str, name: str, until: str = "card") -> Any:
    """The deployment of :func:`scheduled_run` for one config and run root (absolute paths;
    the entry point is the module path `flows.schedule.scheduled_run`, not a file path)."""
    return scheduled_run.to_deployment(
        name=name,
        cron=cron,
        parameters={
            "config_path": str(config_path.resolve()),
            "run_root": str(run_root.resolve()),
            "until": until,
        },
        concurrency_limit=1,
        tags=["gristmill", f"run-root:{run_root.resolve().name}"],
        description=f"gristmill: {config_path.name} into dated run directories under {run_root}",
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def serve_schedule(config_path: Path, run_root: Path, cron: str, name: str, until: str) -> None:
    """Create the deployment on the Prefect API (``PREFECT_API_URL``) and run its scheduled and
    triggered runs from this process until it is stopped."""
    from prefect import serve

    load_config(config_path)  # a bad config is reported before anything is created
    run_root.mkdir(parents=True, exist_ok=True)
    serve(deployment(config_path, run_root, cron, name, until))
