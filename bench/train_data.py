"""Shards for the training benchmarks, made by the real pipeline functions from a corpus.

The corpus is the books of ``../shared/data`` when that folder exists (each book cut into
documents of about 200,000 characters, so MLM windows of 512 or 1024 tokens are mostly full), else
gristmill's embedded demo corpus (installed standard-library modules, reference topics and
package descriptions, one document each). The corpus goes to Parquet, ``train_tokenizer`` learns
a WordPiece vocabulary on it, and ``build_shards`` writes ``mlm`` and ``clm`` shards at each
requested length, every row in ``train``: what a run's tokenizer and shards stages do.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.demo_corpus import SOURCES
from pipeline.shards.build import build_shards
from pipeline.shards.config import ShardsConfig
from pipeline.tokenizer import TokenizerConfig, train_tokenizer

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: characters per book document: long enough that a 1024-token window is rarely a document's tail
DOC_CHARS = 200_000


def book_documents(data: Path) -> list[tuple[str, str]]:
    """(id, text) of every book under `data/books`, cut into documents of `DOC_CHARS`."""
    out = []
    for path in sorted((data / "books").glob("*.txt.gz")):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        for start in range(0, len(text), DOC_CHARS):
            out.append((f"{path.name}:{start}", text[start : start + DOC_CHARS]))
    return out


def demo_documents(max_bytes: int) -> list[tuple[str, str]]:
    """(id, text) of the embedded demo corpus, up to `max_bytes` per source."""
    out = []
    for name, _kind, _licence, build in SOURCES:
        for index, line in enumerate(build(max_bytes)):
            out.append((f"{name}:{index}", line["text"]))
    return out


def corpus(data: Path | None, demo_bytes: int = 1_500_000) -> tuple[str, list[tuple[str, str]]]:
    """(what it is, documents): the books of `data` if it has any, else the demo corpus."""
    if data is not None and (data / "books").is_dir():
        return f"books of {data}", book_documents(data)
    return "embedded demo corpus", demo_documents(demo_bytes)


def build(
    documents: list[tuple[str, str]],
    out: Path,
    seq_lens: tuple[int, ...],
    vocab_size: int,
    objectives: tuple[str, ...] = ("mlm", "clm"),
) -> dict[int, Path]:
    """Tokenizer and shards under `out`; {seq_len: folder holding `<objective>/manifest.json`}."""
    out.mkdir(parents=True, exist_ok=True)
    parquet = out / "corpus.parquet"
    ids, texts = zip(*documents, strict=True)
    pq.write_table(pa.table({"id": list(ids), "text": list(texts)}), parquet)
    tokenizer = out / "tokenizer.json"
    train_tokenizer([parquet], tokenizer, TokenizerConfig(vocab_size=vocab_size))
    folders = {}
    for seq_len in seq_lens:
        settings = {name: {"seq_len": seq_len} for name in objectives}
        config = ShardsConfig(objectives=list(objectives), val_fraction=0.0, **settings)
        build_shards([parquet], tokenizer, out / f"shards-{seq_len}", config)
        folders[seq_len] = out / f"shards-{seq_len}"
    return folders
