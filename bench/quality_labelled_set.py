"""Build the labelled quality set: real good prose and real junk-like text, one JSONL per origin.

Good (label ``good``), from ``../shared/data`` and the machine's English man pages:

* ``python-docs``: prose pages of the Python documentation in ``web/docs.warc.gz`` (index,
  search and contents pages left out: they are junk below), as the WARC reader extracts them;
* ``debian-docs``: the English Debian Reference chapters and Debian FAQ pages of the same WARC;
* ``gnu-manuals``: the nodes of the coreutils, grep and sed Info manuals (index nodes left out);
* ``jargon-entries``: entries of the Jargon File of at least 600 characters;
* ``man-pages``: English section 1 and 8 man pages rendered as plain text (``man -P cat``).

Junk (label ``junk``), text that is real but not prose:

* ``index-pages``: the Python documentation's index, module index, contents and search pages and
  the Info manuals' index nodes, cut into pieces;
* ``logs``: the machine's package logs under ``/var/log`` (dpkg, apt, alternatives);
* ``binary-strings``: ``strings -n 6`` of programs in ``/usr/bin``;
* ``listings``: ``ls -lR`` of ``/usr/share/doc`` and ``/usr/lib/python3``;
* ``tables``: tables of codes: ``/etc/services``, ``/etc/mime.types``, time zone and locale tables;
* ``man-index``: the man page index (``apropos -l .``);
* ``licence-boilerplate``: Debian copyright files and package licences of
  ``neardup/neardup.jsonl.gz``.

Long streams are cut into documents of about ``PIECE_CHARS`` characters at line ends; each origin
keeps at most ``--per-origin`` documents, a seeded sample of a sorted list, so the same data and
machine give the same set. Writes ``<out>/<origin>.jsonl`` (``{id, text, origin, label}``), a run
config ``<out>/labelled-set.yaml`` with one ``jsonl`` source per origin (what
``gristmill quality-model train`` and ``bench/quality_labelled.py`` read) and
``<out>/manifest.json`` (counts and each file's SHA-256).

    python bench/quality_labelled_set.py --out runs/quality-labelled
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_corpus import DEFAULT_DATA, web_pages  # noqa: E402

SEED = 20261130
PIECE_CHARS = 3000  # about a web page of text; the labelled documents' typical size
MIN_CHARS = 600  # shorter entries and nodes say too little to label
GOOD_ORIGINS = ("python-docs", "debian-docs", "gnu-manuals", "jargon-entries", "man-pages")
JUNK_ORIGINS = (
    "index-pages",
    "logs",
    "binary-strings",
    "listings",
    "tables",
    "man-index",
    "licence-boilerplate",
)
#: The two halves of the origins a classifier is trained on and measured on (each half has good
#: and junk origins of different character, so neither half sees the other's kinds of text).
HALVES = (
    ("python-docs", "gnu-manuals", "logs", "listings", "index-pages", "licence-boilerplate"),
    ("debian-docs", "jargon-entries", "man-pages", "binary-strings", "tables", "man-index"),
)
_INDEX_PAGE = re.compile(r"/(genindex[^/]*|py-modindex|contents|search|index)\.html$")


def pieces(text: str, size: int = PIECE_CHARS) -> list[str]:
    """``text`` cut at line ends into pieces of about ``size`` characters."""
    out: list[str] = []
    current: list[str] = []
    length = 0
    for line in text.splitlines(keepends=True):
        current.append(line)
        length += len(line)
        if length >= size:
            out.append("".join(current))
            current, length = [], 0
    if length >= MIN_CHARS // 2:
        out.append("".join(current))
    return out


@functools.cache
def _web(data: Path) -> list[tuple[str, str]]:
    return web_pages(data)


def _run(args: list[str]) -> str:
    env = {**os.environ, "LC_ALL": "C.UTF-8", "MANWIDTH": "80"}
    done = subprocess.run(args, capture_output=True, env=env, check=False)
    return done.stdout.decode("utf-8", errors="replace")


def _info_nodes(data: Path) -> list[tuple[str, str]]:
    out = []
    for name in ("coreutils", "grep", "sed"):
        with gzip.open(data / "books" / f"{name}-manual.info.txt.gz", "rt", encoding="utf-8") as f:
            for index, node in enumerate(f.read().split("\x1f")):
                out.append((f"{name}:{index}", node.strip("\n")))
    return out


def _is_index_node(node: str) -> bool:
    header = node.split("\n", 1)[0]
    return "Node: " in header and "Index" in header.split("Node: ", 1)[1].split(",")[0]


def python_docs(data: Path) -> Iterable[tuple[str, str]]:
    for url, text in _web(data):
        if "/python3/" in url and not _INDEX_PAGE.search(url) and "api-index" not in url:
            yield url, text


def debian_docs(data: Path) -> Iterable[tuple[str, str]]:
    # Whole chapters run to 100,000 characters: cut into pieces of two pages each.
    for url, text in _web(data):
        if "/debian-" in url and url.endswith(".en.html") and "/index." not in url:
            for i, piece in enumerate(pieces(text, 2 * PIECE_CHARS)):
                yield f"{url}#{i}", piece


def gnu_manuals(data: Path) -> Iterable[tuple[str, str]]:
    for key, node in _info_nodes(data):
        if node.startswith("File:") and not _is_index_node(node) and len(node) >= MIN_CHARS:
            yield key, node


def jargon_entries(data: Path) -> Iterable[tuple[str, str]]:
    with gzip.open(data / "books" / "jargon-file-4.4.7.txt.gz", "rt", encoding="utf-8") as f:
        text = f.read()
    entries = re.split(r"\n(?=   :[^:\n]+:)", text)
    for index, entry in enumerate(entries[1:]):  # the first piece is the front matter
        entry = entry.strip("\n")
        if len(entry) >= MIN_CHARS and entry.lstrip().startswith(":"):
            yield f"jargon:{index}", entry


def man_pages(data: Path) -> Iterable[tuple[str, str]]:
    names: list[str] = []
    for section in ("man1", "man8"):
        folder = Path("/usr/share/man") / section
        if folder.is_dir():
            names += sorted(f"{section}/{p.name}" for p in folder.iterdir() if p.suffix == ".gz")
    for name in random.Random(SEED).sample(names, min(len(names), 400)):
        text = _run(["man", "-P", "cat", str(Path("/usr/share/man") / name)])
        if len(text) >= MIN_CHARS:
            yield name, text


def index_pages(data: Path) -> Iterable[tuple[str, str]]:
    for url, text in _web(data):
        if url.endswith("/debian-reference/index.en.html") or (
            "/python3/" in url and (_INDEX_PAGE.search(url) or "api-index" in url)
        ):
            for i, piece in enumerate(pieces(text)):
                yield f"{url}#{i}", piece
    for key, node in _info_nodes(data):
        if _is_index_node(node):
            for i, piece in enumerate(pieces(node)):
                yield f"{key}#{i}", piece


def _files(paths: Iterable[str]) -> Iterable[tuple[str, str]]:
    for path in paths:
        file = Path(path)
        if file.is_file():
            for i, piece in enumerate(pieces(file.read_text(encoding="utf-8", errors="replace"))):
                yield f"{path}#{i}", piece


def logs(data: Path) -> Iterable[tuple[str, str]]:
    names = ["dpkg.log", "alternatives.log", "apt/history.log", "apt/term.log"]
    yield from _files(f"/var/log/{name}" for name in names)


def binary_strings(data: Path) -> Iterable[tuple[str, str]]:
    programs = sorted(p for p in Path("/usr/bin").iterdir() if p.is_file() and not p.is_symlink())
    for program in random.Random(SEED).sample(programs, min(len(programs), 60)):
        if program.read_bytes()[:4] != b"\x7fELF":
            continue
        for i, piece in enumerate(pieces(_run(["strings", "-n", "6", str(program)]))[:4]):
            yield f"{program}#{i}", piece


def listings(data: Path) -> Iterable[tuple[str, str]]:
    for folder in ("/usr/share/doc", "/usr/lib/python3"):
        text = _run(["ls", "-lR", "--time-style=long-iso", folder])
        for i, piece in enumerate(pieces(text)):
            yield f"ls:{folder}#{i}", piece


def tables(data: Path) -> Iterable[tuple[str, str]]:
    yield from _files(
        [
            "/etc/services",
            "/etc/mime.types",
            "/etc/protocols",
            "/usr/share/zoneinfo/zone1970.tab",
            "/usr/share/zoneinfo/iso3166.tab",
            "/usr/share/i18n/SUPPORTED",
            "/usr/share/misc/magic",
        ]
    )


def man_index(data: Path) -> Iterable[tuple[str, str]]:
    for i, piece in enumerate(pieces(_run(["apropos", "-l", "."]))):
        yield f"apropos#{i}", piece


def licence_boilerplate(data: Path) -> Iterable[tuple[str, str]]:
    with gzip.open(data / "neardup" / "neardup.jsonl.gz", "rt", encoding="utf-8") as f:
        for item in map(json.loads, f):
            if len(item["text"]) >= MIN_CHARS:
                yield item["id"], item["text"][: PIECE_CHARS * 3]


ORIGINS: dict[str, Callable[[Path], Iterable[tuple[str, str]]]] = {
    "python-docs": python_docs,
    "debian-docs": debian_docs,
    "gnu-manuals": gnu_manuals,
    "jargon-entries": jargon_entries,
    "man-pages": man_pages,
    "index-pages": index_pages,
    "logs": logs,
    "binary-strings": binary_strings,
    "listings": listings,
    "tables": tables,
    "man-index": man_index,
    "licence-boilerplate": licence_boilerplate,
}


def build(data: Path, out: Path, per_origin: int) -> dict[str, dict[str, int | str]]:
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict[str, int | str]] = {}
    sources = []
    for origin, make in ORIGINS.items():
        label = "good" if origin in GOOD_ORIGINS else "junk"
        docs = sorted(dict(make(data)).items())
        if len(docs) > per_origin:
            docs = sorted(random.Random(f"{SEED}:{origin}").sample(docs, per_origin))
        path = out / f"{origin}.jsonl"
        lines = [
            json.dumps(
                {"id": f"{origin}:{key}", "text": text, "origin": origin, "label": label},
                ensure_ascii=False,
            )
            for key, text in docs
        ]
        payload = ("\n".join(lines) + "\n").encode("utf-8")
        path.write_bytes(payload)
        manifest[origin] = {
            "label": label,
            "documents": len(docs),
            "characters": sum(len(t) for _, t in docs),
            "sha256": hashlib.sha256(payload).hexdigest(),
        }
        sources.append(
            f"  - {{name: {origin}, kind: web, format: jsonl, paths: [{origin}.jsonl], "
            f"id_field: id}}"
        )
        print(f"{origin:<20} {label:<5} {len(docs):>5} docs", flush=True)
    (out / "labelled-set.yaml").write_text(
        "# The labelled quality set (bench/quality_labelled_set.py): one source per origin.\n"
        "sources:\n" + "\n".join(sources) + "\n",
        encoding="utf-8",
    )
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=Path("runs/quality-labelled"))
    parser.add_argument("--per-origin", type=int, default=120)
    args = parser.parse_args()
    manifest = build(args.data, args.out, args.per_origin)
    good = sum(int(m["documents"]) for m in manifest.values() if m["label"] == "good")
    junk = sum(int(m["documents"]) for m in manifest.values() if m["label"] == "junk")
    print(f"{good} good, {junk} junk documents -> {args.out}")


if __name__ == "__main__":
    main()
