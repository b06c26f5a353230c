"""The e-graph: e-classes of equivalent e-nodes, hash-consed, with congruence closure.

An e-node is a plain tuple ``(op, payload, children)``:

* ``("num", value, ())``: a number; ``("sym", term, ())``: a symbol or placeholder;
* ``("add", None, ids)`` and ``("mul", None, ids)``: n-ary sums and products whose
  children are a *sorted* tuple of e-class ids (a multiset), so commutativity and
  associativity of the flattened input are built into the representation;
* ``("pow", n, (b,))``: ``b ** n`` for a number ``n``; ``("fpow", None, (b, e))``;
* ``("neg", None, (a,))``, ``("sub", None, (a, b))``, ``("div", None, (a, b))``,
  ``("fma", None, (a, b, c))`` (``a*b + c``);
* ``(name, None, ids)`` for a registered function (``"exp"``, ``"sin"``, ...).

E-class ids come from a :class:`~.unionfind.UnionFind` whose root is the smaller id,
and every loop below runs in id order, so a saturation run is deterministic.

>>> from pdeflow.symbolic.egraph.egraph import EGraph
>>> g = EGraph()
>>> x, y = g.add(("sym", "x", ())), g.add(("sym", "y", ()))
>>> a, b = g.add(("add", None, (x, y))), g.add(("add", None, (y, x)))
>>> a == b
True
"""

from __future__ import annotations

from pdeflow.symbolic.egraph.unionfind import UnionFind

AC_OPS = frozenset({"add", "mul"})


def _fold(op, payload, vals):
    """The value of an operation on numbers (None when not folded)."""
    try:
        if op == "add":
            return sum(vals[1:], vals[0])
        if op == "mul":
            r = vals[0]
            for v in vals[1:]:
                r = r * v
            return r
        if op == "neg":
            return -vals[0]
        if op == "sub":
            return vals[0] - vals[1]
        if op == "div" and vals[1] != 0:
            return vals[0] / vals[1]
        if op == "fma":
            return vals[0] * vals[1] + vals[2]
    except (TypeError, OverflowError, ZeroDivisionError):
        return None
    return None


