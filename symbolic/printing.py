"""Printing of terms: ``str`` (Python/SymPy-like syntax) and LaTeX."""

from __future__ import annotations

from fractions import Fraction

from pdeflow.symbolic.terms import Add, Call, Mul, Num, Placeholder, Sym, Term

_PREC_ADD, _PREC_MUL, _PREC_POW, _PREC_ATOM = 1, 2, 3, 4


def _num_str(v) -> str:
    if isinstance(v, Fraction):
        return f"{v.numerator}/{v.denominator}"
    return repr(v) if isinstance(v, float) else str(v)


def _prec(t: Term) -> int:
    tt = type(t)
    if tt is Add:
        return _PREC_ADD
    if tt is Mul:
        if t.coeff == 1 and len(t.factors) == 1 and t.factors[0][1] != -1:
            return _PREC_POW
        return _PREC_MUL
    if tt is Num and (isinstance(t.value, Fraction) or t.value < 0):
        return _PREC_MUL
    return _PREC_ATOM


def _paren(t: Term, prec: int) -> str:
    s = to_str(t)
    return f"({s})" if _prec(t) < prec else s


_INFIX = {"lt": "<", "le": "<=", "eq": "==", "ne": "!="}


def to_str(t: Term) -> str:
    """Readable infix form, e.g. ``2*x**2 + sin(y)``."""
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
            body = to_str(s) if type(s) is not Add else f"({to_str(s)})"
            if c == 1:
                parts.append(("+", body))
            elif c == -1:
                parts.append(("-", body))
            elif c < 0:
                parts.append(("-", f"{_num_str(-c)}*{_paren(s, _PREC_MUL)}"))
            else:
                parts.append(("+", f"{_num_str(c)}*{_paren(s, _PREC_MUL)}"))
        if t.const != 0:
            c = t.const
            parts.append(("-", _num_str(-c)) if c < 0 else ("+", _num_str(c)))
        out = parts[0][1] if parts[0][0] == "+" else "-" + parts[0][1]
        for sgn, body in parts[1:]:
            out += f" {sgn} {body}"
        return out
    if tt is Mul:
        num_parts, den_parts = [], []
        for b, e in t.factors:
            if e < 0:
                e = -e
                target = den_parts
            else:
                target = num_parts
            if e == 1:
                target.append(_paren(b, _PREC_MUL + (target is den_parts)))
            else:
                target.append(f"{_paren(b, _PREC_POW + 1)}**{_paren_exp(e)}")
        c = t.coeff
        prefix = ""
        if c == -1:
            prefix = "-"
        elif c != 1:
            num_parts.insert(0, _num_str(c) if not isinstance(c, Fraction) else f"({_num_str(c)})")
        numer = "*".join(num_parts) if num_parts else "1"
        if den_parts:
            den = den_parts[0] if len(den_parts) == 1 else "(" + "*".join(den_parts) + ")"
            return f"{prefix}{numer}/{den}"
        return prefix + numer
    if tt is Call:
        name = t.fn.name
        if name in _INFIX:
            return f"{_paren(t.args[0], _PREC_ADD)} {_INFIX[name]} {_paren(t.args[1], _PREC_ADD)}"
        if name == "pow":
            return f"{_paren(t.args[0], _PREC_POW + 1)}**{_paren(t.args[1], _PREC_POW + 1)}"
        return f"{name}({', '.join(to_str(a) for a in t.args)})"
    return object.__repr__(t)


def _paren_exp(e) -> str:
    s = _num_str(e)
    return f"({s})" if isinstance(e, Fraction) or (not isinstance(e, Fraction) and e < 0) else s


def _latex_num(v) -> str:
    if isinstance(v, Fraction):
        sign = "-" if v < 0 else ""
        return f"{sign}\\frac{{{abs(v.numerator)}}}{{{v.denominator}}}"
    return _num_str(v)


def _latex_name(name: str) -> str:
    if "[" in name and name.endswith("]"):
        base, idx = name[:-1].split("[", 1)
        return f"{_latex_name(base)}_{{{idx}}}"
    greek = {"alpha", "beta", "gamma", "delta", "epsilon", "theta", "lambda", "mu", "nu", "rho",
             "sigma", "tau", "phi", "psi", "omega", "kappa", "eta", "xi", "zeta", "chi", "pi"}
    if name in greek:
        return "\\" + name
    if "_" in name:
        base, sub = name.split("_", 1)
        return f"{_latex_name(base)}_{{{sub}}}"
    return name if len(name) == 1 else f"\\mathrm{{{name}}}"


def to_latex(t: Term) -> str:
    """LaTeX form, e.g. ``2 x^{2} + \\sin{\\left(y \\right)}``."""
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
            body = to_latex(s)
            if type(s) is Add:
                body = f"\\left({body}\\right)"
            coeff = "" if abs(c) == 1 else _latex_num(abs(c)) + " "
            sign = "-" if c < 0 else ("+" if i else "")
            out += (f" {sign} " if i else sign) + coeff + body
        if t.const != 0:
            out += (" - " if t.const < 0 else " + ") + _latex_num(abs(t.const))
        return out.strip()
    if tt is Mul:
        num_parts, den_parts = [], []
        for b, e in t.factors:
            target = den_parts if e < 0 else num_parts
            e = abs(e)
            base = to_latex(b)
            if type(b) in (Add, Mul) or (type(b) is Num and b.value < 0):
                base = f"\\left({base}\\right)"
            if e == 1:
                target.append(base)
            elif e == Fraction(1, 2):
                target.append(f"\\sqrt{{{to_latex(b)}}}")
            else:
                target.append(f"{base}^{{{_latex_num(e)}}}")
        c = t.coeff
        numer = " ".join(num_parts) or "1"
        if den_parts:
            body = f"\\frac{{{numer}}}{{{' '.join(den_parts)}}}"
        else:
            body = numer
        if c == 1:
            return body
        if c == -1:
            return "-" + body
        return f"{_latex_num(c)} {body}"
    if tt is Call:
        name = t.fn.name
        if name in ("lt", "le", "eq", "ne"):
            return f"{to_latex(t.args[0])} {t.fn.latex} {to_latex(t.args[1])}"
        if name == "abs":
            return f"\\left|{to_latex(t.args[0])}\\right|"
        if name == "pow":
            return f"\\left({to_latex(t.args[0])}\\right)^{{{to_latex(t.args[1])}}}"
        args = ", ".join(to_latex(a) for a in t.args)
        return f"{t.fn.latex}{{\\left({args} \\right)}}"
    return str(t)


__all__ = ["to_str", "to_latex"]
