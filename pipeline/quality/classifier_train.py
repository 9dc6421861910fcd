"""Training the quality classifier: `gristmill quality-model train`.

Positive (good) and negative documents come from sources of a run config (read with the same
readers a run uses) or from run folders (the documents of the run's last document stage that has
partitions). A fixed share of them, chosen by a hash of each document's id, is held out; the rest
is written as fastText training lines (``__label__positive`` / ``__label__negative`` and the
model's view of the text, :func:`pipeline.quality.classifier.model_text`) in an order fixed by the
same hash, and ``fasttext.train_supervised`` fits the model with one thread and a fixed seed, so
the same documents and settings give the same model, byte for byte. The model goes to
``MODEL.bin``; what it was trained on (documents per source and label), its settings and its
held-out accuracy go beside it to ``MODEL.json`` (:func:`summary_path`).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from pipeline.errors import UserFacingError
from pipeline.quality.classifier import (
    NEGATIVE,
    POSITIVE,
    load_classifier,
    model_text,
    score_texts,
)
from pipeline.quality.config import ClassifierTrainConfig
from pipeline.rundir import atomic_write_json


class TrainingDataError(UserFacingError):
    """The documents named for training are missing or cannot make a classifier."""


@dataclass(frozen=True)
class LabelledDocs:
    """Documents of one named origin (a source or a run folder) under one label."""

    name: str
    positive: bool
    ids: list[str]
    texts: list[str]


def summary_path(model_path: Path) -> Path:
    """Where the training summary of ``model_path`` is written: the same name, ``.json``."""
    return model_path.with_suffix(".json")


def _run_documents(root: Path) -> tuple[list[str], list[str]]:
    from pipeline.stages import DOCUMENT_STAGES

    for stage in reversed(DOCUMENT_STAGES):
        parts = sorted((root / stage).glob("*.parquet"))
        if parts:
            ids: list[str] = []
            texts: list[str] = []
            for part in parts:
                table = pq.read_table(part, columns=["id", "text"])
                ids += table.column("id").to_pylist()
                texts += table.column("text").to_pylist()
            return ids, texts
    raise TrainingDataError(f"{root}: a run folder without documents (no stage has partitions)")


def _source_documents(config: Any, name: str) -> tuple[list[str], list[str]]:
    from pipeline.ingest.files import relative_name, resolve_source_files
    from pipeline.ingest.reader import ingest_file

    source = config.source(name)
    base = Path(config.base_dir)
    ids: list[str] = []
    texts: list[str] = []
    for path in resolve_source_files(source, base):
        table = ingest_file(source, path, relative_name(path, base)).kept
        ids += table.column("id").to_pylist()
        texts += table.column("text").to_pylist()
    return ids, texts


def documents(config: Any, name: str, positive: bool) -> LabelledDocs:
    """The documents of source ``name`` of ``config``, or of the run folder ``name``."""
    names = [s.name for s in config.sources]
    if name in names:
        ids, texts = _source_documents(config, name)
    elif Path(name).is_dir() and (Path(name) / "manifest.json").is_file():
        ids, texts = _run_documents(Path(name))
    else:
        raise TrainingDataError(
            f"{name}: neither a source of the config ({', '.join(names)}) nor a run folder"
        )
    if not ids:
        raise TrainingDataError(f"{name}: no documents to train on")
    return LabelledDocs(name, positive, ids, texts)


def _key(doc_id: str) -> float:
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def train_classifier(
    groups: Sequence[LabelledDocs], out: Path, config: ClassifierTrainConfig
) -> dict[str, Any]:
    """Train on ``groups`` and write ``out`` and its summary; return the summary."""
    labels = {g.positive for g in groups}
    if labels != {True, False}:
        raise TrainingDataError("training needs both positive and negative documents")
    rows: list[tuple[float, bool, str, str]] = []  # (hash key, positive, id, text)
    per_source: list[dict[str, Any]] = []
    for group in groups:
        keys = [_key(f"{group.name}\x00{i}") for i in group.ids]
        held = sum(k < config.holdout_fraction for k in keys)
        per_source.append(
            {
                "name": group.name,
                "label": "positive" if group.positive else "negative",
                "documents": len(group.ids),
                "held_out": held,
                "characters": sum(len(t) for t in group.texts),
            }
        )
        rows += [
            (k, group.positive, i, t) for k, i, t in zip(keys, group.ids, group.texts, strict=True)
        ]
    rows.sort(key=lambda row: (row[0], row[2]))  # a fixed, label-mixed order for SGD
    train = [r for r in rows if r[0] >= config.holdout_fraction]
    held = [r for r in rows if r[0] < config.holdout_fraction]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    seed = _fit(train, config, tmp)
    os.replace(tmp, out)
    model = load_classifier(str(out))
    summary = {
        "model": out.name,
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "labels": {"positive": POSITIVE, "negative": NEGATIVE},
        "sources": per_source,
        "train_documents": len(train),
        "held_out_documents": len(held),
        "held_out": _evaluate(model, held),
        "settings": {**config.model_dump(mode="json"), "thread": 1, "loss": "softmax"},
        "seed_used": seed,
    }
    atomic_write_json(summary_path(out), summary)
    return summary


#: Seeds tried, from the configured one on, before training is given up as diverged.
SEED_ATTEMPTS = 4


def _fit(
    rows: Iterable[tuple[float, bool, str, str]], config: ClassifierTrainConfig, out: Path
) -> int:
    """Train on ``rows`` and save the model to ``out``; return the seed it was trained with.

    Each training runs in a fresh process: the fastText build used here (0.9.2) gives a
    different model for the same file, seed and single thread when a process trains a second
    time, and the same model in every fresh process (measured). It also sometimes stops with
    "Encountered NaN" on small training sets, for some seeds and not others; the next seed is
    tried then, so the outcome is still fixed by the documents and the settings.
    """
    with tempfile.TemporaryDirectory(prefix="gristmill-quality-model-") as folder:
        path = Path(folder) / "train.txt"
        with path.open("w", encoding="utf-8") as handle:
            for _, positive, _, text in rows:
                handle.write(f"{POSITIVE if positive else NEGATIVE} {model_text(text)}\n")
        settings = json.dumps(config.model_dump())
        error = ""
        for seed in range(config.seed, config.seed + SEED_ATTEMPTS):
            error = _train_in_child(path, settings, seed, out)
            if not error:
                return seed
    raise TrainingDataError(
        f"training diverged with seeds {config.seed} to {config.seed + SEED_ATTEMPTS - 1} "
        f"({error}); lower quality.classifier.train.lr (now {config.lr}) or add documents"
    )


_CHILD = (
    "import sys; from pipeline.quality.classifier_train import train_to_file; "
    "sys.stdout.write(train_to_file(*sys.argv[1:]))"
)
#: The folder holding the `pipeline` package, for the child's import path.
_ROOT = str(Path(__file__).resolve().parents[2])


def _train_in_child(path: Path, settings: str, seed: int, out: Path) -> str:
    """Run :func:`train_to_file` in a new Python process; return its error ('' if none)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), settings, str(seed), str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"fastText training process failed: {last}")
    return done.stdout.strip()


