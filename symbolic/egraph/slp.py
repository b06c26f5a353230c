"""The straight-line program (SLP): the optimizer's output, a DAG of assignments.

Value ``i < len(leaves)`` is the leaf ``leaves[i]`` (a symbol or placeholder); value
``len(leaves) + k`` is instruction ``k``, an ``(op, payload, args)`` tuple over earlier
values with the e-node vocabulary of :mod:`.egraph` (``add``, ``mul``, ``neg``,
``sub``, ``div``, ``fma``, ``pow``, ``num`` and function names).  Every value is
computed once, so the program keeps the chosen shapes and sharing that rebuilding
canonical terms (:meth:`SLP.to_terms`) would undo.

>>> from pdeflow.symbolic import symbols
>>> from pdeflow.symbolic.egraph import optimize
>>> x, y = symbols("x y")
>>> print(optimize([3*x + 3*y], cost="anchor").slp)
v3 = add(x, y)
v4 = mul(3, v3)
out[0] = v4
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pdeflow.symbolic.egraph.convert import build_term
from pdeflow.symbolic.terms import FUNCTIONS, Term


@dataclass(frozen=True)
class SLP:
    """A straight-line program.

    Attributes
    ----------
    leaves : tuple of Term
        Symbols and placeholders read (values ``0 .. L-1``).
    instrs : tuple of (str, payload, tuple of int)
        Value ``L + k`` is ``instrs[k]``.
    outputs : tuple of int
        The value of each output.
    """

    leaves: tuple
    instrs: tuple
    outputs: tuple

    @classmethod
    def from_choice(cls, eg, roots, choice) -> SLP:
        """The program computing ``roots`` with one chosen e-node per e-class (post-order)."""
        leaves: list = []
        value: dict = {}
        body: list = []
        roots = [eg.find(r) for r in roots]
        for r in roots:
            stack = [r]
            while stack:
                c = stack[-1]
                if c in value:
                    stack.pop()
                    continue
                n = choice[c]
                todo = [d for d in n[2] if d not in value]
                if todo:
                    stack.extend(reversed(todo))
                    continue
                stack.pop()
                if n[0] == "sym":
                    value[c] = ("leaf", len(leaves))
                    leaves.append(n[1])
                else:
                    value[c] = ("ins", len(body))
                    body.append((n[0], n[1], tuple(value[d] for d in n[2])))
        nl = len(leaves)

        def vid(v):
            return v[1] if v[0] == "leaf" else nl + v[1]

        instrs = tuple((op, pl, tuple(vid(a) for a in args)) for op, pl, args in body)
        return cls(tuple(leaves), instrs, tuple(vid(value[r]) for r in roots))

    def __len__(self) -> int:
        return len(self.instrs)

    def uses(self) -> list[int]:
        """How many times each value is read (outputs included)."""
        u = [0] * (len(self.leaves) + len(self.instrs))
        for _, _, args in self.instrs:
            for a in args:
                u[a] += 1
        for o in self.outputs:
            u[o] += 1
        return u

    def cost(self, model) -> float:
        """Cycles of one evaluation: every instruction once."""
        return float(sum(model.node_cost(i) for i in self.instrs))

    def op_counts(self) -> dict[str, int]:
        """Binary-operation count per op (an n-ary add of k terms counts k - 1)."""
        out: dict = {}
        for op, _, args in self.instrs:
            k = len(args) - 1 if op in ("add", "mul") else 1
            if op != "num":
                out[op] = out.get(op, 0) + k
        return out

    def to_terms(self) -> list[Term]:
        """Canonical terms of the outputs (shapes and sharing are not kept)."""
        vals: list = list(self.leaves)
        for op, pl, args in self.instrs:
            vals.append(build_term(op, pl, [vals[a] for a in args]))
        return [vals[o] for o in self.outputs]

    def evaluate(self, env: dict) -> list:
        """Evaluate with numpy; ``env`` maps each leaf to a number or array."""
        vals: list = [env[leaf] for leaf in self.leaves]
        with np.errstate(all="ignore"):
            for op, pl, args in self.instrs:
                a = [vals[i] for i in args]
                vals.append(_np_op(op, pl, a))
        return [vals[o] for o in self.outputs]

    def __str__(self) -> str:
        nl = len(self.leaves)
        names = [str(leaf) for leaf in self.leaves]
        names += [f"v{nl + k}" for k in range(len(self.instrs))]
        lines = []
        for k, (op, pl, args) in enumerate(self.instrs):
            if op == "num":
                names[nl + k] = repr(pl) if not hasattr(pl, "denominator") or \
                    pl.denominator == 1 else str(pl)
                continue
            a = ", ".join(names[i] for i in args)
            p = f"[{pl}]" if pl is not None else ""
            lines.append(f"{names[nl + k]} = {op}{p}({a})")
        lines += [f"out[{j}] = {names[o]}" for j, o in enumerate(self.outputs)]
        return "\n".join(lines)


def _np_op(op, pl, a):
    if op == "num":
        return float(pl)
    if op == "add":
        return sum(a[1:], a[0])
    if op == "mul":
        r = a[0]
        for x in a[1:]:
            r = r * x
        return r
    if op == "neg":
        return -a[0]
    if op == "sub":
        return a[0] - a[1]
    if op == "div":
        return a[0] / a[1]
    if op == "fma":
        return a[0] * a[1] + a[2]
    if op == "pow":
        return np.power(a[0], float(pl))
    if op == "fpow":
        return np.power(a[0], a[1])
    return FUNCTIONS[op].numpy_impl(*a)


__all__ = ["SLP"]
