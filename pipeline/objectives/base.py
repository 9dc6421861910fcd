"""What every data-side objective provides, and the helpers they share.

An objective is a module of `pipeline.objectives` holding an `Objective` entry: its pydantic
config (the paper's defaults), the columns it writes (each with dtype and shape, as the shard
manifest lists them), and a factory for its row builder. A builder receives tokenized documents
(token id arrays without special tokens, with their document ids) batch by batch, in document
order, and returns Arrow record batches of finished rows; `finish` returns what is left once the
last document is in. Builders that need nothing across documents wrap a pure function
(`StatelessBuilder`); packing objectives carry a partial row from one batch to the next, so rows
never depend on how documents were batched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
from pydantic import BaseModel

from pipeline.shards.format import FIRST_REGULAR_ID

_ARROW_SCALARS = {"int32": pa.int32(), "string": pa.string()}


@dataclass(frozen=True)
class Column:
    """One shard column: ``shape`` is ``()`` for a scalar per row, ``(n,)`` for a fixed-length
    list of ``n`` values, ``(None,)`` for a list of any length."""

    name: str
    dtype: str  # "int32" or "string"
    shape: tuple[int | None, ...] = ()

    def arrow_type(self) -> pa.DataType:
        value = _ARROW_SCALARS[self.dtype]
        if not self.shape:
            return value
        (length,) = self.shape
        return pa.list_(value) if length is None else pa.list_(value, length)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


def stable_seed(*parts: object) -> int:
    """A 128-bit seed from ``parts`` (the objective's name, the run's seed, a document id, ...),
    the same in every process and Python version: what a row's random draws start from."""
    key = "\x00".join(str(part) for part in parts).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=16).digest(), "little")


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    """The Arrow schema of ``columns``; every field non-nullable."""
    return pa.schema([pa.field(c.name, c.arrow_type(), nullable=False) for c in columns])


