"""The e-graph optimizer: rules, saturation limits, extraction, determinism, codegen."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pdeflow.symbolic import cos, evaluate, exp, log, sin, sqrt, symbols
from pdeflow.symbolic.egraph import (
    RULESETS,
    SLP,
    CostModel,
    EGraph,
    Limits,
    StopReason,
    add_terms,
    calibrate,
    compile_slp,
    dag_cost,
    greedy_dag_extract,
    ilp_extract,
    load_cost_model,
    optimize,
    run,
    tree_extract,
)
from pdeflow.symbolic.egraph.pattern import instantiate, variables
from pdeflow.symbolic.terms import sym

MODEL = CostModel.anchor()
a, b, c, x, y, z = symbols("a b c x y z")
RNG_POINTS = 64


# ----------------------------------------------------------------- rules
#: bindings a rule's guard needs (payload exponents, constants); others get symbols
GUARD_BINDINGS = {
    "neg-coeff": {"?#c": -2.5},
    "div-const": {"?#c": 4.0},
    "pow-even": {"?n": 6},
    "pow-odd": {"?n": 5},
    "pow-neg": {"?n": -3},
    "exp-pow": {"?n": 3},
}


def _values(leaves, rng):
    return {leaf: rng.uniform(0.5, 2.0, RNG_POINTS) for leaf in leaves}


def _all_choices_agree(eg, root, rng) -> int:
    """Evaluate every e-node of ``root`` (children by tree extraction); returns how many."""
    choice = tree_extract(eg, eg.classes(), MODEL)
    leaves = sorted({n[1] for ns in eg.nodes.values() for n in ns if n[0] == "sym"},
                    key=lambda s: s.name)
    env = _values(leaves, rng)
    ref = None
    checked = 0
    for node in eg.nodes[root]:
        ch = dict(choice)
        ch[root] = node
        if _reaches(eg, node, root, ch):
            continue
        (val,) = SLP.from_choice(eg, [root], ch).evaluate(env)
        val = np.broadcast_to(val, (RNG_POINTS,))
        if ref is None:
            ref = val
        np.testing.assert_allclose(val, ref, rtol=1e-12, atol=1e-300)
        checked += 1
    return checked


def _reaches(eg, node, target, choice) -> bool:
    stack, seen = list(node[2]), set()
    while stack:
        k = eg.find(stack.pop())
        if k == target:
            return True
        if k not in seen:
            seen.add(k)
            stack.extend(choice[k][2])
    return False


ALL_RULES = RULESETS["full"]


@pytest.mark.parametrize("rule", ALL_RULES, ids=[r.name for r in ALL_RULES])
def test_rule_is_sound_on_random_inputs(rule):
    eg = EGraph()
    subst = {}
    for i, v in enumerate(sorted(variables(rule._lhs))):
        if v in GUARD_BINDINGS.get(rule.name, {}):
            val = GUARD_BINDINGS[rule.name][v]
            subst[v] = ("#", val) if not v.startswith("?#") else eg.add_num(val)
        elif v.endswith("..."):
            subst[v] = (eg.add(("sym", sym(f"r{i}"), ())),)
        else:
            subst[v] = eg.add(("sym", sym(f"v{i}"), ()))
    root = instantiate(eg, rule._lhs, subst)
    before = len(eg.nodes[eg.find(root)])
    rep = run(eg, [rule], Limits(iterations=2))
    root = eg.find(root)
    assert rep.applied[rule.name] >= 1, f"{rule.name} did not fire on its own left side"
    assert len(eg.nodes[root]) >= before
    assert _all_choices_agree(eg, root, np.random.default_rng(0)) >= 1


# one-line "start => goal" cases through optimize (anchor costs)
@pytest.mark.parametrize("start, goal", [
    (sin(x) ** 2 + cos(x) ** 2, 1),
    (sin(x) / cos(x), "tan(x)"),
    (exp(x) * exp(y), "exp(x + y)"),
    (a * x + a * y, "a*(x + y)"),
    (log(x) + log(y) + 1, "log(x*y) + 1"),
    (x ** 2 * y, "x**2*y"),
])
def test_start_to_goal(start, goal):
    out = optimize([start], cost="anchor").exprs[0]
    assert str(out) == str(goal)


def test_power_by_squaring():
    # x**4 -> (x**2)*(x**2): two multiplications (a pow of 2 prints as x*x)
    assert optimize([x ** 4], cost="anchor").report.cost_after == 6.0


@pytest.mark.parametrize("start, ops", [
    (y - x * z, {"sub": 1, "mul": 1}),
    (x / y, {"div": 1}),
    (y / exp(x), {"mul": 1, "exp": 1, "neg": 1}),
    (1 / sqrt(x), {"pow": 1}),
])
def test_start_to_program(start, ops):
    assert optimize([start], cost="anchor").slp.op_counts() == ops


# ------------------------------------------------------------ systems
def _mass_action(n_out=40, n_species=15, seed=0, signs=False):
    rng = np.random.default_rng(seed)
    s = [sym(f"s{i}") for i in range(n_species)]
    ks = [0.3, 1.5e-6, 2.4e-7, 30.0]
    out = []
    for _ in range(n_out):
        e = 0
        for _ in range(rng.integers(3, 25)):
            i, j = rng.integers(0, n_species, 2)
            k = ks[rng.integers(0, len(ks))] * (rng.choice([-1, 1]) if signs else 1)
            e = e + k * s[i] * s[j] if rng.random() < 0.7 else e + k * s[i]
        out.append(e)
    out.append(exp(s[0]) * exp(s[1]) + sin(s[2]) ** 2 + cos(s[2]) ** 2 + s[3] ** 5 / s[4])
    return out, s


def _env(syms, seed=1):
    rng = np.random.default_rng(seed)
    return {s: rng.uniform(0.1, 3.0, 200) for s in syms}


def test_optimized_system_matches_within_1e12():
    exprs, s = _mass_action()
    res = optimize(exprs, cost="anchor")
    env = _env(s)
    got = res.slp.evaluate(env)
    want = evaluate(exprs, env)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12)
    # canonical terms rebuilt from the program agree too
    for g, w in zip(evaluate(res.exprs, env), want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_mixed_signs_within_1e12_of_the_magnitude():
    """With cancellation, reassociation errors are relative to sum(|term|), not |sum|."""
    exprs, s = _mass_action(signs=True, seed=3)
    res = optimize(exprs, cost="anchor")
    env = _env(s)
    mags = evaluate([_abs_terms(e) for e in exprs], env)
    for g, w, m in zip(res.slp.evaluate(env), evaluate(exprs, env), mags, strict=True):
        assert np.all(np.abs(g - w) <= 1e-12 * np.abs(m))


def _abs_terms(e):
    from pdeflow.symbolic.functions import abs_
    from pdeflow.symbolic.interface import ADD, arguments, iscall, operation

    if iscall(e) and operation(e) is ADD:
        return sum((abs_(t) for t in arguments(e)), 0)
    return abs_(e)


def test_extraction_never_increases_cost():
    for seed in range(3):
        exprs, _ = _mass_action(n_out=8, seed=seed, signs=bool(seed % 2))
        rep = optimize(exprs, cost="anchor").report
        assert rep.cost_after <= rep.cost_before
    # and on the adversarial case where nothing helps
    rep = optimize([x + y], cost="anchor").report
    assert rep.cost_after == rep.cost_before and rep.extractor == "input"


def test_dag_extraction_counts_shared_terms_once():
    exprs = [(x * y + z) ** 3 + a, (x * y + z) ** 3 + b]
    eg = EGraph()
    roots = add_terms(eg, exprs)
    run(eg, "default", Limits(iterations=4))
    roots = [eg.find(r) for r in roots]
    tree = dag_cost(eg, roots, tree_extract(eg, roots, MODEL), MODEL)
    greedy = dag_cost(eg, roots, greedy_dag_extract(eg, roots, MODEL), MODEL)
    ilp = ilp_extract(eg, roots, MODEL)
    assert ilp is not None
    exact = dag_cost(eg, roots, ilp, MODEL)
    assert exact <= greedy + 1e-9 and exact <= tree + 1e-9


# -------------------------------------------------------------- limits
def test_iteration_limit():
    exprs, _ = _mass_action(n_out=10)
    rep = optimize(exprs, cost="anchor", limits=Limits(iterations=1)).report
    assert rep.iterations == 1 and rep.stop_reason is StopReason.ITERATION_LIMIT


def test_node_limit():
    exprs, _ = _mass_action(n_out=10)
    eg = EGraph()
    add_terms(eg, exprs)
    limit = eg.n_nodes + 50
    rep = run(eg, "default", Limits(nodes=limit, iterations=50))
    assert rep.stop_reason is StopReason.NODE_LIMIT
    # checked before every application; one application adds at most a few e-nodes here
    assert rep.n_nodes <= limit + 30


def test_time_limit_and_saturation():
    exprs, _ = _mass_action(n_out=10)
    assert optimize(exprs, limits=Limits(time=0.0)).report.stop_reason is StopReason.TIME_LIMIT
    rep = optimize([2 * x + 2 * y], cost="anchor", limits=Limits(iterations=30)).report
    assert rep.stop_reason is StopReason.SATURATED


@pytest.mark.parametrize("kw, msg", [
    ({"iterations": -1}, "The 'iterations' parameter of Limits must be an int"),
    ({"nodes": 0}, "The 'nodes' parameter of Limits"),
    ({"time": -1.0}, "The 'time' parameter of Limits must be a number"),
])
def test_limits_are_validated(kw, msg):
    with pytest.raises(ValueError, match=msg):
        Limits(**kw)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="The 'rules' parameter of optimize"):
        optimize([x], rules="nope")
    with pytest.raises(ValueError, match="The 'cost' parameter of optimize"):
        optimize([x], cost="seconds")
    with pytest.raises(ValueError, match="The 'extractor' parameter of optimize"):
        optimize([x], extractor="random")


# --------------------------------------------------------- determinism
_SCRIPT = """
import hashlib, sys
sys.path.insert(0, {tests!r})
from test_egraph import _mass_action
from pdeflow.symbolic.egraph import optimize
exprs, _ = _mass_action(signs=True, seed=5)
print(hashlib.sha256(str(optimize(exprs, cost="anchor").slp).encode()).hexdigest())
"""


def test_output_identical_across_runs_and_hash_seeds():
    import hashlib

    exprs, _ = _mass_action(signs=True, seed=5)
    one = str(optimize(exprs, cost="anchor").slp)
    assert str(optimize(exprs, cost="anchor").slp) == one
    env = dict(os.environ, PYTHONHASHSEED="12345")
    code = _SCRIPT.format(tests=os.path.dirname(__file__))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.strip()
    assert out == hashlib.sha256(one.encode()).hexdigest()


# ------------------------------------------------------- cost model
def test_calibration_is_stored_with_a_fingerprint(tmp_path, monkeypatch):
    monkeypatch.setenv("PDEFLOW_CACHE_DIR", str(tmp_path))
    assert load_cost_model().source == "anchor"
    m = calibrate(ops=["add", "div"], n=2000, repeats=2)
    assert m.source == "calibrated" and m.table["div"] > 0
    assert load_cost_model().source == "calibrated"
    path = tmp_path / "egraph_costs.json"
    data = json.loads(path.read_text())
    data["fingerprint"]["cpu"] = "another machine"
    path.write_text(json.dumps(data))
    assert load_cost_model().source == "anchor"


def test_cost_model_prices_powers_as_printed():
    assert MODEL.node_cost(("pow", 2, (0,))) == 3.0
    assert MODEL.node_cost(("pow", -1, (0,))) == 24.0
    assert MODEL.node_cost(("pow", 0.3, (0,))) == 100.0
    with pytest.raises(ValueError, match="must be a number >= 0"):
        CostModel({"add": -1.0})


# ------------------------------------------------------------ codegen
def test_compiled_program_matches(tmp_path, monkeypatch):
    monkeypatch.setenv("PDEFLOW_CACHE_DIR", str(tmp_path))
    exprs, s = _mass_action(n_out=12, signs=True)
    res = optimize(exprs, cost="anchor")
    p = sym("k")
    f = compile_slp(res.slp, s, target="python")
    fn = compile_slp(optimize([p * s[0] + p * s[1]], cost="anchor").slp, s, [p])
    yv = np.random.default_rng(0).uniform(0.1, 2.0, len(s))
    want = np.array([float(evaluate(e, dict(zip(s, yv, strict=True)))) for e in exprs])
    np.testing.assert_allclose(f(yv), want, rtol=1e-12)
    assert fn(yv, np.array([2.0]))[0] == pytest.approx(2.0 * (yv[0] + yv[1]))
    from pdeflow.symbolic.egraph.emit import slp_source

    src, nw = slp_source(res.slp, lambda t: f"y[{s.index(t)}]", chunk=7)
    assert src.count("def chunk") > 1 and nw > 0  # values cross chunks through w


# ------------------------------------------------ the no-rewriting path (small ODE systems)
def test_no_rewriting_returns_the_input_program_as_extraction_would():
    """rules="none" / 0 iterations with tree extraction skips saturation and extraction
    (one e-node per e-class: nothing to choose) and gives the program the full path gives."""
    x, y, k = symbols("x y k")
    exprs = [k * x * y / (1 + x) + sqrt(y), -k * x * y / (1 + x), exp(x) * 2]
    for rules, limits in (("none", Limits()), ("default", Limits(iterations=0))):
        fast = optimize(exprs, rules=rules, cost="anchor", extractor="tree", limits=limits)
        full = optimize(exprs, rules=rules, cost="anchor", extractor="auto", limits=limits)
        assert fast.slp == full.slp
        assert fast.report.extractor == full.report.extractor == "input"
        assert fast.report.cost_after == full.report.cost_before
        assert fast.report.iterations == full.report.iterations
        assert fast.report.stop_reason == full.report.stop_reason
        assert fast.report.applied == full.report.applied
        assert fast.report.n_classes == full.report.n_classes
    # a folded constant puts two e-nodes in one class: the extractors still run
    folded = optimize([x * (2 + 3)], rules="none", cost="anchor", extractor="tree")
    f = compile_slp(folded.slp, [x], target="python")
    assert f(np.array([1.5]))[0] == 7.5


def test_slp_function_rhs_calls_the_kernel_with_p_bound():
    """``SLPFunction.rhs(p)`` is ``f(t, y) -> new array``, the same values as ``inplace``;
    other inputs go through the checked path (conversion or a ShapeError)."""
    from pdeflow.errors import ShapeError

    x, y, k, t = symbols("x y k t")
    res = optimize([-k * x * y + t, k * x * y], rules="none", cost="anchor", extractor="tree")
    for target in ("python", "numba"):
        fn = compile_slp(res.slp, [x, y], [k], t, target=target)
        rhs = fn.rhs(np.array([2.0]))
        a = rhs(0.5, np.array([3.0, 4.0]))
        b = rhs(0.5, np.array([3.0, 4.0]))
        assert a is not b  # a new array per call (a solver may keep it)
        np.testing.assert_array_equal(a, [-23.5, 24.0])
        np.testing.assert_array_equal(a, fn.inplace(np.empty(2), np.array([3.0, 4.0]),
                                                   np.array([2.0]), 0.5))
        np.testing.assert_array_equal(rhs(1, [3, 4]), [-23.0, 24.0])  # int t, list y
        with pytest.raises(ShapeError):
            rhs(0.0, np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ShapeError):
        compile_slp(res.slp, [x, y], [k], t, target="python").rhs([1.0, 2.0])
