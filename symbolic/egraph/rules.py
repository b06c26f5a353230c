"""Rewrite rules: named ``(lhs, rhs, guard)`` objects, and the built-in rulesets.

A :class:`Rule` is a searcher (e-matching of ``lhs``) plus an applier (instantiate
``rhs`` and merge it into the matched e-class).  ``guard(egraph, subst)`` returns
``False`` to reject a match, or a dict of extra numeric bindings (``{"?d": ("#", 2.0)}``)
used by ``rhs``.  Every rule is valid over the reals wherever its left side is defined;
rules that would change the domain (``x/x -> 1``, ``log(x**2) -> 2 log x``) are left out.

Two rules work on whole n-ary sums and override :meth:`Rule.search`/:meth:`Rule.apply`:
:class:`Factor` (``a*x + a*y -> a*(x + y)`` for the most frequent factor ``a`` of a sum)
and :class:`CollectNegatives` (``a + -b -> a - b`` for all negated terms at once).
Their ``lhs``/``rhs`` strings describe the binary instance.

>>> from pdeflow.symbolic.egraph.rules import RULESETS
>>> [r.name for r in RULESETS["default"]][:3]
['neg-one', 'neg-coeff', 'neg-neg']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

from pdeflow.symbolic.egraph.pattern import instantiate, match_node, parse, root_filter


@dataclass(frozen=True, eq=False)
class Rule:
    """A named rewrite ``lhs -> rhs`` with an optional ``guard``.

    Parameters
    ----------
    name : str
    lhs, rhs : str
        Patterns (see :mod:`.pattern`).
    guard : callable, optional
        ``guard(egraph, subst) -> bool | dict``.
    """

    name: str
    lhs: str
    rhs: str
    guard: Callable | None = None
    _lhs: tuple = field(init=False, repr=False)
    _rhs: tuple = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "_lhs", parse(self.lhs))
        object.__setattr__(self, "_rhs", parse(self.rhs))

    def search(self, eg, index: dict, cap: int) -> list:
        """``[(eclass, subst), ...]``: at most ``cap`` matches per e-class, in class order."""
        pat = self._lhs
        if pat[0] != "op":
            raise ValueError(f"rule {self.name!r}: the left side must be an operation")
        arity, need = root_filter(pat)
        out = []
        count: dict = {}
        for cid, node, kops in index.get(pat[1], ()):
            if (arity is not None and len(node[2]) != arity) or not need <= kops:
                continue
            n = count.get(cid, 0)
            if n >= cap:
                continue
            for s in match_node(eg, pat, node, {}):
                if self.guard is not None:
                    g = self.guard(eg, s)
                    if g is False or g is None:
                        continue
                    if isinstance(g, dict):
                        s = {**s, **g}
                out.append((cid, s))
                n += 1
                if n >= cap:
                    break
            count[cid] = n
        return out

    def apply(self, eg, cid: int, subst: dict) -> bool:
        """Merge the instantiated right side into ``cid``; whether anything changed."""
        new = instantiate(eg, self._rhs, subst)
        if eg.find(new) == eg.find(cid):
            return False
        eg.union(new, cid)
        return True


def _views(eg, c):
    """The factors of e-class ``c``: the children of its first product node, else ``(c,)``."""
    for n in eg.nodes[c]:
        if n[0] == "mul":
            return n[2]
    return (c,)


def _remove_one(ch: tuple, f: int) -> tuple:
    i = ch.index(f)
    return ch[:i] + ch[i + 1:]


def _mul_of(eg, ch: tuple) -> int:
    if not ch:
        return eg.add_num(1)
    if len(ch) == 1:
        return ch[0]
    return eg.add(("mul", None, ch))


def _add_of(eg, ch: list) -> int:
    if len(ch) == 1:
        return ch[0]
    return eg.add(("add", None, tuple(ch)))


@dataclass(frozen=True, eq=False)
class Factor(Rule):
    """``a*x1 + ... + a*xk + rest -> a*(x1 + ... + xk) + rest`` for the most frequent ``a``.

    Ties go to the smallest e-class id, so the choice is deterministic.
    """

    def search(self, eg, index, cap):
        out = []
        for cid, node, _ in index.get("add", ()):
            ch = node[2]
            views = [_views(eg, c) for c in ch]
            count: dict = {}
            for v in views:
                for f in set(v):
                    count[f] = count.get(f, 0) + 1
            best = None
            for f, k in count.items():
                if k >= 2 and (best is None or (k, -f) > (count[best], -best)):
                    best = f
            if best is not None:
                out.append((cid, {"node": node, "views": views, "f": best}))
        return out

    def apply(self, eg, cid, subst):
        f, views, ch = subst["f"], subst["views"], subst["node"][2]
        inner, rest = [], []
        for c, v in zip(ch, views, strict=True):
            if f in v:
                inner.append(_mul_of(eg, _remove_one(v, f)))
            else:
                rest.append(c)
        term = eg.add(("mul", None, (f, _add_of(eg, inner))))
        new = _add_of(eg, [term] + rest)
        if eg.find(new) == eg.find(cid):
            return False
        eg.union(new, cid)
        return True


@dataclass(frozen=True, eq=False)
class CollectNegatives(Rule):
    """``a1 + ... + ak + -b1 + ... + -bm -> (a1 + ... + ak) - (b1 + ... + bm)``."""

    def search(self, eg, index, cap):
        out = []
        for cid, node, kops in index.get("add", ()):
            if "neg" not in kops:
                continue
            pos, neg = [], []
            for c in node[2]:
                b = next((n[2][0] for n in eg.nodes[c] if n[0] == "neg"), None)
                if b is None:
                    pos.append(c)
                else:
                    neg.append(b)
            if neg and pos:
                out.append((cid, {"pos": pos, "neg": neg}))
        return out

    def apply(self, eg, cid, subst):
        new = eg.add(("sub", None, (_add_of(eg, subst["pos"]), _add_of(eg, subst["neg"]))))
        if eg.find(new) == eg.find(cid):
            return False
        eg.union(new, cid)
        return True


@dataclass(frozen=True, eq=False)
class Regroup(Rule):
    """Associativity under limits: ``x*y*z -> x*(y*z)`` for n-ary nodes of 3 or 4 children."""

    def search(self, eg, index, cap):
        out = []
        for op in ("add", "mul"):
            for cid, node, _ in index.get(op, ()):
                if 3 <= len(node[2]) <= 4:
                    for x in sorted(set(node[2]))[:cap]:
                        out.append((cid, {"op": op, "x": x, "ch": node[2]}))
        return out

    def apply(self, eg, cid, subst):
        op, x = subst["op"], subst["x"]
        rest = _remove_one(subst["ch"], x)
        new = eg.add((op, None, (x, eg.add((op, None, rest)))))
        if eg.find(new) == eg.find(cid):
            return False
        eg.union(new, cid)
        return True


# --------------------------------------------------------------------- guards
def _const(eg, s, var):
    return eg.const.get(eg.find(s[var])) if not isinstance(s[var], tuple) else s[var][1]


def _neg_coeff(eg, s):
    c = _const(eg, s, "?#c")
    if c is None or not c < 0 or c == -1:
        return False
    return {"?d": ("#", -c)}


def _recip_const(eg, s):
    c = _const(eg, s, "?#c")
    if c is None or c == 0:
        return False
    return {"?i": ("#", Fraction(1) / c if isinstance(c, int | Fraction) else 1.0 / c)}


def _int_exp(lo, hi, parity=None):
    def guard(eg, s):
        n = s["?n"][1]
        if isinstance(n, float) and n.is_integer():
            n = int(n)
        if not isinstance(n, int) or not lo <= n <= hi:
            return False
        if parity is not None and n % 2 != parity:
            return False
        return {"?h": ("#", n // 2), "?m": ("#", n - 1), "?p": ("#", -n)}

    return guard


def _ruleset() -> dict[str, list[Rule]]:
    neg = [
        Rule("neg-one", "(* -1 ?r...)", "(neg (* ?r...))"),
        Rule("neg-coeff", "(* ?#c ?r...)", "(neg (* ?d ?r...))", _neg_coeff),
        Rule("neg-neg", "(neg (neg ?a))", "?a"),
        Rule("sub-neg", "(- ?a (neg ?b))", "(+ ?a ?b)"),
        CollectNegatives("add-neg-sub", "(+ ?a (neg ?b))", "(- ?a ?b)"),
    ]
    algebra = [
        Factor("factor", "(+ (* ?a ?x) (* ?a ?y))", "(* ?a (+ ?x ?y))"),
        Rule("distribute", "(* ?a (+ ?b ?c))", "(+ (* ?a ?b) (* ?a ?c))"),
        Rule("pow-one", "(^ ?x 1)", "?x"),
        Rule("pow-square", "(^ ?x 2)", "(* ?x ?x)"),
        Rule("pow-even", "(^ ?x ?n)", "(* (^ ?x ?h) (^ ?x ?h))", _int_exp(4, 64, 0)),
        Rule("pow-odd", "(^ ?x ?n)", "(* ?x (^ ?x ?m))", _int_exp(3, 63, 1)),
        Rule("pow-neg", "(^ ?x ?n)", "(/ 1 (^ ?x ?p))", _int_exp(-64, -1)),
        Rule("sqrt-recip", "(^ ?x -1/2)", "(/ 1 (^ ?x 1/2))"),
        Rule("mul-div", "(* ?x (/ 1 ?y) ?r...)", "(* (/ ?x ?y) ?r...)"),
        Rule("div-const", "(/ ?x ?#c)", "(* ?x ?i)", _recip_const),
        Rule("fma", "(+ (* ?a ?b) ?c)", "(fma ?a ?b ?c)"),
    ]
    transcendental = [
        Rule("exp-prod", "(* (exp ?a) (exp ?b) ?r...)", "(* (exp (+ ?a ?b)) ?r...)"),
        Rule("exp-sum", "(exp (+ ?a ?b))", "(* (exp ?a) (exp ?b))"),
        Rule("exp-recip", "(/ 1 (exp ?a))", "(exp (neg ?a))"),
        Rule("exp-pow", "(^ (exp ?a) ?n)", "(exp (* ?n ?a))"),
        Rule("log-prod", "(+ (log ?a) (log ?b) ?r...)", "(+ (log (* ?a ?b)) ?r...)"),
        Rule("pythagoras", "(+ (^ (sin ?x) 2) (^ (cos ?x) 2) ?r...)", "(+ 1 ?r...)"),
        Rule("tan", "(* (sin ?x) (^ (cos ?x) -1) ?r...)", "(* (tan ?x) ?r...)"),
        Rule("tan-div", "(/ (sin ?x) (cos ?x))", "(tan ?x)"),
    ]
    default = neg + algebra + transcendental
    return {
        "default": default,
        "full": default + [Regroup("regroup", "(* ?x ?y ?z)", "(* ?x (* ?y ?z))")],
        "none": [],
    }


#: the built-in rulesets: ``"default"``, ``"full"`` (adds regrouping) and ``"none"``
RULESETS: dict[str, list[Rule]] = _ruleset()


def get_rules(rules) -> list[Rule]:
    """A ruleset by name, or a list of :class:`Rule` as given."""
    if isinstance(rules, str):
        if rules not in RULESETS:
            raise ValueError(
                f"The 'rules' parameter of optimize must be one of {sorted(RULESETS)} or a list "
                f"of Rule. Got {rules!r}."
            )
        return list(RULESETS[rules])
    rules = list(rules)
    for r in rules:
        if not isinstance(r, Rule):
            raise TypeError(f"The 'rules' parameter of optimize must hold Rule objects. Got {r!r}.")
    return rules


__all__ = ["Rule", "Factor", "CollectNegatives", "Regroup", "RULESETS", "get_rules"]
