"""BioNetGen ``.net`` reader: parsing, symbolic mass-action ODEs, agreement with BioNetGen.

The networks live in ``shared/data/reaction_networks`` next to the checkout (override with
``PDEFLOW_DATA``, either that folder or its parent); tests that need them skip without them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from pdeflow.errors import DataError
from pdeflow.symbolic import evaluate, log, sym
from pdeflow.symbolic.reactions import (
    Reaction,
    ReactionNetwork,
    load_bngl_net,
    load_gdat,
    parse_bngl_net,
)


@pytest.fixture(scope="module")
def nets(reaction_data) -> dict[str, ReactionNetwork]:
    cache: dict[str, ReactionNetwork] = {}

    def get(name):
        if name not in cache:
            cache[name] = load_bngl_net(reaction_data(f"{name}.net"))
        return cache[name]

    return get


def _symbolic_at(net: ReactionNetwork, Y, params_as_symbols=False) -> np.ndarray:
    """The symbolic RHS evaluated at the columns of ``Y`` (shape ``(N,)`` or ``(N, K)``)."""
    Y = np.asarray(Y, dtype=float)
    subs = dict(zip(net.state_symbols(), Y, strict=True))
    if params_as_symbols:
        subs.update(net.parameter_values())
    vals = evaluate(net.rhs_terms(params_as_symbols), subs)
    return np.array([np.broadcast_to(v, Y.shape[1:]) for v in vals], dtype=float)


def _loop_reference(net: ReactionNetwork, y) -> np.ndarray:
    """Mass action written out reaction by reaction (independent of rhs_numpy)."""
    env = dict(net.parameter_values())
    env.update({sym(k): float(v) for k, v in net.observable_values(y).items()})
    out = np.zeros(len(y))
    for r in net.reactions:
        flux = float(evaluate(r.rate, env)) * np.prod([y[j] for j in r.reactants])
        for j in r.reactants:
            out[j] -= flux
        for j in r.products:
            out[j] += flux
    return out


def _worst_rel(net, Y, cols, mask=None) -> dict[str, float]:
    obs = net.observable_values(Y)
    out = {}
    for name, want in cols.items():
        want = want if mask is None else want[mask]
        big = (
            np.abs(want) > 1e-6 * np.abs(want).max() if np.any(want) else np.zeros_like(want, bool)
        )
        out[name] = float(
            np.max(np.abs(obs[name][big] - want[big]) / np.abs(want[big]), initial=0.0)
        )
    return out


# Parsing ----------------------------------------------------------------------------------
def test_bcr_counts_and_initial_observables(nets, reaction_data):
    net = nets("bcr")
    assert (len(net.species), len(net.reactions)) == (1122, 24388)
    assert len(net.parameters) == 128
    assert net.parameters["kp12a"] == pytest.approx(3 * 1e-7 / 5.0, rel=1e-15)
    assert net.parameters["_rateLaw9"] == 2 * net.parameters["p24"]
    assert net.stoichiometry.shape == (1122, 24388)
    times, cols = load_gdat(reaction_data("bcr.gdat"))
    assert list(net.observables) == list(cols)
    got = net.observable_values(net.y0)
    for name, col in cols.items():
        assert got[name] == pytest.approx(col[0], rel=1e-9, abs=1e-12), name
    assert times[0] == 0.0 and len(times) == len(cols["PAG1_Csk"])


def test_michment_structure_exactly(nets):
    net = nets("michment")
    assert net.parameters == {
        "S0": 100.0,
        "E0": 10.0,
        "kcat": 2.0,
        "Km": 40.0,
        "kRT": 2.0,
        "kTR": 1.0,
    }
    assert net.species_names == ["S(a~0,c~R)", "E()", "S(a~P,c~R)", "S(a~0,c~T)", "S(a~P,c~T)"]
    assert net.species[0].initial == 102.302255180226
    assert [(r.reactants, r.products, r.rate_expr, r.label) for r in net.reactions] == [
        ((0, 1), (2, 1), "michment", "Rule1"),
        ((0,), (3,), "kRT", "Rule2"),
        ((3, 1), (4, 1), "michment", "Rule1"),
        ((2,), (4,), "kRT", "Rule2"),
        ((3,), (0,), "kTR", "Rule2r"),
        ((4,), (2,), "kTR", "Rule2r"),
    ]
    assert net.observables == {
        "Sa0": ((0, 1), (3, 1)),
        "SaP": ((2, 1), (4, 1)),
        "ScR": ((0, 1), (2, 1)),
        "ScT": ((3, 1), (4, 1)),
        "S_tot": ((0, 1), (2, 1), (3, 1), (4, 1)),
        "E_tot": ((1, 1),),
    }
    kcat, Km, Sa0, kRT, kTR = (sym(n) for n in ("kcat", "Km", "Sa0", "kRT", "kTR"))
    assert net.functions == {"michment": kcat / (Km + Sa0)}
    assert net.reactions[0].rate is kcat / (Km + Sa0)
    s1, s2, s3, s4, s5 = net.state_symbols()
    mm = kcat / (Km + s1 + s4)
    want = [
        -mm * s1 * s2 - kRT * s1 + kTR * s4,
        0,
        mm * s1 * s2 - kRT * s3 + kTR * s5,
        -mm * s4 * s2 + kRT * s1 - kTR * s4,
        mm * s4 * s2 + kRT * s3 - kTR * s5,
    ]
    assert net.rhs_terms(params_as_symbols=True) == want
    assert net.rhs_terms()[1] == 0
    assert str(net.rhs_terms()[0]) == "-2.0*s1 + s4 - 2.0*s1*s2/(s1 + s4 + 40.0)"


def test_birth_death_structure_exactly(nets):
    net = nets("birth-death")
    assert net.parameters == {"kp1": 10.0, "km1": 0.2}
    assert net.species_names == ["A()"]
    assert net.reactions == (
        Reaction((), (0,), sym("kp1"), "kp1", "birth"),
        Reaction((0,), (), sym("km1"), "km1", "death"),
    )
    assert net.observables == {"Atot": ((0, 1),)}
    (s1,) = net.state_symbols()
    assert net.rhs_terms() == [10.0 - 0.2 * s1]
    assert net.rhs_terms(params_as_symbols=True) == [sym("kp1") - sym("km1") * s1]
    assert net.observable_terms() == {"Atot": s1}
    assert net.rhs_numpy(0.0, np.array([3.0])) == pytest.approx([10.0 - 0.6])


def test_repressilator_parameter_expressions(nets):
    net = nets("Repressilator")
    assert (len(net.species), len(net.reactions), len(net.parameters)) == (16, 30, 34)
    assert net.parameters["c6"] == np.log(2) / 120
    assert net.parameters["_rateLaw1"] == pytest.approx(1e9 / 6.022e23 / 1.4e-15 * 1e-4 / 1000)
    assert net.parameter_exprs["c6"] == "ln(2)/120"
    assert net.reactions[0].rate is 2.0 * sym("_rateLaw4")


# Symbolic RHS == numpy reference ---------------------------------------------------------
@pytest.mark.parametrize("name", ["michment", "birth-death", "Repressilator", "bcr"])
def test_symbolic_rhs_matches_numpy(nets, name):
    net = nets(name)
    rng = np.random.default_rng(0)
    y0 = net.y0
    Y = np.stack([y0, y0 + rng.uniform(0.0, 1.0, len(y0)) * (1 + np.abs(y0))], axis=1)
    ref = np.stack([net.rhs_numpy(0.0, y) for y in Y.T], axis=1)
    # rounding is relative to the size of the fluxes that cancel in each sum
    scale = np.stack([abs(net.stoichiometry) @ np.abs(net.fluxes(0.0, y)) for y in Y.T], axis=1)
    tol = 1e-12 * scale + 1e-300
    if name != "bcr":
        for y, want, tl in zip(Y.T, ref.T, tol.T, strict=True):
            assert np.all(np.abs(_loop_reference(net, y) - want) <= tl)
    for mode in (False, True) if name != "bcr" else (False,):
        err = np.abs(_symbolic_at(net, Y, params_as_symbols=mode) - ref)
        assert np.all(err <= tol), (mode, np.max(err / tol))


# Agreement with BioNetGen's trajectories --------------------------------------------------
TOL = dict(rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(
    ("name", "method"),
    [("birth-death", "LSODA"), ("birth-death", "BDF"), ("Repressilator", "LSODA")],
)
def test_trajectory_matches_gdat(nets, reaction_data, name, method):
    net = nets(name)
    t, cols = load_gdat(reaction_data(f"{name}.gdat"))
    sol = solve_ivp(net.rhs_numpy, (t[0], t[-1]), net.y0, method=method, t_eval=t, **TOL)
    assert sol.success
    worst = _worst_rel(net, sol.y, cols)
    assert max(worst.values()) <= 1e-3, worst  # measured: below 2e-7


def test_michment_trajectory_matches_gdat(nets, reaction_data):
    """michment.gdat is a two-phase protocol: S0=100, E0=10 from t=0 to 10, then 100 more
    S(a~0,c~R) is added; the .net file stores the state right after that addition."""
    net = nets("michment")
    t, cols = load_gdat(reaction_data("michment.gdat"))
    start = np.zeros(5)
    start[0], start[1] = net.parameters["S0"], net.parameters["E0"]
    first, second = t <= 10.0, t > 10.0
    a = solve_ivp(net.rhs_numpy, (0.0, 10.0), start, method="LSODA", t_eval=t[first], **TOL)
    b = solve_ivp(net.rhs_numpy, (10.0, t[-1]), net.y0, method="LSODA", t_eval=t[second], **TOL)
    assert a.success and b.success
    np.testing.assert_allclose(a.y[:, -1] + [100, 0, 0, 0, 0], net.y0, rtol=1e-5)
    worst = _worst_rel(net, np.hstack([a.y, b.y]), cols)
    assert max(worst.values()) <= 1e-3, worst  # measured: 3e-7


# Small inline networks --------------------------------------------------------------------
def _net(reactions: str, species="1 A() 10\n2 B() 0", params="1 k 2.0", groups="", extra=""):
    return parse_bngl_net(
        f"begin parameters\n{params}\nend parameters\n{extra}"
        f"begin species\n{species}\nend species\n"
        f"begin reactions\n{reactions}\nend reactions\n"
        f"begin groups\n{groups}\nend groups\n"
    )


def test_dimerization_rate_has_no_extra_factor():
    net = _net("1 1,1 2 k")
    a, b = net.state_symbols()
    assert net.rhs_terms() == [-4.0 * a**2, 2.0 * a**2]
    assert net.rhs_numpy(0.0, np.array([3.0, 0.0])) == pytest.approx([-36.0, 18.0])


def test_weighted_observables_and_expressions():
    net = _net(
        "1 1 2 k2",
        params="1 k 2.0\n2 k2 -k^2/sqrt(16)*exp(0)+log10(100)",
        groups="1 Total 1,2*2\n2 Nothing",
    )
    assert net.parameters["k2"] == pytest.approx(1.0)
    assert net.observables == {"Total": ((0, 1), (1, 2)), "Nothing": ()}
    a, b = net.state_symbols()
    assert net.observable_terms()["Total"] == a + 2 * b
    assert net.observable_values(np.array([1.0, 3.0]))["Total"] == 7.0


def test_initial_amount_expression_and_fixed_species():
    net = _net("1 1 2 k", species="1 $A() 2*k\n2 B() k+1")
    assert net.y0.tolist() == [4.0, 3.0]
    assert net.species[0].fixed and net.species[0].name == "A()"
    assert net.species[1].initial_expr == "k+1"
    a, _ = net.state_symbols()
    assert net.rhs_terms() == [0, 2.0 * a]
    assert net.rhs_numpy(0.0, net.y0).tolist() == [0.0, 8.0]


def test_state_symbols_avoid_parameter_names():
    net = _net("1 1 2 s1", params="1 s1 3")
    assert [s.name for s in net.state_symbols()] == ["s_1", "s_2"]
    assert net.rhs_terms() == [-3.0 * sym("s_1"), 3.0 * sym("s_1")]


def test_functions_use_observables_and_earlier_functions():
    net = _net(
        "1 1 2 g",
        groups="1 Atot 1",
        extra="begin functions\n1 f() k/(1+Atot)\n2 g() 2*f()\nend functions\n",
    )
    k, atot = sym("k"), sym("Atot")
    assert net.functions["g"] == 2.0 * k / (1.0 + atot)
    y = np.array([3.0, 0.0])
    assert net.rhs_numpy(0.0, y) == pytest.approx([-3.0, 3.0])  # 2*2/(1+3)*3
    assert _symbolic_at(net, y) == pytest.approx([-3.0, 3.0])


def test_repr_is_short():
    assert repr(_net("1 1 2 k")) == (
        "ReactionNetwork('<string>': 2 species, 1 reactions, 1 parameters, 0 observables)"
    )


def test_natural_log_helpers():
    net = _net("1 1 2 k", params="1 k ln(2)")
    assert net.parameters["k"] == float(log(2.0).value)


# Bad input -------------------------------------------------------------------------------
def _write(tmp_path, text: str) -> Path:
    p = tmp_path / "bad.net"
    p.write_text(text)
    return p


GOOD = """# header
begin parameters
    1 k 2.0
