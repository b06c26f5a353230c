"""Scalar expressions to source text, with common-subexpression elimination.

Two dialects share one emitter:

* ``"scalar"``: code inside a loop body (Numba, CUDA): ``math.exp``, ternaries;
* ``"array"``: whole-array code (numpy, JAX, torch): ``np.exp``, ``np.where``.

Only numeric literals and generated identifiers are written; leaf names come
from the caller's ``leaf`` function, which maps symbols and placeholders to
generated identifiers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

from pdeflow.errors import CompilationError
from pdeflow.symbolic.interface import ADD, MUL, POW, arguments, iscall, operation
from pdeflow.symbolic.terms import Mul, Num, Term, split_coeff


def literal(v) -> str:
    """A float literal for a number (no user text)."""
    f = float(v) if not isinstance(v, Fraction) else v.numerator / v.denominator
    if math.isnan(f):
        return "math.nan"
    if math.isinf(f):
        return "math.inf" if f > 0 else "(-math.inf)"
    s = repr(f)
    return f"({s})" if f < 0 else s


SCALAR_FUNCS = {
    "exp": "math.exp",
    "log": "math.log",
    "sin": "math.sin",
    "cos": "math.cos",
    "tan": "math.tan",
    "tanh": "math.tanh",
    "sinh": "math.sinh",
    "cosh": "math.cosh",
    "asin": "math.asin",
    "acos": "math.acos",
    "atan": "math.atan",
    "abs": "abs",
    "min": "min",
    "max": "max",
}


def array_funcs(mod: str) -> dict:
    """Function names of an array module (``np``, ``jnp`` or ``torch``)."""
    names = {
        "exp": "exp",
        "log": "log",
        "sin": "sin",
        "cos": "cos",
        "tan": "tan",
        "tanh": "tanh",
        "sinh": "sinh",
        "cosh": "cosh",
        "asin": "arcsin",
        "acos": "arccos",
        "atan": "arctan",
        "abs": "abs",
        "sign": "sign",
        "min": "minimum",
        "max": "maximum",
        "where": "where",
        "sqrt": "sqrt",
    }
    if mod == "torch":
        names.update(asin="asin", acos="acos", atan="atan")
    return {k: f"{mod}.{v}" for k, v in names.items()}


def negated(t: Term) -> Term | None:
    """``u`` when ``t`` is ``-1 * u`` (a product with coefficient -1), else None.

    The emitter prints such a product as ``-u`` and, inside a sum, ``a - u``: ``u`` is then
    shared with a ``+u`` elsewhere (mass-action terms appear with both signs), and the
    result has the same bits as ``(-1.0)*...`` (IEEE rounding is symmetric in the sign).
    """
    if type(t) is Mul and t.coeff == -1:
        return split_coeff(t)[1]
    return None


def _children(t: Term) -> tuple:
    """The terms ``t``'s code reads: a negated product reads its positive form."""
    u = negated(t)
    if u is not None:
        return (u,)
    out = []
    for a in arguments(t):
        u = negated(a)
        out.append(a if u is None else u)
    return tuple(out)