def fixed_list(matrix: np.ndarray, length: int) -> pa.FixedSizeListArray:
    """A ``(rows, length)`` matrix as a fixed_size_list<int32>[length] array."""
    values = pa.array(np.ascontiguousarray(matrix, dtype=np.int32).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(values, type=pa.list_(pa.int32(), length))


def record_batch(schema: pa.Schema, values: Sequence[Any]) -> pa.RecordBatch:
    """A record batch of ``schema`` from one value per field, in order: a ``(rows, n)`` matrix
    for a fixed-length list field, else a sequence of the field's values."""
    arrays = [
        fixed_list(value, field.type.list_size)
        if pa.types.is_fixed_size_list(field.type)
        else pa.array(value, type=field.type)
        for field, value in zip(schema, values, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


@dataclass(frozen=True)
class Vocab:
    """What a builder may know of the tokenizer: its size, and for each id whether the token
    continues the word of the token before it (WordPiece's ``##`` pieces; in byte-level BPE,
    pieces without the word-start marker), and whether a token ends a sentence (see
    `ends_sentence_table`). Special tokens never continue a word or end a sentence."""

    size: int
    continues_word: np.ndarray  # bool, one per id
    ends_sentence: np.ndarray | None = None  # bool, one per id; None: no sentence boundaries

    @classmethod
    def plain(cls, size: int) -> Vocab:
        """A vocabulary where every token is a word of its own and none ends a sentence."""
        return cls(size, np.zeros(size, dtype=bool), np.zeros(size, dtype=bool))


#: Sentence-final punctuation of the scripts the corpus holds: `.` `!` `?` (Latin, Cyrillic),
#: Greek's question mark U+037E, CJK full stops and marks, Arabic and Urdu, Devanagari's
#: dandas, Armenian, Ethiopic, and the ellipsis.
SENTENCE_END = frozenset(
    ".!?\u037e\u3002\uff01\uff1f\uff0e\u061f\u06d4\u0964\u0965\u0589\u1362\u2026"
)
#: Closing quotes and brackets that may follow the punctuation in the same token.
_CLOSERS = "\"'\u201d\u2019\u00bb)]}\u300d\u300f"


def ends_sentence_table(texts: Sequence[str]) -> np.ndarray:
    """Whether each token, given as its decoded text, ends a sentence: its text, less trailing
    closing quotes, brackets and spaces, ends with sentence-final punctuation, or it holds a
    blank line (two newlines: a paragraph break, and the break between blocks of code)."""
    table = np.zeros(len(texts), dtype=bool)
    for index, text in enumerate(texts):
        if "\n\n" in text:
            table[index] = True
            continue
        core = text.rstrip().rstrip(_CLOSERS)
        table[index] = bool(core) and core[-1] in SENTENCE_END
    return table


#: Word-start markers of pre-tokenizers that glue a space to the next word: byte-level BPE
#: (GPT-2's `Ġ`) and SentencePiece / Metaspace (`▁`).
WORD_START_MARKERS = ("\u0120", "\u2581")


def vocab_of(tokenizer: Any) -> Vocab:
    """`Vocab` of a `tokenizers.Tokenizer`: WordPiece continuation pieces start with the model's
    continuing prefix (``##``); otherwise a piece continues a word unless it starts with the
    word-start marker the vocabulary uses."""
    vocab: dict[str, int] = tokenizer.get_vocab(with_added_tokens=True)
    size = tokenizer.get_vocab_size()
    continues = np.zeros(size, dtype=bool)
    prefix = getattr(tokenizer.model, "continuing_subword_prefix", None)
    if type(tokenizer.model).__name__ == "WordPiece" and prefix:
        for token, index in vocab.items():
            continues[index] = token.startswith(prefix)
    else:
        marker = max(WORD_START_MARKERS, key=lambda m: sum(t.startswith(m) for t in vocab))
        for token, index in vocab.items():
            continues[index] = not token.startswith(marker)
    continues[:FIRST_REGULAR_ID] = False
    # Each id alone, decoded (byte-level BPE's bytes become text; WordPiece keeps `##`).
    texts = tokenizer.decode_batch([[i] for i in range(size)], skip_special_tokens=False)
    ends = ends_sentence_table([t.removeprefix("##") for t in texts])
    ends[:FIRST_REGULAR_ID] = False
    return Vocab(size, continues, ends)


class RowBuilder(Protocol):
    """Turns one split's documents, batch by batch, into record batches of rows."""

    def add(self, token_ids: Sequence[np.ndarray], doc_ids: Sequence[str]) -> pa.RecordBatch:
        """Rows finished by these documents (possibly none)."""
        ...

    def finish(self) -> pa.RecordBatch:
        """Rows still pending after the last document (possibly none)."""
        ...

    def stats(self) -> dict[str, int]:
        """Counts for the split's manifest entry (e.g. tokens left out)."""
        ...


BuildRows = Callable[[Sequence[np.ndarray], Sequence[str], int, Vocab], pa.RecordBatch]


class StatelessBuilder:
    """A builder whose rows each come from one document: a pure function per batch."""

    def __init__(self, build: BuildRows, schema: pa.Schema, seed: int, vocab: Vocab) -> None:
        self._build, self._schema, self._seed, self._vocab = build, schema, seed, vocab

    def add(self, token_ids: Sequence[np.ndarray], doc_ids: Sequence[str]) -> pa.RecordBatch:
        return self._build(token_ids, doc_ids, self._seed, self._vocab)

    def finish(self) -> pa.RecordBatch:
        return empty_batch(self._schema)

    def stats(self) -> dict[str, int]:
        return {}


@dataclass(frozen=True)
class Objective:
    """A data-side objective: its config class, its columns, and its builder factory."""

    name: str
    config: type[BaseModel]
    columns: Callable[[Any], list[Column]]  # (config) -> columns
    builder: Callable[[Any, int, Vocab], RowBuilder]  # (config, seed, vocab) -> builder

    def schema(self, config: BaseModel) -> pa.Schema:
        return arrow_schema(self.columns(config))


def empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    """A record batch of ``schema`` with no rows."""
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in schema], schema=schema)
