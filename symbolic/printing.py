"""Printing of terms: ``str`` (Python/SymPy-like syntax) and LaTeX.

:func:`to_str` output is valid Python/SymPy syntax for arithmetic (``**`` is
right-associative, so ``(x**y)**z`` keeps its parentheses) and prints the
logical functions as SymPy does (``(x < y) & (y < z)``, ``~(x < y)``).  Both
printers walk the term DAG without recursion, so deep terms print too.

Examples
--------
>>> from pdeflow.symbolic import symbols, sin
>>> from pdeflow.symbolic.printing import to_latex, to_str
>>> x, y = symbols("x y")
>>> to_str(2 * x**2 - sin(y) / 3)
'2*x**2 - 1/3*sin(y)'
>>> to_latex(x / (3 * y))
'\\\\frac{x}{3 y}'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

from pdeflow.symbolic.terms import Add, Call, Mul, Num, Placeholder, Sym, Term, register_hook

# Python's operator precedences, lowest first
_PREC_REL, _PREC_OR, _PREC_AND, _PREC_ADD, _PREC_MUL, _PREC_NEG, _PREC_POW, _PREC_ATOM = range(8)

_INFIX = {"lt": "<", "le": "<=", "eq": "==", "ne": "!="}
_LOGIC_PREC = {"or": _PREC_OR, "and": _PREC_AND, "not": _PREC_NEG}


def _children(t: Term) -> tuple:
    tt = type(t)
    if tt is Add:
        return tuple(s for s, _ in t.items)
    if tt is Mul:
        return tuple(b for b, _ in t.factors)
    if tt is Call:
        return t.args
    return ()


def _print_dag(root: Term, node: Callable[[Term, dict], str]) -> str:
    """``node(t, done)`` for every subterm, children first, without recursion."""
    done: dict[Term, str] = {}
    stack: list = [(root, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            done[t] = node(t, done)
            continue
        if t in done:
            continue
        stack.append((t, True))
        stack.extend((c, False) for c in _children(t) if c not in done)
    return done[root]


def _num_str(v) -> str:
    if isinstance(v, Fraction):
        return f"{v.numerator}/{v.denominator}"
    return repr(v) if isinstance(v, float) else str(v)


def _prec(t: Term) -> int:
    tt = type(t)
    if tt is Add:
        return _PREC_ADD
    if tt is Mul:
        if t.coeff == 1 and len(t.factors) == 1 and t.factors[0][1] > 0:
            return _PREC_POW
        return _PREC_MUL
    if tt is Num:
        v = t.value
        if isinstance(v, Fraction):
            return _PREC_MUL
        return _PREC_NEG if v < 0 else _PREC_ATOM
    if tt is Call:
        name = t.fn.name
        if name in _INFIX:
            return _PREC_REL
        if name in _LOGIC_PREC:
            return _LOGIC_PREC[name]
        if name == "pow":
            return _PREC_POW
    return _PREC_ATOM


# str --------------------------------------------------------------------------------
def to_str(t: Term) -> str:
    """Readable infix form, e.g. ``2*x**2 + sin(y)``.

    Parameters
    ----------
    t : Term
        The term to print.

    Returns
    -------
    str
        Python/SymPy syntax: ``sympy.sympify(to_str(t))`` rebuilds ``t`` for
        arithmetic and elementary functions (map ``where``, ``min``, ``max`` and
        bracketed names such as ``u[1,2]`` with ``locals``).

    Examples
    --------
    >>> from pdeflow.symbolic import symbols
    >>> from pdeflow.symbolic.printing import to_str
    >>> x, y = symbols("x y")
    >>> to_str((x**y)**2 - x / y)
    '-x/y + (x**y)**2'
    """
    return _print_dag(t, _str_node)


def _str_node(t: Term, done: dict) -> str:
    def sub(c: Term, prec: int) -> str:
        s = done[c] if c in done else _str_node(c, done)
        return f"({s})" if _prec(c) < prec else s

    tt = type(t)
    if tt is Num:
        return _num_str(t.value)
    if tt is Sym:
        return t.name
    if tt is Placeholder:
        return f"_{t.index}"
    if tt is Add:
        parts = []
        for s, c in t.items:
            if c == 1:
                parts.append(("+", sub(s, _PREC_ADD + 1)))
            elif c == -1:
                parts.append(("-", sub(s, _PREC_MUL)))
            elif c < 0:
                parts.append(("-", _coeff_times(_num_str(-c), s, sub)))
            else:
                parts.append(("+", _coeff_times(_num_str(c), s, sub)))
        if t.const != 0:
            c = t.const
            parts.append(("-", _num_str(-c)) if c < 0 else ("+", _num_str(c)))
        out = parts[0][1] if parts[0][0] == "+" else "-" + parts[0][1]
        for sgn, body in parts[1:]:
            out += f" {sgn} {body}"
        return out
    if tt is Mul:
        numer, den = _str_factors(t.factors, sub)
        c = t.coeff
        prefix = ""
        if c == -1:
            prefix = "-"
        elif c != 1:
            numer.insert(0, _num_str(c) if not isinstance(c, Fraction) else f"({_num_str(c)})")
        return prefix + _str_fraction(numer, den)
    if tt is Call:
        name = t.fn.name
        a = t.args
        if name in _INFIX:
            return f"{sub(a[0], _PREC_ADD)} {_INFIX[name]} {sub(a[1], _PREC_ADD)}"
        if name == "pow":
            return f"{sub(a[0], _PREC_POW + 1)}**{sub(a[1], _PREC_POW + 1)}"
        if name == "and":
            return f"{sub(a[0], _PREC_AND)} & {sub(a[1], _PREC_AND + 1)}"
        if name == "or":
            return f"{sub(a[0], _PREC_OR)} | {sub(a[1], _PREC_OR + 1)}"
        if name == "not":
            return f"~{sub(a[0], _PREC_ATOM)}"
        return f"{name}({', '.join(sub(x, _PREC_REL) for x in a)})"
    return object.__repr__(t)


def _str_factors(factors, sub) -> tuple[list[str], list[str]]:
    numer, den = [], []
    for b, e in factors:
        target = numer
        if e < 0:
            e = -e
            target = den
        if e == 1:
            target.append(sub(b, _PREC_MUL + (target is den)))
        else:
            target.append(f"{sub(b, _PREC_POW + 1)}**{_paren_exp(e)}")
    return numer, den


def _str_fraction(numer: list[str], den: list[str]) -> str:
    top = "*".join(numer) if numer else "1"
    if not den:
        return top
    bottom = den[0] if len(den) == 1 else "(" + "*".join(den) + ")"
    return f"{top}/{bottom}"


def _coeff_times(c: str, s: Term, sub) -> str:
    """``c*s`` for a coefficient-free ``s`` (``2/y`` rather than ``2*1/y``)."""
    if type(s) is Mul and s.coeff == 1:
        numer, den = _str_factors(s.factors, sub)
        return _str_fraction([c, *numer], den)
    return f"{c}*{sub(s, _PREC_MUL)}"


def _paren_exp(e) -> str:
    s = _num_str(e)
    return f"({s})" if isinstance(e, Fraction) or e < 0 else s


# LaTeX ------------------------------------------------------------------------------
def _latex_num(v) -> str:
    if isinstance(v, Fraction):
        sign = "-" if v < 0 else ""
        return f"{sign}\\frac{{{abs(v.numerator)}}}{{{v.denominator}}}"
    if isinstance(v, float):
        if math.isnan(v):
            return "\\text{NaN}"
        if math.isinf(v):
            return "\\infty" if v > 0 else "-\\infty"
        s = repr(v)
        if "e" in s:
            mant, ex = s.split("e")
            if "." not in mant:
                mant += ".0"
            return f"{mant} \\cdot 10^{{{int(ex)}}}"
        return s
    return str(v)


_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "theta", "lambda", "mu", "nu", "rho",
          "sigma", "tau", "phi", "psi", "omega", "kappa", "eta", "xi", "zeta", "chi", "pi",
          "Gamma", "Delta", "Theta", "Lambda", "Sigma", "Phi", "Psi", "Omega"}
_LATEX_ESCAPES = {"\\": "\\backslash{}", "{": "\\{", "}": "\\}", "$": "\\$", "&": "\\&",
                  "%": "\\%", "#": "\\#", "^": "\\hat{}", "~": "\\sim{}"}


def _latex_name(name: str) -> str:
    if "[" in name and name.endswith("]") and not name.startswith("["):
        base, idx = name[:-1].split("[", 1)
        return f"{_latex_name(base)}_{{{_escape(idx)}}}"
    if name in _GREEK:
        return "\\" + name
    if "_" in name.strip("_"):
        base, sub = name.split("_", 1)
        if base:
            return f"{_latex_name(base)}_{{{_escape(sub)}}}"
    name = _escape(name)
    return name if len(name) == 1 else f"\\mathrm{{{name}}}"


def _escape(s: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in s).replace("_", "\\_")


def _needs_latex_parens(b: Term) -> bool:
    """Whether ``b`` needs parentheses as the base of a power or a factor."""
    tb = type(b)
    if tb in (Add, Mul):
        return True
    if tb is Num:
        v = b.value
        return isinstance(v, Fraction) or v < 0 or "\\cdot" in _latex_num(v)
    if tb is Call:
        return b.fn.name in ("pow", "lt", "le", "eq", "ne", "and", "or", "not", "where")
    return False


def _needs_factor_parens(b: Term) -> bool:
    """Whether ``b`` needs parentheses as a factor of a product."""
    tb = type(b)
    if tb is Call:
        return b.fn.name in ("lt", "le", "eq", "ne", "and", "or", "not")
    return tb is Add or (tb is Num and _needs_latex_parens(b))


def to_latex(t: Term) -> str:
    """LaTeX form, e.g. ``2 x^{2} + \\sin{\\left(y \\right)}``.

    Parameters
    ----------
    t : Term
        The term to print.

    Returns
    -------
    str
        LaTeX math (without ``$``), in SymPy's style.

    Examples
    --------
    >>> from fractions import Fraction
    >>> from pdeflow.symbolic import symbols, sqrt
    >>> from pdeflow.symbolic.printing import to_latex
    >>> x, y = symbols("x y")
    >>> to_latex(Fraction(2, 3) * sqrt(x) / (y + 1))
    '\\\\frac{2 \\\\sqrt{x}}{3 \\\\left(y + 1\\\\right)}'
    """
    return _print_dag(t, _latex_node)


def _join_factors(parts: list[str]) -> str:
    out = ""
    for p in parts:
        if out and (p[:1].isdigit() or p.startswith("-") or p.startswith("\\frac")):
            out += " \\cdot " + p
        else:
            out += (" " if out else "") + p
    return out


def _latex_node(t: Term, done: dict) -> str:
    def sub(c: Term) -> str:
        return done[c] if c in done else _latex_node(c, done)

    def wrapped(c: Term, factor: bool = False) -> str:
        paren = _needs_factor_parens(c) if factor else _needs_latex_parens(c)
        return f"\\left({sub(c)}\\right)" if paren else sub(c)

    tt = type(t)
    if tt is Num:
        return _latex_num(t.value)
    if tt is Sym:
        return _latex_name(t.name)
    if tt is Placeholder:
        return f"\\square_{{{t.index}}}"
    if tt is Add:
        out = ""
        for i, (s, c) in enumerate(t.items):
            body = _latex_mul(abs(c), s.factors if type(s) is Mul else ((s, 1),), sub, wrapped)
            if type(s) is Add and abs(c) == 1:
                body = f"\\left({body}\\right)"
            sign = "-" if c < 0 else ("+" if i else "")
            out += (f" {sign} " if i else sign) + body
        if t.const != 0:
            out += (" - " if t.const < 0 else " + ") + _latex_num(abs(t.const))
        return out.strip()
    if tt is Mul:
        c = t.coeff
        body = _latex_mul(abs(c) if c < 0 else c, t.factors, sub, wrapped)
        return "-" + body if c < 0 else body
    if tt is Call:
        name = t.fn.name
        a = t.args
        if name in ("lt", "le", "eq", "ne"):
            return f"{_rel_arg(a[0], sub)} {t.fn.latex} {_rel_arg(a[1], sub)}"
        if name in ("and", "or"):
            parts = [f"\\left({sub(x)}\\right)" if _is_logic(x) else sub(x) for x in a]
            return f" {t.fn.latex} ".join(parts)
        if name == "not":
            return f"{t.fn.latex} \\left({sub(a[0])}\\right)"
        if name == "abs":
            return f"\\left|{sub(a[0])}\\right|"
        if name == "pow":
            return f"{wrapped(a[0])}^{{{sub(a[1])}}}"
        if name == "where":
            return (f"\\begin{{cases}} {sub(a[1])} & \\text{{if}}\\: {sub(a[0])} \\\\ "
                    f"{sub(a[2])} & \\text{{otherwise}} \\end{{cases}}")
        if name in ("min", "max"):
            return f"\\{name}\\left({', '.join(sub(x) for x in a)}\\right)"
        args = ", ".join(sub(x) for x in a)
        return f"{t.fn.latex}{{\\left({args} \\right)}}"
    return str(t)


def _is_logic(t: Term) -> bool:
    return type(t) is Call and t.fn.name in ("and", "or")


def _rel_arg(t: Term, sub) -> str:
    s = sub(t)
    return f"\\left({s}\\right)" if type(t) is Call and t.fn.name in _INFIX | _LOGIC_PREC else s


def _latex_mul(c, factors, sub, wrapped) -> str:
    """LaTeX of ``c * prod(b**e)`` for a nonnegative number ``c``."""
    # parts are (parenthesized, bare) pairs: a lone sum needs no parentheses as
    # the whole numerator or denominator of a fraction
    num_parts: list[tuple[str, str]] = []
    den_parts: list[tuple[str, str]] = []
    for b, e in factors:
        target = den_parts if e < 0 else num_parts
        e = abs(e)
        if e == 1:
            target.append((wrapped(b, factor=True), sub(b)))
        elif e == Fraction(1, 2):
            p = f"\\sqrt{{{sub(b)}}}"
            target.append((p, p))
        else:
            p = f"{wrapped(b)}^{{{_latex_num(e)}}}"
            target.append((p, p))
    if isinstance(c, Fraction):
        if c.numerator != 1:
            num_parts.insert(0, (str(c.numerator),) * 2)
        den_parts.insert(0, (str(c.denominator),) * 2)
    elif c != 1:
        num_parts.insert(0, (_latex_num(c),) * 2)

    def join(parts):
        if len(parts) == 1 and den_parts:
            return parts[0][1]
        return _join_factors([p for p, _ in parts])

    numer = join(num_parts) or "1"
    if den_parts:
        return f"\\frac{{{numer}}}{{{join(den_parts)}}}"
    return numer


register_hook("to_str", to_str)
register_hook("to_latex", to_latex)

__all__ = ["to_str", "to_latex"]
