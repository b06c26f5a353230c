"""The default simplification rules and :func:`simplify`.

Every rule in :data:`DEFAULT_RULES` is an identity over the reals.  Rules that
only hold on part of the domain carry a guard that checks the assumptions of
the symbols involved (``sym("x", positive=True)``), so ``log(x*y)`` is split
into ``log(x) + log(y)`` only when ``x`` and ``y`` are known to be positive.

Rational simplification treats every subterm that is not a sum, a product, an
integer power or a rational number as a polynomial variable ("generator"):
it puts sums over a common denominator and cancels the polynomial GCD of
numerator and denominator (multivariate, rational coefficients, primitive
PRS).  It only looks at sums and products that contain a negative power or an
unexpanded sum factor, and skips float coefficients and inputs beyond
``MAX_CANCEL_SIZE`` nodes, ``MAX_GENERATORS`` generators, ``MAX_DEGREE``,
``MAX_POLY_TERMS`` intermediate terms or ``MAX_WORK`` coefficient operations
(a deterministic budget, so results never depend on timing).

Examples
--------
>>> from pdeflow.symbolic import symbols
>>> from pdeflow.symbolic.functions import sin, cos
>>> from pdeflow.symbolic.simplify import simplify
>>> x, y = symbols("x y")
>>> simplify(sin(x)**2 + cos(x)**2 + y)
y + 1
>>> simplify((x**2 - 1) / (x - 1))
x + 1
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from math import gcd, lcm

from pdeflow.symbolic.functions import (
    abs_,
    asin,
    atan,
    cos,
    cosh,
    exp,
    log,
    sin,
    sinh,
    tan,
    tanh,
)
from pdeflow.symbolic.interface import ADD, MUL, POW, arguments, iscall, operation
from pdeflow.symbolic.rewrite import prewalk, rewrite, term_size
from pdeflow.symbolic.rules import Bindings, Rule, pseg, pvar
from pdeflow.symbolic.terms import Num, Sym, Term, add, mul, num, power

__all__ = ["simplify", "DEFAULT_RULES", "is_positive", "is_nonnegative", "cancel"]

MAX_GENERATORS = 10
MAX_DEGREE = 32
MAX_POLY_TERMS = 400
MAX_CANCEL_SIZE = 400
MAX_WORK = 200_000


# Sign facts -------------------------------------------------------------------
def _exact_int(t: Term) -> int | None:
    """The value of ``t`` if it is an exact integer number, else None."""
    if type(t) is Num and isinstance(t.value, int):
        return t.value
    return None


def _even_denominator(t: Term) -> bool:
    return type(t) is Num and isinstance(t.value, Fraction) and t.value.denominator % 2 == 0


def is_positive(t: Term) -> bool:
    """Whether ``t > 0`` follows from the symbols' assumptions (False: unknown).

    Examples
    --------
    >>> from pdeflow.symbolic import symbols
    >>> from pdeflow.symbolic.functions import exp
    >>> from pdeflow.symbolic.simplify import is_positive
    >>> x, = symbols("x")
    >>> p, = symbols("p", positive=True)
    >>> is_positive(2 * p + exp(x)), is_positive(x)
    (True, False)
    """
    if type(t) is Num:
        return t.value > 0
    if type(t) is Sym:
        return t.is_positive
    if not iscall(t):
        return False
    op, args = operation(t), arguments(t)
    if op is MUL:
        return all(is_positive(a) for a in args)
    if op is ADD:
        return all(is_nonnegative(a) for a in args) and any(is_positive(a) for a in args)
    if op is POW:
        return is_positive(args[0])
    return op is exp or op is cosh


def is_nonnegative(t: Term) -> bool:
    """Whether ``t >= 0`` follows from the symbols' assumptions (False: unknown)."""
    if type(t) is Num:
        return t.value >= 0
    if type(t) is Sym:
        return t.is_nonnegative
    if not iscall(t):
        return False
    op, args = operation(t), arguments(t)
    if op is MUL or op is ADD:
        return all(is_nonnegative(a) for a in args)
    if op is POW:
        e = _exact_int(args[1])
        return (is_nonnegative(args[0]) or (e is not None and e % 2 == 0)
                or _even_denominator(args[1]))
    return op is exp or op is cosh or op is abs_ or is_positive(t)


