"""How well a quality configuration separates good text from junk, on the labelled quality set.

Reads the set ``bench/quality_labelled_set.py`` wrote, runs the quality stage over every document
(as kind ``--kind``, ``keep: all``, so every decision is seen) and reports, per origin, the share
of good documents kept (keep-recall) or of junk documents dropped (drop-recall), the same over all
good and all junk documents, balanced accuracy (their mean), the rules that dropped good documents
first, and the stage's speed in documents per second.

    python bench/quality_labelled.py --set runs/quality-labelled --config my-run.yaml
    python bench/quality_labelled.py --set runs/quality-labelled --standard

``--config`` takes a run config (its ``quality:`` section is used) or a file holding only a
quality section. ``--standard`` measures the configurations the README reports, side by side:
the default web suite, the same with the Gopher paper's whitespace words, the Gopher rules alone,
the book rules, the trained classifier alone and after rules. A classifier without a model is
cross-fitted: the set is cut in two halves, a model trained on one half scores the other, and
the other way round, so no document is scored by a model that saw it. ``held-out origins`` cuts
by origin (``HALVES`` of the set builder: no model has seen any text of the kind it scores);
``held-out documents`` cuts every origin's documents in two by a hash of their ids (a model
trained on samples of the same kinds of text, as a user trains one on samples of their data).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_labelled_set import GOOD_ORIGINS, HALVES  # noqa: E402

from pipeline.quality.config import QualityConfig  # noqa: E402
from pipeline.quality.stage import QualityStage  # noqa: E402
from pipeline.schema import REASONS, documents_to_table  # noqa: E402


def load_set(folder: Path) -> list[dict[str, str]]:
    docs: list[dict[str, str]] = []
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            docs += [json.loads(line) for line in handle if line.strip()]
    if not docs:
        raise SystemExit(f"{folder}: no labelled documents; run bench/quality_labelled_set.py")
    return docs


def decide(docs: list[dict[str, str]], config: QualityConfig, kind: str) -> tuple[list, float]:
    """Every document's failing rules (empty: kept) and the stage's documents per second."""
    table = documents_to_table(
        {"id": d["id"], "text": d["text"], "source": d["origin"], "kind": kind} for d in docs
    )
    stage = QualityStage(config.model_copy(update={"keep": "all"}))
    started = time.perf_counter()
    result = stage(table)
    seconds = time.perf_counter() - started
    kept = result.kept
    by_id = dict(zip(kept.column("id").to_pylist(), kept.column(REASONS).to_pylist(), strict=True))
    return [by_id[d["id"]] for d in docs], len(docs) / seconds


def report(docs: list[dict[str, str]], reasons: list[list[str]], docs_per_s: float) -> dict:
    per_origin: dict[str, dict[str, Any]] = {}
    for doc, failed in zip(docs, reasons, strict=True):
        row = per_origin.setdefault(
            doc["origin"], {"label": doc["label"], "documents": 0, "kept": 0}
        )
        row["documents"] += 1
        row["kept"] += not failed
    for row in per_origin.values():
        share = row["kept"] / row["documents"]
        row["recall"] = round(share if row["label"] == "good" else 1 - share, 4)
    good = [not r for d, r in zip(docs, reasons, strict=True) if d["label"] == "good"]
    junk = [bool(r) for d, r in zip(docs, reasons, strict=True) if d["label"] == "junk"]
    keep_recall = sum(good) / len(good)
    drop_recall = sum(junk) / len(junk)
    first = Counter(r[0] for d, r in zip(docs, reasons, strict=True) if d["label"] == "good" and r)
    return {
        "keep_recall": round(keep_recall, 4),
        "drop_recall": round(drop_recall, 4),
        "balanced_accuracy": round((keep_recall + drop_recall) / 2, 4),
        "docs_per_s": round(docs_per_s, 1),
        "per_origin": per_origin,
        "good_dropped_first_by": dict(first.most_common(5)),
    }


def render(name: str, result: dict) -> str:
    lines = [
        f"## {name}",
        f"keep-recall {result['keep_recall']:.3f}  drop-recall {result['drop_recall']:.3f}  "
        f"balanced accuracy {result['balanced_accuracy']:.3f}  {result['docs_per_s']:.0f} docs/s",
    ]
    for origin, row in result["per_origin"].items():
        what = "kept" if row["label"] == "good" else "dropped"
        size = f"{row['documents']:>4} docs"
        lines.append(f"  {origin:<20} {row['label']:<4} {size}  {row['recall']:.3f} {what}")
    if result["good_dropped_first_by"]:
        lines.append(f"  good documents dropped first by: {result['good_dropped_first_by']}")
    return "\n".join(lines)


def quality_section(path: Path) -> QualityConfig:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    section = data.get("quality", {}) if "sources" in data else data
    config = QualityConfig.model_validate(section)
    model = config.classifier.model
    if model and not Path(model).is_absolute():
        config.classifier.model = str(path.parent / model)
    return config


def train_on(docs: list[dict[str, str]], out: Path, seed: int) -> Path:
    """A classifier trained on ``docs`` (good ones positive), one group per origin."""
    from pipeline.quality.classifier_train import LabelledDocs, train_classifier
    from pipeline.quality.config import ClassifierTrainConfig

    groups = []
    for origin in sorted({d["origin"] for d in docs}):
        mine = [d for d in docs if d["origin"] == origin]
        ids, texts = [d["id"] for d in mine], [d["text"] for d in mine]
        groups.append(LabelledDocs(origin, origin in GOOD_ORIGINS, ids, texts))
    train_classifier(groups, out, ClassifierTrainConfig(seed=seed))
    return out


def document_half(doc_id: str) -> int:
    """0 or 1, by a hash of the document's id (the same on every machine)."""
    return hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()[0] & 1


