"""Language-ID accuracy per language: gristmill's langid stage (fastText lid.176) beside lingua.

Both detectors label the same items of ``../shared/data/langid/langid.jsonl.gz`` in one run:
the stage's own ``predict`` (the text normalised and cut exactly as the stage does) and lingua's
``detect_language_of`` with all 75 of its languages loaded (high-accuracy mode). Accuracy is the
share of items whose top label is the gold language; micro = over items, macro = mean over
languages. Totals are given over the items each detector knows the language of, and over the
items of languages both know (the fair comparison).

Run with the benchmark environment (lingua is not a gristmill dependency)::

    ../benchenv/bin/python bench/langid_accuracy.py [--data ../shared/data] [--json out.json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import time
from collections import defaultdict
from pathlib import Path

from pipeline.langid.config import LangIDConfig
from pipeline.langid.fasttext_lid import LangIDStage
from pipeline.langid.model import load_model

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# lingua names Norwegian Bokmal `nb`; the data set files it under `no`, as lid.176 does.
LINGUA_CODES = {"nb": "no"}


def load_items(data: Path) -> list[dict[str, str]]:
    with gzip.open(data / "langid" / "langid.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def fasttext_predictions(texts: list[str]) -> tuple[list[str], set[str], float]:
    stage = LangIDStage(LangIDConfig())
    labels = {label.removeprefix("__label__") for label in load_model(stage.model_path).labels}
    started = time.perf_counter()
    predictions = [lang for lang, _ in stage.predict(texts)]
    return predictions, labels, time.perf_counter() - started


def lingua_predictions(texts: list[str]) -> tuple[list[str], set[str], float]:
    from lingua import Language, LanguageDetectorBuilder

    detector = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()

    def code(language: Language | None) -> str:
        if language is None:
            return "unknown"
        iso = language.iso_code_639_1.name.lower()
        return LINGUA_CODES.get(iso, iso)

    known = {code(language) for language in Language.all()}
    started = time.perf_counter()
    predictions = [code(detector.detect_language_of(text)) for text in texts]
    return predictions, known, time.perf_counter() - started


def accuracy(gold: list[str], predicted: list[str], languages: set[str]) -> dict[str, object]:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for g, p in zip(gold, predicted, strict=True):
        if g in languages:
            per[g][0] += p == g
            per[g][1] += 1
    items = sum(n for _, n in per.values())
    micro = sum(c for c, _ in per.values()) / items if items else 0.0
    macro = sum(c / n for c, n in per.values()) / len(per) if per else 0.0
    return {
        "items": items,
        "languages": len(per),
        "micro": micro,
        "macro": macro,
        "per_language": {lang: c / n for lang, (c, n) in sorted(per.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    items = load_items(args.data)
    texts = [item["text"] for item in items]
    gold = [item["lang"] for item in items]
    ft, ft_known, ft_seconds = fasttext_predictions(texts)
    li, li_known, li_seconds = lingua_predictions(texts)
    both = ft_known & li_known
    result = {
        "items": len(items),
        "machine": f"{platform.node()} ({platform.machine()})",
        "fasttext": {
            "seconds": ft_seconds,
            "own": accuracy(gold, ft, ft_known),
            "shared": accuracy(gold, ft, both),
        },
        "lingua": {
            "seconds": li_seconds,
            "own": accuracy(gold, li, li_known),
            "shared": accuracy(gold, li, both),
        },
    }
    counts = defaultdict(int)
    for g in gold:
        counts[g] += 1
    print(
        f"{len(items)} items, {len(counts)} languages; fastText {ft_seconds:.2f}s, "
        f"lingua {li_seconds:.2f}s"
    )
    for name in ("fasttext", "lingua"):
        for scope in ("own", "shared"):
            r = result[name][scope]
            print(
                f"{name:8} {scope:6} items {r['items']:5} languages {r['languages']:3} "
                f"micro {r['micro']:.1%} macro {r['macro']:.1%}"
            )
    print("\n| lang | items | fastText lid.176 | lingua |\n|---|---:|---:|---:|")
    ft_per = result["fasttext"]["own"]["per_language"]
    li_per = result["lingua"]["own"]["per_language"]
    for lang in sorted(counts):
        f = f"{ft_per[lang]:.1%}" if lang in ft_per else "n/a"
        g = f"{li_per[lang]:.1%}" if lang in li_per else "n/a"
        print(f"| {lang} | {counts[lang]} | {f} | {g} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
