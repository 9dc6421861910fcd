"""Where the quality stage spends its time: cProfile of one stage call on a web-like corpus.

The corpus is the sample WARC's pages, book pages and licence texts, all as ``web`` documents
(so the full web suite -- PII, gopher_repetition, gopher_quality, c4, fineweb -- measures every
one, ``keep: all``). Prints the stage's seconds, MB/s and the functions with the most cumulative
and own time; ``--stop-at-first-failure`` profiles the early-stopping mode instead.

    PYTHONPATH=. python bench/quality_profile.py [--data ../shared/data] [--top 15]
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import io
import json
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_corpus import DEFAULT_DATA, book_pages, web_pages  # noqa: E402

from pipeline.quality.config import QualityConfig  # noqa: E402
from pipeline.quality.stage import QualityStage  # noqa: E402
from pipeline.schema import documents_to_table  # noqa: E402


def licence_texts(data: Path) -> list[tuple[str, str]]:
    with gzip.open(data / "neardup" / "neardup.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [(f"licence:{r['id']}", r["text"]) for r in map(json.loads, handle)]


def corpus(data: Path) -> list[tuple[str, str]]:
    return web_pages(data) + book_pages(data) + licence_texts(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--stop-at-first-failure", action="store_true")
    args = parser.parse_args()
    docs = corpus(args.data)
    table = documents_to_table(
        {"id": key, "text": text, "source": "web", "kind": "web"} for key, text in docs
    )
    megabytes = sum(len(t.encode()) for _, t in docs) / 1e6
    stage = QualityStage(QualityConfig(keep="all"))
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    stage(table)
    profile.disable()
    seconds = time.perf_counter() - started
    print(f"{len(docs)} documents, {megabytes:.1f} MB: {seconds:.2f} s under cProfile")
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(key).print_stats(args.top)
        print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])


if __name__ == "__main__":
    main()
