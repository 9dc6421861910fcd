"""The cluster step: from candidate edges to one kept document per cluster, and why the rest go.

Nodes ``0 .. current-1`` are this run's documents in run order (partitions sorted by name, rows
in order); nodes ``current ..`` are documents of previous runs: the ones they kept and the near
duplicates they dropped, each of those standing for the document it was dropped for (its id
and exact key), so a new copy of a dropped document goes where one run over everything would
put it. Clusters are the connected
components of the edges. In each cluster the kept document is, in this order of preference:
a previous run's document (they were published already, so they always win), then the best by
the keep policy, then the first in run order. Every other document of the cluster is dropped:
``exact_duplicate`` when its exact key equals the kept document's, else ``near_duplicate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.dedup.config import KeepPolicy
from pipeline.dedup.union_find import component_sizes, connected_components

KEEP, EXACT, NEAR = 0, 1, 2
REASONS = {EXACT: "exact_duplicate", NEAR: "near_duplicate"}


@dataclass
class Decisions:
    """Per document of this run (node ``i`` = row ``i``)."""

    keeper: np.ndarray  # int64: node of the kept document of its cluster (itself when kept)
    reason: np.ndarray  # int8: KEEP, EXACT or NEAR
    cluster_size: np.ndarray  # int64: this run's documents in its cluster, for kept ones; else 0

    @property
    def clusters(self) -> int:
        """Clusters of two or more documents with a kept document of this run."""
        return int(np.count_nonzero(self.cluster_size > 1))

    def reasons(self) -> list[str | None]:
        return [REASONS.get(int(r)) for r in self.reason]


def policy_rank(
    policy: KeepPolicy,
    lengths: np.ndarray,
    sources: Sequence[str],
    source_priority: Sequence[str],
) -> np.ndarray:
    """An int64 rank per document, lower = preferred, under ``policy`` (ties: run order)."""
    if policy == "longest":
        return -np.asarray(lengths, np.int64)
    if policy == "source_priority":
        order = {name: i for i, name in enumerate(source_priority)}
        return np.array([order.get(s, len(order)) for s in sources], np.int64)
    return np.zeros(len(lengths), np.int64)


def decide(
    current: int,
    previous: int,
    edges: Sequence[tuple[np.ndarray, np.ndarray]],
    rank: np.ndarray,
    exact: np.ndarray | None = None,
) -> Decisions:
    """Cluster ``current + previous`` nodes by ``edges`` and decide every current document.

    ``rank``: the keep policy's rank of each current document. ``exact``: the ``(nodes, 2)``
    uint64 exact keys of all nodes, or None when exact dedup is off (then every drop is a
    ``near_duplicate``).
    """
    size = current + previous
    a = np.concatenate([e[0] for e in edges]) if edges else np.empty(0, np.int64)
    b = np.concatenate([e[1] for e in edges]) if edges else np.empty(0, np.int64)
    labels = connected_components(size, a, b)
    nodes = np.arange(size, dtype=np.int64)
    is_new = nodes < current
    full_rank = np.concatenate([np.asarray(rank, np.int64), np.zeros(previous, np.int64)])
    # the first node of each label group in this order is the cluster's kept document
    order = np.lexsort((nodes, full_rank, is_new, labels))
    first = np.ones(size, bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    keeper_of_label = np.empty(size, np.int64)
    keeper_of_label[labels[order][first]] = order[first]
    keeper = keeper_of_label[labels][:current]
    reason = np.full(current, KEEP, np.int8)
    dropped = keeper != nodes[:current]
    reason[dropped] = NEAR
    if exact is not None and dropped.any():
        same = (exact[:current][dropped] == exact[keeper[dropped]]).all(axis=1)
        reason[np.flatnonzero(dropped)[same]] = EXACT
    sizes = component_sizes(labels, counted=is_new)[:current]
    cluster_size = np.where(dropped, 0, sizes).astype(np.int64)
    return Decisions(keeper=keeper, reason=reason, cluster_size=cluster_size)
