"""The `gristmill quality-model` command: argument handling only; training is
:mod:`pipeline.quality.classifier_train`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipeline.errors import UserFacingError

COMMAND = "quality-model"


def add_parser(sub: Any) -> None:
    """Add `quality-model train` to the `gristmill` parser's subparsers."""
    parser = sub.add_parser(COMMAND, help="train a fastText quality classifier")
    actions = parser.add_subparsers(dest="action", required=True)
    train = actions.add_parser(
        "train", help="train on good (--positive) and bad (--negative) documents"
    )
    train.add_argument("--config", required=True, help="YAML run config naming the sources")
    train.add_argument(
        "--positive", nargs="+", required=True, metavar="SOURCE", help="sources or run folders"
    )
    train.add_argument(
        "--negative", nargs="+", required=True, metavar="SOURCE", help="sources or run folders"
    )
    train.add_argument("--out", required=True, metavar="MODEL.bin", help="the model file")


class QualityModelError(UserFacingError):
    """A bad `quality-model` request."""


def run(args: argparse.Namespace) -> int:
    """Train the model the arguments ask for and print where it and its summary went."""
    from pipeline.config import load_config
    from pipeline.quality.classifier_train import documents, summary_path, train_classifier

    both = sorted(set(args.positive) & set(args.negative))
    if both:
        raise QualityModelError(f"named as both positive and negative: {', '.join(both)}")
    config = load_config(args.config)
    groups = [documents(config, name, True) for name in args.positive]
    groups += [documents(config, name, False) for name in args.negative]
    out = Path(args.out)
    summary = train_classifier(groups, out, config.quality.classifier.train)
    held = summary["held_out"]
    accuracy = "n/a" if held["accuracy"] is None else f"{held['accuracy']:.3f}"
    print(
        f"gristmill: quality model {out} trained on {summary['train_documents']} documents; "
        f"held-out accuracy {accuracy} on {held['documents']}; summary {summary_path(out)}"
    )
    return 0