class EGraph:
    """E-classes of e-nodes with hash-consing and congruence closure (:meth:`rebuild`).

    Attributes
    ----------
    nodes : dict of int to list of e-node
        The e-nodes of each canonical e-class.
    const : dict of int to number
        The numeric value of e-classes known to be constants.
    """

    def __init__(self):
        self.uf = UnionFind()
        self.memo: dict = {}
        self.nodes: dict[int, list] = {}
        self.const: dict = {}
        self.dirty = False
        self.size = 0  # e-nodes ever created (an upper bound of n_nodes)
        self.ops_of: dict = {}  # e-class -> set of its ops, refreshed by by_op()
        self.changed: set = set()  # e-classes created or merged since the last by_op()

    # ------------------------------------------------------------------ basics
    def find(self, c: int) -> int:
        """Canonical id of e-class ``c`` (union-find root)."""
        return self.uf.find(c)

    def canonical(self, node):
        """``node`` with canonical children (sorted for ``add``/``mul``)."""
        op, payload, ch = node
        if not ch:
            return node
        ch = tuple(map(self.uf.find, ch))
        if op in AC_OPS:
            ch = tuple(sorted(ch))
        return (op, payload, ch)

    def lookup(self, node) -> int | None:
        """Canonical id of the e-class holding ``node``, or None if the graph has no such node."""
        c = self.memo.get(self.canonical(node))
        return None if c is None else self.uf.find(c)

    def add(self, node) -> int:
        """The e-class of ``node``, created if new."""
        node = self.canonical(node)
        c = self.memo.get(node)
        if c is not None:
            return self.uf.find(c)
        op, payload, ch = node
        if op in AC_OPS and len(ch) == 1:
            return ch[0]
        c = self.uf.make()
        self.size += 1
        self.changed.add(c)
        self.memo[node] = c
        self.nodes[c] = [node]
        if op == "num":
            self.const[c] = payload
        elif ch and all(x in self.const for x in ch):
            v = _fold(op, payload, [self.const[x] for x in ch])
            if v is not None and v == v:
                c = self.union(c, self.add(("num", v, ())))
        return c

    def add_num(self, v) -> int:
        """Add the number ``v`` as a leaf node and return its e-class id."""
        return self.add(("num", v, ()))

    def union(self, a: int, b: int) -> int:
        """Merge two e-classes; returns the canonical id (call :meth:`rebuild` after)."""
        ra, rb = self.uf.find(a), self.uf.find(b)
        if ra == rb:
            return ra
        r = self.uf.union(ra, rb)
        self.changed.add(r)
        o = rb if r == ra else ra
        self.nodes[r].extend(self.nodes.pop(o))
        if o in self.const and r not in self.const:
            self.const[r] = self.const[o]
        self.const.pop(o, None)
        self.dirty = True
        return r

    # ------------------------------------------------------------- invariants
    def rebuild(self) -> int:
        """Restore hash-consing and congruence after unions; returns the number of passes."""
        passes = 0
        find = self.uf.find
        canonical = self.canonical
        while True:
            passes += 1
            merged = False
            memo: dict = {}
            for c in sorted(self.nodes):
                r = find(c)
                for n in self.nodes[c]:
                    n2 = canonical(n)
                    prev = memo.get(n2)
                    if prev is None:
                        memo[n2] = r
                    elif find(prev) != find(r):
                        r = self.union(prev, r)
                        merged = True
            if not merged:
                break
        self.memo = memo
        nodes: dict = {}
        for n2, c in memo.items():
            if n2[0] in AC_OPS and len(n2[2]) == 1:
                continue
            nodes.setdefault(find(c), []).append(n2)
        for c in self.nodes:
            nodes.setdefault(c, [])
        self.nodes = {c: nodes[c] for c in sorted(nodes)}
        self.dirty = False
        return passes

    # ---------------------------------------------------------------- queries
    @property
    def n_nodes(self) -> int:
        """Number of e-nodes over all e-classes."""
        return sum(len(v) for v in self.nodes.values())

    @property
    def n_classes(self) -> int:
        """Number of e-classes."""
        return len(self.nodes)

    def classes(self) -> list[int]:
        """Canonical e-class ids, in increasing order."""
        return sorted(self.nodes)

    def by_op(self, incremental: bool = False) -> dict[str, list]:
        """``op -> [(class, node, child_ops), ...]`` over e-nodes, in class order.

        ``child_ops`` is the set of ops found in the node's child e-classes (a cheap
        filter for patterns).  With ``incremental``, only e-nodes within two levels
        (self, children, grandchildren) of an e-class created or merged since the last
        call are listed: patterns of depth 3 or less cannot match anything new elsewhere.
        Also refreshes :attr:`ops_of`.
        """
        find = self.uf.find
        fresh = {find(c) for c in self.changed}
        self.changed = set()
        ops_of: dict = {}
        for c, ns in self.nodes.items():
            ops_of[c] = {n[0] for n in ns}
        self.ops_of = ops_of
        if incremental:
            near = set(fresh)
            for c, ns in self.nodes.items():
                if c not in near:
                    for n in ns:
                        if not fresh.isdisjoint(n[2]):
                            near.add(c)
                            break
        out: dict[str, list] = {}
        empty: frozenset = frozenset()
        for c in sorted(self.nodes):
            for n in self.nodes[c]:
                ch = n[2]
                if incremental and c not in near and near.isdisjoint(ch):
                    continue
                if not ch:
                    kops = empty
                elif len(ch) == 1:
                    kops = ops_of[ch[0]]
                else:
                    kops = set().union(*map(ops_of.__getitem__, ch))
                out.setdefault(n[0], []).append((c, n, kops))
        return out


__all__ = ["EGraph", "AC_OPS"]