# Polynomials: dict {exponent tuple: Fraction}, lexicographic order ---------------
Poly = dict[tuple[int, ...], Fraction]


class _Skip(Exception):
    """The term is not a rational function we handle (floats, too big)."""


def _check(p: Poly) -> Poly:
    if len(p) > MAX_POLY_TERMS:
        raise _Skip
    return p


def _one(n: int) -> Poly:
    return {(0,) * n: Fraction(1)}


def _is_const(p: Poly, n: int) -> bool:
    return not p or (len(p) == 1 and (0,) * n in p)


def _padd(a: Poly, b: Poly, sign: int = 1) -> Poly:
    out = dict(a)
    for m, c in b.items():
        v = out.get(m, 0) + sign * c
        if v:
            out[m] = v
        else:
            out.pop(m, None)
    return out


class _Budget:
    """Work (coefficient multiplications) left for the current :func:`cancel` call."""

    left = 0

    @classmethod
    def spend(cls, work: int) -> None:
        cls.left -= work
        if cls.left < 0:
            raise _Skip


def _pmul(a: Poly, b: Poly) -> Poly:
    _Budget.spend(len(a) * len(b))
    out: Poly = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            m = tuple(x + y for x, y in zip(ma, mb, strict=True))
            v = out.get(m, 0) + ca * cb
            if v:
                out[m] = v
            else:
                out.pop(m, None)
    return _check(out)


def _ppow(a: Poly, k: int, n: int) -> Poly:
    if k > MAX_DEGREE:
        raise _Skip
    out = _one(n)
    for _ in range(k):
        out = _pmul(out, a)
    return out


def _pscale(a: Poly, c: Fraction) -> Poly:
    return {m: v * c for m, v in a.items()}


def _monic(p: Poly) -> Poly:
    if not p:
        return p
    return _pscale(p, 1 / p[max(p)])


def _pdiv_exact(a: Poly, b: Poly) -> Poly | None:
    """``a / b`` if ``b`` divides ``a`` exactly, else None."""
    lm_b = max(b)
    lc_b = b[lm_b]
    q: Poly = {}
    r = dict(a)
    steps = 0
    while r:
        steps += 1
        if steps > 50 * MAX_POLY_TERMS:
            raise _Skip
        lm = max(r)
        diff = tuple(x - y for x, y in zip(lm, lm_b, strict=True))
        if any(d < 0 for d in diff):
            return None
        c = r[lm] / lc_b
        q[diff] = c
        for m, cb in b.items():
            mm = tuple(x + y for x, y in zip(m, diff, strict=True))
            v = r.get(mm, 0) - c * cb
            if v:
                r[mm] = v
            else:
                r.pop(mm, None)
        _check(r)
    return q


def _split(p: Poly) -> dict[int, Poly]:
    """View ``p`` as a polynomial in its first variable with polynomial coefficients."""
    out: dict[int, Poly] = {}
    for m, c in p.items():
        out.setdefault(m[0], {})[m[1:]] = c
    return out


def _join(u: dict[int, Poly]) -> Poly:
    return {(d,) + m: c for d, cp in u.items() for m, c in cp.items()}


def _content(u: dict[int, Poly], n: int) -> Poly:
    g: Poly = {}
    for d in sorted(u):
        g = _pgcd(g, u[d], n)
        if _is_const(g, n):
            return _one(n)
    return g


def _primpart(u: dict[int, Poly], n: int) -> dict[int, Poly]:
    c = _content(u, n)
    if _is_const(c, n):
        return u
    out = {}
    for d, v in u.items():
        q = _pdiv_exact(v, c)
        assert q is not None, "content must divide every coefficient"
        out[d] = q
    return out


