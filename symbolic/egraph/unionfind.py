"""Union-find over dense integer ids (e-class ids), with path halving.

The root of a union is always the *smaller* id, so the canonical id of a set
does not depend on the order in which unions happen: runs are deterministic.

>>> from pdeflow.symbolic.egraph.unionfind import UnionFind
>>> uf = UnionFind()
>>> a, b, c = uf.make(), uf.make(), uf.make()
>>> uf.union(c, b), uf.find(c), uf.find(a)
(1, 1, 0)
"""

from __future__ import annotations


class UnionFind:
    """Disjoint sets of the ids ``0 .. n-1``."""

    __slots__ = ("parent",)

    def __init__(self):
        self.parent: list[int] = []

    def __len__(self) -> int:
        return len(self.parent)

    def make(self) -> int:
        """A new singleton set; returns its id."""
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, i: int) -> int:
        """The canonical (smallest) id of the set holding ``i``."""
        p = self.parent
        while p[i] != i:
            p[i] = p[p[i]]
            i = p[i]
        return i

    def union(self, a: int, b: int) -> int:
        """Merge the sets of ``a`` and ``b``; returns the new root (the smaller root)."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if rb < ra:
            ra, rb = rb, ra
        self.parent[rb] = ra
        return ra


__all__ = ["UnionFind"]
