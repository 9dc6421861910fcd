"""The planted-noise corpus: a clean corpus with a known share of junk pages and near
duplicates mixed in, deterministically, to show that an ablation tells the filtered data from
the noisy.

Junk comes in the three kinds web crawls are full of: **boilerplate** (navigation, cookie and
subscription lines, the same few over and over), **repeated lines** (one sentence of a clean
page many times) and **machine-like text** (log lines, identifiers and numbers with no
sentences). A **near duplicate** is a clean page with about one word in 50 replaced. Every
record carries ``planted`` (``clean`` or the kind) so a test can count what a stage removed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BOILERPLATE = [
    "Home | About us | Products | Contact",
    "This website uses cookies to improve your experience. Accept all cookies",
    "Copyright 2026 Example Corp. All rights reserved",
    "Subscribe to our newsletter and never miss a deal",
    "Share on Facebook | Share on Twitter | Email this page",
    "Please enable JavaScript to view this page",
    "Sign in | Register | Forgot your password?",
    "Terms of use | Privacy policy | Cookie settings",
    "Click here to learn more",
    "Related posts",
]
JUNK_KINDS = ("boilerplate", "repeated", "machine")


def boilerplate_page(rng: random.Random) -> str:
    return "\n".join(rng.choice(BOILERPLATE) for _ in range(rng.randint(20, 40)))


def repeated_page(rng: random.Random, clean: str) -> str:
    sentences = [s.strip() for s in clean.replace("\n", " ").split(". ") if s.strip()]
    line = rng.choice(sentences).rstrip(".") + "."
    return "\n".join([line] * rng.randint(15, 30))


def machine_page(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(25, 50)):
        lines.append(
            f"{rng.randint(10**9, 2 * 10**9)} id={rng.getrandbits(48):012x} "
            f"v={rng.random():.5f} n={rng.randint(0, 99999)} "
            f"k={''.join(rng.choice('0123456789ABCDEF') for _ in range(16))}"
        )
    return "\n".join(lines)


def near_duplicate(rng: random.Random, text: str, every: int = 50) -> str:
    """``text`` with about one word in ``every`` replaced by another word of it."""
    words = text.split(" ")
    for _ in range(max(1, len(words) // every)):
        words[rng.randrange(len(words))] = rng.choice(words)
    return " ".join(words)


def plant_noise(
    clean: Sequence[str], junk_fraction: float, duplicate_fraction: float, seed: int = 0
) -> list[dict[str, Any]]:
    """The clean texts plus junk pages (``junk_fraction`` of the result) and near duplicates of
    clean pages (``duplicate_fraction``), shuffled; each ``{"text", "planted"}``. The same
    arguments give the same list."""
    if not 0 <= junk_fraction + duplicate_fraction < 1:
        raise ValueError("junk_fraction + duplicate_fraction must be in [0, 1)")
    rng = random.Random(seed)
    total = round(len(clean) / (1 - junk_fraction - duplicate_fraction))
    n_junk = round(total * junk_fraction)
    n_dup = round(total * duplicate_fraction)
    records = [{"text": t, "planted": "clean"} for t in clean]
    for index in range(n_junk):
        kind = JUNK_KINDS[index % len(JUNK_KINDS)]
        if kind == "boilerplate":
            text = boilerplate_page(rng)
        elif kind == "repeated":
            text = repeated_page(rng, rng.choice(clean))
        else:
            text = machine_page(rng)
        records.append({"text": text, "planted": kind})
    for _ in range(n_dup):
        records.append(
            {"text": near_duplicate(rng, rng.choice(clean)), "planted": "near_duplicate"}
        )
    rng.shuffle(records)
    return records


def write_planted(
    folder: Path,
    clean: Sequence[str],
    junk_fraction: float = 0.3,
    duplicate_fraction: float = 0.2,
    seed: int = 0,
    settings: dict[str, Any] | None = None,
) -> Path:
    """Write ``folder/planted.jsonl`` and a run config reading it (``settings`` adds its other
    sections); return the config's path."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    records = plant_noise(clean, junk_fraction, duplicate_fraction, seed)
    lines = [
        json.dumps({**r, "id": f"doc-{i:06d}"}, ensure_ascii=False) for i, r in enumerate(records)
    ]
    (folder / "planted.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = {
        "sources": [
            {
                "name": "planted",
                "kind": "web",
                "format": "jsonl",
                "paths": ["planted.jsonl"],
                "id_field": "id",
                "license": "test-only",
            }
        ],
        **(settings or {}),
    }
    path = folder / "planted.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