def _prem(a: dict[int, Poly], b: dict[int, Poly]) -> dict[int, Poly]:
    """Pseudo-remainder of univariate polynomials with polynomial coefficients."""
    db = max(b)
    lcb = b[db]
    r = dict(a)
    while r and max(r) >= db:
        dr = max(r)
        lcr = r[dr]
        new = {d: _pmul(c, lcb) for d, c in r.items()}
        for d, c in b.items():
            dd = d + dr - db
            v = _padd(new.get(dd, {}), _pmul(lcr, c), -1)
            if v:
                new[dd] = v
            else:
                new.pop(dd, None)
        r = new
    return r


def _used(p: Poly) -> int:
    """Bit mask of the variables ``p`` depends on."""
    mask = 0
    for m in p:
        for i, e in enumerate(m):
            if e:
                mask |= 1 << i
    return mask


def _shares_variable(a: Poly, b: Poly) -> bool:
    """False when the GCD of ``a`` and ``b`` must be a constant."""
    return bool(_used(a) & _used(b))


def _image(p: Poly, i: int, point: list[int]) -> dict[int, Fraction]:
    """``p`` as a univariate polynomial in variable ``i``, the others set to ``point``."""
    out: dict[int, Fraction] = {}
    for m, c in p.items():
        v = c
        for j, e in enumerate(m):
            if e and j != i:
                v *= point[j] ** e
        out[m[i]] = out.get(m[i], 0) + v
    return {d: v for d, v in out.items() if v}


def _ugcd_degree(a: dict[int, Fraction], b: dict[int, Fraction]) -> int:
    """Degree of the GCD of univariate polynomials (Euclid over the rationals)."""
    while b:
        db, lb = max(b), b[max(b)]
        r = dict(a)
        while r and max(r) >= db:
            dr = max(r)
            q = r[dr] / lb
            for d, c in b.items():
                v = r.get(d + dr - db, 0) - q * c
                if v:
                    r[d + dr - db] = v
                else:
                    r.pop(d + dr - db, None)
        a, b = b, r
    return max(a) if a else 0


def _coprime_images(a: Poly, b: Poly, n: int) -> bool:
    """True when ``a`` and ``b`` are certainly coprime, judged from univariate images.

    If the GCD ``g`` depends on variable ``i``, then ``g`` evaluated at a point
    in the other variables divides both images; so constant GCDs of the images
    for every variable prove ``g`` constant (unless leading coefficients vanish
    at the point, which only makes this test say False).
    """
    point = _POINT[:n] if n <= len(_POINT) else [7 + 3 * j for j in range(n)]
    common = _used(a) & _used(b)
    for i in range(n):
        if common >> i & 1:
            _Budget.spend(len(a) + len(b))
            if _ugcd_degree(_image(a, i, point), _image(b, i, point)) > 0:
                return False
    return True


_POINT = [11, 17, 23, 31, 41, 53, 67, 79, 97, 101, 113, 127]


def _pgcd(a: Poly, b: Poly, n: int) -> Poly:
    """Monic GCD of multivariate polynomials over the rationals (recursive primitive PRS)."""
    if not a:
        return _monic(b)
    if not b:
        return _monic(a)
    if n == 0 or _is_const(a, n) or _is_const(b, n) or not _shares_variable(a, b):
        return _one(n)
    if a == b:
        return _monic(a)
    if _coprime_images(a, b, n):
        return _one(n)
    ua, ub = _split(a), _split(b)
    ca, cb = _content(ua, n - 1), _content(ub, n - 1)
    c = _pgcd(ca, cb, n - 1)
    ua, ub = _primpart(ua, n - 1), _primpart(ub, n - 1)
    if max(ua) < max(ub):
        ua, ub = ub, ua
    while True:
        if max(ub) == 0:
            g = {0: _one(n - 1)}
            break
        r = _prem(ua, ub)
        if not r:
            g = _primpart(ub, n - 1)
            break
        ua, ub = ub, _primpart(r, n - 1)
    return _monic(_pmul(_join(g), {(0,) + m: v for m, v in c.items()}))


