"""Exact-duplicate keys: a 128-bit hash of each document's normalised text.

Two documents are exact duplicates when their text is identical after NFC, folding whitespace
runs to one space (and casefolding, with ``case_fold``). The key is xxh3-128 of the UTF-8 bytes:
a collision between different texts has probability about ``n**2 / 2**129``, nil in practice.
Keys are 16-byte values (``fixed_size_binary(16)`` in Parquet), compared as two uint64 columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import xxhash

from pipeline.dedup.normalize import normalize

KEY_TYPE = pa.binary(16)


def exact_keys(texts: Sequence[str], case_fold: bool = False) -> pa.FixedSizeBinaryArray:
    """The 128-bit key of each text's normalised form."""
    digests = [xxhash.xxh3_128_digest(normalize(t, case_fold).encode("utf-8")) for t in texts]
    return pa.array(digests, type=KEY_TYPE)


def key_columns(keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """16-byte keys as an ``(n, 2)`` uint64 array (for sorting and comparing)."""
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks() if keys.num_chunks else pa.array([], KEY_TYPE)
    if len(keys) == 0:
        return np.empty((0, 2), np.uint64)
    data = np.frombuffer(keys.buffers()[1], np.uint8)
    start = keys.offset * 16
    return data[start : start + 16 * len(keys)].view(np.uint64).reshape(-1, 2)
