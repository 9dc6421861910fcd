"""The embedded demo corpus: small JSONL sources built from text every Python install has.

``gristmill demo`` needs a corpus that works offline, on any machine, with nothing committed to
the repository and nothing downloaded. Three sources, each a JSONL file of ``{"text", "path",
...}`` lines:

- ``stdlib-code.jsonl`` (code, PSF-2.0): Python standard-library modules, a deterministic
  spread (ordered by a hash of their path) of the non-test sources;
- ``python-reference.jsonl`` (book, PSF-2.0): the language reference topics that ``help()``
  shows, from ``pydoc_data.topics``, one document per topic;
- ``package-docs.jsonl`` (web, per package): the long descriptions and LICENSE/COPYING files
  of the installed distributions. Licence texts are natural near-duplicates of each other,
  which gives the dedup stage real work.

Everything is sorted and serialised with sorted keys, so one machine always writes the same
bytes; a file is only replaced when its bytes change, so its mtime -- which cache fingerprints
use -- stays put on re-runs.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import site
import sysconfig
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pipeline.rundir import atomic_write_bytes

#: Per-source budget in bytes of JSONL written; three sources make a 3-5 MB demo.
DEFAULT_MAX_BYTES = 1_500_000
#: Single files above this are left out (generated tables, huge changelogs).
MAX_DOC_BYTES = 100_000
#: Standard-library folders that are tests, third-party packages, generated data or the
#: reference text itself (which has its own source).
STDLIB_SKIP_DIRS = frozenset(
    {
        "test",
        "tests",
        "idle_test",
        "site-packages",
        "dist-packages",
        "__pycache__",
        "lib-dynload",
        "ensurepip",
        "pydoc_data",
        "encodings",
        "turtledemo",
        "lib2to3",
    }
)

Line = dict[str, Any]


def _encode(line: Line) -> bytes:
    return (json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


def _read_utf8(path: Path) -> str | None:
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return text if text.strip() else None


def _spread_key(name: str) -> str:
    """Order that spreads a budgeted selection over the whole alphabet, the same everywhere."""
    return hashlib.blake2b(name.encode(), digest_size=8).hexdigest()


def stdlib_lines(max_bytes: int) -> list[Line]:
    """Standard-library sources, chosen in hash order up to ``max_bytes``, sorted by path."""
    root = Path(sysconfig.get_paths()["stdlib"])
    candidates: list[tuple[str, Path, int]] = []
    for folder, dirs, files in os.walk(root):  # os.walk yields nothing if root is absent
        dirs[:] = [d for d in dirs if d not in STDLIB_SKIP_DIRS and not d.startswith("config-")]
        for name in files:
            path = Path(folder, name)
            if not name.endswith(".py") or not path.is_file():
                continue
            size = path.stat().st_size
            if 0 < size <= MAX_DOC_BYTES:
                candidates.append((path.relative_to(root).as_posix(), path, size))
    chosen: list[Line] = []
    used = 0
    for rel, path, file_size in sorted(candidates, key=lambda c: (_spread_key(c[0]), c[0])):
        if used + file_size > max_bytes:  # its JSON line is at least as long as the file
            continue
        text = _read_utf8(path)
        if text is None:
            continue
        line = {"text": text, "path": f"stdlib/{rel}", "language": "python"}
        size = len(_encode(line))
        if used + size > max_bytes:
            continue  # a smaller file further on may still fit
        chosen.append(line)
        used += size
    return sorted(chosen, key=lambda line: line["path"])


def reference_lines(max_bytes: int) -> list[Line]:
    """The ``pydoc_data.topics`` entries (one per topic, sorted), up to ``max_bytes``."""
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distributions package it separately
        return []
    lines: list[Line] = []
    used = 0
    for topic in sorted(topics):
        text = topics[topic]
        if not text.strip():
            continue
        line = {"text": text, "path": f"pydoc_data/topics/{topic}", "topic": topic}
        used += len(_encode(line))
        if used > max_bytes:
            break
        lines.append(line)
    return lines


def _site_dirs() -> list[str]:
    dirs: list[str] = []
    paths = sysconfig.get_paths()
    for folder in [*site.getsitepackages(), paths["purelib"], paths["platlib"]]:
        if folder not in dirs and os.path.isdir(folder):
            dirs.append(folder)
    return dirs


def _is_licence_file(parts: tuple[str, ...]) -> bool:
    if len(parts) < 2 or not parts[0].endswith(".dist-info"):
        return False
    if parts[1] == "licenses":
        return len(parts) > 2
    return len(parts) == 2 and parts[1].upper().startswith(("LICENSE", "LICENCE", "COPYING"))


def _distribution_docs(dist: importlib.metadata.Distribution) -> Iterator[tuple[str, str, str]]:
    """(kind of doc, path, text) for one distribution's description and licence files."""
    metadata = dist.metadata
    get_payload = getattr(metadata, "get_payload", None)  # the body: Metadata-Version >= 2.1
    description = (get_payload() if get_payload else None) or metadata.get("Description") or ""
    folder = f"{metadata['Name']}-{dist.version}"
    if isinstance(description, str) and description.strip():
        yield "description", f"{folder}/METADATA", description
    for file in sorted(dist.files or [], key=str):
        if _is_licence_file(file.parts):
            text = _read_utf8(Path(str(file.locate())))
            if text is not None:
                yield "license", f"{folder}/{'/'.join(file.parts[1:])}", text


def package_lines(max_bytes: int) -> list[Line]:
    """Installed distributions' descriptions and licences, sorted by name, up to ``max_bytes``."""
    by_name: dict[str, importlib.metadata.Distribution] = {}
    for dist in importlib.metadata.distributions(path=_site_dirs()):
        name = (dist.metadata["Name"] or "").strip()
        key = name.lower().replace("_", "-").replace(".", "-")
        if key and key not in by_name:  # the first on the path is the one Python imports
            by_name[key] = dist
    lines: list[Line] = []
    used = 0
    for key in sorted(by_name):
        dist = by_name[key]
        for doc, path, text in _distribution_docs(dist):
            line = {
                "text": text,
                "path": path,
                "distribution": dist.metadata["Name"],
                "version": dist.version,
                "doc": doc,
            }
            size = len(_encode(line))
            if size > MAX_DOC_BYTES:
                continue
            if used + size > max_bytes:
                return lines
            lines.append(line)
            used += size
    return lines


def _write_if_changed(path: Path, lines: Iterable[Line]) -> None:
    data = b"".join(_encode(line) for line in lines)
    if path.is_file() and path.read_bytes() == data:
        return
    atomic_write_bytes(path, data)


#: (source name, kind, licence, builder) of each demo source.
SOURCES = (
    ("stdlib-code", "code", "PSF-2.0", stdlib_lines),
    ("python-reference", "book", "PSF-2.0", reference_lines),
    ("package-docs", "web", "per-package (see meta)", package_lines),
)


def write_demo_corpus(out_dir: Path, max_bytes_per_source: int = DEFAULT_MAX_BYTES) -> list[dict]:
    """Write the demo sources into ``out_dir``; return their entries for the run config.

    Each entry is a :class:`~pipeline.ingest.config.SourceConfig` mapping whose ``paths`` are
    relative to ``out_dir``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sources: list[dict] = []
    for name, kind, licence, build in SOURCES:
        file_name = f"{name}.jsonl"
        _write_if_changed(out_dir / file_name, build(max_bytes_per_source))
        sources.append(
            {
                "name": name,
                "kind": kind,
                "format": "jsonl",
                "paths": [file_name],
                "license": licence,
                "weight": 1.0,
            }
        )
    return sources
