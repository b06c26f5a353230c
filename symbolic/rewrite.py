"""Rewriting strategies: combinators over rules and functions ``term -> term | None``.

A *rewriter* is a :class:`~pdeflow.symbolic.rules.Rule` or any callable
``rw(term) -> Term | None`` that returns ``None`` when it does not apply.
Strategies combine rewriters and are rewriters themselves:

=====================  =======================================================
``once(*rws)``         the first of ``rws`` that applies, at the root only
``chain(*rws)``        apply each of ``rws`` in turn, passing the result on
``fixpoint(rw)``       apply ``rw`` until it no longer changes the term
``prewalk(rw)``        apply ``rw`` to a node, then walk into the result's children
``postwalk(rw)``       walk the children first, then apply ``rw`` to the rebuilt node
``innermost(rws)``     normalize bottom-up: ``fixpoint(postwalk(fixpoint(once(*rws))))``
=====================  =======================================================

Walks are memoized over the DAG: a subterm shared by several parents is
rewritten once per call.  Everything is deterministic: terms are visited in the
canonical argument order and no set or dict of terms is iterated, so the same
input gives the same output object whatever ``PYTHONHASHSEED`` is.

Examples
--------
>>> from pdeflow.symbolic import symbols
>>> from pdeflow.symbolic.functions import sin
>>> from pdeflow.symbolic.rules import Rule, pvar
>>> from pdeflow.symbolic.rewrite import rewrite, prewalk, once
>>> x, = symbols("x")
>>> odd = Rule("sin-odd", sin(-pvar("a")), -sin(pvar("a")))
>>> rewrite(sin(-sin(-x)), [odd])
sin(sin(x))
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Sequence

from pdeflow.symbolic.interface import arguments, iscall, maketerm, operation
from pdeflow.symbolic.rules import Rule
from pdeflow.symbolic.terms import Term

Rewriter = Callable[[Term], Term | None]

__all__ = [
    "Rewriter", "once", "chain", "fixpoint", "prewalk", "postwalk", "innermost", "rewrite",
    "term_size", "RewriteError",
]

# Default bound on root rewrites in one ``innermost`` call.
MAX_REWRITES = 1_000_000


class RewriteError(RuntimeError):
    """Rewriting did not terminate within its step budget."""


def _as_rewriter(rw) -> Rewriter:
    if isinstance(rw, Rule) or callable(rw):
        return rw
    if isinstance(rw, Iterable) and not isinstance(rw, str | Term):
        return once(*rw)
    raise TypeError(f"expected a Rule, a strategy or a callable term -> term | None, got {rw!r}")


def _name(rw) -> str:
    if isinstance(rw, Rule):
        return rw.name
    return getattr(rw, "__name__", None) or repr(rw)


def _rebuild(t: Term, new_args: Sequence[Term]) -> Term:
    old = arguments(t)
    if all(a is b for a, b in zip(old, new_args, strict=True)):
        return t
    return maketerm(operation(t), tuple(new_args))


class _Once:
    """The first rewriter that applies at the root (rules indexed by head operation)."""

    __slots__ = ("rws", "_by_head")

    def __init__(self, rws: tuple[Rewriter, ...]) -> None:
        self.rws = rws
        self._by_head: dict = {}

    def _candidates(self, term: Term) -> tuple[Rewriter, ...]:
        op = operation(term) if iscall(term) else None
        cands = self._by_head.get(op)
        if cands is None:
            cands = tuple(
                r for r in self.rws
                if not isinstance(r, Rule) or r.head is None or r.head is op
            )
            self._by_head[op] = cands
        return cands

    def __call__(self, term: Term) -> Term | None:
        for rw in self._candidates(term):
            out = rw(term)
            if out is not None and out is not term:
                return out
        return None

    def __repr__(self) -> str:
        return f"once({', '.join(_name(r) for r in self.rws)})"


def once(*rws) -> Rewriter:
    """Try each rewriter in order at the root; return the first result.

    Arguments may be rules, callables or sequences of them (flattened).

    Examples
    --------
    >>> from pdeflow.symbolic import symbols
    >>> from pdeflow.symbolic.functions import sin
    >>> from pdeflow.symbolic.rules import Rule, pvar
    >>> from pdeflow.symbolic.rewrite import once
    >>> x, = symbols("x")
    >>> odd = Rule("sin-odd", sin(-pvar("a")), -sin(pvar("a")))
    >>> once(odd)(sin(-x)), once(odd)(sin(x))
    (-sin(x), None)
    """
    flat: list[Rewriter] = []
    for rw in rws:
        if isinstance(rw, Iterable) and not isinstance(rw, str | Term) and not callable(rw):
            flat.extend(_as_rewriter(r) for r in rw)
        else:
            flat.append(_as_rewriter(rw))
    return _Once(tuple(flat))


class _Chain:
    __slots__ = ("rws",)

    def __init__(self, rws: tuple[Rewriter, ...]) -> None:
        self.rws = rws

    def __call__(self, term: Term) -> Term | None:
        cur = term
        for rw in self.rws:
            out = rw(cur)
            if out is not None:
                cur = out
        return None if cur is term else cur

    def __repr__(self) -> str:
        return f"chain({', '.join(_name(r) for r in self.rws)})"


def chain(*rws) -> Rewriter:
    """Apply every rewriter in turn, each to the previous result.

    Returns ``None`` when none of them changed the term.

    Examples
    --------
    >>> from pdeflow.symbolic import symbols
    >>> from pdeflow.symbolic.rewrite import chain
    >>> x, = symbols("x")
    >>> chain(lambda t: t + 1, lambda t: 2 * t)(x)
    2*x + 2
    """
    return _Chain(tuple(_as_rewriter(r) for r in rws))


class _Fixpoint:
    __slots__ = ("rw", "max_iter")

    def __init__(self, rw: Rewriter, max_iter: int) -> None:
        self.rw = rw
        self.max_iter = max_iter

    def __call__(self, term: Term) -> Term | None:
        cur = term
        seen = {term}
        for _ in range(self.max_iter):
            out = self.rw(cur)
            if out is None or out is cur:
                break
            if out in seen:  # a cycle: stop at the smallest term met, deterministically
                best = min((cur, out), key=lambda t: (term_size(t), t.sort_key()))
                return None if best is term else best
            seen.add(out)
            cur = out
        return None if cur is term else cur

    def __repr__(self) -> str:
        return f"fixpoint({_name(self.rw)})"


def fixpoint(rw, max_iter: int = 1000) -> Rewriter:
    """Apply ``rw`` repeatedly until it stops changing the term.

    Stops after ``max_iter`` applications, or when the term comes back to one
    already seen (a rule cycle), returning the smaller of the two.

    Examples
    --------
    >>> from pdeflow.symbolic import num
    >>> from pdeflow.symbolic.rewrite import fixpoint
    >>> halve = lambda t: num(t.value // 2) if t.value > 1 else None
    >>> halve(num(40)), fixpoint(halve)(num(40))
    (20, 1)
    """
    if not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"The 'max_iter' parameter of fixpoint must be an int >= 1. "
                         f"Got {max_iter!r}.")
    return _Fixpoint(_as_rewriter(rw), max_iter)


class _Postwalk:
    __slots__ = ("rw",)

    def __init__(self, rw: Rewriter) -> None:
        self.rw = rw

    def __call__(self, term: Term) -> Term | None:
        memo: dict[Term, Term] = {}
        stack: list[tuple[Term, bool]] = [(term, False)]
        while stack:
            node, expanded = stack.pop()
            if node in memo:
                continue
            if iscall(node) and not expanded:
                stack.append((node, True))
                stack.extend((a, False) for a in reversed(arguments(node)) if a not in memo)
                continue
            rebuilt = _rebuild(node, [memo[a] for a in arguments(node)]) if iscall(node) else node
            out = self.rw(rebuilt)
            memo[node] = rebuilt if out is None else out
        res = memo[term]
        return None if res is term else res

    def __repr__(self) -> str:
        return f"postwalk({_name(self.rw)})"


def postwalk(rw) -> Rewriter:
    """Rewrite bottom-up in one pass: children first, then ``rw`` on the rebuilt node.

    Examples
    --------
    >>> from pdeflow.symbolic import symbols
    >>> from pdeflow.symbolic.functions import sin
    >>> from pdeflow.symbolic.rules import Rule, pvar
    >>> from pdeflow.symbolic.rewrite import postwalk
    >>> x, = symbols("x")
    >>> odd = Rule("sin-odd", sin(-pvar("a")), -sin(pvar("a")))
    >>> postwalk(odd)(sin(-sin(-x)))
    sin(sin(x))
    """
    return _Postwalk(_as_rewriter(rw))


class _Prewalk:
    __slots__ = ("rw",)

    def __init__(self, rw: Rewriter) -> None:
        self.rw = rw

    def __call__(self, term: Term) -> Term | None:
        memo: dict[Term, Term] = {}
        stack: list[tuple[Term, Term | None]] = [(term, None)]
        while stack:
            node, top = stack.pop()
            if top is None:
                if node in memo:
                    continue
                out = self.rw(node)
                top = node if out is None else out
                if not iscall(top):
                    memo[node] = top
                    continue
                stack.append((node, top))
                stack.extend((a, None) for a in reversed(arguments(top)) if a not in memo)
            else:
                memo[node] = _rebuild(top, [memo[a] for a in arguments(top)])
        res = memo[term]
        return None if res is term else res

    def __repr__(self) -> str:
        return f"prewalk({_name(self.rw)})"


def prewalk(rw) -> Rewriter:
    """Rewrite top-down in one pass: ``rw`` on a node, then walk the result's children.

    Examples
    --------
    >>> from pdeflow.symbolic import symbols
    >>> from pdeflow.symbolic.functions import sin
    >>> from pdeflow.symbolic.rules import Rule, pvar
    >>> from pdeflow.symbolic.rewrite import prewalk
    >>> x, = symbols("x")
    >>> odd = Rule("sin-odd", sin(-pvar("a")), -sin(pvar("a")))
    >>> prewalk(odd)(sin(-sin(-x)))
    -sin(-sin(x))
    """
    return _Prewalk(_as_rewriter(rw))


class _Innermost:
    """Bottom-up normalization with one memo over the whole DAG."""

    __slots__ = ("rw", "max_rewrites")

    def __init__(self, rw: Rewriter, max_rewrites: int) -> None:
        self.rw = rw
        self.max_rewrites = max_rewrites

    def __call__(self, term: Term) -> Term | None:
        memo: dict[Term, Term] = {}  # term -> its normal form
        waiting: dict[Term, Term] = {}  # term -> rewritten root still being normalized
        active: dict[Term, bool] = {}  # terms on the stack (for cycle detection)
        stack = [term]
        steps = 0
        while stack:
            node = stack[-1]
            if node in memo:
                stack.pop()
                active.pop(node, None)
                continue
            active[node] = True
            if node in waiting:
                nxt = waiting.pop(node)
                if nxt not in memo:
                    raise RewriteError(
                        f"rewriting loops: the normal form of {node} depends on itself through "
                        f"{nxt}; some rule grows the term without end"
                    )
                memo[node] = memo[nxt]
                stack.pop()
                active.pop(node, None)
                continue
            if iscall(node):
                pending = [a for a in arguments(node) if a not in memo]
                if pending:
                    stack.extend(reversed(pending))
                    continue
                rebuilt = _rebuild(node, [memo[a] for a in arguments(node)])
            else:
                rebuilt = node
            if rebuilt is not node and rebuilt in memo:
                out = None
                memo[node] = memo[rebuilt]
            else:
                out = self.rw(rebuilt)
                steps += 1
                if steps > self.max_rewrites:
                    raise RewriteError(
                        f"rewriting did not terminate after {self.max_rewrites} rule "
                        "applications; the rules probably loop (check that each rule makes "
                        "terms smaller or more canonical), or raise max_rewrites"
                    )
                if out is None or out is rebuilt:
                    memo[node] = rebuilt
                    memo[rebuilt] = rebuilt
                elif out in memo:
                    memo[node] = memo[out]
                elif out in active:  # rule cycle: stop here
                    memo[node] = rebuilt
                else:
                    waiting[node] = out
                    stack.append(out)
                    continue
            stack.pop()
            active.pop(node, None)
        res = memo[term]
        return None if res is term else res

    def __repr__(self) -> str:
        return f"innermost({_name(self.rw)})"


def innermost(*rws, max_rewrites: int = MAX_REWRITES) -> Rewriter:
    """Normalize bottom-up: the default strategy of :func:`rewrite`.

    Equivalent to ``fixpoint(postwalk(fixpoint(once(*rws))))`` for
    terminating rules, but every distinct subterm (and every rewritten root)
    is normalized once, with one memo for the whole call.

    Raises
    ------
    RewriteError
        After ``max_rewrites`` root rewrites (the rules do not terminate).

    Examples
    --------
    >>> from pdeflow.symbolic import symbols
    >>> from pdeflow.symbolic.functions import sin, cos
    >>> from pdeflow.symbolic.rules import Rule, pvar, pseg
    >>> from pdeflow.symbolic.rewrite import innermost
    >>> x, = symbols("x")
    >>> a, xs = pvar("a"), pseg("xs")
    >>> pyth = Rule("pythagoras", xs + sin(a)**2 + cos(a)**2, xs + 1)
    >>> innermost(pyth)(sin(sin(x)**2 + cos(x)**2))
    sin(1)
    """
    if not isinstance(max_rewrites, int) or max_rewrites < 1:
        raise ValueError(f"The 'max_rewrites' parameter of innermost must be an int >= 1. "
                         f"Got {max_rewrites!r}.")
    return _Innermost(once(*rws), max_rewrites)


def rewrite(term: Term, rules_or_strategy) -> Term:
    """Rewrite ``term`` with rules (normalized bottom-up to a fixpoint) or a strategy.

    Parameters
    ----------
    term : Term
        The term to rewrite.
    rules_or_strategy : Rule, sequence of rules, or callable
        A rule or sequence of rules/rewriters is applied with
        :func:`innermost` (postwalk to a fixpoint); any other callable
        ``term -> term | None`` is applied as is.

    Returns
    -------
    Term
        The rewritten term (``term`` itself when nothing applied).

    Examples
    --------
    >>> from pdeflow.symbolic import symbols
    >>> from pdeflow.symbolic.functions import cos
    >>> from pdeflow.symbolic.rules import Rule, pvar
    >>> from pdeflow.symbolic.rewrite import rewrite, once
    >>> x, = symbols("x")
    >>> even = Rule("cos-even", cos(-pvar("a")), cos(pvar("a")))
    >>> rewrite(cos(-x) + cos(-cos(-x)), even)
    cos(x) + cos(cos(x))
    >>> rewrite(cos(-x), once(even))
    cos(x)
    """
    if isinstance(rules_or_strategy, Rule):
        strategy = innermost(rules_or_strategy)
    elif callable(rules_or_strategy):
        strategy = rules_or_strategy
    elif isinstance(rules_or_strategy, Iterable) and not isinstance(rules_or_strategy, str):
        strategy = innermost(*rules_or_strategy)
    else:
        raise TypeError(
            "rewrite() needs a Rule, a sequence of rules or a strategy (a callable "
            f"term -> term | None), got {type(rules_or_strategy).__name__}"
        )
    out = strategy(term)
    return term if out is None else out


_SIZES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def term_size(t: Term) -> int:
    """Tree size: the number of nodes, counting a shared subterm at each use.

    Cached per term (weakly), so repeated calls cost only the new nodes.

    Examples
    --------
    >>> from pdeflow.symbolic import symbols
    >>> from pdeflow.symbolic.rewrite import term_size
    >>> x, y = symbols("x y")
    >>> term_size(2 * x + y)  # add(mul(2, x), y)
    5
    """
    got = _SIZES.get(t)
    if got is not None:
        return got
    stack: list[tuple[Term, bool]] = [(t, False)]
    while stack:
        node, expanded = stack.pop()
        if node in _SIZES:
            continue
        if not iscall(node):
            _SIZES[node] = 1
        elif not expanded:
            stack.append((node, True))
            stack.extend((a, False) for a in arguments(node) if a not in _SIZES)
        else:
            _SIZES[node] = 1 + sum(_SIZES[a] for a in arguments(node))
    return _SIZES[t]
