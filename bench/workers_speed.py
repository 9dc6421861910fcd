"""Runners and workers side by side, and the chain's growth with corpus size, through dedup.

A web-like JSONL corpus is generated from ``../shared/data`` (the sample WARC's pages, the books
cut into 3,000-character pages and the licence texts, as ``bench/quality_profile.py``), cut into
``--files`` files so ingest has several units. Beyond the sample's 26 MB, copies are edited --
every document's paragraphs rotated and one word in fifty replaced by a seeded random word --
so they are near, not exact, duplicates of their originals (dedup still finds many of them).

``speed``: each setting (``runner:workers``, e.g. ``processes:1,processes:2,threads:2,dask:2``)
runs ``gristmill run --until STAGE`` into a fresh run directory (``runner:N+server``: with
``PREFECT_API_URL`` pointing at a ``prefect server start`` the benchmark keeps running, instead
of the run's own temporary server; ``datatrove:N``: datatrove
0.10.1's LanguageFilter and four web filters over the same files, one task per file on ``N``
processes, with the local lid.176.ftz; datatrove must be importable), the settings interleaved, each
``--repeat`` times; reported are the median wall seconds (of the whole command, Prefect's start
included), the median seconds of each stage (from the run's manifest) and the ratio of each
setting's wall time to the first setting's.

``scale``: each size in ``--sizes`` (MB) runs once with the default runner and workers under
``/usr/bin/time -v``: seconds per stage, seconds per MB per stage, peak RSS of the largest
process, and the documents dedup kept.

    PYTHONPATH=. python bench/workers_speed.py speed --size 50 [--until quality] [--repeat 3]
    PYTHONPATH=. python bench/workers_speed.py scale --sizes 25,50,100
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_corpus import DEFAULT_DATA  # noqa: E402
from quality_profile import corpus  # noqa: E402


def _edit(text: str, rng: random.Random, vocabulary: list[str]) -> str:
    paragraphs = text.split("\n\n")
    shift = rng.randrange(len(paragraphs))
    words = "\n\n".join(paragraphs[shift:] + paragraphs[:shift]).split(" ")
    for i in range(0, len(words), 50):
        words[i] = rng.choice(vocabulary)
    return " ".join(words)


def write_corpus(folder: Path, megabytes: float, files: int, data: Path) -> Path:
    """``files`` JSONL files of about ``megabytes`` MB of text in all, and a run config."""
    folder.mkdir(parents=True, exist_ok=True)
    docs = corpus(data)
    vocabulary = sorted({w for _, t in docs[:200] for w in t.split() if w.isalpha()})
    rng = random.Random(20261130)
    target = int(megabytes * 1e6)
    handles = [(folder / f"part-{i:03d}.jsonl").open("w", encoding="utf-8") for i in range(files)]
    size = 0
    copy = 0
    while size < target:
        for index, (key, text) in enumerate(docs):
            if size >= target:
                break
            body = text if copy == 0 else _edit(text, rng, vocabulary)
            record = {"id": f"{key}#{copy}", "text": body, "url": f"https://x.invalid/{index}"}
            handles[(index + copy) % files].write(json.dumps(record) + "\n")
            size += len(body.encode())
        copy += 1
    for handle in handles:
        handle.close()
    config = folder / "run.yaml"
    config.write_text(
        json.dumps(
            {
                "sources": [
                    {
                        "name": "web",
                        "kind": "web",
                        "format": "jsonl",
                        "paths": ["part-*.jsonl"],
                        "license": "mixed",
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    return config


def run_once(
    config: Path, out: Path, until: str, extra: list[str], env: dict[str, str] | None = None
) -> dict:
    """One `gristmill run` under /usr/bin/time -v: wall, peak RSS, the manifest's stages."""
    if out.exists():
        shutil.rmtree(out)
    command = [sys.executable, "-m", "flows.cli", "run", "--config", str(config), "--out"]
    command += [str(out), "--until", until, *extra]
    started = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-v", *command], capture_output=True, text=True, check=False, env=env
    )
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"failed: {' '.join(command)}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    manifest = json.loads((out / "manifest.json").read_text())
    stages = {name: entry["seconds"] for name, entry in manifest["stages"].items()}
    kept = json.loads((out / until / "_stage.json").read_text())["counts"]
    return {"wall": wall, "rss_mb": rss / 1024, "stages": stages, "counts": kept}


DATATROVE_SCRIPT = """
import sys
import datatrove.utils.lid
datatrove.utils.lid.cached_asset_path_or_download = lambda *a, **k: sys.argv[3]  # no download
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter,
    GopherQualityFilter, GopherRepetitionFilter, LanguageFilter)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
if __name__ == "__main__":
    source, out, _, workers, tasks = sys.argv[1:6]
    steps = [JsonlReader(source, glob_pattern="part-*.jsonl"), LanguageFilter(languages=["en"]),
        GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(), FineWebQualityFilter(),
        JsonlWriter(out + "/kept")]
    LocalPipelineExecutor(steps, tasks=int(tasks), workers=int(workers),
        logging_dir=out + "/logs").run()
"""


