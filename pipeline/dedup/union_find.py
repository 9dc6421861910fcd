"""Union-find over integer node numbers, vectorised: the cluster step of deduplication.

Candidate pairs (from shared LSH bands and equal exact hashes) are edges; clusters are the
connected components. Instead of one Python ``union`` per edge, all edges are processed at once
with NumPy in rounds of *hooking* (every node's root points at the smallest root among its
edges' roots) and *pointer jumping* (``parent = parent[parent]`` until every node points at its
root), the parallel form of union-find. Every component ends labelled with its smallest node,
whatever the order of the edges, so the result is deterministic.
"""

from __future__ import annotations

import numpy as np


def _compress(parent: np.ndarray) -> np.ndarray:
    while True:
        grand = parent[parent]
        if np.array_equal(grand, parent):
            return parent
        parent = grand


def connected_components(size: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Label nodes ``0 .. size-1`` by the smallest node of their component under edges
    ``a[i] -- b[i]``."""
    parent = np.arange(size, dtype=np.int64)
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    while len(a):
        root_a, root_b = parent[a], parent[b]
        differ = root_a != root_b
        if not differ.any():
            break
        root_a, root_b = root_a[differ], root_b[differ]
        low = np.minimum(root_a, root_b)
        # hook: each root takes the smallest root it is linked to (roots only ever decrease)
        np.minimum.at(parent, root_a, low)
        np.minimum.at(parent, root_b, low)
        parent = _compress(parent)
        a, b = a[differ], b[differ]
    return parent


def component_sizes(labels: np.ndarray, counted: np.ndarray | None = None) -> np.ndarray:
    """For each node, how many nodes (those where ``counted``, default all) share its label."""
    weights = None if counted is None else counted.astype(np.int64)
    sizes = np.bincount(labels, weights=weights, minlength=len(labels))
    return sizes.astype(np.int64)[labels]