end parameters
begin species
    1 A() 1
end species
begin reactions
    1 1 0 k
end reactions
"""


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ("    1 1 0 k", "    1 1 0", 9, "index reactants products rate"),
        ("    1 1 0 k", "    1 1 0 kk", 9, "unknown name 'kk'"),
        ("    1 1 0 k", "    1 2 0 k", 9, "species 2, but there are 1"),
        ("    1 1 0 k", "    1 x 0 k", 9, "species indices"),
        ("    1 1 0 k", "    2 1 0 k", 9, "out of sequence"),
        ("    1 k 2.0", "    1 k 2*q", 3, "unknown parameter 'q'"),
        ("    1 k 2.0", "    1 k 2 +", 3, "cannot parse"),
        ("    1 k 2.0", "    1 k __import__('os').getcwd()", 3, "unsupported"),
        ("    1 k 2.0", "    1 k 1/0", 3, "evaluates to inf"),
        ("    1 A() 1", "    1 A()", 6, "index name initial_amount"),
        ("end species", "", 8, "'begin' inside the block 'species'"),
        ("# header", "stray words", 1, "outside a begin/end block"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, old, new, line, words):
    path = _write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(DataError) as e:
        load_bngl_net(path)
    msg = str(e.value)
    assert str(path) in msg and f"line {line}:" in msg and words in msg, msg


def test_good_template_loads(tmp_path):
    net = load_bngl_net(_write(tmp_path, GOOD))
    assert net.rhs_terms() == [-2.0 * net.state_symbols()[0]]


def test_unclosed_block(tmp_path):
    with pytest.raises(DataError, match=r"bad\.net: the block 'reactions' opened on line 8"):
        load_bngl_net(_write(tmp_path, GOOD.replace("end reactions\n", "")))


def test_missing_files(tmp_path):
    with pytest.raises(DataError, match="no such BioNetGen .net file"):
        load_bngl_net(tmp_path / "nope.net")
    with pytest.raises(DataError, match="no such BioNetGen .gdat file"):
        load_gdat(tmp_path / "nope.gdat")


def test_bad_gdat(tmp_path):
    p = tmp_path / "x.gdat"
    p.write_text("time A B\n0 1 2\n1 2\n")
    with pytest.raises(DataError, match=r"x\.gdat"):
        load_gdat(p)
    p.write_text("# time A\n0 1\n1 2\n")
    t, cols = load_gdat(p)
    assert t.tolist() == [0.0, 1.0] and cols["A"].tolist() == [1.0, 2.0]


# BioNetGen features, each in a small file of tests/data (issue #28, items 2, 8, 9) -------------
# Each file runs through pdeflow (parse -> compiled ODEProblem -> solve) and its observables are
# compared with scipy's solve_ivp at rtol 1e-10 on the same equations written out by hand here.
DATA = Path(__file__).resolve().parents[1] / "data"
T_EVAL = np.linspace(0.0, 6.0, 61)
REF_TOL = dict(rtol=1e-10, atol=1e-12)


def _reference(f, y0, t_eval=T_EVAL):
    sol = solve_ivp(f, (t_eval[0], t_eval[-1]), np.asarray(y0, float), method="DOP853",
                    t_eval=t_eval, **REF_TOL)
    assert sol.success
    return sol.y


def _pdeflow_observables(name, target="numpy", t_eval=T_EVAL):
    from pdeflow.solvers.ode import ODEProblem, solve

    net = load_bngl_net(DATA / name)
    prob = ODEProblem.from_reaction_network(net, (t_eval[0], t_eval[-1]), target=target)
    sol = solve(prob, method="BDF", rtol=1e-10, atol=1e-12, t_eval=t_eval)
    return net, net.observable_values(sol.y.T)


def _assert_observables(got: dict, want: dict, rtol=1e-7):
    assert list(got) == list(want)
    for name, w in want.items():
        scale = max(np.abs(w).max(), 1e-12)
        err = np.abs(got[name] - w).max() / scale
        assert err <= rtol, (name, err)


def test_fixed_species_with_compartment_prefix_stays_fixed():
    """Item 2: '@EC::$Source()' is fixed (a '$' anywhere in the name, as run_network reads it)."""
    net, obs = _pdeflow_observables("fixed_compartment.net")
    assert [s.fixed for s in net.species] == [True, False, False]
    assert net.species[0].name == "@EC::Source()"
    p = net.parameters
    src = p["S0"]

    def f(t, y):
        a, b = y
        return [p["kprod"] * src - p["kdeg"] * a - p["kbind"] * src * a, p["kbind"] * src * a]

    a, b = _reference(f, [0.0, 1.0])
    _assert_observables(obs, {"Src": np.full_like(a, src), "Atot": a, "Btot": b})


def test_header_directives_are_accepted_and_recorded():
    """Item 8: version(...), substanceUnits(...) and setOption(...) outside the blocks."""
    net, obs = _pdeflow_observables("header_directives.net")
    assert net.version == "2.2.3"
    assert net.substance_units == "Number"
    assert net.options == {"SpeciesLabel": "HNauty"}
    assert [d for d, _ in net.directives] == ["version", "setOption", "substanceUnits"]
    kf, kr = net.parameters["kf"], net.parameters["kr"]
    a, b = _reference(lambda t, y: [-kf * y[0] + kr * y[1], kf * y[0] - kr * y[1]], [10.0, 0.0])
    _assert_observables(obs, {"Atot": a, "Btot": b})


def test_observable_named_like_a_parameter():
    """Item 9: in expressions the shared name is the parameter; the observable is reported."""
    net, obs = _pdeflow_observables("observable_shadows_parameter.net")
    assert net.parameters["Atot"] == 5.0 and net.observables["Atot"] == ((0, 1),)
    kf, katot, kb = net.parameters["kf"], net.parameters["Atot"], net.parameters["kb"]

    def f(t, y):
        a, b = y
        flux = kf * katot / (katot + b) * a - kb * b
        return [-flux, flux]

    a, b = _reference(f, [4.0, 1.0])
    _assert_observables(obs, {"Atot": a, "Btot": b})


def test_sat_rate_law():
    """Item 9: Sat k K1..Km = k * prod r_i/(K_i + r_i) * remaining reactants; Sat k alone is
    zeroth order; the spaced and the call form and a statistical factor."""
    net, obs = _pdeflow_observables("sat_rate_law.net")
    assert [r.law for r in net.reactions] == ["Sat"] * 4
    p = net.parameters

    def f(t, y):
        e, s, pr = y
        cat = p["kcat"] * s / (p["Km"] + s) * e
        rec = p["kr"] * pr / (p["Kr"] + pr)
        loss = 2 * p["kd"] * e / (p["Kd"] + e)
        return [-loss, -cat + rec + p["k0"], cat - rec]

    e, s, pr = _reference(f, [1.0, 10.0, 0.0])
    _assert_observables(obs, {"Etot": e, "Stot": s, "Ptot": pr})


def test_mm_and_hill_rate_laws():
    net, obs = _pdeflow_observables("mm_hill_rate_laws.net")
    assert [r.law for r in net.reactions] == ["MM", "Hill"]
    p = net.parameters

    def f(t, y):
        s, e, pr, x = y
        b = s - p["Km"] - e
        free = 0.5 * (b + np.sqrt(b * b + 4 * s * p["Km"]))
        mm = p["kcat"] * e * free / (p["Km"] + free)
        hill = p["vmax"] * pr ** p["nH"] / (p["K"] ** p["nH"] + pr ** p["nH"]) * x
        return [-mm + hill, 0.0, mm - hill, 0.0]

    s, _, pr, _ = _reference(f, [8.0, 2.0, 0.0, 1.0])
    _assert_observables(obs, {"Stot": s, "Ptot": pr})


@pytest.mark.parametrize("target", ["auto", "numpy", "numba"])
def test_functions_with_if_min_max_and_time(target):
    """Item 9: if(), comparisons, && ||, min/max of several arguments, time()."""
    net, obs = _pdeflow_observables("functions_if_min_max_time.net", target)
    assert not net.autonomous and net.time_name == "t"
    p = net.parameters

    def f(t, y):
        a, b = y
        pulse = 1.0 if p["ton"] <= t < p["toff"] else 0.0
        src = min(p["kmax"], p["k1"] * (1 + t)) + 2 * pulse
        decay = max(p["kmin"], p["k1"] - 0.2 * t, 0.05)
        sw = 0.3 if (b > 1 or a < 0.5) else 0.1
        return [src - decay * a, decay * a - sw * b]

    # the rates jump at t = 2, 4 and where B crosses 1: solve the reference piecewise in t
    # and let both solvers resolve the state switch with their step control
    ref = np.hstack([_reference(f, [1.0, 0.0], T_EVAL[T_EVAL <= 2.0])])
    y = ref[:, -1]
    for lo, hi in ((2.0, 4.0), (4.0, 6.0)):
        seg = T_EVAL[(T_EVAL >= lo) & (T_EVAL <= hi)]
        part = _reference(f, y, seg)
        ref = np.hstack([ref, part[:, 1:]])
        y = part[:, -1]
    _assert_observables(obs, {"Atot": ref[0], "Btot": ref[1]}, rtol=1e-5)


def test_local_functions_with_arguments():
    """Item 9: functions with arguments (BioNetGen's local functions), called from functions."""
    net, obs = _pdeflow_observables("local_functions.net")
    k, big_k = net.parameters["k"], net.parameters["K"]

    def hill(x):
        return x**2 / (big_k**2 + x**2)

    def f(t, y):
        a, b = y
        flux = k * hill(a) * 0.5 * a - k * hill(3.0) * b
        return [-flux, flux]

    a, b = _reference(f, [3.0, 0.5])
    _assert_observables(obs, {"Atot": a, "Btot": b})


@pytest.mark.parametrize(
    ("block", "line", "words"),
    [
        ("begin functions\n1 f(x) Atot(x)\nend functions", 9, "local observable"),
        ("begin functions\n1 f(x,y) x*y\n2 g() f(1)\nend functions", 10, "takes 2 argument"),
        ("begin functions\n1 f() if(Atot>1,2)\nend functions", 9, "if() takes 3"),
        ("begin functions\n1 f(x) 2*x\n2 g() f\nend functions", 10, "call it as f(...)"),
        ("begin functions\n1 time() 2\nend functions", 9, "reserved"),
    ],
)
def test_function_errors_name_the_line(tmp_path, block, line, words):
    text = GOOD.replace("begin reactions", block + "\nbegin groups\n1 Atot 1\nend groups\n"
                        "begin reactions")
    # the functions block starts on GOOD's line 8, its first function is on line 9
    path = _write(tmp_path, text)
    with pytest.raises(DataError) as e:
        load_bngl_net(path)
    msg = str(e.value)
    assert f"line {line}:" in msg and words in msg, msg


@pytest.mark.parametrize(
    ("rate", "words"),
    [
        ("Sat k k k", "Sat takes 1 to 2 constants here, got 3"),
        ("MM k", "MM takes 2 constants here, got 1"),
        ("Hill(k,k)", "Hill takes 3 constants here, got 2"),
        ("Sat kk", "unknown name 'kk'"),
    ],
)
def test_rate_law_errors_name_the_line(tmp_path, rate, words):
    path = _write(tmp_path, GOOD.replace("    1 1 0 k", f"    1 1 0 {rate}"))
    with pytest.raises(DataError) as e:
        load_bngl_net(path)
    msg = str(e.value)
    assert "line 9:" in msg and words in msg, msg


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ('simulate_ode({t_end=>10})', "only the directives version, substanceUnits, setOption"),
        ("version(2.2)", "must be quoted strings"),
    ],
)
def test_unknown_header_text_is_refused(tmp_path, header, words):
    path = _write(tmp_path, GOOD.replace("# header", header))
    with pytest.raises(DataError) as e:
        load_bngl_net(path)
    msg = str(e.value)
    assert "line 1:" in msg and words in msg, msg