def run_datatrove(source: Path, out: Path, workers: int, tasks: int) -> dict:
    """datatrove's filtering chain (language ID + the four web filters) over the same files,
    ``tasks`` tasks on ``workers`` processes; wall seconds of the whole command."""
    from pipeline.langid.model import resolve_model_path

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    script = out / "chain.py"
    script.write_text(DATATROVE_SCRIPT, encoding="utf-8")
    model = str(resolve_model_path(None))
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(script), str(source), str(out), model, str(workers), str(tasks)],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"datatrove failed:\n{proc.stderr[-3000:]}")
    kept = 0
    for path in (out / "kept").glob("*.jsonl*"):
        with gzip.open(path, "rt") as handle:
            kept += sum(1 for _ in handle)
    return {"wall": wall, "rss_mb": 0.0, "stages": {}, "counts": {"docs_kept": kept}}


def start_prefect_server(home: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    """`prefect server start` on a free loopback port with its own PREFECT_HOME, as a user who
    keeps a server running would have; the process and the environment that points runs at it."""
    import os
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(home)
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
        + ["--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    for _ in range(1200):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                break
        except OSError:
            time.sleep(0.1)
    return server, {**env, "PREFECT_API_URL": url}


def speed(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="gristmill-workers-"))
    config = write_corpus(folder / "in", args.size, args.files, args.data)
    settings = [s.split(":") for s in args.settings.split(",")]
    results: dict[str, list[dict]] = {f"{r}:{w}": [] for r, w in settings}
    server, server_env = None, None
    if any(w.endswith("+server") for _, w in settings):
        server, server_env = start_prefect_server(folder / "prefect-home")
    for _ in range(args.repeat):
        for runner, workers in settings:
            if workers.endswith("+server"):  # a Prefect server the user keeps running
                extra = ["--runner", runner, "--workers", workers.removesuffix("+server")]
                result = run_once(config, folder / "run", args.until, extra, server_env)
                results[f"{runner}:{workers}"].append(result)
                print(f"{runner}:{workers} {result['wall']:.1f} s {result['stages']}", flush=True)
                continue
            if runner == "datatrove":
                tasks = args.files
                result = run_datatrove(config.parent, folder / "dt", int(workers), tasks)
                results[f"{runner}:{workers}"].append(result)
                print(f"{runner}:{workers} {result['wall']:.1f} s", flush=True)
                continue
            extra = ["--runner", runner, "--workers", workers]
            result = run_once(config, folder / "run", args.until, extra)
            results[f"{runner}:{workers}"].append(result)
            print(f"{runner}:{workers} {result['wall']:.1f} s {result['stages']}", flush=True)
    stages = list(next(iter(results.values()))[0]["stages"])
    first = statistics.median(r["wall"] for r in next(iter(results.values())))
    print(f"\n{args.size} MB, --until {args.until}, medians of {args.repeat}, interleaved")
    print("| runner:workers | wall s | x first | " + " | ".join(stages) + " | kept |")
    print("|---|---:|---:|" + "---:|" * len(stages) + "---:|")
    for name, runs in results.items():
        wall = statistics.median(r["wall"] for r in runs)
        cells = [
            f"{statistics.median(r['stages'][s] for r in runs):.1f}" if runs[0]["stages"] else "-"
            for s in stages
        ]
        kept = runs[0]["counts"]["docs_kept"]
        print(f"| {name} | {wall:.1f} | {first / wall:.2f} | " + " | ".join(cells) + f" | {kept} |")
    if server is not None:
        server.terminate()
        server.wait()
    shutil.rmtree(folder, ignore_errors=True)


def scale(args: argparse.Namespace) -> None:
    print("| MB | wall s | peak RSS MB | stage: s (s/MB) | dedup in -> kept |")
    print("|---:|---:|---:|---|---|")
    for size in [float(s) for s in args.sizes.split(",")]:
        folder = Path(tempfile.mkdtemp(prefix="gristmill-scale-"))
        config = write_corpus(folder / "in", size, args.files, args.data)
        result = run_once(config, folder / "run", "dedup", [])
        cells = ", ".join(
            f"{name}: {seconds:.1f} ({seconds / size:.3f})"
            for name, seconds in result["stages"].items()
        )
        counts = result["counts"]
        print(
            f"| {size:g} | {result['wall']:.1f} | {result['rss_mb']:.0f} | {cells} | "
            f"{counts['docs_in']} -> {counts['docs_kept']} |",
            flush=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--files", type=int, default=8)
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--size", type=float, default=50)
    s.add_argument("--until", default="dedup")
    s.add_argument("--repeat", type=int, default=3)
    s.add_argument("--settings", default="processes:1,processes:2,threads:2,dask:2")
    c = sub.add_parser("scale")
    c.add_argument("--sizes", default="25,50,100")
    args = parser.parse_args()
    speed(args) if args.mode == "speed" else scale(args)


if __name__ == "__main__":
    main()
