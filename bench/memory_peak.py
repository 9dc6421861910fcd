"""Peak memory of `gristmill run --until ingest` on ~2 GB inputs, against smaller ones.

Usage (project venv, from the checkout):

    python bench/memory_peak.py [--work /tmp/gristmill-memory] [--sizes 2M,200M,2G]
        [--only jsonl,warc] [--extractor resiliparse] [--partition-mib 16,256]
        [--quality 200M] [--clean]

Ingest is meant to hold one output partition (`limits.partition_bytes` of text, 64 MiB by
default) in memory, never a whole input file. This script checks that on big inputs:

1. It generates, deterministically (fixed seed), a plain JSONL file and a WARC (one gzip member
   per record, as Common Crawl ships them) of each size in ``--sizes`` (bytes on disk), unless
   they already exist under ``--work``. JSONL documents are paragraphs of the sample books,
   code, licence and language-ID texts in ``../shared/data``, drawn and shuffled per document.
   WARC pages are the 511 real pages of ``../shared/data/web/docs.warc.gz`` with their ``<p>``
   paragraphs shuffled, new URLs, record ids and dates, each response preceded by its request
   record. The sizes are prefixes of one stream, so a smaller file starts as the larger does.
2. For each input it runs ``python -m flows.cli run --until ingest`` in a child process with a
   fresh ``PREFECT_HOME`` and a fresh run directory, and records the wall time, the peak RSS of
   the largest process of the child's tree (``ru_maxrss`` from ``os.wait4``: exact, covers the
   run and the embedded Prefect server it starts) and the peak of the whole tree's summed RSS
   (sampled every 0.2 s with psutil).
3. Optional rows: the largest JSONL again with other ``limits.partition_bytes``
   (``--partition-mib``), to show the bound moves with the partition size and not with the
   input; and ``--until quality`` (language ID and the quality rules) on the JSONL of the size
   given by ``--quality``.

On the 2-core development VM the 2 GB WARC alone takes about 20 minutes through resiliparse (and
13 minutes to generate, once); the JSONL rows take 1-3 minutes each. It prints a Markdown table
for ``bench/RESULTS.md``. Generated inputs stay under ``--work`` and
are reused by the next run; ``--clean`` deletes them (and the work folder) at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import psutil
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SEED = 20261130
MiB = 1 << 20
#: gzip level of the generated WARC members (zlib's default, as `gzip` writes them).
GZIP_LEVEL = 6
#: How often the process tree's RSS is sampled.
SAMPLE_SECONDS = 0.2


def parse_size(text: str) -> int:
    """``"200M"`` -> 200 * 2**20; suffixes K, M, G (binary), or plain bytes."""
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(float(text.rstrip("KMG")) * scale)


# -- inputs --------------------------------------------------------------------------------------


def _paragraphs_of(text: str, longest: int = 4000) -> Iterator[str]:
    for block in re.split(r"\n\s*\n", text):
        block = block.strip()
        while len(block) > longest:  # one Info node can be a whole chapter: cut it up
            cut = block.rfind("\n", 0, longest)
            cut = cut if cut > 0 else longest
            yield block[:cut]
            block = block[cut:].strip()
        if block:
            yield block


def paragraph_pool() -> list[str]:
    """Paragraphs of every text sample in ``../shared/data``, in a fixed order."""
    pool: list[str] = []
    for book in sorted((DATA / "books").glob("*.txt.gz")):
        with gzip.open(book, "rt", encoding="utf-8") as text:
            pool.extend(_paragraphs_of(text.read()))
    for name in ("code/code.jsonl.gz", "neardup/neardup.jsonl.gz", "langid/langid.jsonl.gz"):
        with gzip.open(DATA / name, "rt", encoding="utf-8") as lines:
            for line in lines:
                pool.extend(_paragraphs_of(json.loads(line)["text"]))
    return pool


def jsonl_records(seed: int) -> Iterator[bytes]:
    """An endless stream of JSON lines: 2-40 shuffled paragraphs per document."""
    rng = random.Random(seed)
    pool = paragraph_pool()
    number = 0
    while True:
        count = min(40, max(2, int(rng.lognormvariate(2.2, 0.8))))
        text = "\n\n".join(rng.choice(pool) for _ in range(count))
        record = {
            "id": f"doc-{number:09d}",
            "text": text,
            "url": f"https://corpus{number % 97}.example.invalid/{number:x}",
            "paragraphs": count,
        }
        yield (json.dumps(record, ensure_ascii=False) + "\n").encode()
        number += 1


@dataclass(frozen=True)
class _Page:
    path: str
    body: bytes


def sample_pages() -> list[_Page]:
    pages = []
    with (DATA / "web" / "docs.warc.gz").open("rb") as handle:
        for record in ArchiveIterator(handle):
            if record.rec_type == "response":
                uri = record.rec_headers.get_header("WARC-Target-URI")
                path = uri.split("/", 3)[3]
                pages.append(_Page(path, record.content_stream().read()))
    return pages


_PARAGRAPH = re.compile(rb"<p[ >].*?</p>", re.S)


def shuffled_body(body: bytes, rng: random.Random) -> bytes:
    """The page with its ``<p>`` elements in a new order (markup around them unchanged)."""
    spans = [m.span() for m in _PARAGRAPH.finditer(body)]
    if len(spans) < 2:
        return body
    order = [body[a:b] for a, b in spans]
    rng.shuffle(order)
    out, last = [], 0
    for (a, b), paragraph in zip(spans, order, strict=True):
        out.append(body[last:a])
        out.append(paragraph)
        last = b
    out.append(body[last:])
    return b"".join(out)


def warc_records(seed: int) -> Iterator[bytes]:
    """An endless stream of gzip members: a warcinfo record, then request + response pairs."""
    rng = random.Random(seed)
    pages = sample_pages()

    def member(record: Any, writer: WARCWriter, out: io.BytesIO) -> bytes:
        out.seek(0)
        out.truncate()
        writer.write_record(record)
        return gzip.compress(out.getvalue(), GZIP_LEVEL, mtime=0)

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False)

    def headers(number: int) -> dict[str, str]:
        stamp = time.gmtime(1_790_000_000 + number * 7)
        return {
            "WARC-Record-ID": f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>",
            "WARC-Date": time.strftime("%Y-%m-%dT%H:%M:%SZ", stamp),
        }

    info = writer.create_warcinfo_record(
        "memory-peak.warc.gz", {"software": "gristmill bench/memory_peak.py"}
    )
    info.rec_headers.replace_header("WARC-Record-ID", headers(0)["WARC-Record-ID"])
    info.rec_headers.replace_header("WARC-Date", headers(0)["WARC-Date"])
    yield member(info, writer, out)
    number = 0
    while True:
        page = rng.choice(pages)
        host = f"site{rng.randrange(5000)}.example.invalid"
        uri = f"https://{host}/{number:x}/{page.path}"
        request = writer.create_warc_record(
            uri,
            "request",
            payload=io.BytesIO(b""),
            http_headers=StatusAndHeaders(
                f"GET /{number:x}/{page.path} HTTP/1.1",
                [("Host", host), ("User-Agent", "memory-peak/1.0")],
                is_http_request=True,
            ),
            warc_headers_dict=headers(number),
        )
        yield member(request, writer, out)
        body = shuffled_body(page.body, rng)
        response = writer.create_warc_record(
            uri,
            "response",
            payload=io.BytesIO(body),
            http_headers=StatusAndHeaders(
                "200 OK",
                [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
                protocol="HTTP/1.1",
            ),
            warc_headers_dict=headers(number),
        )
        yield member(response, writer, out)
        number += 1


GENERATORS: dict[str, tuple[str, Callable[[int], Iterator[bytes]]]] = {
    "jsonl": (".jsonl", jsonl_records),
    "warc": (".warc.gz", warc_records),
}


def input_path(work: Path, kind: str, size: str) -> Path:
    return work / "inputs" / f"{kind}-{size}{GENERATORS[kind][0]}"


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def generate(work: Path, kind: str, sizes: list[str]) -> None:
    """Write the missing inputs of ``kind``: prefixes of one record stream, whole records only."""
    missing = [s for s in sizes if not input_path(work, kind, s).is_file()]
    if not missing:
        return
    targets = sorted(((parse_size(s), s) for s in missing), reverse=True)
    partial = {s: _partial(input_path(work, kind, s)) for _, s in targets}
    partial[targets[0][1]].parent.mkdir(parents=True, exist_ok=True)
    handles: dict[str, BinaryIO] = {s: partial[s].open("wb") for _, s in targets}
    started = time.perf_counter()
    written = 0
    for record in GENERATORS[kind][1](SEED):
        for _, name in targets:
            if name in handles:
                handles[name].write(record)
        written += len(record)
        for size, name in targets:
            if name in handles and written >= size:
                handles.pop(name).close()
                partial[name].rename(input_path(work, kind, name))
        if not handles:
            break
    seconds = time.perf_counter() - started
    print(f"generated {kind} {', '.join(missing)} in {seconds:.0f} s", file=sys.stderr)


# -- measuring a run -----------------------------------------------------------------------------


@dataclass
class Measured:
    label: str
    kind: str
    input_bytes: int
    partition_mib: int
    until: str
    wall: float  # the whole command: start-up, Prefect's embedded server, the stages
    ingest_s: float  # the ingest stage alone (its `_stage.json`)
    maxrss_mb: float  # largest single process of the tree (ru_maxrss)
    tree_mb: float  # summed RSS of the tree, sampled
    docs_in: int
    docs_kept: int
    text_mb: float
    partitions: int


def _sample_tree(pid: int, stop: threading.Event, peak: list[float]) -> None:
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    while not stop.is_set():
        total = 0
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        peak[0] = max(peak[0], total / MiB)
        stop.wait(SAMPLE_SECONDS)


def run_config(kind: str, path: Path, extractor: str, partition_mib: int, run_dir: Path) -> Path:
    source: dict[str, Any] = {
        "name": f"bench-{kind}",
        "kind": "web",
        "format": kind,
        "paths": [str(path)],
        "limits": {"partition_bytes": partition_mib * MiB},
    }
    if kind == "warc":
        source["web"] = {"extractor": extractor}
    config = run_dir.parent / f"{run_dir.name}.yaml"
    config.write_text(json.dumps({"sources": [source]}, indent=1))  # JSON is YAML
    return config


def measure(
    work: Path, kind: str, size: str, extractor: str, partition_mib: int, until: str
) -> Measured:
    path = input_path(work, kind, size)
    label = f"{kind}-{size}" + (f" ({extractor})" if kind == "warc" else "")
    runs = work / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    run_dir = runs / f"{kind}-{size}-p{partition_mib}-{until}"
    shutil.rmtree(run_dir, ignore_errors=True)
    config = run_config(kind, path, extractor, partition_mib, run_dir)
    prefect_home = Path(tempfile.mkdtemp(prefix="prefect-home-", dir=work))
    env = {
        **os.environ,
        "PREFECT_HOME": str(prefect_home),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", "flows.cli", "run", "--config", str(config)]
    command += ["--out", str(run_dir), "--until", until]
    log = run_dir.parent / f"{run_dir.name}.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        stop, peak = threading.Event(), [0.0]
        sampler = threading.Thread(target=_sample_tree, args=(child.pid, stop, peak))
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        stop.set()
        sampler.join()
    wall = time.perf_counter() - started
    shutil.rmtree(prefect_home, ignore_errors=True)
    if child.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{label}: gristmill exited with {child.returncode}\n{tail}")
    ingest = json.loads((run_dir / "ingest" / "_stage.json").read_text())
    last = json.loads((run_dir / until / "_stage.json").read_text())
    result = Measured(
        label=label,
        kind=kind,
        input_bytes=path.stat().st_size,
        partition_mib=partition_mib,
        until=until,
        wall=wall,
        ingest_s=float(ingest["wall_seconds"]),
        maxrss_mb=usage.ru_maxrss / 1024,
        tree_mb=peak[0],
        docs_in=ingest_count(ingest, "docs_in"),
        docs_kept=ingest_count(last, "docs_kept"),
        text_mb=ingest_count(ingest, "bytes_kept") / MiB,
        partitions=len(ingest["partitions"]),
    )
    shutil.rmtree(run_dir, ignore_errors=True)
    print(json.dumps(result.__dict__), file=sys.stderr)
    return result


def ingest_count(record: dict[str, Any], key: str) -> int:
    """One of a stage record's merged counts (``docs_in``, ``docs_kept``, ``bytes_kept``)."""
    return int(record["counts"][key])


