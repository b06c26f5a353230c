"""Shared helpers for the tracer, calculus, Jacobian and evaluate tests.

The helpers are session-scoped fixtures that return plain functions, so they
work inside ``@given`` tests without hypothesis' function-scoped-fixture
health check.
"""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest

from pdeflow.symbolic import SymArray, Term, evaluate, trace
from pdeflow.symbolic.arrays import ArraySym


def bind_values(symbolic, numeric, subs: dict) -> dict:
    """Pair a traced input structure with the numbers it stands for (in ``subs``)."""
    if isinstance(symbolic, SymArray | Term):
        subs[symbolic] = (
            np.asarray(numeric, dtype=float) if isinstance(symbolic, SymArray) else float(numeric)
        )
    elif isinstance(symbolic, list | tuple):
        for s, v in zip(symbolic, numeric, strict=True):
            bind_values(s, v, subs)
    elif isinstance(symbolic, dict):
        for k, s in symbolic.items():
            bind_values(s, numeric[k], subs)
    return subs


def trace_subs(f, *args):
    """``(outputs, subs)``: ``f`` traced at ``args`` and the values binding its inputs."""
    out, inputs = trace(f, *args, return_inputs=True)
    bound = inspect.signature(f).bind(*args).arguments
    subs: dict = {}
    for name, sym_value in inputs.items():
        bind_values(sym_value, bound[name], subs)
    return out, subs


def _compare(got, want, rtol, atol, path="out"):
    if isinstance(want, list | tuple):
        assert isinstance(got, list | tuple), f"{path}: expected a sequence, got {type(got)}"
        assert len(got) == len(want), f"{path}: {len(got)} outputs, expected {len(want)}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _compare(g, w, rtol, atol, f"{path}[{i}]")
        return
    want = np.asarray(want, dtype=float)
    got = np.asarray(got, dtype=float)
    assert got.shape == want.shape, f"{path}: shape {got.shape}, numpy gives {want.shape}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=path)


def element_subs(subs: dict) -> dict:
    """``subs`` with every input array replaced by its element symbols.

    Element symbols are named ``u[i]`` whatever the array's size, so binding
    them directly keeps this check independent of which array of that name
    was materialized last.
    """
    out: dict = {}
    for k, v in subs.items():
        if isinstance(k, SymArray):
            for s, x in zip(k.elements().ravel(), np.asarray(v, dtype=float).ravel(), strict=True):
                out[s] = x
        else:
            out[k] = v
    return out


def _elements_value(out, subs):
    """Evaluate the materialized scalar elements (the per-element path)."""
    if isinstance(out, list | tuple):
        return type(out)(_elements_value(o, subs) for o in out)
    if isinstance(out, SymArray):
        return evaluate(out.elements(), element_subs(subs))
    return evaluate(out, element_subs(subs))


def check_trace(f, *args, rtol=1e-10, atol=1e-12, elements=True):
    """Assert that ``evaluate(trace(f, *args))`` equals ``f(*args)`` run on numbers.

    Both the array-level evaluation and (for small outputs) the materialized
    scalar element terms are checked.  Returns the traced outputs.
    """
    want = f(*copy.deepcopy(args))
    out, subs = trace_subs(f, *args)
    _compare(evaluate(out, subs), want, rtol, atol)
    if elements:
        _compare(_elements_value(out, subs), want, rtol, atol, "elements")
    return out


def check_trace_inplace(f, out_positions, *args, rtol=1e-10, atol=1e-12):
    """Like :func:`check_trace` for an in-place ``f`` that writes the args at ``out_positions``."""
    num_args = copy.deepcopy(args)
    assert f(*num_args) is None
    want = [num_args[i] for i in out_positions]
    out, subs = trace_subs(f, *args)
    # the written arguments now hold the outputs, not input arrays
    subs = {
        k: v
        for k, v in subs.items()
        if not (isinstance(k, SymArray) and type(k.term) is not ArraySym)
    }
    got = out if isinstance(out, tuple) else (out,)
    _compare(list(evaluate(list(got), subs)), want, rtol, atol)
    _compare(list(_elements_value(list(got), subs)), want, rtol, atol, "elements")
    return out


def fd_jacobian(fun, x, h=1e-6):
    """Central finite-difference Jacobian of ``fun`` (flattened output) at flat ``x``."""
    x = np.asarray(x, dtype=float)
    f0 = np.ravel(fun(x))
    J = np.empty((f0.size, x.size))
    for j in range(x.size):
        step = h * max(1.0, abs(x[j]))
        xp = x.copy()
        xm = x.copy()
        xp[j] += step
        xm[j] -= step
        J[:, j] = (np.ravel(fun(xp)) - np.ravel(fun(xm))) / (2 * step)
    return J


@pytest.fixture(scope="session")
def traced_like_numpy():
    """``check_trace(f, *args)``: evaluate(trace(f)) == f on numbers."""
    return check_trace


@pytest.fixture(scope="session")
def traced_inplace_like_numpy():
    """``check_trace_inplace(f, out_positions, *args)`` for in-place functions."""
    return check_trace_inplace


@pytest.fixture(scope="session")
def traced_with_subs():
    """``trace_subs(f, *args) -> (outputs, subs)``."""
    return trace_subs


@pytest.fixture(scope="session")
def finite_difference_jacobian():
    """``fd_jacobian(fun, x, h=1e-6)``: central differences."""
    return fd_jacobian
