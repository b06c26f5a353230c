"""The table form of a straight-line program (``compile_slp(mode="tables")``): every
operation against the printed source, grouping by level, the choice of form, bad input."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from pdeflow.errors import CompilationError, ShapeError
from pdeflow.symbolic import sym
from pdeflow.symbolic.egraph import SLP, compile_slp, optimize
from pdeflow.symbolic.egraph.tables import SUPPORTED, SLPTables

X, Y, K, T = sym("x"), sym("y"), sym("k"), sym("t")
LEAVES = (X, Y, K, T)  # values 0..3


def _every_operation() -> SLP:
    """One instruction per operation kind the interpreter knows, each an output."""
    ins: list = [("num", 2.5, ()), ("num", 0.7, ())]  # values 4, 5
    x, y, k, t, c25, c07 = 0, 1, 2, 3, 4, 5
    body = [
        ("add", None, (x, y)), ("add", None, (x, y, k, t)), ("mul", None, (x, y)),
        ("mul", None, (x, y, k)), ("min", None, (x, k)), ("max", None, (x, y)),
        ("neg", None, (x,)), ("sub", None, (x, y)), ("div", None, (x, y)),
        ("fma", None, (x, y, k)), ("fpow", None, (x, c07)),
        ("pow", 2, (x,)), ("pow", 5, (y,)), ("pow", -3, (x,)), ("pow", Fraction(1, 2), (y,)),
        ("pow", -0.5, (x,)), ("pow", 1.7, (x,)), ("pow", Fraction(1, 3), (y,)),
        ("pow", 12, (x,)), ("exp", None, (x,)), ("log", None, (y,)), ("sin", None, (x,)),
        ("cos", None, (x,)), ("tan", None, (x,)), ("sinh", None, (x,)), ("cosh", None, (x,)),
        ("tanh", None, (x,)), ("asin", None, (x,)), ("acos", None, (y,)),
        ("atan", None, (x,)), ("abs", None, (k,)), ("sign", None, (k,)),
        ("lt", None, (x, y)), ("le", None, (y, x)), ("eq", None, (x, x)), ("ne", None, (x, y)),
        ("and", None, (x, k)), ("or", None, (x, c25)), ("not", None, (x,)),
        ("where", None, (k, x, y)),
    ]
    ins += body
    # a second level reading the first: (x + y) * exp(x) - (x * y)
    nl = len(LEAVES)
    ins += [("mul", None, (nl + 2, nl + 2 + 19)), ("sub", None, (nl + len(ins) - 1, nl + 4))]
    outputs = tuple(range(nl + 2, nl + len(ins))) + (c25,)
    return SLP(LEAVES, tuple(ins), outputs)


def test_the_table_form_covers_every_operation_of_the_source_form():
    ops = {op for op, _, _ in _every_operation().instrs}
    assert ops == SUPPORTED


@pytest.mark.parametrize("k", [-0.4, 0.0, 1.3])
def test_every_operation_matches_the_printed_source(k):
    slp = _every_operation()
    tables = compile_slp(slp, [X, Y], [K], T, mode="tables")
    source = compile_slp(slp, [X, Y], [K], T, target="python")
    assert (tables.mode, source.mode) == ("tables", "source")
    for xv, yv in [(0.3, 0.6), (0.8, 0.25), (0.55, 0.55)]:
        y = np.array([xv, yv])
        p = np.array([k])
        want = source(y, p, 0.9)
        got = tables(y, p, 0.9)
        # same operations in the same order: equal up to the libm of Numba and CPython
        np.testing.assert_allclose(got, want, rtol=2e-16 * 8, atol=0)
        assert got[-1] == 2.5  # a constant output


def test_values_read_inputs_parameters_and_time():
    slp = SLP(LEAVES, (("fma", None, (0, 2, 3)), ("sub", None, (1, 3))), (4, 5, 2))
    f = compile_slp(slp, [X, Y], [K], T, mode="tables")
    np.testing.assert_array_equal(f(np.array([2.0, 7.0]), np.array([3.0]), 0.5),
                                  [6.5, 6.5, 3.0])
    out = np.empty(3)
    assert f(out, np.array([1.0, 1.0]), [2.0], 4.0) is out
    np.testing.assert_array_equal(out, [6.0, -3.0, 2.0])
    # a strided view and a list are read correctly
    np.testing.assert_array_equal(f(np.arange(4.0)[::2], [1.0], 0.0), [0.0, 2.0, 1.0])


def test_instructions_are_grouped_by_level_and_operation():
    a, b = 0, 1
    ins = [("mul", None, (a, b)), ("add", None, (a, b)), ("mul", None, (a, a)),  # level 1
           ("mul", None, (2, 3)), ("mul", None, (3, 4)),  # level 2: one group
           ("add", None, (5, 6, 2))]  # level 3
    xv, yv = 1.5, -2.0
    p1, s1, q1 = xv * yv, xv + yv, xv * xv
    want = p1 * s1 + s1 * q1 + p1
    # the level-2 products are read once, by the sum: computed inside its loop
    slp = SLP((X, Y), tuple(ins), (7,))
    tab = SLPTables(slp, [X, Y])
    assert (tab.n_levels, tab.n_groups) == (3, 3)
    assert compile_slp(slp, [X, Y])(np.array([xv, yv]))[0] == want
    # one of them is also an output: both stay a level-2 group of their own
    slp = SLP((X, Y), tuple(ins), (7, 5))
    tab = SLPTables(slp, [X, Y])
    assert (tab.n_levels, tab.n_groups) == (3, 4)
    np.testing.assert_array_equal(compile_slp(slp, [X, Y])(np.array([xv, yv])),
                                  [want, p1 * s1])


def test_auto_runs_tables_and_falls_back_to_source():
    slp = optimize([X * Y + X * K], cost="anchor").slp
    assert compile_slp(slp, [X, Y, K]).mode == "tables"
    assert compile_slp(slp, [X, Y, K], mode="source").mode == "source"
    assert compile_slp(slp, [X, Y, K], target="python").mode == "source"
    odd = SLP((X,), (("erf", None, (0,)),), (1,))
    with pytest.raises(CompilationError, match="no table form for the e-graph operation 'erf'"):
        compile_slp(odd, [X], mode="tables")
    with pytest.raises(CompilationError, match="no code for the e-graph operation 'erf'"):
        compile_slp(odd, [X], target="python")  # auto: the source form, which cannot either


def test_bad_input_is_refused():
    slp = SLP((X, Y), (("add", None, (0, 1)),), (2,))
    f = compile_slp(slp, [X, Y])
    with pytest.raises(ShapeError, match="expected y of 2 and p of 0 entries"):
        f(np.ones(3))
    with pytest.raises(ShapeError, match="expected out of shape"):
        f(np.empty(2), np.ones(2), None, 0.0)
    with pytest.raises(ShapeError, match="expected out of shape"):
        f(np.empty(1, dtype=np.float32), np.ones(2), None, 0.0)
    tab = SLPTables(slp, [X, Y])
    np.testing.assert_array_equal(tab.run(np.empty(1), np.array([1.0, 2.0]), np.zeros(0), 0.0),
                                  [3.0])
    with pytest.raises(ShapeError, match="expected y of 2, p of 0, out of 1 entries"):
        tab.run(np.empty(1), np.ones(5), np.zeros(0), 0.0)  # would overrun the buffer
    with pytest.raises(CompilationError, match="reads y, which is neither"):
        compile_slp(slp, [X], mode="tables")
    with pytest.raises(CompilationError, match="mode must be"):
        compile_slp(slp, [X, Y], mode="fast")
    with pytest.raises(CompilationError, match="runs with Numba"):
        compile_slp(slp, [X, Y], target="python", mode="tables")


def test_sums_of_one_and_of_many_operands():
    """A one-operand sum, a two-operand one and a long one (odd and even run lengths in
    each section of the interpreter's sum loop) against the printed source."""
    rng = np.random.default_rng(7)
    ins: list = [("add", None, (0,))]  # value 2
    for n in (2, 3, 4, 7, 8):
        ins.append(("add", None, tuple(int(i) for i in rng.integers(0, 2, n))))
    nl = 2
    prods = []
    for k in range(5):  # products read once by the last sum: fused pairs and triples
        ins.append(("mul", None, (0, 1) if k % 2 else (0, 1, 1)))
        prods.append(nl + len(ins) - 1)
    ins.append(("add", None, (0, *prods, 1)))
    slp = SLP((X, Y), tuple(ins), tuple([2, 3, 4, 5, 6, 7, nl + len(ins) - 1]))
    tables = compile_slp(slp, [X, Y], mode="tables")
    source = compile_slp(slp, [X, Y], target="python")
    for y in rng.uniform(-2.0, 2.0, (5, 2)):
        np.testing.assert_array_equal(tables(y), source(y))


def test_two_programs_keep_their_own_values():
    f = compile_slp(SLP((X,), (("mul", None, (0, 0)),), (1,)), [X])
    g = compile_slp(SLP((X,), (("add", None, (0, 0)),), (1,)), [X])
    for v in (1.5, 3.0):
        assert (f(np.array([v]))[0], g(np.array([v]))[0]) == (v * v, v + v)


def test_optimized_mass_action_system_equals_the_source_form():
    rng = np.random.default_rng(3)
    s = [sym(f"s{i}") for i in range(12)]
    exprs = []
    for _ in range(30):
        e = 0
        for _ in range(rng.integers(3, 15)):
            i, j = rng.integers(0, 12, 2)
            e = e + float(rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 3.0)) * s[i] * s[j]
        exprs.append(e)
    slp = optimize(exprs).slp
    y = rng.uniform(0.0, 5.0, 12)
    want = compile_slp(slp, s, target="python")(y)
    np.testing.assert_array_equal(compile_slp(slp, s, mode="tables")(y), want)


def test_threads_calling_one_function_get_their_own_results():
    """The kernels release the GIL: each thread has a value buffer of its own (the
    straight-line form's scratch array goes through the same per-thread helper; with one
    shared buffer this test fails for both forms)."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(5)
    n = 60
    s = [sym(f"s{i}") for i in range(n)]
    exprs = [sum(float(rng.uniform(0.5, 2.0)) * s[i] * s[(i + j) % n] for j in range(1, 12))
             for i in range(n)]
    f = compile_slp(optimize(exprs, cost="anchor").slp, s, mode="tables")
    inputs = [rng.uniform(0.0, 3.0, n) for _ in range(8)]
    want = [f(y) for y in inputs]

    def many(k):
        out = np.empty(n)
        for _ in range(3000):
            f.inplace(out, inputs[k])
            if not np.array_equal(out, want[k]):
                return False
        return True

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(many, range(8)))