# Terms <-> rational functions -------------------------------------------------------
def _is_generator(t: Term) -> bool:
    if type(t) is Num:
        return False
    if not iscall(t):
        return True
    op = operation(t)
    if op is ADD or op is MUL:
        return False
    return not (op is POW and _exact_int(arguments(t)[1]) is not None)


def _generators(terms: Sequence[Term]) -> list[Term]:
    found: dict[Term, None] = {}
    stack = list(terms)
    while stack:
        t = stack.pop()
        if _is_generator(t):
            found[t] = None
        elif iscall(t):
            stack.extend(arguments(t))
    gens = sorted(found, key=lambda g: g.sort_key())
    if len(gens) > MAX_GENERATORS:
        raise _Skip
    return gens


class _RatFunc:
    """Converts terms to (numerator, denominator) polynomials over fixed generators."""

    def __init__(self, gens: list[Term]) -> None:
        self.gens = gens
        self.index = {g: i for i, g in enumerate(gens)}
        self.n = len(gens)

    def const(self, c) -> Poly:
        return {(0,) * self.n: Fraction(c)} if c else {}

    def convert(self, t: Term) -> tuple[Poly, Poly]:
        n = self.n
        if type(t) is Num:
            if isinstance(t.value, float):
                raise _Skip
            return self.const(t.value), _one(n)
        if _is_generator(t):
            m = [0] * n
            m[self.index[t]] = 1
            return {tuple(m): Fraction(1)}, _one(n)
        op, args = operation(t), arguments(t)
        if op is POW:
            num_, den = self.convert(args[0])
            k = _exact_int(args[1])
            if k >= 0:
                return _ppow(num_, k, n), _ppow(den, k, n)
            if not num_:
                raise _Skip
            return _ppow(den, -k, n), _ppow(num_, -k, n)
        parts = [self.convert(a) for a in args]
        num_, den = parts[0]
        for pn, pd in parts[1:]:
            if op is MUL:
                num_, den = _pmul(num_, pn), _pmul(den, pd)
            elif den == pd:
                num_ = _padd(num_, pn)
            else:
                g = _pgcd(den, pd, n)
                pdg, deng = _pdiv_exact(pd, g), _pdiv_exact(den, g)
                num_ = _padd(_pmul(num_, pdg), _pmul(pn, deng))
                den = _pmul(den, pdg)
        return num_, den

    def poly(self, t: Term) -> Poly | None:
        """``t`` as a polynomial, or None if it has a denominator."""
        num_, den = self.convert(t)
        if not _is_const(den, self.n):
            return None
        return _pscale(num_, 1 / den[(0,) * self.n])

    def term(self, p: Poly) -> Term:
        pieces = []
        for m in sorted(p, reverse=True):
            factors = [power(g, num(e)) for g, e in zip(self.gens, m, strict=True) if e]
            pieces.append(mul(num(p[m]), *factors))
        return add(*pieces)


def _integer_content(p: Poly) -> Fraction:
    """The positive-or-negative rational ``c`` with ``p / c`` integer, primitive, lc > 0."""
    if not p:
        return Fraction(1)
    den = lcm(*(c.denominator for c in p.values()))
    g = gcd(*(int(c * den) for c in p.values()))
    c = Fraction(g, den)
    return -c if p[max(p)] < 0 else c


def _build(rf: _RatFunc, num_: Poly, den: Poly) -> Term:
    """The term ``num / den`` with integer primitive polynomials and one coefficient."""
    if not num_:
        return num(0)
    cn, cd = _integer_content(num_), _integer_content(den)
    top = rf.term(_pscale(num_, 1 / cn))
    bottom = rf.term(_pscale(den, 1 / cd))
    return mul(num(cn / cd), top, power(bottom, num(-1)))


def _together(t: Term) -> Term:
    """Put ``t`` over one denominator and cancel the polynomial GCD."""
    rf = _RatFunc(_generators([t]))
    num_, den = rf.convert(t)
    g = _pgcd(num_, den, rf.n)
    if not _is_const(g, rf.n):
        num_, den = _pdiv_exact(num_, g), _pdiv_exact(den, g)
    return _build(rf, num_, den)


