"""Families from user numpy code (issue #20, item 2): ``families.from_rhs``.

A Gray-Scott RHS written in plain numpy (np.roll stencils) becomes a family; its samples
equal ``scipy.integrate.solve_ivp`` on the same code to the solver tolerance; it runs
through the CLI with ``--family file.py:obj`` (SIGINT, resume, verify) and ``pdeflow train``;
code that branches on data raises TracingError when the family is built."""

from __future__ import annotations

import json
import os
import pickle
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from pdeflow.datagen import families, generate, verify
from pdeflow.datagen.samplers import GRFSampler, UniformNoise
from pdeflow.errors import ConfigError, ShapeError, TracingError

PDEFLOW = str(Path(sys.executable).parent / "pdeflow")

GRAY_SCOTT = '''
import numpy as np
from pdeflow.datagen.families import from_rhs

N = {n}


def lap(a):
    return np.roll(a, 1, 0) + np.roll(a, -1, 0) + np.roll(a, 1, 1) + np.roll(a, -1, 1) - 4 * a


def gray_scott(t, y, p):
    u, v = y[0], y[1]
    uvv = u * v * v
    return np.stack([p["Du"] * lap(u) - uvv + p["F"] * (1 - u),
                     p["Dv"] * lap(v) + uvv - (p["F"] + p["k"]) * v])


def seeds(rng):
    y = np.zeros((2, N, N))
    y[0] = 1.0
    for _ in range(3):
        i, j = rng.integers(0, N - 6, 2)
        y[0, i:i + 6, j:j + 6] = 0.5
        y[1, i:i + 6, j:j + 6] = 0.25
    return y + 0.01 * rng.random(y.shape)


gs = from_rhs("gray-scott", gray_scott, state_shape=(2, N, N), components=("u", "v"),
              initial=seeds, params={{"Du": 0.16, "Dv": 0.08, "F": (0.03, 0.04), "k": 0.06}},
              times=np.linspace({t1} / {nt}, {t1}, {nt}), rtol=1e-6, atol=1e-9)
'''


