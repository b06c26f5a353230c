"""Patterns: s-expressions with variables, e-matching and instantiation.

Syntax: ``(op child ...)`` with ``+ * - / ^ neg fma`` or a function name (``exp``,
``sin``...), variables ``?x``, number literals, and for ``+``/``*`` one optional
trailing *rest* variable ``?r...`` that binds the remaining children of an n-ary node
(AC matching: the fixed children match any positions).  In ``(^ ?x 2)`` the exponent is
the node's numeric payload, a literal or a variable.  A variable ``?#c`` matches
only e-classes known to be numbers.

>>> from pdeflow.symbolic.egraph.pattern import parse
>>> parse("(* -1 ?a...)")
('op', 'mul', None, (('lit', -1),), '?a...')
"""

from __future__ import annotations

from fractions import Fraction
from itertools import product

from pdeflow.symbolic.egraph.egraph import AC_OPS

OPS = {"+": "add", "*": "mul", "-": "sub", "/": "div", "^": "pow"}


def _tokens(s: str) -> list[str]:
    return s.replace("(", " ( ").replace(")", " ) ").split()


def _number(tok: str):
    try:
        return int(tok)
    except ValueError:
        pass
    try:
        return Fraction(tok) if "/" in tok else float(tok)
    except ValueError:
        return None


def parse(src: str) -> tuple:
    """Parse a pattern string into a nested tuple (see the module docstring)."""
    toks = _tokens(src)
    pos = 0

    def atom(tok):
        if tok.startswith("?"):
            return ("var", tok)
        v = _number(tok)
        if v is None:
            raise ValueError(f"bad pattern atom {tok!r} in {src!r}")
        return ("lit", v)

    def expr():
        nonlocal pos
        tok = toks[pos]
        pos += 1
        if tok != "(":
            return atom(tok)
        op = OPS.get(toks[pos], toks[pos])
        pos += 1
        kids, rest, payload = [], None, None
        while toks[pos] != ")":
            if toks[pos].endswith("..."):
                rest = toks[pos]
                pos += 1
                continue
            kids.append(expr())
        pos += 1
        if op == "pow":
            payload = kids.pop()[1]
        return ("op", op, payload, tuple(kids), rest)

    out = expr()
    if pos != len(toks):
        raise ValueError(f"trailing tokens in pattern {src!r}")
    return out


def variables(pat) -> set[str]:
    """The variable names of a pattern (rest and payload variables included)."""
    if pat[0] == "var":
        return {pat[1]}
    if pat[0] == "lit":
        return set()
    out = set()
    if isinstance(pat[2], str):
        out.add(pat[2])
    if pat[4]:
        out.add(pat[4])
    for k in pat[3]:
        out |= variables(k)
    return out


# ------------------------------------------------------------------ matching
def match(eg, pat, cid: int, subst: dict):
    """Yield every extension of ``subst`` under which ``pat`` matches e-class ``cid``."""
    kind = pat[0]
    if kind == "var":
        b = subst.get(pat[1])
        if b is None and pat[1].startswith("?#") and cid not in eg.const:
            return
        if b is None:
            s = dict(subst)
            s[pat[1]] = cid
            yield s
        elif eg.find(b) == cid:
            yield subst
        return
    if kind == "lit":
        v = eg.const.get(cid)
        if v is not None and v == pat[1]:
            yield subst
        return
    op = pat[1]
    for node in eg.nodes.get(cid, ()):
        if node[0] == op:
            yield from match_node(eg, pat, node, subst)


def match_node(eg, pat, node, subst: dict):
    """Yield every extension of ``subst`` under which operation pattern ``pat`` matches ``node``."""
    _, op, ppat, kids, rest = pat
    if ppat is not None:
        if isinstance(ppat, str):
            b = subst.get(ppat)
            if b is None:
                subst = {**subst, ppat: ("#", node[1])}
            elif b[1] != node[1]:
                return
        elif node[1] != ppat:
            return
    yield from _match_children(eg, kids, rest, op, node[2], subst)


def _may_match(eg, pat, cid) -> bool:
    if pat[0] == "var":
        return not pat[1].startswith("?#") or cid in eg.const
    if pat[0] == "lit":
        return cid in eg.const and eg.const[cid] == pat[1]
    ops = eg.ops_of.get(cid)
    if ops is None:
        return any(n[0] == pat[1] for n in eg.nodes.get(cid, ()))
    return pat[1] in ops


def _match_seq(eg, kids, ch, subst):
    if not kids:
        yield subst
        return
    for s in match(eg, kids[0], ch[0], subst):
        yield from _match_seq(eg, kids[1:], ch[1:], s)


def _match_children(eg, kids, rest, op, ch, subst):
    k = len(kids)
    if op not in AC_OPS:
        if len(ch) == k:
            yield from _match_seq(eg, kids, ch, subst)
        return
    n = len(ch)
    if (rest is None and n != k) or n < k:
        return
    cands = [[i for i in range(n) if _may_match(eg, kid, ch[i])] for kid in kids]
    if any(not c for c in cands):
        return
    seen = set()
    for idx in product(*cands):
        if len(set(idx)) != k:
            continue
        picked = tuple(ch[i] for i in idx)
        if picked in seen:
            continue
        seen.add(picked)
        for s in _match_seq(eg, kids, picked, subst):
            if rest is not None:
                s = dict(s)
                s[rest] = tuple(ch[i] for i in range(n) if i not in idx)
            yield s


def root_filter(pat) -> tuple:
    """``(arity or None, ops the children must hold)`` of an operation pattern's root."""
    _, op, _, kids, rest = pat
    need = set()
    for k in kids:
        if k[0] == "op":
            need.add(k[1])
        elif k[0] == "lit" or k[1].startswith("?#"):
            need.add("num")
    return (None if rest else len(kids)), frozenset(need)


# ------------------------------------------------------------- instantiation
def instantiate(eg, pat, subst: dict) -> int:
    """Add the e-nodes of ``pat`` under ``subst``; returns the root e-class."""
    kind = pat[0]
    if kind == "var":
        v = subst[pat[1]]
        if isinstance(v, tuple):
            return eg.add_num(v[1])
        return v
    if kind == "lit":
        return eg.add_num(pat[1])
    _, op, ppat, kids, rest = pat
    ch = [instantiate(eg, k, subst) for k in kids]
    if rest is not None:
        ch.extend(subst[rest])
    payload = None
    if ppat is not None:
        payload = subst[ppat][1] if isinstance(ppat, str) else ppat
    if op in AC_OPS:
        if not ch:
            return eg.add_num(0 if op == "add" else 1)
        if len(ch) == 1:
            return ch[0]
    return eg.add((op, payload, tuple(ch)))


__all__ = ["parse", "match", "match_node", "instantiate", "variables", "root_filter"]
