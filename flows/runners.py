"""Where a run's work runs: Prefect tasks in threads of the flow's process, and the CPU-bound
steps they wrap in worker processes (the default), in those threads, or on a Dask cluster.

Every runner keeps Prefect in the flow's process: tasks are scheduled by a thread pool there and
report to the flow's one Prefect API. What a task computes -- a plain :mod:`pipeline.steps`
function over run-directory paths -- goes through :func:`run_step` to the run's executor:

- ``processes`` (default): a pool of ``workers`` processes (default: one per core), started once
  per run. Each imports only ``pipeline`` (never Prefect, so never a Prefect server of its own)
  and keeps what it loads -- the fastText model, the word-split cache -- for every step it runs.
- ``threads``: the steps run in the task threads of the flow's process.
- ``dask``: the steps are submitted to a Dask cluster -- a local one of ``workers`` processes,
  or the scheduler named by ``GRISTMILL_DASK_ADDRESS`` -- whose workers, like the pool's, run
  the plain functions only.

A stage with fewer partitions than twice the workers cuts each partition into row slices
(:func:`slices_per_partition`, :func:`map_steps`; see :mod:`pipeline.steps.filter`), so a small
run keeps every worker busy too; outputs are byte-identical to whole partitions. Each pool worker
starts with the run and loads the fastText model and the compiled rules while Prefect starts.

Measured on the 2-core machine of ``bench/RESULTS.md`` (``bench/workers_speed.py``, 50 MB web-like
corpus, quiet machine): with 2 pool workers language ID and quality took about 1.5-1.6x less
time than with 1. The machine itself caps this: two processes doing the same language-ID work at
once each ran 24% slower than one alone (quality: 14%), so 1.6x is about all two of its cores give.
``dask`` with 2 workers was as fast as the pool; ``threads`` gained little from a second thread
(the rules hold the GIL). Outputs were identical at every setting.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any, TypeVar

RUNNERS = ("processes", "threads", "dask")
DEFAULT_RUNNER = "processes"

T = TypeVar("T")

#: The executor of the run in progress (None: call steps in the calling thread).
_executor: Any = None
#: How many steps it runs at once.
_slots = 1


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def make_task_runner(kind: str = DEFAULT_RUNNER, workers: int | None = None) -> Any:
    """The Prefect task runner of a run: ``workers`` threads that submit the steps (whatever
    ``kind``; the steps themselves go where :func:`step_executor` sends them)."""
    from prefect.task_runners import ThreadPoolTaskRunner

    if kind not in RUNNERS:
        raise ValueError(f"unknown runner {kind!r}; expected one of {', '.join(RUNNERS)}")
    return ThreadPoolTaskRunner(max_workers=workers or default_workers())


def _worker_start(warm_up: Callable[[], object] | None = None) -> None:
    """Runs first in each worker process: then ``warm_up`` (loading models while the flow's
    Prefect API starts)."""
    from pipeline import faults

    faults.take_parent_along()  # a fault point in a worker ends the run, as in one process
    if warm_up is not None:
        warm_up()


def _ready() -> None:
    """A step that does nothing: submitting one per worker starts every worker at once."""


@contextmanager
def step_executor(
    kind: str = DEFAULT_RUNNER,
    workers: int | None = None,
    warm_up: Callable[[], object] | None = None,
) -> Iterator[None]:
    """Send the steps of the run inside this block to ``kind``'s executor, then shut it down.

    Worker processes start at once and each calls ``warm_up`` (a picklable callable), so models
    load while the flow starts rather than in its first steps."""
    global _executor, _slots
    workers = workers or default_workers()
    if kind == "threads":
        yield
        return
    if kind == "processes":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: the flow's process has Prefect's threads and event loop running.
        context = multiprocessing.get_context("spawn")
        pool: Executor = ProcessPoolExecutor(
            workers, context, initializer=_worker_start, initargs=(warm_up,)
        )
        for _ in range(workers):  # a worker is started per step submitted while none is idle
            pool.submit(_ready)
        _executor, _slots = pool, workers
        try:
            yield
        finally:
            _executor, _slots = None, 1
            pool.shutdown(wait=True, cancel_futures=True)
        return
    if kind == "dask":
        from distributed import Client, LocalCluster, fire_and_forget

        address = os.environ.get("GRISTMILL_DASK_ADDRESS")
        if address:
            client = Client(address)
            cluster = None
        else:
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            client = Client(cluster)
        _executor = client
        _slots = sum(client.nthreads().values()) or workers
        if warm_up is not None:  # a task pinned to each worker, not waited for
            for address in client.nthreads():
                fire_and_forget(client.submit(warm_up, workers=[address], pure=False))
        try:
            yield
        finally:
            _executor, _slots = None, 1
            client.close()
            if cluster is not None:
                cluster.close()
        return
    raise ValueError(f"unknown runner {kind!r}; expected one of {', '.join(RUNNERS)}")


def run_step(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` on the run's executor (in this thread when there is none)."""
    executor = _executor
    if executor is None:
        return function(*args)
    if hasattr(executor, "gather"):  # a Dask client: a task per call, never cached
        return executor.submit(function, *args, pure=False).result()  # type: ignore[no-any-return]
    return executor.submit(function, *args).result()  # type: ignore[no-any-return]


def map_steps(function: Callable[..., T], calls: Sequence[tuple[Any, ...]]) -> list[T]:
    """``function(*args)`` for each ``args`` of ``calls``, all submitted to the run's executor at
    once (in this thread, one after the other, when there is none); the results in order."""
    executor = _executor
    if executor is None:
        return [function(*args) for args in calls]
    if hasattr(executor, "gather"):
        futures = [executor.submit(function, *args, pure=False) for args in calls]
    else:
        futures = [executor.submit(function, *args) for args in calls]
    return [future.result() for future in futures]


def slices_per_partition(partitions: int) -> int:
    """Into how many slices a stage should cut each of its ``partitions`` so that every worker
    of the run's executor gets about two pieces of work: 1 (whole partitions) when there are
    enough partitions, or no executor to share them."""
    if _executor is None or _slots <= 1:
        return 1
    return max(1, math.ceil(2 * _slots / max(partitions, 1)))
