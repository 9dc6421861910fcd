"""Running the `gristmill` command as a user would: in its own process, with its own Prefect."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def gristmill_run(config: Path, out: Path, *extra: str) -> list[str]:
    """The command line of `gristmill run --config CONFIG --out OUT EXTRA...`."""
    return [
        sys.executable,
        "-m",
        "flows.cli",
        "run",
        "--config",
        str(config),
        "--out",
        str(out),
        *extra,
    ]


def own_prefect(home: Path) -> dict[str, str]:
    """This environment without any Prefect setting, and ``home`` as its PREFECT_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(home)
    return env
