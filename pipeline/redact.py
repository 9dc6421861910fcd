"""Keeping secrets out of what a run writes about itself: manifests, stage records, the card and
the log.

Two kinds of secret are removed wherever such text is written:

- credentials inside URLs: the ``user:password@`` part, and the values of query parameters
  whose names say they are secret (``token``, ``key``, ``secret``, ``password``, ``signature``,
  ``sig``, ``access_token``, ``api_key``, ...);
- the values of this process's environment variables whose names say they are secret
  (``PREFECT_API_KEY``, ``HF_TOKEN``, ``AWS_SECRET_ACCESS_KEY``, ...), wherever they appear.

Documents are data and are not changed; this is about the run's own records.
"""

from __future__ import annotations

import os
import re
from typing import Any

MASK = "REDACTED"
_SECRET_WORDS = ("TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH")
#: shorter values are too likely to occur by chance to be replaced everywhere
_MIN_SECRET_LENGTH = 8

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@:]+(?::[^/\s@]*)?@")
_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:[a-z0-9_.-]*(?:token|key|secret|password|passwd|signature|auth|credential)"
    r"[a-z0-9_.-]*|sig)=)[^&#\s\"']+"
)


def _secret_env_values() -> list[str]:
    values = {
        value
        for name, value in os.environ.items()
        if any(word in name.upper() for word in _SECRET_WORDS) and len(value) >= _MIN_SECRET_LENGTH
    }
    return sorted(values, key=len, reverse=True)


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with URL credentials and secret environment values (``secrets``: read from the
    environment when not given) replaced by ``REDACTED``."""
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    text = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}{MASK}", text)
    for value in _secret_env_values() if secrets is None else secrets:
        text = text.replace(value, MASK)
    return text


def redact(value: Any) -> Any:
    """A JSON-like value with every string in it passed through :func:`redact_text` (the
    environment is read once for the whole value)."""
    secrets = _secret_env_values()

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return redact_text(item, secrets)
        if isinstance(item, dict):
            return {key: walk(inner) for key, inner in item.items()}
        if isinstance(item, list | tuple):
            return [walk(inner) for inner in item]
        return item

    return walk(value)
