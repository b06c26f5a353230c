"""Rewrite rules: pattern variables, matching, and named ``Rule`` objects.

A pattern is an ordinary term built with the normal constructors from
*pattern variables*:

* ``pvar("a")`` matches any single term;
* ``pvar("c", number=True)`` matches only numbers, ``pvar("t", predicate=f)``
  only terms with ``f(term)`` true;
* ``pseg("xs")`` is a *segment* variable: as an argument of a sum or product it
  matches any (possibly empty) sub-multiset of the remaining arguments.

Pattern variables are :class:`~pdeflow.symbolic.terms.Sym` leaves with reserved
names that start with ``"?"``, so ``sin(pvar("a"))**2`` is built by the
normal constructors: ``"?a"`` for ``pvar("a")``, ``"?c:num"`` for a number
variable, ``"?t:p3"`` for the third registered predicate and ``"?xs..."`` for
a segment.  The matcher recognizes them by name and binds the plain name
(``"a"``, ``"c"``, ``"xs"``).  Do not give ordinary symbols names starting
with ``"?"``.

Matching uses only the generic interface (:func:`iscall`, :func:`operation`,
:func:`arguments`, :func:`maketerm`).  Sums and products match
commutatively and associatively:

* each non-variable pattern argument matches one term argument, in any position;
* a number variable matches the numeric argument, or the identity (0 in a sum,
  1 in a product) when the term has none, so ``pvar("c", number=True) *
  pvar("x")`` matches ``x`` with ``c = 1``;
* a plain variable matches a non-empty sub-multiset (bound to its sum or
  product), a segment a possibly empty one (the identity when empty);
* a pattern sum or product also matches a term of another kind, seen as a
  single argument.

Canonicalization applies to patterns too: ``pvar("a") + pvar("a")`` *is*
``2*?a``, which matches ``2*x`` through the product rules; a pattern that folds
completely (``exp(log(pvar("x")))`` is ``?x``) matches everything.

Examples
--------
>>> from pdeflow.symbolic import symbols
>>> from pdeflow.symbolic.functions import sin, cos
>>> from pdeflow.symbolic.rules import Rule, pvar, pseg
>>> x, y = symbols("x y")
>>> a, xs = pvar("a"), pseg("xs")
>>> pyth = Rule("pythagoras", xs + sin(a)**2 + cos(a)**2, xs + 1)
>>> pyth(sin(x)**2 + cos(x)**2 + y)
y + 1
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from fractions import Fraction
from typing import NamedTuple

from pdeflow.symbolic.interface import ADD, MUL, arguments, iscall, maketerm, operation
from pdeflow.symbolic.terms import Num, Sym, Term, as_term, num, sym

Bindings = Mapping[str, Term]
Predicate = Callable[[Term], bool]

__all__ = ["Rule", "pvar", "pseg", "match", "matches", "is_pattern_var", "pattern_vars"]

_PREFIX = "?"
_SEGMENT_SUFFIX = "..."
_PREDICATES: list[Predicate] = []
_PREDICATE_INDEX: dict[Predicate, int] = {}
# The most ways one sum/product match may try to split leftover arguments
# among several variables; beyond it only the first variable gets them all.
_MAX_SPLITS = 4096


class _VarInfo(NamedTuple):
    name: str
    segment: bool
    number: bool
    predicate: Predicate | None


_INFO: dict[str, _VarInfo] = {}


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"the name of a {what} must be a Python identifier, got {name!r}")


def pvar(name: str, number: bool = False, predicate: Predicate | None = None) -> Sym:
    """A pattern variable that matches one term.

    Parameters
    ----------
    name : str
        Binding name (a Python identifier); the rhs and the guard see the
        matched term under this name.
    number : bool
        Match only numbers (:class:`Num`).  In a sum or product it also
        matches the missing identity, so ``c * x`` matches ``x`` with ``c = 1``.
    predicate : callable, optional
        ``predicate(term) -> bool``; the variable matches only where it holds.

    Returns
    -------
    Sym
        The symbol ``"?name"`` (with a suffix that encodes the constraint).

    Examples
    --------
    >>> from pdeflow.symbolic.rules import pvar, match
    >>> from pdeflow.symbolic import symbols
    >>> x, = symbols("x")
    >>> b = match(pvar("c", number=True) * pvar("x"), 3 * x)
    >>> b["c"], b["x"]
    (3, x)
    """
    _check_name(name, "pattern variable")
    full = _PREFIX + name
    if number:
        full += ":num"
    if predicate is not None:
        if not callable(predicate):
            raise TypeError(f"predicate must be callable, got {predicate!r}")
        idx = _PREDICATE_INDEX.get(predicate)
        if idx is None:
            idx = len(_PREDICATES)
            _PREDICATES.append(predicate)
            _PREDICATE_INDEX[predicate] = idx
        full += f":p{idx}"
    _INFO[full] = _VarInfo(name, False, number, predicate)
    return sym(full)


def pseg(name: str) -> Sym:
    """A segment variable: matches any sub-multiset of a sum's or product's arguments.

    Only valid as a direct argument of a sum or product pattern.  It binds the
    sum (or product) of the arguments it takes, ``0`` (or ``1``) when none.

    Examples
    --------
    >>> from pdeflow.symbolic.rules import pseg, pvar, match
    >>> from pdeflow.symbolic import symbols
    >>> from pdeflow.symbolic.functions import exp
    >>> x, y, z = symbols("x y z")
    >>> b = match(pseg("rest") * exp(pvar("a")), y * z * exp(x))
    >>> b["rest"], b["a"]
    (y*z, x)
    """
    _check_name(name, "segment variable")
    full = _PREFIX + name + _SEGMENT_SUFFIX
    _INFO[full] = _VarInfo(name, True, False, None)
    return sym(full)


def _info(t: Term) -> _VarInfo | None:
    """Variable information for a pattern variable leaf, ``None`` for other terms."""
    if type(t) is not Sym or not t.name.startswith(_PREFIX):
        return None
    info = _INFO.get(t.name)
    if info is None:
        raise ValueError(
            f"symbol {t.name!r} uses the reserved prefix '?' but was not made by pvar/pseg"
        )
    return info


def is_pattern_var(t: Term) -> bool:
    """Whether ``t`` is a pattern variable made by :func:`pvar` or :func:`pseg`."""
    return _info(t) is not None


def _walk(t: Term) -> Iterator[Term]:
    """Every distinct subterm of ``t`` once, in a deterministic order."""
    seen: set[int] = set()
    stack = [t]
    while stack:
        s = stack.pop()
        if id(s) in seen:
            continue
        seen.add(id(s))
        yield s
        if iscall(s):
            stack.extend(reversed(arguments(s)))


def pattern_vars(pattern: Term) -> dict[str, Sym]:
    """The binding names of the pattern variables in ``pattern``, in order of appearance."""
    out: dict[str, Sym] = {}
    for s in _walk(pattern):
        info = _info(s)
        if info is not None and info.name not in out:
            out[info.name] = s
    return out


# Matching ------------------------------------------------------------------
def _identity(op) -> Term:
    return num(0) if op is ADD else num(1)


def _combine(op, args: tuple[Term, ...]) -> Term:
    if not args:
        return _identity(op)
    if len(args) == 1:
        return args[0]
    return maketerm(op, args)


def _bind(info: _VarInfo, t: Term, b: dict) -> Iterator[dict]:
    if info.number and type(t) is not Num:
        return
    if info.predicate is not None and not info.predicate(t):
        return
    old = b.get(info.name)
    if old is None:
        yield {**b, info.name: t}
    elif old is t:
        yield b


def _match(p: Term, t: Term, b: dict) -> Iterator[dict]:
    info = _info(p)
    if info is not None:
        yield from _bind(info, t, b)
        return
    if not iscall(p):
        if p is t:
            yield b
        return
    op = operation(p)
    if op is ADD or op is MUL:
        targs = arguments(t) if iscall(t) and operation(t) is op else (t,)
        yield from _match_ca(op, arguments(p), targs, b)
        return
    if not iscall(t) or operation(t) is not op:
        return
    pargs, targs = arguments(p), arguments(t)
    if len(pargs) == len(targs):
        yield from _match_seq(pargs, targs, 0, b)


def _match_seq(pargs, targs, i: int, b: dict) -> Iterator[dict]:
    if i == len(pargs):
        yield b
        return
    for b2 in _match(pargs[i], targs[i], b):
        yield from _match_seq(pargs, targs, i + 1, b2)


def _remove(remaining: tuple[Term, ...], items: tuple[Term, ...]) -> tuple[Term, ...] | None:
    """``remaining`` minus the multiset ``items`` (by identity), or None if not contained."""
    rest = list(remaining)
    for it in items:
        for k, r in enumerate(rest):
            if r is it:
                del rest[k]
                break
        else:
            return None
    return tuple(rest)


def _match_ca(op, pargs, targs, b: dict) -> Iterator[dict]:
    """Commutative-associative matching of pattern arguments against term arguments."""
    fixed: list[Term] = []
    numbers: list[_VarInfo] = []
    others: list[_VarInfo] = []
    for p in pargs:
        info = _info(p)
        if info is None:
            fixed.append(p)
        elif info.number:
            numbers.append(info)
        else:
            others.append(info)
    # calls first: they are the most selective
    fixed.sort(key=lambda p: 0 if iscall(p) else 1)
    yield from _match_fixed(op, fixed, 0, tuple(targs), numbers, others, b)


def _match_fixed(op, fixed, i, remaining, numbers, others, b) -> Iterator[dict]:
    if i == len(fixed):
        yield from _match_numbers(op, numbers, 0, remaining, others, b)
        return
    p = fixed[i]
    if type(p) is Num:
        # a number in the pattern takes its share of the term's number:
        # 2*?a matches 6*x (a = 3*x) and ?xs + 1 matches x + 3 (xs = x + 2)
        for j, t in enumerate(remaining):
            if type(t) is not Num:
                continue
            rest = remaining[:j] + remaining[j + 1:]
            if t is not p:
                residue = _residue(op, t.value, p.value)
                if residue is None:
                    continue
                if residue.value != _identity(op).value:
                    rest = rest + (residue,)
            yield from _match_fixed(op, fixed, i + 1, rest, numbers, others, b)
        return
    for j, t in enumerate(remaining):
        for b2 in _match(p, t, b):
            yield from _match_fixed(op, fixed, i + 1, remaining[:j] + remaining[j + 1:],
                                    numbers, others, b2)


def _residue(op, have, want) -> Num | None:
    """The number left when ``want`` is taken out of ``have`` (None if impossible)."""
    if op is ADD:
        return num(have - want)
    if want == 0 or have == 0:
        return None
    return num(have / want if isinstance(have, float) or isinstance(want, float)
               else Fraction(have) / Fraction(want))


def _match_numbers(op, numbers, i, remaining, others, b) -> Iterator[dict]:
    if i == len(numbers):
        yield from _match_rest(op, others, remaining, b)
        return
    info = numbers[i]
    old = b.get(info.name)
    if old is not None:
        if old is _identity(op):
            yield from _match_numbers(op, numbers, i + 1, remaining, others, b)
        rest = _remove(remaining, (old,))
        if rest is not None:
            yield from _match_numbers(op, numbers, i + 1, rest, others, b)
        return
    has_number = False
    for j, t in enumerate(remaining):
        if type(t) is Num:
            has_number = True
            for b2 in _bind(info, t, b):
                yield from _match_numbers(op, numbers, i + 1,
                                          remaining[:j] + remaining[j + 1:], others, b2)
    if not has_number:
        for b2 in _bind(info, _identity(op), b):
            yield from _match_numbers(op, numbers, i + 1, remaining, others, b2)


def _match_rest(op, others, remaining, b) -> Iterator[dict]:
    """Share the leftover arguments among plain and segment variables."""
    free: list[_VarInfo] = []
    for info in others:
        old = b.get(info.name)
        if old is None:
            free.append(info)
            continue
        parts = arguments(old) if iscall(old) and operation(old) is op else (old,)
        if old is _identity(op) and info.segment:
            parts = ()
        rest = _remove(remaining, parts)
        if rest is None:
            return
        remaining = rest
    if not free:
        if not remaining:
            yield b
        return
    k, n = len(remaining), len(free)
    if n == 1 or n**k > _MAX_SPLITS:
        assignments: Iterator[tuple[int, ...]] = iter([(0,) * k])
    else:
        assignments = itertools.product(range(n), repeat=k)
    for assign in assignments:
        groups: list[list[Term]] = [[] for _ in free]
        for t, v in zip(remaining, assign, strict=True):
            groups[v].append(t)
        if any(not g and not info.segment for g, info in zip(groups, free, strict=True)):
            continue
        bs = [b]
        for g, info in zip(groups, free, strict=True):
            bs = [b3 for b2 in bs for b3 in _bind(info, _combine(op, tuple(g)), b2)]
        yield from bs


def matches(pattern: Term, term: Term) -> Iterator[dict[str, Term]]:
    """Every way ``pattern`` matches ``term``, as binding dicts, in a deterministic order.

    Examples
    --------
    >>> from pdeflow.symbolic.rules import pvar, pseg, matches
    >>> from pdeflow.symbolic import symbols
    >>> x, y = symbols("x y")
    >>> [b["a"] for b in matches(pseg("xs") + pvar("a"), x + y)]
    [x + y, x, y]
    """
    yield from _match(pattern, term, {})


def match(pattern: Term, term: Term) -> dict[str, Term] | None:
    """The first bindings with which ``pattern`` matches ``term``, or ``None``.

    Examples
    --------
    >>> from pdeflow.symbolic.rules import pvar, match
    >>> from pdeflow.symbolic import symbols
    >>> from pdeflow.symbolic.functions import sin
    >>> x, = symbols("x")
    >>> match(sin(pvar("a")) ** 2, sin(x + 1) ** 2)
    {'a': x + 1}
    >>> match(sin(pvar("a")), x) is None
    True
    """
    return next(_match(pattern, term, {}), None)


def _substitute(template: Term, bindings: Bindings) -> Term:
    """``template`` with every pattern variable replaced by its binding."""
    memo: dict[Term, Term] = {}
    stack: list[tuple[Term, bool]] = [(template, False)]
    while stack:
        s, expanded = stack.pop()
        if s in memo:
            continue
        info = _info(s)
        if info is not None:
            memo[s] = bindings[info.name]
        elif not iscall(s):
            memo[s] = s
        elif not expanded:
            stack.append((s, True))
            stack.extend((a, False) for a in arguments(s) if a not in memo)
        else:
            memo[s] = maketerm(operation(s), tuple(memo[a] for a in arguments(s)))
    return memo[template]


# Rules -----------------------------------------------------------------------
def _min_args(pargs: tuple[Term, ...]) -> int:
    """How many term arguments a sum/product pattern needs at least."""
    n = 0
    for p in pargs:
        info = _info(p)
        if info is None or not (info.segment or info.number):
            n += 1
    return n


def _check_segments(lhs: Term) -> None:
    """Segments may only be direct arguments of a sum or product pattern."""
    allowed: set[int] = set()
    for s in _walk(lhs):
        if iscall(s) and operation(s) in (ADD, MUL):
            allowed.update(id(a) for a in arguments(s))
    for s in _walk(lhs):
        info = _info(s)
        if info is not None and info.segment and id(s) not in allowed:
            raise ValueError(
                f"segment variable {info.name!r} may only be an argument of a sum or product "
                f"pattern; in {lhs} it is not"
            )


class Rule:
    """A named rewrite rule ``lhs -> rhs`` with an optional guard.

    Parameters
    ----------
    name : str
        Name shown in reprs and error messages.
    lhs : Term
        Pattern built from :func:`pvar` / :func:`pseg` variables.
    rhs : Term or callable
        Template with the same variables, or ``rhs(bindings) -> Term | None``
        (``None`` declines this match).
    guard : callable, optional
        ``guard(bindings) -> bool``; the rule fires only where it holds.  Use
        it for identities that only hold on part of the domain.

    Calling a rule on a term rewrites it at the root: it returns the result of
    the first match that passes the guard, or ``None`` if none does (or the
    result is the term itself).

    Raises
    ------
    ValueError
        If ``rhs`` uses a variable that ``lhs`` does not bind, or a segment
        variable is not a direct argument of a sum or product.

    Examples
    --------
    >>> from pdeflow.symbolic import symbols
    >>> from pdeflow.symbolic.functions import log
    >>> from pdeflow.symbolic.rules import Rule, pvar
    >>> x, = symbols("x")
    >>> y, = symbols("y", positive=True)
    >>> a = pvar("a")
    >>> r = Rule("log-square", log(a**2), 2 * log(a), guard=lambda b: b["a"].is_positive)
    >>> r(log(y**2)), r(log(x**2))
    (2*log(y), None)
    """

    __slots__ = ("name", "lhs", "rhs", "guard", "head", "_vars")

    def __init__(self, name: str, lhs: Term, rhs: Term | Callable[[Bindings], Term | None],
                 guard: Callable[[Bindings], bool] | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a rule name must be a non-empty str, got {name!r}")
        lhs = as_term(lhs)
        if not callable(rhs):
            rhs = as_term(rhs)
        if guard is not None and not callable(guard):
            raise TypeError(f"rule {name!r}: guard must be callable, got {guard!r}")
        lvars = pattern_vars(lhs)
        info = _info(lhs)
        if info is not None and info.segment:
            raise ValueError(f"rule {name!r}: the lhs may not be a bare segment variable")
        _check_segments(lhs)
        if isinstance(rhs, Term):
            missing = [n for n in pattern_vars(rhs) if n not in lvars]
            if missing:
                raise ValueError(
                    f"rule {name!r}: the rhs uses pattern variable(s) {', '.join(missing)} "
                    f"that the lhs {lhs} does not bind"
                )
        self.name = name
        self.lhs = lhs
        self.rhs = rhs
        self.guard = guard
        self._vars = tuple(lvars)
        # the operation a term must have for the rule to match (None: any term)
        head = operation(lhs) if iscall(lhs) else None
        if head in (ADD, MUL) and _min_args(arguments(lhs)) < 2:
            head = None
        self.head = head

    def apply(self, term: Term) -> Term | None:
        """Rewrite ``term`` at the root; ``None`` if the rule does not apply."""
        if self.head is not None and (not iscall(term) or operation(term) is not self.head):
            return None
        for b in _match(self.lhs, term, {}):
            if self.guard is not None and not self.guard(b):
                continue
            out = self.rhs(b) if callable(self.rhs) else _substitute(self.rhs, b)
            if out is None:
                continue
            out = as_term(out)
            if out is not term:
                return out
        return None

    __call__ = apply

    def __repr__(self) -> str:
        rhs = getattr(self.rhs, "__name__", "<fn>") if callable(self.rhs) else str(self.rhs)
        guard = "" if self.guard is None else " if guard"
        return f"Rule({self.name!r}: {self.lhs} => {rhs}{guard})"
