"""pdeflow.symbolic: hash-consed terms, tracing of numpy code, rewriting, differentiation.

Examples
--------
>>> import numpy as np
>>> from pdeflow.symbolic import trace, jacobian
>>> def rhs(t, u, p):
...     return p[0] * (np.roll(u, 1) - 2 * u + np.roll(u, -1)) - u**3
>>> du, inputs = trace(rhs, 0.0, np.zeros(8), (0.1,), return_inputs=True)
>>> J = jacobian(du, inputs["u"])
>>> J.shape, J.nnz
((8, 8), 24)
>>> str(J[0, 0])
'-2*p_0 - 3*u[0]**2'
"""

from pdeflow.symbolic import functions, printing, spectral  # noqa: F401  (hooks; np.fft)
from pdeflow.symbolic.functions import (  # noqa: F401
    abs_,
    cos,
    cosh,
    exp,
    ifelse,
    log,
    maximum,
    minimum,
    sin,
    sinh,
    sqrt,
    tan,
    tanh,
    where,
)
from pdeflow.symbolic.interface import ADD, MUL, POW, arguments, iscall, maketerm, operation
from pdeflow.symbolic.terms import (  # noqa: F401
    FUNCTIONS,
    Add,
    Call,
    Function,
    Mul,
    Num,
    Placeholder,
    Sym,
    Term,
    as_term,
    num,
    register_function,
    sym,
)
from pdeflow.symbolic.tracing import SymArray, array, trace


def symbols(names: str, **assumptions) -> tuple[Sym, ...]:
    """Scalar symbols from a space- or comma-separated string.

    Examples
    --------
    >>> from pdeflow.symbolic import symbols
    >>> x, y = symbols("x y", positive=True)
    >>> x.is_positive
    True
    """
    parts = [p for p in names.replace(",", " ").split() if p]
    if not parts:
        raise ValueError("symbols() needs at least one name")
    return tuple(sym(p, **assumptions) for p in parts)


__all__ = [
    "symbols", "array", "trace", "SymArray", "iscall", "operation", "arguments", "maketerm",
    "ADD", "MUL", "POW", "register_function", "Term", "Sym", "Num", "sym", "num",
]

from pdeflow.symbolic.adjoint import vjp  # noqa: E402
from pdeflow.symbolic.calculus import diff, gradient, hessian, hvp  # noqa: E402
from pdeflow.symbolic.evaluate import evaluate, substitute  # noqa: E402
from pdeflow.symbolic.jacobian import SparseJacobian, jacobian, jvp, sparsity  # noqa: E402
from pdeflow.symbolic.spectral import ComplexSymArray  # noqa: E402

__all__ += [
    "diff", "gradient", "hessian", "hvp", "evaluate", "substitute", "jacobian", "jvp", "vjp",
    "sparsity", "SparseJacobian", "ComplexSymArray",
]

from pdeflow.symbolic.codegen import compile, compile_jacobian  # noqa: E402, A004
from pdeflow.symbolic.egraph import optimize  # noqa: E402

__all__ += ["compile", "compile_jacobian", "optimize"]

from pdeflow.symbolic.rewrite import (  # noqa: E402
    chain,
    fixpoint,
    innermost,
    once,
    postwalk,
    prewalk,
    rewrite,
    term_size,
)
from pdeflow.symbolic.rules import Rule, pseg, pvar  # noqa: E402
from pdeflow.symbolic.simplify import DEFAULT_RULES, cancel, simplify  # noqa: E402

__all__ += [
    "Rule", "pvar", "pseg", "rewrite", "simplify", "once", "fixpoint", "prewalk", "postwalk",
    "chain", "innermost", "term_size", "DEFAULT_RULES", "cancel",
]
__all__ += [
    "exp", "log", "sin", "cos", "tan", "tanh", "sinh", "cosh", "sqrt", "abs_", "minimum", "maximum",
    "where", "ifelse", "to_sympy", "from_sympy",
]

from pdeflow.symbolic.sympy_interop import from_sympy, to_sympy  # noqa: E402
