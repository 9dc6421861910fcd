"""Task runners: the machine's cores by default, or a Dask cluster (prefect-dask)."""

from __future__ import annotations

import os
from typing import Any

from prefect.task_runners import ThreadPoolTaskRunner

RUNNERS = ("threads", "dask")


def make_task_runner(kind: str = "threads", workers: int | None = None) -> Any:
    """A Prefect task runner.

    ``threads`` runs partitions concurrently in this process, one per core (fastText, Arrow and
    the tokenizer release the GIL for their heavy work). ``dask`` starts a local Dask cluster of
    worker processes, or joins the one named by ``GRISTMILL_DASK_ADDRESS``.
    """
    workers = workers or os.cpu_count() or 1
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        address = os.environ.get("GRISTMILL_DASK_ADDRESS")
        if address:
            return DaskTaskRunner(address=address)
        return DaskTaskRunner(
            cluster_class="distributed.LocalCluster",
            cluster_kwargs={
                "n_workers": workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": None,
            },
        )
    raise ValueError(f"unknown runner {kind!r}; expected one of {', '.join(RUNNERS)}")
