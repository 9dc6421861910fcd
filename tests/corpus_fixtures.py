"""Small corpora the tests build for themselves: English prose, other languages, junk,
duplicates and code, with known counts."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

SUBJECTS = ["The miller", "A farmer", "The old river", "Our village", "The committee",
            "A young engineer", "The baker", "Every traveller", "The north wind", "The council"]
VERBS = ["carried", "measured", "repaired", "described", "planned", "watched", "counted",
         "painted", "discovered", "remembered"]
OBJECTS = ["the heavy stones", "a basket of grain", "the wooden wheel", "the long road",
           "the autumn harvest", "a letter to the mayor", "the broken bridge", "the market prices",
           "the evening bells", "a map of the valley"]
TAILS = ["before the rain came", "with great care", "and that was the end of it",
         "because the water was high", "while the children played", "for the whole winter",
         "after the long meeting", "to have something to show", "in the spring of that year",
         "with a little help from the neighbours"]

FRENCH = ("Le meunier a porté les pierres lourdes avant la pluie. Les enfants jouaient dans la "
          "cour pendant que le conseil discutait du pont cassé. Nous avons mesuré la roue en bois "
          "avec beaucoup de soin, et le village entier est venu voir le résultat du travail.")


def english_doc(rng: random.Random, sentences: int = 12) -> str:
    """A paragraph of plain English prose that passes the Gopher rules."""
    return " ".join(
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(TAILS)}."
        for _ in range(sentences)
    )


def code_doc(index: int) -> str:
    return "\n".join(
        [f"def step_{index}_{k}(value: int) -> int:\n    return value * {k} + {index}\n"
         for k in range(6)]
    )


def write_corpus(folder: Path, seed: int = 7) -> dict[str, Any]:
    """Write a small mixed corpus; return a run-config mapping and the expected counts.

    web.jsonl: 40 English docs, 1 exact duplicate, 1 near duplicate (one word changed),
    3 French docs, 2 junk docs (too short for Gopher), 1 invalid-JSON line.
    code.jsonl: 8 code files. Books: 2 plain-text files.
    """
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    english = [english_doc(rng) for _ in range(40)]
    near = english[3].split(" ")
    near[10] = "harbour"
    web_lines = [json.dumps({"text": t, "url": f"https://example.invalid/{i}"})
                 for i, t in enumerate(english)]
    web_lines.append(json.dumps({"text": english[0]}))  # exact duplicate of the first
    web_lines.append(json.dumps({"text": " ".join(near)}))  # near duplicate of the fourth
    web_lines += [json.dumps({"text": FRENCH + f" Numéro {i}."}) for i in range(3)]
    web_lines += [json.dumps({"text": "Buy now!!! Click here."}),
                  json.dumps({"text": "# # # ### ... ... ### #"})]
    web_lines.append('{"text": "this line is not valid JSON')
    (folder / "web.jsonl").write_text("\n".join(web_lines) + "\n", encoding="utf-8")
    code_lines = [json.dumps({"text": code_doc(i), "path": f"pkg/mod_{i}.py"}) for i in range(8)]
    (folder / "code.jsonl").write_text("\n".join(code_lines) + "\n", encoding="utf-8")
    books = folder / "books"
    books.mkdir(exist_ok=True)
    for i in range(2):
        body = "\n\n".join(english_doc(rng, 20) for _ in range(6))
        (books / f"book-{i}.txt").write_text(body, encoding="utf-8")
    config = {
        "sources": [
            {"name": "web", "kind": "web", "format": "jsonl", "paths": ["web.jsonl"],
             "license": "CC0-1.0"},
            {"name": "code", "kind": "code", "format": "jsonl", "paths": ["code.jsonl"],
             "license": "MIT"},
            {"name": "books", "kind": "book", "format": "text", "paths": ["books/*.txt"],
             "license": "public-domain"},
        ],
        "tokenizer": {"vocab_size": 400, "min_frequency": 1},
        "shards": {"mlm": {"seq_len": 64, "dupe_factor": 2}, "val_fraction": 0.1},
        "train": {"steps": 30, "batch_size": 8, "d_model": 64, "n_layers": 2, "n_heads": 4,
                  "d_ff": 128, "lr": 3e-3, "warmup_steps": 3, "eval_every": 0},
    }
    expected = {"ingest_in": 48 + 8 + 2, "ingest_dropped": {"invalid_json": 1},
                "french": 3, "junk": 2, "exact": 1, "near": 1}
    return {"config": config, "expected": expected}


def write_config(folder: Path, config: dict[str, Any]) -> Path:
    import yaml

    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
