"""Tokenizer training: the stage between the deduplicated documents and the objective shards.

`config` holds the settings and the reserved special tokens (fixed ids for every objective);
`train` learns a WordPiece or byte-level BPE vocabulary from document Parquet files and writes
`tokenizer.json`, which `tokenizers.Tokenizer.from_file` (and `PreTrainedTokenizerFast`) load.
"""

from pipeline.tokenizer.config import SPECIAL_IDS, SPECIAL_TOKENS, TokenizerConfig
from pipeline.tokenizer.train import train_tokenizer

__all__ = ["SPECIAL_IDS", "SPECIAL_TOKENS", "TokenizerConfig", "train_tokenizer"]