def _cancel_factors(t: Term) -> Term | None:
    """Cancel common polynomial factors between a product's numerator and denominator bases."""
    coeff: Fraction = Fraction(1)
    tops: list[list] = []  # [base term or None, exponent, poly]
    bottoms: list[list] = []
    others: list[Term] = []
    bases: list[Term] = []
    for a in arguments(t):
        if type(a) is Num:
            if isinstance(a.value, float):
                return None
            coeff *= a.value
            continue
        base, e = (arguments(a) if iscall(a) and operation(a) is POW else (a, num(1)))
        k = _exact_int(e)
        if k is None:
            others.append(a)
            continue
        bases.append(base)
        (tops if k > 0 else bottoms).append([base, abs(k), None])
    if not tops or not bottoms:
        return None
    rf = _RatFunc(_generators(bases))
    for side in (tops, bottoms):
        for f in list(side):
            f[2] = rf.poly(f[0])
            if f[2] is None:
                side.remove(f)
                others.append(power(f[0], num(f[1] if side is tops else -f[1])))
    changed = False
    progress = True
    while progress:
        progress = False
        for top in tops:
            for bot in bottoms:
                if not _shares_variable(top[2], bot[2]):
                    continue
                g = _pgcd(top[2], bot[2], rf.n)
                if _is_const(g, rf.n):
                    continue
                top[:] = [None, top[1], _pdiv_exact(top[2], g)]
                bot[:] = [None, bot[1], _pdiv_exact(bot[2], g)]
                if top[1] > bot[1]:
                    tops.append([None, top[1] - bot[1], g])
                elif bot[1] > top[1]:
                    bottoms.append([None, bot[1] - top[1], g])
                progress = changed = True
                break
            if progress:
                break
    if not changed:
        return None
    factors = [num(coeff), *others]
    for side, sign in ((tops, 1), (bottoms, -1)):
        for base, k, p in side:
            factors.append(power(base if base is not None else rf.term(p), num(sign * k)))
    return mul(*factors)


def _factors(t: Term) -> tuple[Term, ...]:
    return arguments(t) if iscall(t) and operation(t) is MUL else (t,)


def _has_fraction(t: Term) -> bool:
    """Whether a sum or product has a denominator or an unexpanded sum factor."""
    items = arguments(t) if operation(t) is MUL else [
        f for a in arguments(t) for f in _factors(a)
    ]
    for f in items:
        if iscall(f) and operation(f) is POW:
            k = _exact_int(arguments(f)[1])
            if k is not None and (k < 0 or _is_sum(arguments(f)[0])):
                return True
        elif _is_sum(f):
            return True
    return False


def _is_sum(t: Term) -> bool:
    return iscall(t) and operation(t) is ADD


def cancel(t: Term) -> Term | None:
    """A smaller form of the sum or product ``t`` with fractions combined and cancelled.

    Returns ``None`` when no candidate is strictly smaller (by node count) or
    ``t`` is out of scope (floats, too many generators or too high degrees).

    Examples
    --------
    >>> from pdeflow.symbolic import symbols
    >>> from pdeflow.symbolic.simplify import cancel
    >>> x, y = symbols("x y")
    >>> cancel((x * y + x) / x), cancel(1 / (x - 1) - 1 / (x + 1))
    (y + 1, 2/(x**2 - 1))
    """
    if not iscall(t) or operation(t) not in (ADD, MUL):
        return None
    best, best_size = None, term_size(t)
    if best_size > MAX_CANCEL_SIZE or not _has_fraction(t):
        return None
    _Budget.left = MAX_WORK
    makers = (_cancel_factors, _together) if operation(t) is MUL else (_together,)
    for make in makers:
        try:
            cand = make(t)
        except (_Skip, ZeroDivisionError):
            continue
        if cand is None or cand is t:
            continue
        s = term_size(cand)
        if s < best_size:
            best, best_size = cand, s
    return best


