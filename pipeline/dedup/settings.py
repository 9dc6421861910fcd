"""What dedup's outputs depend on: the settings of signatures and of the band index, and the
bucket units (one per LSH band, plus one of exact keys) that follow from them."""

from __future__ import annotations

from typing import Any

from pipeline.dedup.config import DedupConfig
from pipeline.dedup.lsh_params import lsh_shape

#: Version of the band index's columns (``dedup/_index/``, run roots' segments); an index of
#: another version is refused like one of other settings.
INDEX_FORMAT = 2


def signature_settings(config: DedupConfig) -> dict[str, Any]:
    """What a partition's signatures and exact keys depend on."""
    mh = config.minhash
    return {
        "exact": config.exact,
        "case_fold": config.case_fold,
        "minhash": mh.enabled,
        "num_perm": mh.num_perm,
        "seed": mh.seed,
        "scheme": mh.scheme,
        "hash": "sha1_hash32",
        "shingle": mh.shingle,
        "code_shingle": mh.code_shingle,
        "ngram": mh.ngram,
        "char_ngram": mh.char_ngram,
    }


def index_settings(config: DedupConfig) -> dict[str, Any]:
    """What makes two runs' keys comparable: signature settings plus bands x rows."""
    bands, rows = lsh_shape(config.minhash) if config.minhash.enabled else (0, 0)
    return {
        **signature_settings(config),
        "bands": bands,
        "rows": rows,
        # 2: the index also holds the near duplicates a run dropped (``dup_of``) and the low
        # bits of every signature (``low``), which verification compares
        "index_format": INDEX_FORMAT,
    }


def bucket_keys(config: DedupConfig) -> list[str]:
    """The bucket units: ``exact`` and one per band (``band-000`` ...)."""
    keys = ["exact"] if config.exact else []
    if config.minhash.enabled:
        keys += [f"band-{i:03d}" for i in range(lsh_shape(config.minhash)[0])]
    return keys


def band_column(band: int) -> str:
    return f"band_{band:03d}"
