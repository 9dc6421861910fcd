"""Small corpora the tests build for themselves: English prose, other languages, junk,
duplicates and code, with known counts."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipeline.schema import documents_to_table

SUBJECTS = [
    "The miller",
    "A farmer",
    "The old river",
    "Our village",
    "The committee",
    "A young engineer",
    "The baker",
    "Every traveller",
    "The north wind",
    "The council",
]
VERBS = [
    "carried",
    "measured",
    "repaired",
    "described",
    "planned",
    "watched",
    "counted",
    "painted",
    "discovered",
    "remembered",
]
ADVERBS = [
    "quietly",
    "slowly",
    "once",
    "again",
    "gladly",
    "finally",
    "carefully",
    "proudly",
    "soon",
    "twice",
]
# Objects and tails of at most four words, so that no fixed phrase is itself a repeated 5-gram:
# the prose passes Gopher's repetition rules, as real prose does.
OBJECTS = [
    "the heavy stones",
    "a basket of grain",
    "the wooden wheel",
    "the long road",
    "the autumn harvest",
    "a letter",
    "the broken bridge",
    "the market prices",
    "the evening bells",
    "a map of the valley",
    "the copper kettle",
    "an old ledger",
    "the stone wall",
    "a pair of boots",
    "the village clock",
    "a sack of flour",
    "the narrow lane",
    "the orchard gate",
    "a wooden ladder",
    "the mill pond",
]
TAILS = [
    "before the rain",
    "with great care",
    "and then rested",
    "as the water rose",
    "while children played",
    "for the winter",
    "after the meeting",
    "to the mill",
    "in the spring",
    "with some help",
    "at dawn",
    "by noon",
    "near the ford",
    "on Sunday",
    "in silence",
    "for a while",
    "without a word",
    "under the oaks",
    "after supper",
    "before the frost",
]

FRENCH = (
    "Le meunier a porté les pierres lourdes avant la pluie. Les enfants jouaient dans la "
    "cour pendant que le conseil discutait du pont cassé. Nous avons mesuré la roue en bois "
    "avec beaucoup de soin, et le village entier est venu voir le résultat du travail."
)

#: Words for text with no grammar, drawn at random: plenty of distinct shingles for MinHash and
#: plenty of bytes for the readers.
WORDS = [
    "river",
    "mill",
    "stone",
    "grain",
    "wheel",
    "water",
    "north",
    "field",
    "harvest",
    "bread",
    "market",
    "bridge",
    "lantern",
    "copper",
    "meadow",
    "valley",
    "orchard",
    "barley",
    "harness",
    "shutter",
    "anvil",
    "ledger",
    "chimney",
    "quarry",
    "thistle",
    "ferry",
    "beacon",
    "granary",
    "kettle",
    "saddle",
    "furrow",
    "lattice",
]


def random_words(rng: random.Random, words: int) -> str:
    """``words`` words drawn from `WORDS`, separated by single spaces."""
    return " ".join(rng.choice(WORDS) for _ in range(words))


def docs(
    texts: list[str], kind: str = "web", source: str = "t", paths: list[str] | None = None
) -> pa.Table:
    """A documents table of ``texts``: ids ``<source>/<i>``, paths ``f<i>.py`` unless given."""
    return documents_to_table(
        {
            "id": f"{source}/{i}",
            "text": t,
            "source": source,
            "kind": kind,
            "path": (paths or [f"f{i}.py"] * len(texts))[i],
            "meta": {},
        }
        for i, t in enumerate(texts)
    )


def english_doc(rng: random.Random, sentences: int = 12) -> str:
    """A paragraph of plain English prose that passes the web quality rules (Gopher, C4,
    FineWeb) -- for the seeds the tests use; random prose repeats a phrase now and then."""
    return " ".join(
        f"{rng.choice(SUBJECTS)} {rng.choice(ADVERBS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
        f"{rng.choice(TAILS)}."
        for _ in range(sentences)
    )


def code_doc(index: int) -> str:
    return "\n".join(
        [
            f"def step_{index}_{k}(value: int) -> int:\n    return value * {k} + {index}\n"
            for k in range(6)
        ]
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
    web_lines = [
        json.dumps({"text": t, "url": f"https://example.invalid/{i}"})
        for i, t in enumerate(english)
    ]
    web_lines.append(json.dumps({"text": english[0]}))  # exact duplicate of the first
    web_lines.append(json.dumps({"text": " ".join(near)}))  # near duplicate of the fourth
    web_lines += [json.dumps({"text": FRENCH + f" Numéro {i}."}) for i in range(3)]
    web_lines += [
        json.dumps({"text": "Buy now!!! Click here."}),
        json.dumps({"text": "# # # ### ... ... ### #"}),
    ]
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
            {
                "name": "web",
                "kind": "web",
                "format": "jsonl",
                "paths": ["web.jsonl"],
                "license": "CC0-1.0",
            },
            {
                "name": "code",
                "kind": "code",
                "format": "jsonl",
                "paths": ["code.jsonl"],
                "license": "MIT",
            },
            {
                "name": "books",
                "kind": "book",
                "format": "text",
                "paths": ["books/*.txt"],
                "license": "public-domain",
            },
        ],
        "tokenizer": {"vocab_size": 400, "min_frequency": 1},
        "shards": {"mlm": {"seq_len": 64, "dupe_factor": 2}, "val_fraction": 0.1},
        "train": {
            "steps": 30,
            "batch_size": 8,
            "d_model": 64,
            "n_layers": 2,
            "n_heads": 4,
            "d_ff": 128,
            "lr": 3e-3,
            "warmup_steps": 3,
            "eval_every": 0,
        },
    }
    expected = {
        "ingest_in": 48 + 8 + 2,
        "ingest_dropped": {"invalid_json": 1},
        "french": 3,
        "junk": 2,
        "exact": 1,
        "near": 1,
    }
    return {"config": config, "expected": expected}


def write_config(folder: Path, config: dict[str, Any]) -> Path:
    import yaml

    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