# Computed rules -----------------------------------------------------------------
_TRIG = (sin, cos, tan)


def _trig_ratio(b: Bindings) -> Term | None:
    """Rewrite products of sin/cos/tan of one argument to the smallest mix."""
    t = b["t"]
    groups: dict[Term, list[int]] = {}  # argument -> exponents of [sin, cos, tan]
    order: list[Term] = []
    others: list[Term] = []
    for f in arguments(t):
        base, e = (arguments(f) if iscall(f) and operation(f) is POW else (f, num(1)))
        k = _exact_int(e)
        if k is not None and iscall(base) and operation(base) in _TRIG:
            arg = arguments(base)[0]
            if arg not in groups:
                groups[arg] = [0, 0, 0]
                order.append(arg)
            groups[arg][_TRIG.index(operation(base))] += k
        else:
            others.append(f)
    changed = False
    pieces = list(others)
    for arg in order:
        ps, pc, pt = groups[arg]
        s, c = ps + pt, pc - pt

        def form(k: int, arg: Term = arg, s: int = s, c: int = c) -> Term:
            return mul(power(sin(arg), num(s - k)), power(cos(arg), num(c + k)),
                       power(tan(arg), num(k)))

        current = mul(power(sin(arg), num(ps)), power(cos(arg), num(pc)), power(tan(arg), num(pt)))
        best, best_size = current, term_size(current)
        for k in (0, s, -c):
            cand = form(k)
            if term_size(cand) < best_size:
                best, best_size = cand, term_size(cand)
        changed = changed or best is not current
        pieces.append(best)
    return mul(*pieces) if changed else None


def _pow_of_pow(b: Bindings) -> Term | None:
    """``(a**m)**n`` for numbers the term layer leaves alone."""
    a, m, n = b["a"], b["m"].value, b["n"].value
    if isinstance(m, float) or isinstance(n, float):
        return None
    r = num(Fraction(m) * Fraction(n))
    if isinstance(m, int) and m % 2 == 0:  # a**m >= 0: the root sees |a|
        k = _exact_int(r)
        return power(a, r) if k is not None and k % 2 == 0 else power(abs_(a), r)
    if isinstance(m, Fraction) and m.denominator % 2 == 0:  # a >= 0 wherever defined
        return power(a, r)
    return None


def _log_product(b: Bindings) -> Term | None:
    p = b["p"]
    if not iscall(p) or operation(p) is not MUL:
        return None
    args = arguments(p)
    if not all(is_positive(a) for a in args):
        return None
    return add(*(log(a) for a in args))


def _abs_coeff(b: Bindings) -> Term:
    return mul(num(abs(b["k"].value)), abs_(b["a"]))


def _is_mul(t: Term) -> bool:
    return iscall(t) and operation(t) is MUL


def _is_sum_or_product(t: Term) -> bool:
    return iscall(t) and operation(t) in (ADD, MUL)


def _cancel_rule(b: Bindings) -> Term | None:
    return cancel(b["t"])


def _cancel_node(t: Term) -> Term | None:
    return cancel(t) if _is_sum_or_product(t) else None


def _negative(name: str):
    return lambda b: b[name].value < 0


def _even_int(name: str):
    return lambda b: _exact_int(b[name]) is not None and b[name].value % 2 == 0


a, b_, c = pvar("a"), pvar("b"), pvar("c")
k, m, n = pvar("k", number=True), pvar("m", number=True), pvar("n", number=True)
xs = pseg("xs")

_PARITY = [
    Rule(f"{f.name}-odd", f(k * a), -f(-k * a), guard=_negative("k"))
    for f in (sin, tan, sinh, tanh, asin, atan)
] + [
    Rule(f"{f.name}-even", f(k * a), f(-k * a), guard=_negative("k"))
    for f in (cos, cosh)
]

