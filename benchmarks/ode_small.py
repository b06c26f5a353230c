"""Small reaction networks end to end: pdeflow against scipy's LSODA (issue #28, item 10).

Goal: a small network (1-16 species) from its ``.net`` file to its observables, compile
included, within 1.5x of scipy's LSODA.

Per case, each candidate starts from the file and ends with the observables at ``t_eval``
(rtol 1e-6, atol 1e-9 for all):

* **pdeflow**: ``load_bngl_net`` + ``ODEProblem.from_reaction_network(net, tspan)`` +
  ``solve(prob, t_eval=..., dense_output=False)``, all defaults: a small network gets
  generated numpy code (no JIT) and no compiled Jacobian, and ``"auto"`` takes LSODA through
  one ``odeint`` call;
* **scipy LSODA, hand RHS** (the goal's peer): ``solve_ivp(method="LSODA")`` on the same
  equations written by hand in Python (no parsing: the equations are given);
* **scipy LSODA, rhs_numpy**: ``load_bngl_net`` + ``solve_ivp(net.rhs_numpy, "LSODA")``, the
  vectorized numpy mass action a scipy user gets from the parsed network;
* **scipy odeint, hand RHS** (information): LSODA without ``solve_ivp``'s Python layer per step;
* **pdeflow numba** (information): the same pipeline with ``target="numba"``.

Samples are interleaved (harness), with no warm-up: the code cache is a fresh temporary
folder, so the first sample of each pdeflow candidate is a cold compile (reported as
``first``) and the median is what every later solve of the same network costs.

Run::

    .venv/bin/python benchmarks/ode_small.py               # 7 samples per candidate
    .venv/bin/python benchmarks/ode_small.py --repeats 11
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

# a fresh code cache: the first sample really generates (and, for numba, compiles) the code
os.environ.setdefault("PDEFLOW_CACHE_DIR", tempfile.mkdtemp(prefix="pdeflow-ode-small-cache-"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _harness import compare, machine_info, write_results  # noqa: E402
from scipy.integrate import odeint, solve_ivp  # noqa: E402

from pdeflow.solvers.ode import ODEProblem, solve  # noqa: E402
from pdeflow.symbolic.reactions import load_bngl_net  # noqa: E402

RTOL, ATOL = 1e-6, 1e-9
ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests" / "data"
GOAL = 1.5  # pdeflow at most this many times slower than LSODA on the hand-written RHS


def _shared_data() -> Path:
    env = os.environ.get("PDEFLOW_DATA")
    for base in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "data",
                                                Path("/work/shared/data")]:
        for cand in (base / "reaction_networks", base):
            if (cand / "michment.net").exists():
                return cand
    raise SystemExit("reaction network data not found; set PDEFLOW_DATA")


# ---------------------------------------------------------------- hand-written RHS
def hand_birth_death(p):
    kp1, km1 = p["kp1"], p["km1"]
    return lambda t, y: [kp1 - km1 * y[0]]


def hand_michment(p):
    kcat, km, krt, ktr = p["kcat"], p["Km"], p["kRT"], p["kTR"]

    def f(t, y):
        s1, s2, s3, s4, s5 = y
        mm = kcat / (km + s1 + s4)
        return [-mm * s1 * s2 - krt * s1 + ktr * s4, 0.0, mm * s1 * s2 - krt * s3 + ktr * s5,
                -mm * s4 * s2 + krt * s1 - ktr * s4, mm * s4 * s2 + krt * s3 - ktr * s5]

    return f


def hand_fixed_compartment(p):
    src, kprod, kdeg, kbind = p["S0"], p["kprod"], p["kdeg"], p["kbind"]

    def f(t, y):
        a = y[1]
        return [0.0, kprod * src - kdeg * a - kbind * src * a, kbind * src * a]

    return f


def hand_sat(p):
    def f(t, y):
        e, s, pr = y
        cat = p["kcat"] * s / (p["Km"] + s) * e
        rec = p["kr"] * pr / (p["Kr"] + pr)
        loss = 2 * p["kd"] * e / (p["Kd"] + e)
        return [-loss, -cat + rec + p["k0"], cat - rec]

    return f


def hand_mm_hill(p):
    kcat, km, vmax, big_k, nh = p["kcat"], p["Km"], p["vmax"], p["K"], p["nH"]

    def f(t, y):
        s, e, pr, x = y
        b = s - km - e
        free = 0.5 * (b + (b * b + 4 * s * km) ** 0.5)
        mm = kcat * e * free / (km + free)
        hill = vmax * pr**nh / (big_k**nh + pr**nh) * x
        return [-mm + hill, 0.0, mm - hill, 0.0]

    return f


def hand_local_functions(p):
    k, big_k = p["k"], p["K"]
    back = k * 9.0 / (big_k**2 + 9.0)

    def f(t, y):
        a, b = y
        flux = k * a**2 / (big_k**2 + a**2) * 0.5 * a - back * b
        return [-flux, flux]

    return f


CASCADE_N = 9  # A1..A9 plus the enzyme E: 10 species


def cascade_net_text() -> str:
    """A 10-species cascade: 0 -> A1; A_i + E -> A_{i+1} + E; A_{i+1} -> A_i; 2 A9 -> 0."""
    params = ["1 ks 1.0", "2 kf 50.0", "3 kr 0.5", "4 kd 0.01"]
    species = ["1 E() 0.2"] + [f"{i + 1} A{i}() {1.0 if i == 1 else 0.0}"
                                for i in range(1, CASCADE_N + 1)]
    rx = ["1 0 2 ks #Source"]
    for i in range(1, CASCADE_N):
        a, b = i + 1, i + 2  # species index of A_i, A_{i+1}
        rx.append(f"{len(rx) + 1} {a},1 {b},1 kf #Forward")
        rx.append(f"{len(rx) + 1} {b} {a} kr #Back")
    last = CASCADE_N + 1
    rx.append(f"{len(rx) + 1} {last},{last} 0 kd #Dimer")
    groups = [f"1 Atot {','.join(str(i + 1) for i in range(1, CASCADE_N + 1))}",
              f"2 Alast {last}"]
    block = "\n".join
    return (f"begin parameters\n{block(params)}\nend parameters\n"
            f"begin species\n{block(species)}\nend species\n"
            f"begin reactions\n{block(rx)}\nend reactions\n"
            f"begin groups\n{block(groups)}\nend groups\n")


def hand_cascade(p):
    ks, kf, kr, kd = p["ks"], p["kf"], p["kr"], p["kd"]
    n = CASCADE_N

    def f(t, y):
        e = y[0]
        a = y[1:]
        d = [0.0] * (n + 1)
        d[1] += ks
        for i in range(n - 1):
            fwd = kf * a[i] * e - kr * a[i + 1]
            d[1 + i] -= fwd
            d[2 + i] += fwd
        d[n] -= 2 * kd * a[n - 1] * a[n - 1]
        return d

    return f


# -------------------------------------------------------------------------- cases
def cases(data: Path, tmp: Path):
    cascade = tmp / "cascade10.net"
    cascade.write_text(cascade_net_text())
    return [
        ("birth-death (1 species)", data / "birth-death.net", (0.0, 50.0), hand_birth_death),
        ("fixed_compartment (3)", TESTS / "fixed_compartment.net", (0.0, 6.0),
         hand_fixed_compartment),
        ("sat_rate_law (3)", TESTS / "sat_rate_law.net", (0.0, 6.0), hand_sat),
        ("mm_hill_rate_laws (4)", TESTS / "mm_hill_rate_laws.net", (0.0, 6.0), hand_mm_hill),
        ("local_functions (2)", TESTS / "local_functions.net", (0.0, 6.0), hand_local_functions),
        ("michment (5)", data / "michment.net", (0.0, 20.0), hand_michment),
        ("cascade (10)", cascade, (0.0, 50.0), hand_cascade),
        ("Repressilator (16)", data / "Repressilator.net", (0.0, 40000.0), None),
    ]


def run_case(name, path, tspan, hand, repeats):
    t_eval = np.linspace(tspan[0], tspan[1], 101)
    ref_net = load_bngl_net(path)
    W = ref_net.observable_matrix.toarray()
    y0 = ref_net.y0

    def pdeflow_target(target):
        def run():
            net = load_bngl_net(path)
            prob = ODEProblem.from_reaction_network(net, tspan, target=target)
            sol = solve(prob, rtol=RTOL, atol=ATOL, t_eval=t_eval, dense_output=False)
            return W @ sol.y.T

        return run

    def scipy_numpy():
        net = load_bngl_net(path)
        r = solve_ivp(net.rhs_numpy, tspan, net.y0, method="LSODA", rtol=RTOL, atol=ATOL,
                      t_eval=t_eval)
        return W @ r.y

    peers = {}
    if hand is not None:
        f = hand(ref_net.parameters)

        def scipy_hand():
            r = solve_ivp(f, tspan, y0, method="LSODA", rtol=RTOL, atol=ATOL, t_eval=t_eval)
            return W @ r.y

        def odeint_hand():
            return W @ odeint(f, y0, t_eval, rtol=RTOL, atol=ATOL, tfirst=True,
                              mxstep=500_000).T

        peers["scipy LSODA, hand RHS"] = scipy_hand
    peers["scipy LSODA, rhs_numpy"] = scipy_numpy
    if hand is not None:
        peers["scipy odeint, hand RHS"] = odeint_hand
    peers["pdeflow numba"] = pdeflow_target("numba")

    def check(a, b):
        scale = np.maximum(np.abs(b).max(axis=1, keepdims=True), 1e-12)
        err = float(np.max(np.abs(a - b) / scale))
        assert err < 1e-3, f"observables differ by {err:.2e} (relative to each one's max)"

    r = compare(f"{name}: file -> observables", pdeflow_target("auto"), peers,
                repeats=repeats, warmup=0, check=check,
                meta={"species": len(y0), "tspan": tspan, "rtol": RTOL, "atol": ATOL})
    first = {k: t.samples[0] for k, t in r.timings.items()}
    print("   first (cold) sample: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in first.items()),
          flush=True)
    goal_peer = "scipy LSODA, hand RHS" if hand is not None else "scipy LSODA, rhs_numpy"
    slowdown = 1.0 / r.ratio(goal_peer)
    return r, {"case": name, "peer": goal_peer, "slowdown": slowdown, "first_s": first}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    info = machine_info()
    print(f"machine: {info.get('cpu')}, load average {os.getloadavg()}", flush=True)
    data = _shared_data()
    results, goals = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, path, tspan, hand in cases(data, Path(tmp)):
            r, g = run_case(name, path, tspan, hand, args.repeats)
            results.append(r)
            goals.append(g)
    print("\n=== summary: pdeflow (defaults) median / peer median, end to end")
    for g in goals:
        ok = g["slowdown"] <= GOAL
        print(f"{'PASS' if ok else 'MISS'}  {g['case']}: {g['slowdown']:.2f}x the time of "
              f"{g['peer']} (goal <= {GOAL}x)")
        g["pass"] = ok
    write_results("ode_small", {"cases": results, "goals": goals,
                                "load_average": os.getloadavg()})


if __name__ == "__main__":
    main()
