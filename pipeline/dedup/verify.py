"""Verified candidate pairs: documents that share a band merge only when their whole signatures
agree on at least ``threshold`` of their values.

Banding alone merges every pair that shares a band, so its S-curve must sit at the threshold and
trades recall near it for false merges below it. Verifying each candidate pair lets the banding aim
lower (more candidates, more recall) while the threshold stays where it is.

The estimate is the share of equal values over all ``num_perm`` values of the two signatures,
compared on their low 16 bits (:data:`VERIFY_BITS`): that is what the band index of a run keeps
for later runs (256 bytes a document at 128 values instead of 512), and the same comparison is
made inside a run, so a pair is decided alike whether its documents are in one run or two. Two
unequal values agree on their low 16 bits with probability ``2**-16``, which raises the estimate
of a pair of Jaccard ``J`` by ``(1 - J) * 2**-16``: negligible.

Inside a bucket every pair of members is checked, not only each member against the bucket's first
(which suffices for connected components without verification): two close documents may share a
band with a far one. Members with equal signatures are linked without a check (their estimate is
1) and checked once. A bucket of more than :data:`MAX_BUCKET` distinct members checks each member
against its first :data:`MAX_BUCKET` members only, which bounds the work of a huge bucket.
"""

from __future__ import annotations

import numpy as np

from pipeline.dedup.config import MinHashConfig
from pipeline.dedup.lsh import _GOLDEN, _fmix64, bucket_edges

#: Bits of each signature value kept for verification (see the module docstring).
VERIFY_BITS = 16

#: Distinct members of one bucket checked pairwise in full. 256 keeps the checks of a bucket at
#: most 256 per member (32,640 pairs for a full one, a few milliseconds), far above the size of a
#: bucket of genuinely distinct near duplicates.
MAX_BUCKET = 256

#: Pairs compared at a time, bounding the memory of the comparison to about 64 MB at 128 values.
_CHUNK = 1 << 18


def low_bits(signatures: np.ndarray) -> np.ndarray:
    """The low :data:`VERIFY_BITS` bits of each signature value, as uint16."""
    return (np.asarray(signatures) & np.uint32(0xFFFF)).astype(np.uint16)


def matches_needed(threshold: float, num_perm: int) -> int:
    """The fewest equal values out of ``num_perm`` whose share reaches ``threshold``."""
    return int(np.ceil(threshold * num_perm - 1e-9))


def _row_hashes(values: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of ``values`` (equal rows, equal hashes)."""
    key = np.full(len(values), _GOLDEN, np.uint64)
    with np.errstate(over="ignore"):
        for column in values.T:
            key = _fmix64(key * _GOLDEN + column.astype(np.uint64))
    return key


def _pairs_in_groups(starts: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(i, j)``, ``i < j``, of the pairs inside the consecutive groups that start at
    ``starts`` with ``sizes`` members, each member paired with the members before it in its group
    (at most the first :data:`MAX_BUCKET`)."""
    member = np.arange(int(sizes.sum()), dtype=np.int64)
    position = member - np.repeat(starts, sizes)  # place of each member inside its group
    partners = np.minimum(position, MAX_BUCKET)  # the members before it, at most MAX_BUCKET
    i = np.repeat(member - position, partners)
    offsets = np.arange(int(partners.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(partners) - partners, partners
    )
    return i + offsets, np.repeat(member, partners)


def verified_edges(
    keys: np.ndarray,
    nodes: np.ndarray,
    current: int,
    low: np.ndarray,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Edges between documents that share a key and whose signatures agree on at least
    ``threshold`` of their values.

    ``keys``: ``(n,)`` band keys; ``nodes``: each row's node (``>= current``: a previous run's
    document; pairs of two of those are never made); ``low``: ``(n, num_perm)`` uint16 low bits
    of each row's signature. Returns ``(a, b)`` int64 arrays with ``a < b``, sorted.
    """
    empty = np.empty(0, np.int64)
    if len(nodes) < 2:
        return empty, empty
    keys = np.asarray(keys, np.uint64)
    nodes = np.asarray(nodes, np.int64)
    order = np.lexsort((nodes, keys))
    keys, nodes, low = keys[order], nodes[order], low[order]
    first = np.ones(len(keys), bool)
    first[1:] = keys[1:] != keys[:-1]
    sizes = np.diff(np.append(np.flatnonzero(first), len(keys)))
    shared = np.repeat(sizes > 1, sizes)  # rows of buckets with two or more members
    keys, nodes, low = keys[shared], nodes[shared], low[shared]
    if not len(keys):
        return empty, empty
    # equal signatures inside a bucket: linked to the first of them, checked once
    hashes = _row_hashes(low)
    order = np.lexsort((nodes, hashes, keys))
    keys, nodes, low, hashes = keys[order], nodes[order], low[order], hashes[order]
    new_group = np.ones(len(keys), bool)
    new_group[1:] = (keys[1:] != keys[:-1]) | (hashes[1:] != hashes[:-1])
    heads = np.maximum.accumulate(np.where(new_group, np.arange(len(keys)), 0))
    same_a, same_b = nodes[heads][~new_group], nodes[~new_group]
    # distinct signatures of each bucket, in node order, checked pairwise
    keys, nodes, low = keys[new_group], nodes[new_group], low[new_group]
    order = np.lexsort((nodes, keys))
    keys, nodes, low = keys[order], nodes[order], low[order]
    first = np.ones(len(keys), bool)
    first[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(first)
    i, j = _pairs_in_groups(starts, np.diff(np.append(starts, len(keys))))
    both_previous = (nodes[i] >= current) & (nodes[j] >= current)
    i, j = i[~both_previous], j[~both_previous]
    needed = matches_needed(threshold, low.shape[1])
    ok = np.zeros(len(i), bool)
    for lo in range(0, len(i), _CHUNK):
        hi = lo + _CHUNK
        ok[lo:hi] = (low[i[lo:hi]] == low[j[lo:hi]]).sum(axis=1) >= needed
    a = np.concatenate([same_a, nodes[i[ok]]])
    b = np.concatenate([same_b, nodes[j[ok]]])
    keep = ~((a >= current) & (b >= current))
    a, b = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
    edge_order = np.lexsort((b, a))
    return a[edge_order], b[edge_order]


def band_edges(
    keys: np.ndarray,
    nodes: np.ndarray,
    current: int,
    low: np.ndarray | None,
    config: MinHashConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """The edges of one band: verified at ``config.threshold`` when ``config.verify`` (then
    ``low`` holds the rows' :func:`low_bits`), else every pair sharing a key."""
    if config.verify:
        assert low is not None
        return verified_edges(keys, nodes, current, low, config.threshold)
    return bucket_edges(keys, nodes, current)
