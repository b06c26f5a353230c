"""Code generation: every target agrees with numpy; structure, safety, caching."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

from pdeflow.errors import CompilationError, ConfigError, ShapeError
from pdeflow.symbolic import (
    array,
    compile,
    compile_jacobian,
    evaluate,
    exp,
    jacobian,
    sin,
    sym,
    symbols,
    trace,
)
from pdeflow.symbolic.arrays import element_terms
from pdeflow.symbolic.codegen.source import periodic_runs


def bruss(t, y, p):
    u, v = y[0], y[1]
    a, b, alpha = p

    def lap(w):
        return np.roll(w, 1, 0) + np.roll(w, -1, 0) + np.roll(w, 1, 1) + np.roll(w, -1, 1) - 4 * w

    return np.stack(
        [a + v * u**2 - (b + 1) * u + alpha * lap(u), b * u - v * u**2 + alpha * lap(v)]
    )


def heat_inplace(du, u, p, t):
    du[1:-1] = p[0] * (u[2:] - 2 * u[1:-1] + u[:-2]) + np.sin(t) * u[1:-1] ** 2
    du[0] = -u[0]
    du[-1] = np.exp(-u[-1]) - p[1]


def rd_dense(t, y, p):
    n = y.shape[-1]
    m = np.diag(-2.0 * np.ones(n)) + np.diag(np.ones(n - 1), 1) + np.diag(np.ones(n - 1), -1)
    m[0, 1] = 2.0
    m[-1, -2] = 2.0
    a, b = y[0], y[1]
    da = p[0] * (m @ a + a @ m) + a * b - np.maximum(a, 0.5)
    db = p[1] * (m @ b + b @ m) - np.where(a > b, a * b, b)
    return np.stack([da, db])


def _cases():
    rng = np.random.default_rng(0)
    out = []
    for n in (4, 9):
        y = rng.random((2, n, n))
        o, ins = trace(bruss, 0.0, y, (1.0, 3.0, 0.1), return_inputs=True)
        out.append(
            (
                f"bruss{n}",
                o,
                [ins["y"]],
                list(ins["p"]),
                y,
                np.array([1.0, 3.0, 0.1]),
                lambda y, p, t: bruss(t, y, p),
            )
        )
    u = rng.random(12)
    o, ins = trace(heat_inplace, np.zeros(12), u, (0.3, 0.2), 0.7, return_inputs=True)

    def heat_ref(y, p, t):
        du = np.empty_like(y)
        heat_inplace(du, y, p, t)
        return du

    out.append(
        (
            "heat",
            o,
            [ins["u"]],
            list(ins["p"]) + [ins["t"]],
            u,
            np.array([0.3, 0.2, 0.7]),
            lambda y, p, t: heat_ref(y, p[:2], p[2]),
        )
    )
    y = rng.random((2, 6, 6))
    o, ins = trace(rd_dense, 0.0, y, (0.4, 0.2), return_inputs=True)
    out.append(
        (
            "rd_dense",
            o,
            [ins["y"]],
            list(ins["p"]),
            y,
            np.array([0.4, 0.2]),
            lambda y, p, t: rd_dense(t, y, p),
        )
    )
    return out


CASES = _cases()
CPU_TARGETS = ["numpy", "numba", "jax", "torch"]


@pytest.mark.parametrize("target", CPU_TARGETS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_target_matches_numpy_code(case, target):
    _, out, inputs, params, y, p, ref = case
    f = compile(out, inputs, params=params, target=target)
    got = np.asarray(f(y.ravel(), p, 0.0))
    want = np.asarray(ref(y, p, 0.0)).ravel()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("target", CPU_TARGETS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_compiled_jacobian_matches_symbolic(case, target):
    _, out, inputs, params, y, p, _ = case
    J = compile_jacobian(out, inputs, params=params, target=target)
    subs = {inputs[0]: y}
    subs.update({s: v for s, v in zip(params, p, strict=True)})
    want = evaluate(jacobian(out, inputs), subs)
    got = J(y.ravel(), p, 0.0)
    assert sp.issparse(got) and got.shape == want.shape
    np.testing.assert_allclose(got.toarray(), want.toarray(), rtol=1e-12, atol=1e-12)
    data = np.empty(J.nnz)
    J.fill(data, y.ravel(), p, 0.0)
    np.testing.assert_allclose(data, got.data, rtol=0, atol=0)


def test_stacked_outputs_that_share_rows_are_summed():
    """A map may write its output slice directly only if no other term adds to those rows."""

    def f(t, u, p):
        return p[0] * np.concatenate([[0.0], u[:-2] - 2 * u[1:-1] + u[2:], [0.0]]) - p[1] * u**3

    u = np.linspace(0.5, 1.0, 5)
    out, ins = trace(f, 0.0, u, (2.0, 1.0), return_inputs=True)
    want = np.diag(-3.0 * u**2)
    want[1:-1] += 2.0 * (np.eye(5, k=-1) - 2 * np.eye(5) + np.eye(5, k=1))[1:-1]
    for target in ("numpy", "numba"):
        J = compile_jacobian(out, [ins["u"]], params=list(ins["p"]), target=target)
        np.testing.assert_allclose(J(u, np.array([2.0, 1.0]), 0.0).toarray(), want, rtol=1e-14)
        f_c = compile(out, [ins["u"]], params=list(ins["p"]), target=target)
        np.testing.assert_allclose(f_c(u, np.array([2.0, 1.0]), 0.0), f(0.0, u, (2.0, 1.0)),
                                   rtol=1e-14)


def test_numba_inplace_and_parallel_agree():
    _, out, inputs, params, y, p, ref = CASES[1]
    f = compile(out, inputs, params=params, target="numba", parallel=True)
    o = np.full(f.n_out, np.nan)
    f(o, y.ravel(), p, 0.0)
    np.testing.assert_allclose(o, ref(y, p, 0.0).ravel(), rtol=1e-12, atol=1e-12)


def test_bound_numba_call_fast_path_and_checked_fallback():
    """``bind(p)`` skips the Python checks only for float64 arrays of the right shapes."""
    _, out, inputs, params, y, p, ref = CASES[3]  # rd_dense: stencil with boundary weights
    f = compile(out, inputs, params=params, target="numba")
    g = f.bind(p)
    expected = ref(y, p, 0.0).ravel()
    o = np.full(f.n_out, np.nan)
    assert g(o, y.ravel()) is o
    np.testing.assert_allclose(o, expected, rtol=1e-13, atol=1e-13)
    # other dtypes or layouts go through inplace's conversions, same numbers
    o32 = np.full(f.n_out, np.nan)
    g(o32, y.ravel().astype(np.float32).tolist())
    np.testing.assert_allclose(o32, expected, rtol=1e-6)
    with pytest.raises(ShapeError, match="entries"):
        g(o, y.ravel()[:-1])
    with pytest.raises(ShapeError, match="out must be"):
        g(np.empty(f.n_out - 1), y.ravel())
    with pytest.raises(ShapeError, match="p has"):
        f.bind(p[:-1])
    # generated indices are unsigned (no negative-index test per load and store), and the
    # kernel takes only the tables it reads
    assert "np.uint64(" in f.source
    signature = re.search(r"def kernel\((.*)\):", f.source).group(1).split(", ")
    body = f.source.split("def kernel", 1)[1].split(":", 1)[1]
    assert all(re.search(rf"\b{name}\b", body) for name in signature[4:])
    # its Jacobian sums several sparse blocks: accumulated block by block over nonzeros
    # (test_compiled_jacobian_matches_symbolic checks the values of both forms)
    jac = compile_jacobian(out, inputs, params=params, target="numba")
    assert "] += " in jac.source and "ip0[r + 1]" not in jac.source


def test_rerolled_loops_equal_straight_line_code():
    """Run-table loops compute what one statement per equation computes."""
    y = np.random.default_rng(1).random((2, 24, 24))
    out, ins = trace(bruss, 0.0, y, (1.0, 3.0, 0.1), return_inputs=True)
    params = list(ins["p"])
    looped = compile(out, [ins["y"]], params=params, target="numba")
    assert any(getattr(s, "runs", None) is not None for s in looped.program.steps)
    straight = compile(
        list(element_terms(out.term).ravel()), [ins["y"]], params=params, target="numba"
    )
    p = np.array([1.0, 3.0, 0.1])
    np.testing.assert_allclose(
        looped(y.ravel(), p, 0.0), straight(y.ravel(), p, 0.0), rtol=1e-14, atol=1e-14
    )


def test_interior_loop_with_constant_offsets_gives_the_same_bits(monkeypatch):
    """The largest run group (the interior) is a loop of its own with literal offsets and
    weights; the table loop covers the boundary groups; together they give exactly what
    the table loop alone gives."""
    import pdeflow.symbolic.codegen.source as source

    def rd_last_axis(t, y, p):  # species on the last axis, as in the RD3 benchmark
        n = y.shape[0]
        m = np.diag(-2.0 * np.ones(n)) + np.diag(np.ones(n - 1), 1) + np.diag(np.ones(n - 1), -1)
        m[0, 1] = m[-1, -2] = 2.0
        a, b = y[:, :, 0], y[:, :, 1]
        return np.stack([p[0] * (m @ a + a @ m) + a * b - p[1] * a, p[1] - a * b], axis=2)

    y = np.random.default_rng(2).random((32, 32, 2))
    out, ins = trace(rd_last_axis, 0.0, y, (0.4, 0.2), return_inputs=True)
    args = (y.ravel(), np.array([0.4, 0.2]), 0.0)
    hot = compile(out, [ins["y"]], params=list(ins["p"]), target="numba")
    assert re.search(r"^    d0 = -?\d+$", hot.source, re.M)  # offsets as constants
    assert re.search(r"^    for q in range\(r\d+p\.shape\[0\]\):$", hot.source, re.M)
    monkeypatch.setattr(source, "HOT_ROW_MIN", 10**9)
    table = compile(out, [ins["y"]], params=list(ins["p"]), target="numba")
    assert not re.search(r"^    d0 = ", table.source, re.M)
    np.testing.assert_array_equal(hot(*args), table(*args))
    np.testing.assert_allclose(hot(*args), rd_last_axis(0.0, y, (0.4, 0.2)).ravel(),
                               rtol=1e-13)


def test_small_tables_are_frozen_into_the_kernel(monkeypatch):
    """Tables of up to FROZEN_MAX entries are module constants (no argument per call);
    the kernel computes exactly what it computes with them passed as arguments."""
    import pdeflow.symbolic.codegen.source as source

    y = np.random.default_rng(3).random((2, 12, 12))
    out, ins = trace(rd_dense, 0.0, y, (0.4, 0.2), return_inputs=True)
    args = (y.ravel(), np.array([0.4, 0.2]), 0.0)
    frozen = compile(out, [ins["y"]], params=list(ins["p"]), target="numba")
    assert "def kernel(out, y, p, t):" in frozen.source
    assert re.search(r"^i0 = np\.array\(\[", frozen.source, re.M)
    monkeypatch.setattr(source, "FROZEN_MAX", 0)
    passed = compile(out, [ins["y"]], params=list(ins["p"]), target="numba")
    assert "def kernel(out, y, p, t, i0," in passed.source
    np.testing.assert_array_equal(frozen(*args), passed(*args))
    bound = frozen.bind(args[1])
    np.testing.assert_array_equal(bound(np.empty(frozen.n_out), args[0]), passed(*args))


def test_code_size_does_not_grow_with_grid():
    """Only the sizes written as literals differ between grids; the code is the same."""
    for target, grids in (("numpy", (16, 64)), ("numba", (32, 128))):
        sources = []
        for n in grids:
            out, ins = trace(bruss, 0.0, np.zeros((2, n, n)), (1.0, 3.0, 0.1), return_inputs=True)
            f = compile(out, [ins["y"]], params=list(ins["p"]), target=target)
            sources.append(re.sub(r"\d+", "#", f.source))
        assert sources[0] == sources[1]


def test_boundary_rows_stay_one_run_each():
    """A stencil's missing neighbours beyond the grid's ends (reflecting boundaries) do
    not split the boundary rows into one run per element: the number of runs is the same
    on every grid, and the result stays exact."""
    counts = []
    for n in (24, 40):
        y = np.random.default_rng(n).random((2, n, n))
        out, ins = trace(rd_dense, 0.0, y, (0.4, 0.2), return_inputs=True)
        f = compile(out, [ins["y"]], params=list(ins["p"]), target="numba")
        steps = [s for s in f.program.steps if getattr(s, "runs", None) is not None]
        assert steps, "the stencil should be read through run tables, not index arrays"
        # groups of equally spaced runs: what the kernel loops over
        counts.append(sum(periodic_runs(s.runs, s.coef_runs)[0].shape[0] for s in steps))
        np.testing.assert_allclose(f(y.ravel(), np.array([0.4, 0.2]), 0.0),
                                   rd_dense(0.0, y, (0.4, 0.2)).ravel(), rtol=1e-13)
    assert counts[0] == counts[1], counts


def test_kernel_is_the_unchecked_numba_kernel():
    """``f.kernel(out, y, p, t)`` is what ``f`` runs; other targets have none."""
    y = np.random.default_rng(5).random((2, 10, 10))
    out, ins = trace(rd_dense, 0.0, y, (0.4, 0.2), return_inputs=True)
    f = compile(out, [ins["y"]], params=list(ins["p"]), target="numba")
    assert f.bare
    res = np.empty(f.n_out)
    f.kernel(res, y.ravel(), np.array([0.4, 0.2]), 0.0)
    np.testing.assert_array_equal(res, f(y.ravel(), np.array([0.4, 0.2]), 0.0))
    g = compile(out, [ins["y"]], params=list(ins["p"]), target="numpy")
    assert not g.bare
    with pytest.raises(ConfigError, match="numba target"):
        g.kernel  # noqa: B018


def test_scalar_system_straight_line_chunks():
    xs = symbols("a b c")
    k1, k2 = symbols("k1 k2")
    exprs = [
        -k1 * xs[0] * xs[1],
        k1 * xs[0] * xs[1] - k2 * xs[2] ** 2,
        k2 * xs[2] ** 2 + sin(xs[0]),
    ]
    v = np.array([0.5, 2.0, 1.5])
    pv = np.array([0.7, 0.1])
    want = np.array([-0.7 * 1.0, 0.7 * 1.0 - 0.1 * 2.25, 0.1 * 2.25 + np.sin(0.5)])
    for target in ("numpy", "numba", "jax", "torch"):
        for mode in ("lift", "straight"):
            f = compile(exprs, list(xs), params=[k1, k2], target=target, scalar_mode=mode)
            np.testing.assert_allclose(np.asarray(f(v, pv, 0.0)), want, rtol=1e-13)
    Jf = compile_jacobian(exprs, list(xs), params=[k1, k2], target="numba")
    Jw = evaluate(jacobian(exprs, list(xs)), {**dict(zip(xs, v, strict=True)), k1: 0.7, k2: 0.1})
    np.testing.assert_allclose(Jf(v, pv).toarray(), Jw.toarray(), rtol=1e-13)


def test_negated_products_are_shared_and_subtracted():
    """``-k*a*b`` is printed as ``x - (k*a*b)``, sharing ``k*a*b`` with its positive use;
    the bits equal those of ``(-1.0)*k*a*b`` (IEEE rounding is symmetric in the sign)."""

    def mass_action(t, y, p):
        a, b = y[:, 0], y[:, 1]
        return np.stack([p[0] - p[1] * a * b, p[1] * a * b - b, -(p[1] * a * b)], axis=1)

    y = np.random.default_rng(4).uniform(-3, 3, (50, 2))
    out, ins = trace(mass_action, 0.0, y, (0.7, 1.3), return_inputs=True)
    want = mass_action(0.0, y, (0.7, 1.3)).ravel()
    for target in ("numpy", "numba"):
        f = compile(out, [ins["y"]], params=list(ins["p"]), target=target)
        assert "(-1.0)" not in f.source and " - v" in f.source, f.source
        assert len(re.findall(r"\*x\d\*x\d", f.source)) == 1, f.source  # one product
        got = np.asarray(f(y.ravel(), np.array([0.7, 1.3]), 0.0))
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)


HOSTILE = [
    "x; import os; os.system('echo pwned')",
    "__import__('os').system('echo pwned')",
    "a\nb = 1",
    "'\"",
    "out",
    "y",
    "p",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_never_reach_the_source(name):
    u = array(name, (5,))
    s = sym(name + "_param")
    out = s * np.roll(u, 1) + exp(u)
    clash = name in ("out", "y", "p")  # names of generated identifiers: must not collide
    for target in ("numpy", "numba"):
        f = compile(out, [u], params=[s], target=target)
        assert clash or name not in f.source
        assert "os.system" not in f.source and "__import__" not in f.source
        x = np.linspace(0.0, 1.0, 5)
        np.testing.assert_allclose(f(x, np.array([2.0]), 0.0), 2.0 * np.roll(x, 1) + np.exp(x))
    scalar = compile([s * element_terms(u.term)[0]], [u], params=[s], target="numba")
    assert clash or name not in scalar.source
    np.testing.assert_allclose(scalar(np.arange(5.0), np.array([3.0])), [0.0])


def test_bad_inputs_raise_clear_errors():
    u = array("u", (4,))
    q = sym("q")
    with pytest.raises(ConfigError, match="unknown target"):
        compile(u * 2, [u], target="fortran")
    with pytest.raises(CompilationError, match="q"):
        compile(u * q, [u], target="numpy")
    w = array("w", (4,))
    with pytest.raises(CompilationError, match="'w'"):
        compile(u * w, [u], target="numpy")
    f = compile(u * 2, [u], target="numba")
    with pytest.raises(ShapeError, match="5 entries"):
        f(np.zeros(5))


def test_disk_cache_second_process_does_not_recompile(tmp_path):
    script = textwrap.dedent(
        """
        import numpy as np
        from pdeflow.symbolic import array, compile
        u = array("u", (50,))
        f = compile(np.roll(u, 1) * u - u ** 3, [u], target="numba")
        f(np.ones(50))
        print(len(f._kernel.stats.cache_hits), len(f._kernel.stats.cache_misses))
        """
    )
    env = dict(os.environ, PDEFLOW_CACHE_DIR=str(tmp_path))
    first = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    second = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    hits1, _ = map(int, first.stdout.split())
    hits2, misses2 = map(int, second.stdout.split())
    assert hits1 == 0
    assert hits2 >= 1 and misses2 == 0


def test_cuda_target_in_simulator(tmp_path):
    """The CUDA kernels run under numba's CUDA simulator (the real GPU run is a benchmark)."""
    script = textwrap.dedent(
        """
        import numpy as np
        from pdeflow.symbolic import trace, compile, compile_jacobian, jacobian, evaluate
        def bruss(t, y, p):
            u, v = y[0], y[1]
            a, b, alpha = p
            def lap(w):
                return (np.roll(w, 1, 0) + np.roll(w, -1, 0) + np.roll(w, 1, 1)
                        + np.roll(w, -1, 1) - 4 * w)
            return np.stack([a + v * u**2 - (b + 1) * u + alpha * lap(u),
                             b * u - v * u**2 + alpha * lap(v)])
        y = np.random.default_rng(2).random((2, 4, 4))
        p = np.array([1.0, 3.0, 0.1])
        out, ins = trace(bruss, 0.0, y, (1.0, 3.0, 0.1), return_inputs=True)
        f = compile(out, [ins["y"]], params=list(ins["p"]), target="cuda")
        err = np.abs(f(y.ravel(), p, 0.0) - bruss(0.0, y, p).ravel()).max()
        J = compile_jacobian(out, [ins["y"]], params=list(ins["p"]), target="cuda")
        want = evaluate(jacobian(out, ins["y"]), {ins["y"]: y, "p_0": 1.0, "p_1": 3.0, "p_2": 0.1})
        jerr = abs(J(y.ravel(), p, 0.0) - want).max()
        print(err, jerr)
        """
    )
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PDEFLOW_CACHE_DIR=str(tmp_path))
    res = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    if res.returncode != 0 and "cuda" in res.stderr.lower() and "import" in res.stderr.lower():
        pytest.skip(f"numba-cuda simulator unavailable: {res.stderr.splitlines()[-1]}")
    assert res.returncode == 0, res.stderr
    err, jerr = map(float, res.stdout.split())
    assert err < 1e-12 and jerr < 1e-12