def _write(folder: Path, n: int = 16, t1: float = 40.0, nt: int = 4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "gray_scott.py"
    path.write_text(GRAY_SCOTT.format(n=n, t1=t1, nt=nt))
    return path


def _module(path: Path):
    fam = families.load(f"{path}:gs")
    return fam, sys.modules[type(fam).__module__].gray_scott


@pytest.mark.parametrize("method", ["auto", "BDF"])
def test_from_rhs_equals_solve_ivp_on_the_same_code(tmp_path, method):
    fam, rhs = _module(_write(tmp_path, n=16))
    fam = families.get(f"{tmp_path / 'gray_scott.py'}:gs", method=method)
    res = fam.solve([0, 1, 2])
    assert res.fields["v"].shape == (3, 4, 16, 16) and res.fields["y0"].shape == (3, 2, 16, 16)
    assert fam.param_names() == ("F",) and res.params["F"].shape == (3,)
    assert res.method == ("rk45" if method == "auto" else "BDF")
    for j in range(3):
        p = {"Du": 0.16, "Dv": 0.08, "F": float(res.params["F"][j]), "k": 0.06}
        y0 = res.fields["y0"][j]
        ref = solve_ivp(lambda t, y, p=p: rhs(t, y.reshape(2, 16, 16), p).ravel(), (0.0, 40.0),
                        y0.ravel(), method="DOP853", t_eval=fam.spec.times, rtol=1e-11,
                        atol=1e-13)
        assert ref.success
        ref_u, ref_v = ref.y.T.reshape(4, 2, 16, 16).transpose(1, 0, 2, 3)
        # to the solver tolerance (rtol 1e-6, atol 1e-9 over 40 time units)
        np.testing.assert_allclose(res.fields["u"][j], ref_u, rtol=0, atol=2e-5)
        np.testing.assert_allclose(res.fields["v"][j], ref_v, rtol=0, atol=2e-5)
    assert np.ptp(res.params["F"]) > 0  # drawn per sample, inside the range
    assert ((res.params["F"] >= 0.03) & (res.params["F"] <= 0.04)).all()


def heat(du, u, p, t):  # in-place form, a spatially varying parameter
    du[:] = p["kappa"] * (np.roll(u, 1) - 2 * u + np.roll(u, -1)) - p["c"] * u


def test_inplace_form_field_params_and_samplers_and_pickling():
    fam = families.from_rhs(
        "heat-1d-test", heat, state_shape=(32,), initial=GRFSampler(alpha=2.0, tau=5.0),
        params={"kappa": UniformNoise(0.1, 0.2), "c": 0.5}, times=[0.5, 1.0], seed=3)
    assert [n for n, f in fam.fields().items() if f.role == "input"] == ["u0", "kappa"]
    a = fam.solve([0, 5])
    b = pickle.loads(pickle.dumps(fam)).solve([5])
    np.testing.assert_array_equal(a.fields["u"][1], b.fields["u"][0])  # any order, any process
    s = fam.sample(5)
    kappa, u0 = s["kappa"], s["u0"]
    assert 0.1 <= kappa.min() and kappa.max() <= 0.2
    ref = solve_ivp(lambda t, u: kappa * (np.roll(u, 1) - 2 * u + np.roll(u, -1)) - 0.5 * u,
                    (0, 1), u0, t_eval=[0.5, 1.0], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(b.fields["u"][0], ref.y.T, atol=1e-6)


def test_branching_on_data_raises_tracing_error_at_construction():
    def bad(t, u, p):
        if u[0] > 0:  # data-dependent: cannot be traced
            return -u
        return u

    with pytest.raises(TracingError, match="np.where"):
        families.from_rhs("bad", bad, state_shape=(8,), initial=lambda rng: rng.random(8),
                          times=[1.0])


def test_bad_input_gives_one_line_errors():
    def rhs(t, u, p):
        return -u

    ok = {"state_shape": (8,), "initial": lambda rng: rng.random(8), "times": [1.0]}
    for bad, match in [
        ({"times": [1.0, 0.5]}, "'times' must be"),
        ({"params": {"k": (2.0, 1.0)}}, "parameter 'k'"),
        ({"params": {"bad name": 1.0}}, "identifiers"),
        ({"method": "euler"}, "'method' option"),
        ({"state_shape": "x"}, "'state_shape'"),
    ]:
        with pytest.raises(ConfigError, match=match) as info:
            families.from_rhs("f", rhs, **{**ok, **bad})
        assert "\n" not in str(info.value)
    with pytest.raises(ShapeError, match="returned 4 values"):
        families.from_rhs("f", lambda t, u, p: u[:4], **ok)
    fam = families.from_rhs("f", rhs, **{**ok, "initial": lambda rng: rng.random(7)})
    with pytest.raises(ShapeError, match="expected \\(8,\\)"):
        fam.sample(0)
    with pytest.raises(ConfigError, match="fixed state shape"):
        families.from_rhs("f", rhs, **ok, resolution=16)


def test_generate_and_verify_in_process(tmp_path):
    path = _write(tmp_path / "code", n=16)
    out = tmp_path / "gs.h5"
    summary = generate(family=f"{path}:gs", n=4, out=out, workers=1, executor="processes",
                       progress_mode="off")
    assert summary is not None
    assert verify(out).ok
    with h5py.File(out, "r") as f:
        assert f.attrs["family"] == "gray-scott"
        assert f["fields"]["v"].shape == (4, 4, 16, 16)
        assert json.loads(f.attrs["family_options"])["method"] == "auto"


def _env() -> dict[str, str]:
    return {**os.environ, "PDEFLOW_PROGRESS": "plain", "OMP_NUM_THREADS": "1",
            "PDEFLOW_LOG_LEVEL": "INFO"}


def _done(path: Path) -> int:
    try:
        with h5py.File(path, "r", locking=False) as f:
            return int(f["done"][...].sum()) if "done" in f else 0
    except (OSError, KeyError):
        return 0


def test_cli_generate_sigint_resume_verify_and_train(tmp_path):
    """The acceptance path of the notebook, end to end through the CLI."""
    _write(tmp_path / "code", n=16, t1=400.0, nt=4)
    out, n = tmp_path / "gs.h5", 16
    args = [PDEFLOW, "generate", "--family", "code/gray_scott.py:gs", "--n", str(n),
            "--executor", "processes", "--workers", "1", "--chunk-size", "1",
            "--compression", "none", "-o", "method=BDF", "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(), cwd=tmp_path,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 180
        while _done(out) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert 2 <= _done(out) < n, err
    line = next(ln for ln in err.splitlines() if "complete it with: " in ln)
    command = shlex.split(line.split("complete it with: ")[1])
    r = subprocess.run([PDEFLOW, *command[1:]], capture_output=True, text=True, env=_env(),
                       cwd="/", timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([PDEFLOW, "dataset", "verify", str(out)], capture_output=True,
                       text=True, env=_env(), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([PDEFLOW, "train", "fno", "--data", str(out), "--x-key", "y0",
                        "--y-key", "v", "--channel-axis", "first", "--epochs", "2",
                        "--batch-size", "4", "--width", "8", "--modes", "4,4", "--n-layers", "1",
                        "--device", "cpu", "--out-dir", str(tmp_path / "run")],
                       capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "run" / "last.pt").is_file()
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert any("val/l2" in ln for ln in lines)


def test_registered_by_class_and_streamed(tmp_path):
    src = textwrap.dedent('''
        import numpy as np
        from pdeflow.datagen.families import from_rhs

        def rhs(t, u, p):
            return p["a"] * (np.roll(u, 1) - 2 * u + np.roll(u, -1))

        fam = from_rhs("diff-1d-test", rhs, state_shape=(16,), params={"a": (0.5, 1.0)},
                       initial=lambda rng: rng.random(16), times=[0.1, 0.2])
    ''')
    (tmp_path / "diff1d.py").write_text(src)
    fam = families.load(f"{tmp_path / 'diff1d.py'}:fam")
    from pdeflow.datagen import stream

    with stream(fam, n=4, workers=1) as s:
        samples = list(s)
    assert len(samples) == 4


# ------------------------------------------------------------------ built-ins (item 4)
def test_brusselator_is_a_from_rhs_family_and_matches_solve_ivp():
    from pdeflow.datagen.families.brusselator import brusselator

    fam = families.get("brusselator", resolution=12)
    assert isinstance(fam, families.RHSFamily) and families.source("brusselator") == "built-in"
    assert "brusselator" in families.names()
    res = fam.solve([4])
    s = fam.sample(4)
    p = {"a": 1.0, "b": s["b"], "Du": 2e-4, "Dv": 1e-3}
    ref = solve_ivp(lambda t, y: brusselator(t, y.reshape(2, 12, 12), p).ravel(), (0.0, 10.0),
                    s["y0"].ravel(), method="DOP853", t_eval=fam.spec.times, rtol=1e-11,
                    atol=1e-13)
    u = ref.y.T.reshape(10, 2, 12, 12)[:, 0]
    np.testing.assert_allclose(res.fields["u"][0], u, atol=1e-4)
    assert 2.5 <= res.params["b"][0] <= 3.5
    again = pickle.loads(pickle.dumps(fam))
    assert again.options() == fam.options() and type(again).name == "brusselator"


def test_heat_rhs_is_the_heat_family_discretization():
    from pdeflow.datagen.families.assembly import diffusion_matrix
    from pdeflow.datagen.families.heat import heat_rhs

    heat = families.get("heat", resolution=8)
    s = heat.sample(0)
    fam = families.from_rhs("heat-sym-test", heat_rhs, state_shape=(8, 8), grid="cells",
                            initial=lambda rng: s["u0"],
                            params={"kappa": lambda rng: s["kappa"]},
                            times=heat.coords()["t"], method="BDF", rtol=1e-9, atol=1e-12)
    k = fam.kernels()
    u = np.random.default_rng(0).standard_normal(64)
    np.testing.assert_allclose(k["fn"](u, s["kappa"].ravel(), 0.0),
                               -(diffusion_matrix(s["kappa"]) @ u), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(k["jac"](u, s["kappa"].ravel(), 0.0).toarray(),
                               -diffusion_matrix(s["kappa"]).toarray(), rtol=1e-12, atol=1e-9)
    mine = fam.solve([0]).fields["u"][0]
    hand = heat.solve([0]).fields["u"][0]  # Crank-Nicolson, 100 steps: O(dt^2) apart
    np.testing.assert_allclose(mine, hand, atol=1e-3 * np.abs(hand).max())


# ------------------------------------------------------------------ one family layer (item 1)
def test_datagen_assembles_its_own_matrices():
    """No datagen module imports pdeflow.solvers.families (nor its private _helmholtz): the
    assembly is public in pdeflow.datagen.families.assembly, old names still import."""
    import ast

    from pdeflow.datagen.families import assembly
    from pdeflow.datagen.families.darcy import node_diffusion_matrix
    from pdeflow.datagen.families.poisson import node_laplacian

    root = Path(families.__file__).resolve().parents[1]
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("pdeflow.solvers.families"), path
                if node.module.startswith("pdeflow.solvers"):
                    assert not any(a.name.startswith("_") for a in node.names), path
    import importlib.util

    import pdeflow.solvers as solvers

    # one family layer: solvers know no PDE and have no GRF of their own
    assert importlib.util.find_spec("pdeflow.solvers.families") is None
    assert importlib.util.find_spec("pdeflow.solvers.grf") is None
    assert not {"Darcy", "Helmholtz", "make_family", "grf"} & set(dir(solvers))
    assert node_laplacian is assembly.node_laplacian
    assert node_diffusion_matrix is assembly.node_diffusion_matrix
    A, b = assembly.helmholtz_system(np.full((8, 8), 3.0))
    lap = assembly.dirichlet_laplacian(8)
    np.testing.assert_allclose((lap - A).diagonal(), 9.0)
    assert b.shape == (64,)
