"""Speed of language ID + the full web filter suite: gristmill against datatrove, one run.

The same documents (the web pages of ``../shared/data``, see ``bench/quality_corpus.py``) go
through both implementations on one core, in one process, in two modes:

* **chained** -- as each runs in production. gristmill: the ``langid`` stage (fastText lid.176,
  keep English >= 0.65), then the ``quality`` stage with its default web suite (PII replacement,
  gopher_repetition, gopher_quality, c4, fineweb -- every signal measured for every document it
  gets) on what langid kept, over Arrow tables as in a run. datatrove 0.10.1: LanguageFilter (the
  same lid.176.ftz, English > 0.65) -> GopherRepetition -> GopherQuality -> C4Quality ->
  FineWebQuality chained through their ``run`` generators, as a datatrove pipeline runs them (a
  document stops at the first filter that drops it, so later filters see fewer documents).
* **every filter** -- every document through language ID and each of the four filters: what it
  takes to have every signal of every document (gristmill's stages with ``keep: all``; each
  datatrove filter over all documents, a fresh copy each, as C4 rewrites what it keeps).

Each mode runs twice, alternating (ours, theirs, ours, theirs): the first pass of the first mode
starts with empty caches (our word-split cache, spaCy's tokenizer cache). Reported: seconds,
MB/s of UTF-8 text in, documents/s, the ratio, and the documents each keeps (chained mode).

    ../benchenv/bin/python bench/quality_speed.py [--data ../shared/data] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
from quality_corpus import DEFAULT_DATA, web_pages

from pipeline.langid.config import LangIDConfig
from pipeline.langid.fasttext_lid import LangIDStage
from pipeline.quality.config import QualityConfig
from pipeline.quality.stage import QualityStage
from pipeline.schema import documents_to_table


def _table(docs: list[tuple[str, str]]) -> pa.Table:
    return documents_to_table(
        {"id": url, "text": text, "source": "web", "kind": "web", "url": url} for url, text in docs
    )


def run_ours(docs: list[tuple[str, str]], keep: str = "filter") -> tuple[float, set[str]]:
    table = _table(docs)
    langid = LangIDStage(LangIDConfig(keep=keep))
    quality = QualityStage(QualityConfig(keep=keep))
    started = time.perf_counter()
    kept = quality(langid(table).kept).kept
    seconds = time.perf_counter() - started
    return seconds, set(kept.column("id").to_pylist())


def datatrove_steps(model_path: str) -> list[Any]:
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
    )
    from fasttext.FastText import _FastText

    language = LanguageFilter(languages=["en"], language_threshold=0.65)
    language.model._model = _FastText(model_path)  # the local lid.176.ftz, no download
    return [
        language,
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(),
        FineWebQualityFilter(),
    ]


def run_datatrove(docs: list[tuple[str, str]], model_path: str) -> tuple[float, set[str]]:
    from datatrove.data import Document

    steps = datatrove_steps(model_path)
    documents = [Document(text=text, id=url) for url, text in docs]
    started = time.perf_counter()
    stream: Any = iter(documents)
    for step in steps:
        stream = step.run(stream)
    kept = [doc.id for doc in stream]
    return time.perf_counter() - started, set(kept)


def run_datatrove_every_filter(docs: list[tuple[str, str]], model_path: str) -> float:
    from datatrove.data import Document

    steps = datatrove_steps(model_path)
    started = time.perf_counter()
    for step in steps:
        for url, text in docs:
            step.filter(Document(text=text, id=url))
    return time.perf_counter() - started


def explain_differences(
    docs: list[tuple[str, str]], ours: set[str], theirs: set[str]
) -> list[dict[str, Any]]:
    """For each document one side keeps and the other drops: our reasons, and datatrove's
    FineWeb filter on the text as it was before its C4 filter rewrote it."""
    from datatrove.data import Document
    from datatrove.pipeline.filters import FineWebQualityFilter

    texts = dict(docs)
    table = _table([(url, texts[url]) for url in sorted(ours ^ theirs)])
    measured = QualityStage(QualityConfig(keep="all"))(table).kept
    out = []
    for row in measured.to_pylist():
        result = FineWebQualityFilter().filter(Document(text=texts[row["id"]], id=row["id"]))
        out.append(
            {
                "id": row["id"],
                "kept_by": "datatrove" if row["id"] in theirs else "ours",
                "our_reasons": row["reasons"],
                "datatrove_fineweb_on_original_text": result if result is True else result[1],
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    docs = web_pages(args.data)
    megabytes = sum(len(text.encode()) for _, text in docs) / 1e6
    model_path = LangIDStage(LangIDConfig()).model_path
    passes = []
    for number in (1, 2):
        ours, our_kept = run_ours(docs)
        theirs, their_kept = run_datatrove(docs, model_path)
        passes.append(
            {
                "mode": "chained",
                "pass": number,
                "ours_seconds": ours,
                "datatrove_seconds": theirs,
                "ours_kept": len(our_kept),
                "datatrove_kept": len(their_kept),
                "kept_by_both": len(our_kept & their_kept),
            }
        )
    for number in (1, 2):
        ours, _ = run_ours(docs, keep="all")
        theirs = run_datatrove_every_filter(docs, model_path)
        passes.append(
            {
                "mode": "every filter",
                "pass": number,
                "ours_seconds": ours,
                "datatrove_seconds": theirs,
            }
        )
    for p in passes:
        p |= {
            "ours_mb_s": megabytes / p["ours_seconds"],
            "datatrove_mb_s": megabytes / p["datatrove_seconds"],
            "ours_docs_s": len(docs) / p["ours_seconds"],
            "datatrove_docs_s": len(docs) / p["datatrove_seconds"],
            "speedup": p["datatrove_seconds"] / p["ours_seconds"],
        }
    differences = explain_differences(docs, our_kept, their_kept)
    print(f"{len(docs)} documents, {megabytes:.2f} MB; machine {platform.node()}")
    print(
        "\n| mode | pass | ours s | ours MB/s | ours docs/s | datatrove s | datatrove MB/s | "
        "datatrove docs/s | speed-up | kept (ours / datatrove / both) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for p in passes:
        kept = (
            f"{p['ours_kept']} / {p['datatrove_kept']} / {p['kept_by_both']}"
            if "ours_kept" in p
            else "-"
        )
        print(
            f"| {p['mode']} | {p['pass']} | {p['ours_seconds']:.2f} | {p['ours_mb_s']:.2f} | "
            f"{p['ours_docs_s']:.0f} | {p['datatrove_seconds']:.2f} | "
            f"{p['datatrove_mb_s']:.3f} | {p['datatrove_docs_s']:.1f} | "
            f"{p['speedup']:.1f}x | {kept} |"
        )
    print("\nkept by one side only (chained):")
    for d in differences:
        print(
            f"  {d['id']}: kept by {d['kept_by']}; our reasons {d['our_reasons']}; datatrove's "
            f"FineWeb filter on the text before C4 rewrote it: "
            f"{d['datatrove_fineweb_on_original_text']}"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "documents": len(docs),
                    "megabytes": megabytes,
                    "passes": passes,
                    "differences": differences,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