def table(results: list[Measured]) -> str:
    rows = [
        "| input | on disk MB | partition MiB | until | docs in | docs out | text MB | partitions "
        "| wall s | ingest s | ingest MB/s (disk) | peak RSS, largest process MB "
        "| peak RSS, process tree MB |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rows.append(
            f"| {r.label} | {r.input_bytes / MiB:,.0f} | {r.partition_mib} | {r.until} "
            f"| {r.docs_in:,} | {r.docs_kept:,} | {r.text_mb:,.0f} | {r.partitions} "
            f"| {r.wall:.0f} | {r.ingest_s:.0f} | {r.input_bytes / MiB / r.ingest_s:.1f} "
            f"| {r.maxrss_mb:,.0f} | {r.tree_mb:,.0f} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/gristmill-memory"))
    parser.add_argument("--sizes", default="2M,200M,2G", help="input sizes on disk, K/M/G")
    parser.add_argument("--only", default="jsonl,warc", help="input kinds: jsonl, warc")
    parser.add_argument("--extractor", default="resiliparse", help="HTML extractor for the WARC")
    parser.add_argument(
        "--partition-mib",
        default="",
        help="extra runs of the largest JSONL with these limits.partition_bytes (MiB)",
    )
    parser.add_argument("--quality", default="", help="a JSONL size to run --until quality on")
    parser.add_argument("--clean", action="store_true", help="delete --work when done")
    args = parser.parse_args()
    sizes = [s for s in args.sizes.split(",") if s]
    kinds = [k for k in args.only.split(",") if k]
    quality = [args.quality] if args.quality else []
    for kind in kinds:
        generate(args.work, kind, sizes + (quality if kind == "jsonl" else []))
    results = []
    for kind in kinds:
        for size in sorted(sizes, key=parse_size):
            results.append(measure(args.work, kind, size, args.extractor, 64, "ingest"))
    largest = max(sizes, key=parse_size)
    for mib in (int(m) for m in args.partition_mib.split(",") if m):
        results.append(measure(args.work, "jsonl", largest, args.extractor, mib, "ingest"))
    for size in quality:
        results.append(measure(args.work, "jsonl", size, args.extractor, 64, "quality"))
    print(table(results))
    if args.clean:
        shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
