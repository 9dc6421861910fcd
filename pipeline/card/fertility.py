"""Tokenizer fertility on the card: tokens per whitespace-separated word of the final documents,
per kind and language, measured with the run's own tokenizer on a sample of each group."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

#: Documents measured per (kind, language): enough for a stable ratio, quick on any corpus.
SAMPLE_DOCS = 200


def fertility(tokenizer_path: Path, parquet_files: list[Path]) -> list[dict[str, Any]]:
    """Per (kind, language), in order of most words: documents measured, words, tokens and
    tokens per word (the first :data:`SAMPLE_DOCS` documents of each group in run order)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    texts: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in parquet_files:
        table = pq.read_table(path, columns=["kind", "lang", "text"])
        columns = [table.column(c).to_pylist() for c in ("kind", "lang", "text")]
        for kind, lang, text in zip(*columns, strict=True):
            group = texts[(kind, lang or "unknown")]
            if len(group) < SAMPLE_DOCS:
                group.append(text)
    rows = []
    for (kind, lang), group in texts.items():
        words = sum(len(t.split()) for t in group)
        encodings = tokenizer.encode_batch(group, add_special_tokens=False)
        tokens = sum(len(e.ids) for e in encodings)
        rows.append(
            {
                "kind": kind,
                "lang": lang,
                "documents": len(group),
                "words": words,
                "tokens": tokens,
                "tokens_per_word": round(tokens / words, 3) if words else None,
            }
        )
    return sorted(rows, key=lambda r: (-r["words"], r["kind"], r["lang"]))
