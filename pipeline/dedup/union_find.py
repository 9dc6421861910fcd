"""Union-find over integer ids, the cluster step of near-duplicate detection.

The root of every cluster is its smallest member, so "keep the first document" is simply
"keep the root" whatever order the pairs arrive in.
"""

from __future__ import annotations


class UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            small, large = (ra, rb) if ra < rb else (rb, ra)
            self.parent[large] = small
