"""What a run shows on the terminal, and where the details go.

The terminal gets Prefect's progress lines and, for anything that fails, one line; the full
tracebacks go to the run's log file (``RUN_DIR/logs/gristmill.log``), which the one line names.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _no_traceback(_: object) -> str:
    return ""


def quiet_console(log_path: Path) -> Callable[[], None]:
    """Send every log record, tracebacks included, to ``log_path`` and keep tracebacks off the
    terminal's handlers. Returns a function that undoes both."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    file_handler = logging.FileHandler(log_path, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
    file_handler.setLevel(logging.INFO)
    root.addHandler(file_handler)
    patched: list[tuple[logging.Formatter, object, object]] = []
    for handler in root.handlers:
        formatter = handler.formatter
        if handler is file_handler or formatter is None:
            continue
        patched.append(
            (
                formatter,
                formatter.__dict__.get("formatException"),
                formatter.__dict__.get("formatStack"),
            )
        )
        formatter.formatException = _no_traceback  # type: ignore[method-assign]
        formatter.formatStack = _no_traceback  # type: ignore[method-assign]

    def undo() -> None:
        root.removeHandler(file_handler)
        file_handler.close()
        for formatter, exception, stack in patched:
            for name, original in (("formatException", exception), ("formatStack", stack)):
                if original is None:
                    formatter.__dict__.pop(name, None)
                else:
                    setattr(formatter, name, original)

    return undo


def log_traceback(log_path: Path, error: BaseException) -> None:
    """Append ``error``'s traceback to the log file."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as handle:
        handle.write("".join(traceback.format_exception(error)))
