"""Prefect settings gristmill needs before Prefect is first imported.

The command line, the tests and the benchmarks call :func:`configure` before anything imports
``prefect``; each value is a default, so a setting the user made in the environment wins.
"""

from __future__ import annotations

import os

# The embedded (ephemeral) Prefect server must answer within this many seconds. Prefect's own
# default is 20 s; on a busy 2-core machine with an empty PREFECT_HOME it was measured to take
# 14-19 s when it came up and to miss the limit on 3 of 7 first runs. Every run tried with
# 120 s came up; 180 s leaves room on slower machines and costs nothing when it starts quickly.
EPHEMERAL_STARTUP_TIMEOUT_S = 180

DEFAULTS: dict[str, str] = {
    # Telemetry writes to the embedded SQLite database and caused "database is locked" errors.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(EPHEMERAL_STARTUP_TIMEOUT_S),
}

STARTUP_FAILURE_HINT = (
    "Prefect's embedded server did not start in time "
    "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS={timeout}). Try again, raise that "
    "setting, or point PREFECT_API_URL at a running `prefect server start`."
)


def configure() -> None:
    """Set gristmill's Prefect defaults in this process's environment (user values win)."""
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)


def is_startup_failure(error: BaseException) -> bool:
    """Whether ``error`` is Prefect giving up on its embedded server."""
    return "ephemeral Prefect API server" in str(error) or "ephemeral API server" in str(error)


def startup_failure_message() -> str:
    return STARTUP_FAILURE_HINT.format(
        timeout=os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "?")
    )