def halves(docs: list[dict[str, str]], by: str) -> list[list[dict[str, str]]]:
    """The set in two halves: by origin (``HALVES``) or by document within every origin."""
    if by == "origins":
        return [[d for d in docs if d["origin"] in half] for half in HALVES]
    return [[d for d in docs if document_half(d["id"]) == i] for i in (0, 1)]


def cross_fitted(
    docs: list[dict[str, str]], config: QualityConfig, kind: str, folder: Path, seed: int, by: str
) -> tuple[list, float]:
    """Decisions where each half's documents are scored by the model trained on the other."""
    reasons: dict[str, list[str]] = {}
    seconds = 0.0
    parts = halves(docs, by)
    for index, (train, score) in enumerate([(parts[0], parts[1]), (parts[1], parts[0])]):
        half = config.model_copy(deep=True)
        half.classifier.model = str(train_on(train, folder / f"{by}-{index}.bin", seed))
        decided, rate = decide(score, half, kind)
        reasons |= {d["id"]: r for d, r in zip(score, decided, strict=True)}
        seconds += len(score) / rate
    return [reasons[d["id"]] for d in docs], len(docs) / seconds


_WHITESPACE = {
    "gopher_quality": {"words": "whitespace"},
    "gopher_repetition": {"words": "whitespace"},
}
_WEB = ["gopher_repetition", "gopher_quality", "c4", "fineweb"]
_GOPHER = ["gopher_repetition", "gopher_quality"]
#: name -> (quality section, how a classifier is cross-fitted: by origins or by documents)
STANDARD: dict[str, tuple[dict[str, Any], str | None]] = {
    "web suite, datatrove words (default for kind web)": ({}, None),
    "web suite, whitespace words (the Gopher paper)": (_WHITESPACE, None),
    "Gopher rules only, datatrove words": ({"suites": {"web": _GOPHER}}, None),
    "Gopher rules only, whitespace words": ({"suites": {"web": _GOPHER}, **_WHITESPACE}, None),
    "book rules (default for kind book)": ({"suites": {"web": ["books"]}}, None),
    "classifier, held-out origins": ({"suites": {"web": ["classifier"]}}, "origins"),
    "classifier, held-out documents": ({"suites": {"web": ["classifier"]}}, "documents"),
    "web suite (whitespace words) + classifier, held-out origins": (
        {"suites": {"web": [*_WEB, "classifier"]}, **_WHITESPACE},
        "origins",
    ),
    "Gopher rules (whitespace words) + classifier, held-out origins": (
        {"suites": {"web": [*_GOPHER, "classifier"]}, **_WHITESPACE},
        "origins",
    ),
    "Gopher rules (whitespace words) + classifier, held-out documents": (
        {"suites": {"web": [*_GOPHER, "classifier"]}, **_WHITESPACE},
        "documents",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", type=Path, default=Path("runs/quality-labelled"))
    parser.add_argument("--config", type=Path, help="run config or quality section (YAML)")
    parser.add_argument("--standard", action="store_true", help="the README's configurations")
    parser.add_argument("--kind", default="web", choices=("web", "book", "code"))
    parser.add_argument("--seed", type=int, default=1, help="classifier training seed")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    docs = load_set(args.set)
    configs: dict[str, tuple[QualityConfig, str | None]] = {}
    if args.config:
        configs[str(args.config)] = (quality_section(args.config), "origins")
    if args.standard:
        configs |= {n: (QualityConfig.model_validate(c), by) for n, (c, by) in STANDARD.items()}
    if not configs:
        configs["default"] = (QualityConfig(), None)
    results = {}
    with tempfile.TemporaryDirectory(prefix="gristmill-labelled-") as folder:
        for name, (config, by) in configs.items():
            uses_model = any("classifier" in s for s in config.suites.values())
            if uses_model and not config.classifier.model:
                reasons, rate = cross_fitted(
                    docs, config, args.kind, Path(folder), args.seed, by or "origins"
                )
            else:
                reasons, rate = decide(docs, config, args.kind)
            results[name] = report(docs, reasons, rate)
            print(render(name, results[name]) + "\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
