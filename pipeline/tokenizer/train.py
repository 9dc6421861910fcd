"""Train the run's tokenizer from document Parquet files and write `tokenizer.json`.

The documents' `text` column is read in record batches and handed to HF `tokenizers` as an
iterator of lists of strings, so memory holds one batch, never the corpus. The special tokens of
`pipeline.tokenizer.config` are reserved first, so their ids are fixed; training is checked to
have kept them there.

Determinism. Byte-level BPE training is deterministic as is. WordPiece training is not
(huggingface/tokenizers#1794): the trainer creates the `##c` continuation tokens lazily while
iterating a hash map of words, so their ids change from run to run, and merge ties, broken by
pair id, then pick different merges. We remove the cause: a first pass finds every character
that continues a word (after normalisation and pre-tokenisation, as the trainer sees them), and
those `##c` tokens are handed to the trainer up front, in code-point order, after the special
tokens. The trained vocabulary is then rebuilt into a plain WordPiece model so
those tokens are ordinary vocabulary, not added tokens. Same files + config -> same bytes.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

from pipeline.faults import fault_point
from pipeline.rundir import atomic_write_bytes
from pipeline.tokenizer.config import SPECIAL_TOKENS, TokenizerConfig

#: Marks subwords that continue a word (BERT's convention).
CONTINUING_PREFIX = "##"
#: Number of Unicode code points (the size of the "seen" table of the alphabet pass).
_CODE_POINTS = 0x110000


class _TextBatches:
    """Re-iterable: the `text` column of Parquet files in record batches, counting what passes."""

    def __init__(self, files: list[Path], batch_docs: int, max_docs: int | None) -> None:
        self.files, self.batch_docs, self.max_docs = files, batch_docs, max_docs
        self.docs = 0
        self.bytes = 0

    def __iter__(self) -> Iterator[list[str]]:
        self.docs = self.bytes = 0
        for path in self.files:
            parquet = pq.ParquetFile(path)
            if parquet.schema_arrow.get_field_index("text") < 0:
                raise ValueError(f"{path}: no `text` column; expected document Parquet")
            for batch in parquet.iter_batches(batch_size=self.batch_docs, columns=["text"]):
                if self.max_docs is not None and self.docs >= self.max_docs:
                    return
                column = batch.column(0).drop_null()
                if self.max_docs is not None:
                    column = column.slice(0, self.max_docs - self.docs)
                if len(column) == 0:
                    continue
                self.docs += len(column)
                self.bytes += int(pc.sum(pc.binary_length(column)).as_py() or 0)
                yield column.to_pylist()


def _normalizer(config: TokenizerConfig) -> normalizers.Normalizer:
    steps = [normalizers.NFC()] + ([normalizers.Lowercase()] if config.lowercase else [])
    return normalizers.Sequence(steps)


def _with_pipeline(tokenizer: Tokenizer, config: TokenizerConfig) -> Tokenizer:
    """Attach the normaliser, pre-tokenizer and decoder of ``config.kind``."""
    tokenizer.normalizer = _normalizer(config)
    if config.kind == "wordpiece":
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece(prefix=CONTINUING_PREFIX)
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


class _FastNormalizer:
    """The tokenizer's normaliser, as a string function, fast on text that is already NFC.

    NFC runs in Rust only on documents that Python's quick check finds not normalised (NFC is
    stable across Unicode versions, so both agree on what is normalised). Lowercasing in
    `tokenizers` maps each character on its own, so it is a translation table, filled from the
    Rust normaliser one new character at a time.
    """

    def __init__(self, config: TokenizerConfig) -> None:
        self.nfc = normalizers.NFC()
        self.lower = normalizers.Lowercase() if config.lowercase else None
        self.table: dict[int, str] = {}

    def __call__(self, texts: list[str]) -> str:
        joined = "\n".join(
            t if unicodedata.is_normalized("NFC", t) else self.nfc.normalize_str(t) for t in texts
        )
        if self.lower is None:
            return joined
        for cp in set(joined).difference(map(chr, self.table)):
            self.table[ord(cp)] = self.lower.normalize_str(cp)
        return joined.translate(self.table)


def continuation_tokens(texts: _TextBatches, config: TokenizerConfig) -> list[str]:
    """`##c` for every character c found inside a word (not first) of ``texts``, by code point.

    Exactly the set the trainer would create lazily. Text is normalised as the tokenizer does
    (documents joined by newlines, which neither NFC nor lowercasing carries across). The BERT
    pre-tokenizer splits words at whitespace and isolates punctuation, so a word is a run of
    "word characters"; each character is classified once by asking the pre-tokenizer whether
    it keeps "cc" as one word.
    """
    normalize = _FastNormalizer(config)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    word_char = np.zeros(_CODE_POINTS, dtype=bool)
    classified = np.zeros(_CODE_POINTS, dtype=bool)
    continues = np.zeros(_CODE_POINTS, dtype=bool)
    for batch in texts:
        cps = np.frombuffer(normalize(batch).encode("utf-32-le"), dtype=np.uint32)
        for cp in np.unique(cps[~classified[cps]]).tolist():
            pieces = pre_tokenizer.pre_tokenize_str(chr(cp) * 2)
            word_char[cp] = any(len(piece) > 1 for piece, _ in pieces)
            classified[cp] = True
        inside = word_char[cps[1:]] & word_char[cps[:-1]]
        continues[cps[1:][inside]] = True
    return [CONTINUING_PREFIX + chr(int(cp)) for cp in np.flatnonzero(continues)]


def _trained(texts: _TextBatches, config: TokenizerConfig) -> Tokenizer:
    common: dict[str, Any] = {
        "vocab_size": config.vocab_size,
        "min_frequency": config.min_frequency,
        "show_progress": False,
    }
    if config.kind == "bpe":
        # Byte-level: every byte is in the alphabet, so nothing is ever unknown.
        tokenizer = _with_pipeline(Tokenizer(models.BPE()), config)
        trainer = trainers.BpeTrainer(
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            **common,
        )
        tokenizer.train_from_iterator(texts, trainer=trainer)
        return tokenizer
    reserved = list(SPECIAL_TOKENS) + continuation_tokens(texts, config)
    scratch = _with_pipeline(Tokenizer(models.WordPiece(unk_token="[UNK]")), config)
    trainer = trainers.WordPieceTrainer(
        special_tokens=reserved, continuing_subword_prefix=CONTINUING_PREFIX, **common
    )
    scratch.train_from_iterator(texts, trainer=trainer)
    # Rebuild: the `##c` tokens become plain vocabulary; only SPECIAL_TOKENS stay special.
    vocab = scratch.get_vocab(with_added_tokens=True)
    model = models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix=CONTINUING_PREFIX)
    tokenizer = _with_pipeline(Tokenizer(model), config)
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    return tokenizer


def _post_processor(tokenizer: Tokenizer, config: TokenizerConfig) -> processors.PostProcessor:
    """BERT's `[CLS] $A [SEP]` / `[CLS] $A [SEP] $B [SEP]`, applied when encoding with specials."""
    template = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[(t, tokenizer.token_to_id(t)) for t in ("[CLS]", "[SEP]")],
    )
    if config.kind == "bpe":
        return processors.Sequence([processors.ByteLevel(trim_offsets=False), template])
    return template