def test_jax_target_is_differentiable():
    import jax
    import jax.numpy as jnp

    u = array("u", (6,))
    s = sym("s")
    f = compile(s * u**2 + np.roll(u, 1), [u], params=[s], target="jax")
    g = jax.grad(lambda y: jnp.sum(f(y, jnp.array([2.0]), 0.0)))(jnp.arange(6.0))
    np.testing.assert_allclose(np.asarray(g), 4.0 * np.arange(6.0) + 1.0)


def test_torch_target_supports_autograd():
    import torch

    u = array("u", (6,))
    f = compile(exp(u) * np.roll(u, -1), [u], target="torch")
    y = torch.linspace(0, 1, 6, dtype=torch.float64, requires_grad=True)
    f(y, None, 0.0).sum().backward()
    yn = y.detach().numpy()
    want = np.exp(yn) * np.roll(yn, -1) + np.roll(np.exp(yn), 1)
    np.testing.assert_allclose(y.grad.numpy(), want, rtol=1e-12)


def test_compile_with_egraph_optimizer():
    x, y, a = symbols("x y a")
    exprs = [sin(x) ** 2 + exp(x) * 0 + a * x + a * y, (a * x + a * y) ** 2]
    from pdeflow.symbolic import cos

    exprs[0] = exprs[0] + cos(x) ** 2
    v = np.array([0.3, 0.5, 2.0])
    f = compile(exprs, [x, y, a], target="python", optimize=True)
    g = compile(exprs, [x, y, a], target="numpy")
    np.testing.assert_allclose(f(v), g(v), rtol=1e-13)
    assert f.report.cost_after <= f.report.cost_before


