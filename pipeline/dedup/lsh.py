"""LSH banding: band keys from signatures, and candidate pairs from documents sharing a key.

A signature of ``num_perm`` values is cut into ``bands`` bands of ``rows`` consecutive values
(the first ``bands * rows`` values are used, as in ``datasketch.MinHashLSH``). Each band is
reduced to one 64-bit key, so a band costs 8 bytes a document wherever it is stored or sorted.
Two documents are candidates when one of their band keys is equal. Two different bands of
``rows`` values give the same key with probability about ``2**-64``: over a billion documents,
a few spurious candidate pairs at most, and each one only joins two clusters.

The bucket step works on one band at a time (one independent task per band): sort the keys, and
link every document of a bucket to the bucket's first document. ``n - 1`` edges per bucket of
``n`` are enough for the clusters, which are connected components.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)


def _fmix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (a bijection), element-wise, wrapping as intended."""
    x = x ^ (x >> _S33)
    x = x * _MIX1
    x = x ^ (x >> _S33)
    x = x * _MIX2
    return x ^ (x >> _S33)


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """A ``(documents, bands)`` uint64 array: band ``i`` of each signature hashed to one key."""
    if signatures.shape[1] < bands * rows:
        raise ValueError(
            f"{bands} bands x {rows} rows need {bands * rows} values per signature, "
            f"signatures have {signatures.shape[1]}"
        )
    keys = np.empty((signatures.shape[0], bands), np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):
            key = np.full(signatures.shape[0], _fmix64(np.uint64(band + 1) * _GOLDEN), np.uint64)
            for value in signatures[:, band * rows : (band + 1) * rows].T:
                key = _fmix64(key * _GOLDEN + value.astype(np.uint64))
            keys[:, band] = key
    return keys


def bucket_edges(
    keys: np.ndarray, nodes: np.ndarray, current: int
) -> tuple[np.ndarray, np.ndarray]:
    """Edges linking the documents that share a key.

    ``keys`` is ``(n,)`` or ``(n, k)`` (rows compared whole), ``nodes`` the node number of each
    row; nodes ``>= current`` belong to previous runs. Each bucket of two or more rows gives an
    edge from its smallest node to each other node, except edges between two previous-run
    documents (those are never dropped, so linking them changes nothing this run decides).
    Returns ``(a, b)`` int64 arrays with ``a < b``, sorted, so the result does not depend on the
    order of the rows.
    """
    if len(nodes) < 2:  # no pair to link (and no rows to reshape when there are none)
        empty = np.empty(0, np.int64)
        return empty, empty
    keys2 = keys.reshape(len(keys), -1)
    order = np.lexsort((nodes, *keys2.T[::-1]))
    sorted_keys, sorted_nodes = keys2[order], nodes[order].astype(np.int64)
    new_bucket = np.ones(len(order), bool)
    new_bucket[1:] = (sorted_keys[1:] != sorted_keys[:-1]).any(axis=1)
    heads = np.maximum.accumulate(np.where(new_bucket, np.arange(len(order)), 0))
    a, b = sorted_nodes[heads], sorted_nodes
    keep = ~new_bucket & ~((a >= current) & (b >= current))
    a, b = a[keep], b[keep]
    edge_order = np.lexsort((b, a))
    return a[edge_order], b[edge_order]
