"""``compile(..., optimize=True)`` on traced array programs and one code generator for both.

Each fused loop template is rewritten once by the e-graph and the same loops are emitted;
when extraction returns the input, the generated source is the one of ``optimize=False``
(issue #20, item 5).  Before, array programs raised ConfigError.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from pdeflow.symbolic import array, compile, compile_jacobian, trace
from pdeflow.symbolic.massaction import random_mass_action

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _pde_cases import brusselator_args, brusselator_rhs, rd3_args, rd3_rhs  # noqa: E402


def _traced(case, n):
    rhs, args = {"rd3": (rd3_rhs, rd3_args), "brusselator": (brusselator_rhs, brusselator_args)}[
        case]
    a = args(n)
    du, ins = trace(rhs(n), *a, return_inputs=True)
    state = "u" if case == "rd3" else "y"
    return du, ins[state], list(ins["p"]), a


@pytest.mark.parametrize("case", ["rd3", "brusselator"])
@pytest.mark.parametrize("target", ["numpy", "numba"])
def test_array_program_optimized_equals_plain(case, target):
    du, ys, ps, a = _traced(case, 8)
    y, p = np.asarray(a[1], dtype=float).ravel(), np.asarray(a[2], dtype=float)
    plain = compile(du, [ys], params=ps, target=target)
    opt = compile(du, [ys], params=ps, target=target, optimize=True)
    np.testing.assert_allclose(opt(y, p, 0.0), plain(y, p, 0.0), rtol=1e-12, atol=1e-12)
    rep = opt.report
    assert rep.templates and rep.cost_after <= rep.cost_before
    J = compile_jacobian(du, [ys], params=ps, target=target, optimize=True)
    Jp = compile_jacobian(du, [ys], params=ps, target=target)
    np.testing.assert_allclose(J(y, p, 0.0).toarray(), Jp(y, p, 0.0).toarray(), rtol=1e-12,
                               atol=1e-12)


def test_a_cheaper_template_is_emitted_in_the_same_loops():
    u = array("u", (16,))
    out = u * np.roll(u, 1) + u * np.roll(u, -1)
    plain = compile(out, [u], target="numpy")
    opt = compile(out, [u], target="numpy", optimize=True, optimize_options={"cost": "anchor"})
    assert opt.report.changed == 1 and opt.report.cost_after < opt.report.cost_before
    assert opt.source != plain.source and opt.source.count("\n") == plain.source.count("\n")
    x = np.random.default_rng(0).normal(size=16)
    np.testing.assert_allclose(opt(x), plain(x), rtol=1e-14)


def test_nothing_cheaper_gives_identical_source_for_arrays_and_scalar_systems():
    u = array("u", (16,))
    out = 2.0 * u + np.roll(u, 1)
    for target in ("numpy", "numba"):
        opt = compile(out, [u], target=target, optimize=True)
        assert opt.report.changed == 0
        assert opt.source == compile(out, [u], target=target).source
    net = random_mass_action(20, 60, seed=0)
    opt = compile(net.exprs, net.states, target="numba", optimize=True,
                  optimize_options={"rules": "none"})
    assert opt.report.extractor == "input"
    assert opt.source == compile(net.exprs, net.states, target="numba").source
