"""solve_sequence as strategies: one class per method, settings validated once, AutoStrategy
says why, backend questions are backend methods (no PETSc outside its module)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from pdeflow.errors import ConfigError
from pdeflow.solvers import (
    AMG,
    PC_REFRESH,
    AutoStrategy,
    CGStrategy,
    DirectStrategy,
    GMRESStrategy,
    RecycledCGStrategy,
    ScipyBackend,
    SequenceSettings,
    SequenceStrategy,
    SKRStrategy,
    solve_sequence,
)
from pdeflow.solvers.sequence import SystemSource, make_strategy

ROOT = Path(__file__).resolve().parents[2]


def laplacian_2d(n: int) -> sp.csr_matrix:
    """5-point Dirichlet Laplacian on an n x n grid, shape (n^2, n^2), SPD."""
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    return (sp.kron(T, sp.eye(n)) + sp.kron(sp.eye(n), T)).tocsr()


def convection_2d(n: int, c: float = 0.4) -> sp.csr_matrix:
    """Laplacian plus a centred first-derivative term: nonsymmetric."""
    D = sp.diags([-1.0, 1.0], [-1, 1], shape=(n, n))
    return (laplacian_2d(n) + c * sp.kron(D, sp.eye(n))).tocsr()


def _family(n=12, count=6, convect=False):
    """SPD (or convection) matrices with a coefficient that drifts, one rhs each."""
    rng = np.random.default_rng(0)
    base = convection_2d(n) if convect else laplacian_2d(n)
    mats = [(base * (1.0 + 0.05 * i) + sp.eye(n * n) * 0.01 * i).tocsr() for i in range(count)]
    return [(A, rng.standard_normal(n * n)) for A in mats]


CLASSES = {
    "gmres": GMRESStrategy,
    "skr": SKRStrategy,
    "cg": CGStrategy,
    "skr-cg": RecycledCGStrategy,
    "direct": DirectStrategy,
}


@pytest.mark.parametrize("method", list(CLASSES))
def test_one_class_per_method_and_step_carries_state(method):
    systems = _family()
    bk = ScipyBackend()
    strategy = make_strategy(method, SequenceSettings(method=method, rtol=1e-10), bk)
    assert type(strategy) is CLASSES[method] and isinstance(strategy, SequenceStrategy)
    assert strategy.method == method
    state = strategy.initial_state()
    for A, b in systems:
        res, new_state = strategy.step(bk.operator(A), b, state)
        assert res.converged
        assert np.linalg.norm(A @ res.x - b) <= 1.01e-10 * np.linalg.norm(b)
        assert new_state is not state  # explicit state out, the old one untouched
        state = new_state
    if method in ("skr", "skr-cg"):
        assert state.recycle is not None  # carried from one system to the next
    if method == "direct":
        assert state.factor is not None and state.source is systems[-1][0]


def test_recycling_strategy_needs_fewer_iterations_from_its_state():
    systems = _family(n=16, count=8)
    bk = ScipyBackend()
    skr = make_strategy("skr", SequenceSettings(method="skr", rtol=1e-8), bk)
    plain = make_strategy("gmres", SequenceSettings(method="gmres", rtol=1e-8), bk)
    its = {}
    for name, strategy in (("skr", skr), ("gmres", plain)):
        state, total = strategy.initial_state(), 0
        for A, b in systems:
            res, state = strategy.step(bk.operator(A), b, state)
            total += res.iterations
        its[name] = total
    assert its["skr"] < 0.7 * its["gmres"], its


def test_settings_are_validated_once_and_keywords_still_work():
    systems = _family()
    s = SequenceSettings(method="cg", preconditioner="amg", rtol=1e-9)
    assert isinstance(s.preconditioner, AMG) and s.pc_refresh == PC_REFRESH == 64
    a = solve_sequence(systems, settings=s)
    b = solve_sequence(systems, "cg", preconditioner="amg", rtol=1e-9)
    np.testing.assert_array_equal(a.iterations, b.iterations)
    assert a.method == b.method == "cg" and a.preconditioner == "amg"
    # keywords override the settings object's fields
    c = solve_sequence(systems, settings=s, preconditioner=None)
    assert c.preconditioner == "none"
    for bad in ({"pc_refresh": 0}, {"rtol": -1.0}, {"trial": 1.5}, {"warm_start": "yes"},
                {"preconditioner": "nope"}, {"method": "bicg"}, {"k": 0}):  # fmt: skip
        with pytest.raises(ConfigError, match=next(iter(bad))):
            SequenceSettings(**bad)
    with pytest.raises(ConfigError, match="unknown option.*'tol'"):
        solve_sequence(systems, "cg", tol=1e-8)


def test_auto_strategy_picks_and_says_why():
    systems = _family(n=12, count=12)
    bk = ScipyBackend()
    auto = AutoStrategy(SequenceSettings(rtol=1e-8), bk)
    cands, spd, general, facts = auto.candidates(SystemSource(systems, bk), 0)
    assert facts["spd_like"] and facts["n"] == 144
    assert [c.label for c in cands] == ["direct+none", "skr-cg+amg", "cg+amg"]
    assert [c.label for c in general] == ["skr+ilu", "gmres+ilu"]
    picked = auto.pick(SystemSource(systems, bk), np.arange(12))
    assert picked.choice["picked"] == picked.strategy.label
    assert set(picked.choice["estimated_seconds_per_system"]) == {c.label for c in cands}
    assert picked.choice["reason"].startswith("symmetric, positive diagonal, n=144; fastest in")
    assert set(picked.solved) <= set(range(picked.choice["trial_systems"]))
    # nonsymmetric: GMRES-type candidates, and the reason says so
    nonsym = _family(n=12, count=12, convect=True)
    res = solve_sequence(nonsym, rtol=1e-8)
    assert res.choice["reason"].startswith("nonsymmetric or indefinite, n=144")
    assert res.method in ("direct", "skr", "gmres")


def test_auto_without_direct_candidate():
    systems = _family(n=12, count=12)
    bk = ScipyBackend()
    auto = AutoStrategy(SequenceSettings(), bk)
    auto.direct_max_unknowns = (0, 0)  # as on a grid too large to factor
    cands, *_ = auto.candidates(SystemSource(systems, bk), 0)
    assert "direct+none" not in [c.label for c in cands]


def test_backend_answers_the_questions_a_strategy_asks():
    bk = ScipyBackend()
    A = laplacian_2d(5)
    N = convection_2d(5)
    assert bk.is_symmetric(A) and not bk.is_symmetric(N)
    assert bk.positive_diagonal(A) and not bk.positive_diagonal(-A)
    assert bk.global_size(A) == 25 and bk.nnz_per_row(A) == A.nnz / 25
    op = bk.operator(A)
    assert bk.local_rhs([1.0] * 25, op).dtype == np.float64
    assert bk.native_factor(op) is None  # scipy: the caller factors op.csr


def test_one_symmetry_test():
    from pdeflow.solvers import direct, sequence

    assert not hasattr(sequence, "_is_symmetric")
    assert direct.is_symmetric is __import__(
        "pdeflow.solvers.backend_base", fromlist=["is_symmetric"]
    ).is_symmetric


def _code_lines(path: Path) -> list[str]:
    """Source lines without docstrings or comments (good enough for a string scan)."""
    text = re.sub(r'"""(?:.|\n)*?"""', "", path.read_text())
    return [line.split("#")[0] for line in text.splitlines()]


def test_no_petsc_outside_its_backend_module():
    allowed = {"backends.py", "petsc.py"}
    offenders = []
    for path in sorted((ROOT / "solvers").glob("*.py")):
        if path.name in allowed:
            continue
        for line in _code_lines(path):
            if re.search(r"""["']petsc["']|petsc4py|_PETSc|\.getSize\(|isSymmetric""", line):
                offenders.append(f"{path.name}: {line.strip()}")
    assert not offenders, offenders


def test_dolfinx_solver_is_imported_in_exactly_one_module():
    importers = []
    for folder in ("pdeflow", "solvers", "datagen", "meshes", "operators", "symbolic"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            pattern = r"""import dolfinx_solver\b|import_module\(["']dolfinx_solver"""
            if any(re.search(pattern, line) for line in _code_lines(path)):
                importers.append(str(path.relative_to(ROOT)))
    assert importers == ["solvers/petsc.py"], importers
