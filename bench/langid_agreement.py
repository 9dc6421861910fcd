"""Language-ID decisions against datatrove's LanguageFilter on whole documents, per ``max_chars``.

datatrove 0.10.1's ``LanguageFilter(languages=["en"])`` (the same ``lid.176.ftz`` gristmill uses,
loaded from the local file: no download) scores each document's whole text; gristmill's
``langid`` stage (keep English at >= 0.65) scores the first ``max_chars`` characters. For each
``max_chars`` tried this reports the documents decided differently (kept by one side, dropped by
the other) and the seconds our stage took, on the web-like corpus of
``bench/quality_profile.py`` (the sample WARC's pages, book pages and licence texts).

Needs datatrove (not a gristmill dependency) on the path::

    PYTHONPATH=.:<datatrove> python bench/langid_agreement.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_corpus import DEFAULT_DATA  # noqa: E402
from quality_profile import corpus  # noqa: E402

from pipeline.langid.config import LangIDConfig  # noqa: E402
from pipeline.langid.fasttext_lid import LangIDStage  # noqa: E402
from pipeline.schema import documents_to_table  # noqa: E402


def datatrove_kept(docs: list[tuple[str, str]], model_path: str) -> tuple[set[str], float]:
    from datatrove.data import Document
    from datatrove.pipeline.filters import LanguageFilter
    from fasttext.FastText import _FastText

    language = LanguageFilter(languages=["en"])
    language.model._model = _FastText(model_path)  # the local lid.176.ftz
    started = time.perf_counter()
    kept = {key for key, text in docs if language.filter(Document(text=text, id=key)) is True}
    return kept, time.perf_counter() - started


def ours_kept(docs: list[tuple[str, str]], max_chars: int | None) -> tuple[set[str], float]:
    table = documents_to_table(
        {"id": key, "text": text, "source": "web", "kind": "web"} for key, text in docs
    )
    stage = LangIDStage(LangIDConfig(max_chars=max_chars))
    started = time.perf_counter()
    kept = stage(table).kept
    return set(kept.column("id").to_pylist()), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--max-chars", default="none,100000,10000,2000")
    args = parser.parse_args()
    docs = corpus(args.data)
    megabytes = sum(len(t.encode()) for _, t in docs) / 1e6
    model_path = LangIDStage(LangIDConfig()).model_path
    theirs, their_seconds = datatrove_kept(docs, model_path)
    print(
        f"{len(docs)} documents, {megabytes:.1f} MB; datatrove keeps {len(theirs)} "
        f"({their_seconds:.1f} s)"
    )
    print("| max_chars | kept | decided differently | of them long (> max_chars) | seconds |")
    print("|---|---|---|---|---|")
    lengths = {key: len(text) for key, text in docs}
    for value in args.max_chars.split(","):
        limit = None if value == "none" else int(value)
        ours, seconds = ours_kept(docs, limit)
        differ = ours ^ theirs
        long = sum(1 for key in differ if limit is not None and lengths[key] > limit)
        print(f"| {value} | {len(ours)} | {len(differ)} | {long} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
