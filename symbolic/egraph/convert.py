"""Terms in, terms out: pdeflow terms to e-graph classes, through the generic interface only.

:func:`add_terms` walks terms with ``iscall`` / ``operation`` / ``arguments`` and adds one
e-node per distinct subterm; :func:`build_term` rebuilds a term from an e-node with
``maketerm``.  Rebuilt terms are re-canonicalized (``x*x`` becomes ``x**2``), which is
why the optimizer's primary output is a straight-line program (:mod:`.slp`), not terms.
"""

from __future__ import annotations

from pdeflow.symbolic import functions as _functions  # noqa: F401  (registers functions)
from pdeflow.symbolic.interface import ADD, MUL, POW, arguments, iscall, maketerm, operation
from pdeflow.symbolic.terms import FUNCTIONS, NEG_ONE, Num, Term, add, mul, num, power


def node_of_term(t: Term, child_ids: tuple) -> tuple:
    """The e-node for term ``t`` whose argument e-classes are ``child_ids``."""
    if not iscall(t):
        if type(t) is Num:
            return ("num", t.value, ())
        return ("sym", t, ())
    op = operation(t)
    if op is ADD:
        return ("add", None, child_ids)
    if op is MUL:
        return ("mul", None, child_ids)
    if op is POW:
        e = arguments(t)[1]
        if type(e) is Num:
            return ("pow", e.value, child_ids[:1])
        return ("fpow", None, child_ids)
    return (op.name, None, child_ids)


def add_terms(egraph, terms) -> list[int]:
    """Add every term (and its subterms) to ``egraph``; returns the root e-class ids."""
    ids: dict = {}
    roots = []
    for root in terms:
        stack = [root]
        while stack:
            t = stack[-1]
            if t in ids:
                stack.pop()
                continue
            args = arguments(t) if iscall(t) else ()
            if type(t) is not Num and iscall(t) and operation(t) is POW and \
                    type(args[1]) is Num:
                args = args[:1]
            todo = [a for a in args if a not in ids]
            if todo:
                stack.extend(reversed(todo))
                continue
            stack.pop()
            ids[t] = egraph.add(node_of_term(t, tuple(ids[a] for a in args)))
        roots.append(ids[root])
    return roots


def build_term(op: str, payload, args: list) -> Term:
    """The (canonical) term of e-node ``(op, payload, ·)`` applied to argument terms."""
    if op == "num":
        return num(payload)
    if op == "sym":
        return payload
    if op == "add":
        return add(*args)
    if op == "mul":
        return mul(*args)
    if op == "neg":
        return mul(NEG_ONE, args[0])
    if op == "sub":
        return add(args[0], mul(NEG_ONE, args[1]))
    if op == "div":
        return mul(args[0], power(args[1], NEG_ONE))
    if op == "fma":
        return add(mul(args[0], args[1]), args[2])
    if op == "pow":
        return power(args[0], num(payload))
    if op == "fpow":
        return maketerm(POW, tuple(args))
    return maketerm(FUNCTIONS[op], tuple(args))


__all__ = ["add_terms", "node_of_term", "build_term"]
