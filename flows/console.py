"""What a run shows on the terminal, and where the details go.

The terminal gets Prefect's progress lines and, for anything that fails, one line; the full
tracebacks go to the run's log file (``RUN_DIR/logs/gristmill.log``), which the one line names.
Both have secrets (URL credentials, secret environment values) redacted.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Callable
from pathlib import Path

from pipeline.redact import redact_text

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _without_traceback(format_: Callable[[logging.LogRecord], str]) -> Callable[..., str]:
    """A handler's ``format`` that leaves out the record's traceback and stack."""

    def format_record(record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return redact_text(format_(record))
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved

    return format_record


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class _QuietFileHandler(logging.FileHandler):
    """A log file that never disturbs the run: a write that fails (a full disk) is dropped
    instead of printing logging's own traceback."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        pass


def quiet_console(log_path: Path) -> Callable[[], None]:
    """Send every log record, tracebacks included, to ``log_path`` and keep tracebacks off the
    terminal's handlers. Returns a function that undoes both."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    file_handler = _QuietFileHandler(log_path, encoding="utf-8")
    file_handler.setFormatter(_RedactingFormatter(LOG_FORMAT))
    file_handler.setLevel(logging.INFO)
    root.addHandler(file_handler)
    patched = [handler for handler in root.handlers if handler is not file_handler]
    for handler in patched:
        handler.format = _without_traceback(handler.format)  # type: ignore[method-assign]

    def undo() -> None:
        root.removeHandler(file_handler)
        with contextlib.suppress(OSError):  # a full disk must not hide the run's own error
            file_handler.close()
        for handler in patched:
            handler.__dict__.pop("format", None)

    return undo


def log_traceback(log_path: Path, error: BaseException) -> None:
    """Append ``error``'s traceback to the log file."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as handle:
        handle.write(redact_text("".join(traceback.format_exception(error))))
