"""Configuration of the tokenizer stage (the run config's `tokenizer:` section).

The special tokens are reserved here, once, for every objective: they take the first ids of the
vocabulary in the order below, so `[PAD]` is 0 and `<extra_id_0>` is 7 whichever objective a
shard is built for, and one tokenizer serves them all.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: BERT's five (Devlin et al. 2019), then a begin/end pair for causal objectives.
CORE_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[BOS]", "[EOS]")
#: T5 span-corruption sentinels (Raffel et al. 2020 reserve 100).
NUM_SENTINELS = 100
SENTINEL_TOKENS = tuple(f"<extra_id_{i}>" for i in range(NUM_SENTINELS))
#: Every reserved token, in id order: the token at index i has id i.
SPECIAL_TOKENS: tuple[str, ...] = CORE_SPECIAL_TOKENS + SENTINEL_TOKENS
#: The ids of the core specials by short name, as the shard manifests record them.
SPECIAL_IDS: dict[str, int] = {
    "pad": 0,
    "unk": 1,
    "cls": 2,
    "sep": 3,
    "mask": 4,
    "bos": 5,
    "eos": 6,
}
#: The first id that is an ordinary (learned) token.
FIRST_REGULAR_ID = len(SPECIAL_TOKENS)

assert all(SPECIAL_TOKENS[i] == f"[{name.upper()}]" for name, i in SPECIAL_IDS.items())


class TokenizerConfig(BaseModel):
    """How the vocabulary is learned from the documents' `text`."""

    model_config = ConfigDict(extra="forbid")

    # WordPiece is BERT's tokenizer, the natural one for the default objective (MLM);
    # "bpe" is byte-level BPE (GPT-2 style: no unknown tokens, whitespace kept).
    kind: Literal["wordpiece", "bpe"] = "wordpiece"
    # Demo-sized: the sample corpora are a few MB, and a small vocabulary keeps the embedding
    # table and the demo model small. BERT used 30522, GPT-2 50257; raise it for real corpora.
    vocab_size: int = Field(8000, gt=FIRST_REGULAR_ID)
    # The trainers' usual setting: a pair seen only once is noise, not a subword.
    min_frequency: int = Field(2, ge=0)
    # Cased, like BERT-cased and every byte-level BPE; lowercasing loses information.
    lowercase: bool = False
    # None trains on every document; a number caps it (the first N in run order) for speed.
    max_docs: int | None = Field(None, gt=0)
    # Documents per Arrow record batch read from Parquet: bounds memory, not the result.
    batch_docs: int = Field(1000, gt=0)