def train_tokenizer(parquet_files: list[Path], out_path: Path, config: TokenizerConfig) -> dict:
    """Learn a vocabulary from ``parquet_files`` (in the given order) and write ``out_path``.

    Returns ``{"kind", "vocab_size", "docs", "bytes", "seconds"}``: the vocabulary size actually
    reached (smaller than asked when the corpus is small), the documents and UTF-8 bytes of text
    trained on. The same files and config give a byte-identical ``tokenizer.json``.
    """
    started = time.perf_counter()
    files = [Path(p) for p in parquet_files]
    if not files:
        raise ValueError("train_tokenizer: no Parquet files given")
    texts = _TextBatches(files, config.batch_docs, config.max_docs)
    tokenizer = _trained(texts, config)
    if texts.docs == 0:
        raise ValueError(f"train_tokenizer: no documents with text in {[str(p) for p in files]}")
    for expected_id, token in enumerate(SPECIAL_TOKENS):
        if tokenizer.token_to_id(token) != expected_id:
            raise RuntimeError(
                f"special token {token!r} got id {tokenizer.token_to_id(token)}, "
                f"expected {expected_id}"
            )
    tokenizer.post_processor = _post_processor(tokenizer, config)
    fault_point("tokenizer.save")
    atomic_write_bytes(Path(out_path), tokenizer.to_str(pretty=True).encode())
    return {
        "kind": config.kind,
        "vocab_size": tokenizer.get_vocab_size(),
        "docs": texts.docs,
        "bytes": texts.bytes,
        "seconds": round(time.perf_counter() - started, 3),
    }
