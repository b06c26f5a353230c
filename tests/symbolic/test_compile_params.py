"""Irregular systems with one parameter symbol per reaction compile to a few fixed loops.

Parameters are read through index tables into ``p`` like states through tables into
``y``: ``k3*y1*y2`` and ``k7*y4*y5`` share one template, so the generated code has as
many loops as there are monomial *shapes*, not one per parameter (issue #20, item 7).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from pdeflow.symbolic import compile, compile_jacobian, evaluate
from pdeflow.symbolic.codegen import lower
from pdeflow.symbolic.codegen.lower import MapStep
from pdeflow.symbolic.jacobian import jacobian
from pdeflow.symbolic.massaction import random_mass_action
from pdeflow.symbolic.reactions import load_bngl_net


def _subs(net, y):
    return {**dict(zip(net.states, y, strict=True)), **dict(zip(net.params, net.rates,
                                                               strict=True))}


def test_one_parameter_per_reaction_gives_one_loop_per_monomial_shape():
    net = random_mass_action(60, 300, seed=0, params_as_symbols=True)
    prog = lower(net.exprs, net.states, net.params)
    templates = [tm for st in prog.steps if isinstance(st, MapStep) for tm in st.templates]
    # k*y and k*y*y: two shapes, however many parameters there are (was 300 templates)
    assert len(templates) == 2
    assert prog.n_p == 300


def test_generated_code_size_does_not_grow_with_the_parameters():
    sizes = []
    for n_r in (40, 300):
        net = random_mass_action(60, n_r, seed=1, params_as_symbols=True)
        f = compile(net.exprs, net.states, params=net.params, target="numpy")
        sizes.append(len(re.findall(r"\bp\[", f.source)))
    assert sizes[0] == sizes[1] <= 2


@pytest.mark.parametrize("target", ["numpy", "numba"])
def test_parameter_network_rhs_equals_evaluate_and_numeric_rates(target):
    sym_net = random_mass_action(30, 120, seed=2, params_as_symbols=True)
    num_net = random_mass_action(30, 120, seed=2)
    y = np.random.default_rng(0).uniform(0.1, 2.0, 30)
    want = np.array(evaluate(sym_net.exprs, _subs(sym_net, y)), dtype=float)
    f = compile(sym_net.exprs, sym_net.states, params=sym_net.params, target=target)
    np.testing.assert_allclose(f(y, sym_net.rates, 0.0), want, rtol=1e-13, atol=1e-13)
    g = compile(num_net.exprs, num_net.states, target=target)
    np.testing.assert_allclose(f(y, sym_net.rates, 0.0), g(y), rtol=1e-13, atol=1e-13)
    # other parameter values reach the kernel (nothing is frozen in)
    k2 = 2.0 * sym_net.rates
    np.testing.assert_allclose(f(y, k2, 0.0), 2.0 * want, rtol=1e-13, atol=1e-13)


def test_parameter_network_jacobian_equals_the_symbolic_one():
    net = random_mass_action(30, 120, seed=3, params_as_symbols=True)
    y = np.random.default_rng(1).uniform(0.1, 2.0, 30)
    J = compile_jacobian(net.exprs, net.states, params=net.params, target="numba")
    sym_J = jacobian(net.exprs, net.states)
    want = np.array(evaluate(sym_J.exprs, _subs(net, y)), dtype=float)
    got = J(y, net.rates, 0.0)
    np.testing.assert_array_equal(got.indptr, sym_J.indptr)
    np.testing.assert_array_equal(got.indices, sym_J.indices)
    np.testing.assert_allclose(got.data, want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("name", ["michment", "Repressilator", "birth-death"])
def test_bionetgen_networks_with_symbolic_rates_equal_numeric_rates(reaction_data, name):
    net = load_bngl_net(reaction_data(f"{name}.net"))
    states = list(net.state_symbols())
    exprs = net.rhs_terms(params_as_symbols=True)
    used = set().union(*(e.free_symbols for e in exprs)) - set(states)
    params = sorted((s for s in net.parameter_values() if s in used), key=lambda s: s.name)
    pv = net.parameter_values()
    p = np.array([pv[s] for s in params])
    y = np.random.default_rng(2).uniform(0.1, 3.0, len(states))
    f = compile(exprs, states, params=params, target="numpy", time=net.time_symbol)
    g = compile(net.rhs_terms(), states, target="numpy", time=net.time_symbol)
    np.testing.assert_allclose(f(y, p, 0.5), g(y, None, 0.5), rtol=1e-12, atol=1e-12)
    J = compile_jacobian(exprs, states, params=params, target="numpy", time=net.time_symbol)
    Jn = compile_jacobian(net.rhs_terms(), states, target="numpy", time=net.time_symbol)
    np.testing.assert_allclose(J(y, p, 0.5).toarray(), Jn(y, None, 0.5).toarray(),
                               rtol=1e-12, atol=1e-12)