def train_to_file(path: str, settings: str, seed: str, out: str) -> str:
    """Train on the fastText file ``path`` and save the model to ``out`` (in a fresh process);
    return fastText's error ('' if none)."""
    import fasttext

    config = ClassifierTrainConfig.model_validate(json.loads(settings))
    try:
        model = fasttext.train_supervised(
            input=path,
            wordNgrams=config.word_ngrams,
            dim=config.dim,
            epoch=config.epoch,
            lr=config.lr,
            minCount=config.min_count,
            bucket=config.bucket,
            seed=int(seed),
            loss="softmax",
            thread=1,  # one thread: fastText's updates are then in a fixed order
            verbose=0,
        )
    except RuntimeError as failed:  # fastText's "Encountered NaN"
        return str(failed) or type(failed).__name__
    model.save_model(out)
    return ""


def _evaluate(model: Any, rows: list[tuple[float, bool, str, str]]) -> dict[str, Any]:
    """Accuracy at probability 0.5 on the held-out documents, and recall per label."""
    if not rows:
        return {"documents": 0, "accuracy": None}
    scores = score_texts(model, [r[3] for r in rows])
    truth = np.array([r[1] for r in rows])
    kept = scores >= 0.5
    out: dict[str, Any] = {
        "documents": len(rows),
        "accuracy": round(float((kept == truth).mean()), 4),
    }
    if truth.any():
        out["positive_recall"] = round(float(kept[truth].mean()), 4)
    if (~truth).any():
        out["negative_recall"] = round(float((~kept[~truth]).mean()), 4)
    return out
