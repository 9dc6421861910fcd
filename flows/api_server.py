"""The Prefect API a run reports to: the user's server when one is configured, else a temporary
server of the run's own, started early so that it comes up while the run's code loads.

Left to itself, Prefect starts its temporary server when the flow begins, after every module of
the run has been imported, and the flow then waits for it: on the 2-core machine of
``bench/RESULTS.md`` about 3 s of imports, then 4-5 s of server start-up, one after the other.
:func:`prefect_api` starts the same server (Prefect's API app under uvicorn, on a free loopback
port, with the UI off) as a child process first, and the run waits for it only just before its
flow starts. A server named by ``PREFECT_API_URL`` (a ``prefect server start`` the user keeps
running) is used as it is, and nothing is started.

On Linux the child is asked to end with its parent, so a killed run leaves no server behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

#: How the temporary server runs: no UI (nobody looks at a run's own server), the settings
#: Prefect itself gives the server it starts for a flow, and none of the background services
#: that act on deployments, work pools or automations, which a run's own server never has (they
#: start with the server and poll its database). The services that record flow and task runs
#: and events stay on, so the runs can be looked at later from `prefect server start`.
SERVER_ENV = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
    **{
        f"PREFECT_SERVER_SERVICES_{service}_ENABLED": "false"
        for service in (
            "SCHEDULER",
            "LATE_RUNS",
            "PAUSE_EXPIRATIONS",
            "CANCELLATION_CLEANUP",
            "FOREMAN",
            "REPOSSESSOR",
            "TRIGGERS",
        )
    },
}
#: Exit status of uvicorn when the app could not start (its port taken meanwhile, or another
#: server migrating the same new database): start it again, on a fresh port.
STARTUP_FAILED = 3


class ServerStartError(RuntimeError):
    """The temporary server did not answer in time (the command exits with status 3: the
    environment, not the run's inputs)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _end_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class TemporaryServer:
    """Prefect's API served by a child process on a free loopback port."""

    def __init__(self, settings_env: dict[str, str]) -> None:
        self.settings_env = settings_env
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> None:
        """Start the server process and return at once (see :meth:`wait_ready`)."""
        import prefect

        self.port = _free_port()
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(Path(prefect.__file__).resolve().parent.parent),
            "--factory",
            "prefect.server.api.server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "error",
            "--lifespan",
            "on",
        ]
        env = {**os.environ, **self.settings_env, **SERVER_ENV}
        self.process = subprocess.Popen(
            command,
            env=env,
            preexec_fn=_end_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
        )

    def wait_ready(self, timeout: float) -> None:
        """Return once the server answers its health check; :class:`ServerStartError` if it
        has not within ``timeout`` seconds or has exited."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            status = self.process.poll()
            if status == STARTUP_FAILED:  # its port was taken, or a second run's server was
                self.start()  # migrating the same new database: try again
                continue
            if status is not None:
                raise ServerStartError(
                    f"Prefect's embedded server exited with status {status} while starting"
                )
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise ServerStartError(
            "Prefect's embedded server did not start in time "
            f"(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS={timeout:g}). Try again, raise "
            "that setting, or point PREFECT_API_URL at a running `prefect server start`."
        )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _drain_prefect_workers() -> None:
    """Send the log lines and events Prefect still holds to the API, so that none is retried
    against a stopped server when the process exits."""
    import inspect

    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def drain() -> None:
        try:
            result = APILogWorker.instance().drain()
            if inspect.isawaitable(result):
                await result
        except RuntimeError:  # no log line was ever sent
            pass
        result = EventsWorker.drain_all()
        if inspect.isawaitable(result):
            await result

    run_coro_as_sync(drain())


class ApiHandle:
    """What :func:`prefect_api` yields: call :meth:`ready` before the flow starts."""

    def __init__(self, server: TemporaryServer | None, timeout: float, stack: ExitStack) -> None:
        self.server = server
        self.timeout = timeout
        self._stack = stack

    @property
    def temporary(self) -> bool:
        return self.server is not None

    def ready(self) -> None:
        """Wait for the temporary server (if any) and point this block's flows at it."""
        if self.server is None:
            return
        from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

        self.server.wait_ready(self.timeout)  # it may have moved to another port meanwhile
        # No UI link in the logs: the server serves no UI and ends with the run.
        updates = {PREFECT_API_URL: self.server.api_url, PREFECT_UI_URL: ""}
        self._stack.enter_context(temporary_settings(updates=updates))
        # First when the block ends: while the settings still name this server.
        self._stack.callback(_drain_prefect_workers)


@contextmanager
def prefect_api() -> Iterator[ApiHandle]:
    """The Prefect API for the flows run inside this block: the configured one, or a temporary
    server started now (stopped when the block ends)."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    with ExitStack() as stack:
        if settings.api.url:
            yield ApiHandle(None, 0, stack)
            return
        server = TemporaryServer(settings.to_environment_variables(exclude_unset=True))
        stack.callback(server.stop)  # last: after the settings are restored
        server.start()
        yield ApiHandle(server, float(settings.server.ephemeral.startup_timeout_seconds), stack)