def test_threads_calling_one_compiled_function_get_their_own_results():
    """The Numba kernels release the GIL and write scratch arrays (here the gathered
    products of a mass-action system): each calling thread has its own."""
    from concurrent.futures import ThreadPoolExecutor

    from pdeflow.symbolic import sym

    rng = np.random.default_rng(7)
    n = 300
    s = [sym(f"s{i}") for i in range(n)]
    exprs = [sum(float(rng.uniform(0.5, 2.0)) * s[int(i)] * s[int(j)]
                 for i, j in rng.integers(0, n, (12, 2))) for _ in range(n)]
    f = compile(exprs, s, target="numba")
    assert f._temps  # the products go through a scratch array
    inputs = [rng.uniform(0.0, 3.0, n) for _ in range(8)]
    want = [f(y) for y in inputs]

    def many(k):
        g, out = f.bind(None), np.empty(n)
        for _ in range(1500):
            g(out, inputs[k])
            if not np.array_equal(out, want[k]):
                return False
            f.inplace(out, inputs[k])
            if not np.array_equal(out, want[k]):
                return False
        return True

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(many, range(8)))


def test_each_target_is_one_backend_class_from_the_dict():
    from pdeflow.symbolic.codegen import TARGETS, CompiledFunction
    from pdeflow.symbolic.codegen.backends import BACKENDS, Backend

    assert set(BACKENDS) == set(TARGETS)
    assert all(issubclass(b, Backend) and b.name == k for k, b in BACKENDS.items())
    u = array("u", (4,))
    for target in ("numpy", "torch"):
        f = compile(u * u, [u], target=target)
        assert type(f) is CompiledFunction and type(f._backend) is BACKENDS[target]
        assert f.source == f._backend.source
    with pytest.raises(ConfigError, match="unknown target 'fortran'"):
        compile(u * u, [u], target="fortran")
    with pytest.raises(ConfigError, match="kernel is the numba target's"):
        _ = compile(u * u, [u], target="torch").kernel
