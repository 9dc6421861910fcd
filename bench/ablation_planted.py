"""The planted-noise ablation, full-sized: real English prose from `../shared/data` (the King
James Bible and the Jargon File, cut into pages), a known share of junk pages (boilerplate,
repeated lines, machine-like text) and near duplicates planted in it
(`pipeline.ablate.noise`), then `gristmill ablate` comparing `raw` (the noisy corpus as it is),
`full` (language ID, quality filters and dedup) and `full-aa` (full's data, other seeds).

    .venv/bin/python bench/ablation_planted.py [--pages 2000] [--seeds 3] [--tokens 300000]
        [--out /tmp/gristmill-ablation]

Prints the ablation's table, what `full` removed of each planted kind, and the wall time. The
command runs with one torch thread (OMP_NUM_THREADS=1): on a shared two-core machine two
threads per model were ten times slower.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.ablate.noise import write_planted  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: A model small enough to train nine times in minutes on two CPU cores, large enough to tell
#: clean text from junk at a few hundred thousand tokens.
SETTINGS = {
    "tokenizer": {"vocab_size": 4000},
    "shards": {"objectives": ["clm"], "clm": {"seq_len": 128}, "val_fraction": 0.05},
    "train": {
        "batch_size": 16,
        "d_model": 64,
        "n_layers": 2,
        "n_heads": 4,
        "d_ff": 256,
        "lr": 2e-3,
        "warmup_steps": 10,
    },
}


def kjv_pages(path: Path, verses: int = 24) -> list[str]:
    """The Bible in pages of ``verses`` verses, three paragraphs each, references removed."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    text = [re.sub(r"^\S+\d+:\d+\s+", "", line).strip() for line in lines if line.strip()]
    pages = []
    for start in range(0, len(text) - verses + 1, verses):
        chunk = text[start : start + verses]
        third = verses // 3
        pages.append("\n\n".join(" ".join(chunk[i : i + third]) for i in range(0, verses, third)))
    return pages


def jargon_pages(path: Path, size: int = 2500) -> list[str]:
    """The Jargon File's prose paragraphs (tables and short lines left out), in pages of about
    ``size`` characters."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        paragraphs = handle.read().split("\n\n")
    prose = []
    for paragraph in paragraphs:
        text = " ".join(paragraph.split())
        letters = sum(c.isalpha() or c.isspace() for c in text)
        if len(text) >= 200 and letters / len(text) > 0.9:
            prose.append(text)
    pages, page = [], []
    for text in prose:
        page.append(text)
        if sum(len(t) for t in page) >= size:
            pages.append("\n\n".join(page))
            page = []
    return pages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=Path("/tmp/gristmill-ablation"))
    parser.add_argument("--pages", type=int, default=2000, help="clean pages")
    parser.add_argument("--junk", type=float, default=0.3)
    parser.add_argument("--duplicates", type=float, default=0.2)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=300_000)
    args = parser.parse_args()

    clean = kjv_pages(args.data / "books" / "kjv-bible.txt.gz")
    clean += jargon_pages(args.data / "books" / "jargon-file-4.4.7.txt.gz")
    random.Random(20261130).shuffle(clean)
    clean = clean[: args.pages]
    if args.out.exists():
        shutil.rmtree(args.out)
    config = write_planted(
        args.out / "data", clean, args.junk, args.duplicates, seed=1, settings=SETTINGS
    )
    command = [
        sys.executable, "-m", "flows.cli", "ablate", "--config", str(config),
        "--out", str(args.out / "ablation"), "--variants", "raw,full,full-aa",
        "--seeds", str(args.seeds), "--tokens", str(args.tokens),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PREFECT_HOME": str(args.out / "prefect")}
    print("$", " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=Path(__file__).resolve().parents[1])
    wall = time.perf_counter() - started

    planted = Counter(
        json.loads(line)["planted"]
        for line in (args.out / "data" / "planted.jsonl").read_text().splitlines()
    )
    final = args.out / "ablation" / "variants" / "full" / "dedup"
    kept = Counter(
        json.loads(meta or "{}").get("planted")
        for path in sorted(final.glob("*.parquet"))
        for meta in pq.read_table(path, columns=["meta"]).column("meta").to_pylist()
    )
    print("\nplanted kind      in corpus   kept by full")
    for kind in ("clean", "boilerplate", "repeated", "machine", "near_duplicate"):
        print(f"{kind:<16} {planted[kind]:>10,} {kept[kind]:>14,}")
    print(f"\nwall time of the ablate command: {wall:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