DEFAULT_RULES: tuple[Rule, ...] = (
    # trigonometry
    Rule("pythagoras", xs + sin(a)**2 + cos(a)**2, xs + 1),
    Rule("pythagoras-scaled", xs + c * sin(a)**2 + c * cos(a)**2, xs + c),
    Rule("one-minus-sin2", xs + k + m * sin(a)**2, xs + k * cos(a)**2,
         guard=lambda b: b["k"].value != 0 and b["m"].value == -b["k"].value),
    Rule("one-minus-cos2", xs + k + m * cos(a)**2, xs + k * sin(a)**2,
         guard=lambda b: b["k"].value != 0 and b["m"].value == -b["k"].value),
    Rule("cosh2-minus-sinh2", xs + cosh(a)**2 - sinh(a)**2, xs + 1),
    Rule("cosh2-minus-sinh2-scaled", xs + c * cosh(a)**2 - c * sinh(a)**2, xs + c),
    *_PARITY,
    Rule("trig-ratio", pvar("t", predicate=_is_mul), _trig_ratio),
    # absolute values and powers
    Rule("abs-coeff", abs_(k * a), _abs_coeff, guard=lambda b: b["k"].value != 1),
    Rule("abs-even-power", abs_(a) ** n, a ** n, guard=_even_int("n")),
    Rule("abs-of-even-power", abs_(a ** n), a ** n, guard=_even_int("n")),
    Rule("pow-of-pow", (a ** m) ** n, _pow_of_pow),
    # exponentials and logarithms
    Rule("exp-product", xs * exp(a) * exp(b_), xs * exp(a + b_)),
    Rule("exp-power", exp(a) ** n, exp(n * a)),
    Rule("exp-n-log", exp(k * log(a)), a ** k, guard=lambda b: is_positive(b["a"])),
    Rule("log-product", log(pvar("p", predicate=_is_mul)), _log_product),
    Rule("log-power", log(a ** n), n * log(a),
         guard=lambda b: is_positive(b["a"]) or _even_denominator(b["n"])),
    # rational functions
    Rule("cancel", pvar("t", predicate=_is_sum_or_product), _cancel_rule),
)


def simplify(term: Term, rules: Sequence[Rule] = DEFAULT_RULES) -> Term:
    """Simplify ``term`` with identities valid over the reals; never returns a bigger term.

    Rewrites bottom-up to a fixpoint with ``rules`` (:data:`DEFAULT_RULES`);
    when the rules include ``"cancel"``, also tries cancelling fractions
    top-down first and then rewriting.  Returns the candidate with the fewest
    nodes (:func:`~pdeflow.symbolic.rewrite.term_size`), ``term`` itself when
    none is smaller; on a tie with ``term`` the rewritten form wins.

    Parameters
    ----------
    term : Term
        Expression to simplify.
    rules : sequence of Rule
        The rules to use.

    Returns
    -------
    Term
        The simplified term, deterministic for a given input.

    Examples
    --------
    >>> from pdeflow.symbolic import symbols
    >>> from pdeflow.symbolic.functions import log, exp, tan, cos
    >>> from pdeflow.symbolic.simplify import simplify
    >>> x, y = symbols("x y")
    >>> p, q = symbols("p q", positive=True)
    >>> simplify(log(p * q) - log(p)), simplify(log(x * y) - log(x))
    (log(q), -log(x) + log(x*y))
    >>> simplify(exp(x) * exp(2 * y)), simplify(tan(x) * cos(x))
    (exp(x + 2*y), sin(x))
    """
    rules = tuple(rules)
    best, best_size = term, term_size(term)
    candidates = [rewrite(term, rules)]
    if any(r.name == "cancel" for r in rules):
        # rational first: rules on the parts can hide common factors, as in
        # (sin(x)**2 - 1)/(sin(x) + 1) where sin(x)**2 - 1 would become -cos(x)**2
        first = prewalk(_cancel_node)(term)
        if first is not None:
            candidates.append(rewrite(first, rules))
    for cand in candidates:
        s = term_size(cand)
        if s < best_size or (s == best_size and best is term):
            best, best_size = cand, s
    return best