def test_parameter_expressions_with_if_min_max_fold_to_numbers():
    net = _net("1 1 2 k2", params="1 k 2.0\n2 k2 if(k>1&&!(k>5),3,4)\n3 k3 min(k,1,0.5)+max(1,k)"
               "\n4 k4 log2(8)+abs(-1)")
    assert net.parameters["k2"] == 3.0 and net.parameters["k3"] == 2.5
    assert net.parameters["k4"] == pytest.approx(4.0, rel=1e-15)


def test_time_symbol_avoids_a_parameter_named_t():
    net = _net("1 0 1 f", params="1 t 3.0",
               extra="begin functions\n1 f() t*time()\nend functions\n")
    assert net.time_name == "t_" and not net.autonomous
    # d[A]/dt = t * time: at time 2 with the parameter t = 3, 6
    assert net.rhs_numpy(2.0, net.y0)[0] == pytest.approx(6.0)
    assert net.rhs_terms(params_as_symbols=True)[0] == sym("t") * sym("t_")


@pytest.mark.parametrize("text, value", [
    ("10", 10.0), ("1.5", 1.5), ("1e-3", 1e-3), (".5", 0.5), ("5.", 5.0), ("2E+2", 200.0),
    ("00", 0.0), ("0.25", 0.25), ("k1", 3.0), ("2*k1", 6.0), ("k1^2", 9.0), ("_pi", np.pi),
])
def test_plain_numbers_and_names_read_as_the_parser_reads_them(text, value):
    """A value that is one number or one name skips the expression parser: same values."""
    net = parse_bngl_net(
        f"begin parameters\n 1 k1 3.0\n 2 v {text}\nend parameters\n"
        "begin species\n 1 A() 1\nend species\n")
    assert net.parameters["v"] == value


@pytest.mark.parametrize("text", ["007", "if", "None", "1.2.3", "k1 k1"])
def test_not_numbers_nor_names_are_still_refused(text):
    with pytest.raises(DataError, match="line 3"):
        parse_bngl_net(f"begin parameters\n 1 k1 3.0\n 2 v {text}\nend parameters\n"
                       "begin species\n 1 A() 1\nend species\n")