class Emitter:
    """Emit assignments for a set of root terms, sharing subexpressions.

    Parameters
    ----------
    leaf : callable
        ``leaf(term) -> str`` for symbols and placeholders.
    dialect : {"scalar", "array"}
    module : str
        Array module prefix for the array dialect (``np``, ``jnp``, ``torch``).
    prefix : str
        Prefix of temporaries.
    """

    def __init__(
        self,
        leaf: Callable[[Term], str],
        dialect: str = "scalar",
        module: str = "np",
        prefix: str = "v",
    ):
        self.leaf = leaf
        self.dialect = dialect
        self.funcs = SCALAR_FUNCS if dialect == "scalar" else array_funcs(module)
        self.module = module
        self.prefix = prefix
        self.lines: list[str] = []
        self.names: dict = {}
        self.counter = 0

    def _uses(self, roots) -> dict:
        uses: dict = {}
        stack = list(roots)
        seen = set()
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            if iscall(t):
                for a in _children(t):
                    uses[a] = uses.get(a, 0) + 1
                    stack.append(a)
        return uses

    def emit(self, roots: list[Term]) -> list[str]:
        """Emit temporaries for ``roots``; return one expression string per root."""
        uses = self._uses(roots)
        out = []
        for r in roots:
            out.append(self._expr(r, uses))
        return out

    def _expr(self, t: Term, uses: dict) -> str:
        name = self.names.get(t)
        if name is not None:
            return name
        # iterative post-order so deep DAGs do not hit the recursion limit
        stack = [t]
        while stack:
            x = stack[-1]
            if x in self.names:
                stack.pop()
                continue
            if iscall(x):
                pending = [a for a in _children(x) if a not in self.names and iscall(a)]
                if pending:
                    stack.extend(pending)
                    continue
            stack.pop()
            code = self._code(x)
            if iscall(x) and (uses.get(x, 0) > 1 or len(code) > 400):
                v = f"{self.prefix}{self.counter}"
                self.counter += 1
                self.lines.append(f"{v} = {code}")
                self.names[x] = v
            else:
                self.names[x] = code
        return self.names[t]

    def _arg(self, a: Term) -> str:
        s = self.names.get(a)
        if s is None:
            s = self._code(a)
        return s

    def _code(self, t: Term) -> str:
        if not iscall(t):
            if type(t) is Num:
                return literal(t.value)
            return self.leaf(t)
        u = negated(t)
        if u is not None:
            return f"(-{self._arg(u)})"
        op = operation(t)
        args = arguments(t)
        if op is ADD:
            parts = [self._arg(args[0])]
            for a in args[1:]:
                u = negated(a)
                parts.append(f" - {self._arg(u)}" if u is not None else f" + {self._arg(a)}")
            return "(" + "".join(parts) + ")"
        if op is MUL:
            return "(" + "*".join(self._arg(a) for a in args) + ")"
        if op is POW:
            b, e = args
            if type(e) is Num:
                return self._pow(self._arg(b), e.value)
            return f"({self._arg(b)}**{self._arg(e)})"
        name = op.name
        a = [self._arg(x) for x in args]
        if self.dialect == "scalar":
            if name in ("lt", "le", "eq", "ne"):
                sym = {"lt": "<", "le": "<=", "eq": "==", "ne": "!="}[name]
                return f"(1.0 if {a[0]} {sym} {a[1]} else 0.0)"
            if name == "and":
                return f"(1.0 if ({a[0]} != 0.0 and {a[1]} != 0.0) else 0.0)"
            if name == "or":
                return f"(1.0 if ({a[0]} != 0.0 or {a[1]} != 0.0) else 0.0)"
            if name == "not":
                return f"(1.0 if {a[0]} == 0.0 else 0.0)"
            if name == "where":
                return f"({a[1]} if {a[0]} != 0.0 else {a[2]})"
            if name == "sign":
                return f"(1.0 if {a[0]} > 0.0 else (-1.0 if {a[0]} < 0.0 else 0.0))"
            if name == "pow":
                return f"({a[0]}**{a[1]})"
        else:
            m = self.module
            if name in ("lt", "le", "eq", "ne"):
                sym = {"lt": "<", "le": "<=", "eq": "==", "ne": "!="}[name]
                return f"(({a[0]}) {sym} ({a[1]}))"
            if name in ("and", "or"):
                fn = {"and": "logical_and", "or": "logical_or"}[name]
                return f"{m}.{fn}({a[0]} != 0, {a[1]} != 0)"
            if name == "not":
                return f"(({a[0]}) == 0)"
            if name == "where":
                if m == "torch":
                    return f"torch.where(_t({a[0]}, y) != 0, _t({a[1]}, y), _t({a[2]}, y))"
                return f"{self.funcs['where']}(({a[0]}) != 0, {a[1]}, {a[2]})"
            if name == "pow":
                return f"({a[0]}**{a[1]})"
        if self.dialect == "array" and self.module == "torch" and name in ("min", "max"):
            a = [f"_t({x}, y)" for x in a]
        fn = self.funcs.get(name)
        if fn is None:
            raise CompilationError(
                f"function {name!r} has no implementation for this code generator"
            )
        return f"{fn}({', '.join(a)})"

    def _pow(self, b: str, e) -> str:
        if isinstance(e, int) or (isinstance(e, float) and e.is_integer() and abs(e) <= 8):
            n = int(e)
            if 1 <= n <= 8:
                return "(" + "*".join([b] * n) + ")"
            if -8 <= n <= -1:
                return "(1.0/(" + "*".join([b] * (-n)) + "))"
        if e == Fraction(1, 2) or e == 0.5:
            return f"{self._sqrt()}({b})"
        if e == Fraction(-1, 2) or e == -0.5:
            return f"(1.0/{self._sqrt()}({b}))"
        return f"({b}**{literal(e)})"

    def _sqrt(self) -> str:
        return "math.sqrt" if self.dialect == "scalar" else self.funcs["sqrt"]


__all__ = ["Emitter", "literal"]
