"""Fixtures of the objective tests: a small corpus, its tokenizers, and shards built from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.tokenizer import TokenizerConfig, train_tokenizer
from tests.test_tokenizer_and_shards import TOKENIZER, write_corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_corpus(tmp_path_factory.mktemp("objective-corpus"))


@pytest.fixture(scope="session")
def wordpiece(corpus: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wordpiece") / "tokenizer.json"
    train_tokenizer(corpus, out, TOKENIZER)
    return out


@pytest.fixture(scope="session")
def bpe(corpus: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bpe") / "tokenizer.json"
    config = TokenizerConfig(kind="bpe", vocab_size=400, batch_docs=64)
    train_tokenizer(corpus, out, config)
    return out


def build_into(
    factory: pytest.TempPathFactory, name: str, corpus: list[Path], tokenizer: Path, config: object
) -> Path:
    """Shards of ``config`` built from ``corpus`` into a new folder named after ``name``."""
    from pipeline.shards.build import build_shards

    out = factory.mktemp(name)
    build_shards(corpus, tokenizer, out, config)  # type: ignore[arg-type]
    return out
