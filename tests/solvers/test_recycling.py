"""Recycling: GCRO-DR and recycled CG need fewer iterations on slowly varying sequences."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from pdeflow.datagen import families
from pdeflow.solvers import ILU, RecycleSpace, cg, gcrodr, gmres


def _sequence(base, count, eps=0.01):
    rng = np.random.default_rng(0)
    n = base.shape[0]
    for i in range(count):
        yield (base + sp.diags(eps * (1 + 0.1 * i) * np.ones(n))).tocsr(), rng.standard_normal(n)


def test_gcrodr_recycling_reduces_iterations(make_convection):
    base = make_convection(24, c=0.3)
    rec = None
    plain, recycled = [], []
    for A, b in _sequence(base, 5):
        plain.append(gmres(A, b, restart=30, rtol=1e-8).iterations)
        res = gcrodr(A, b, recycle=rec, restart=30, k=10, rtol=1e-8)
        rec = res.recycle
        recycled.append(res.iterations)
        assert np.linalg.norm(b - A @ res.x) <= 1e-8 * np.linalg.norm(b) * 1.01
    # later systems profit from the space computed on earlier ones
    assert np.mean(recycled[1:]) < 0.75 * np.mean(plain[1:])
    assert recycled[-1] < recycled[0]


def test_recycle_space_is_consistent(make_convection):
    A = make_convection(16)
    b = np.ones(A.shape[0])
    res = gcrodr(A, b, restart=20, k=6)
    U, C = res.recycle.U, res.recycle.C
    assert U.shape == C.shape == (6, A.shape[0])
    np.testing.assert_allclose(C @ C.T, np.eye(6), atol=1e-10)
    np.testing.assert_allclose((A @ U.T).T, C, atol=1e-8 * np.abs(C).max())
    assert res.recycle.operator is A


def test_changed_matrix_recomputes_c(make_convection):
    A = make_convection(16)
    b = np.ones(A.shape[0])
    first = gcrodr(A, b, restart=20, k=6)
    A2 = (A + sp.diags(np.full(A.shape[0], 0.05))).tocsr()
    second = gcrodr(A2, b, recycle=first.recycle, restart=20, k=6, update_recycle=False)
    U, C = second.recycle.U, second.recycle.C
    np.testing.assert_allclose(C @ C.T, np.eye(C.shape[0]), atol=1e-10)
    np.testing.assert_allclose((A2 @ U.T).T, C, atol=1e-8 * np.abs(C).max())
    assert second.info["matvecs"] > second.iterations  # includes the k products for C = A U


def test_same_matrix_new_rhs_is_cheaper(make_convection):
    A = make_convection(32, 0.1)
    rng = np.random.default_rng(3)
    first = gcrodr(A, rng.standard_normal(A.shape[0]), restart=30, k=10)
    again = gcrodr(A, rng.standard_normal(A.shape[0]), restart=30, k=10, recycle=first.recycle)
    assert again.iterations < 0.85 * first.iterations
    assert again.info["matvecs"] == again.iterations + again.info["cycles"]


def test_recycled_cg_reduces_iterations(make_laplacian):
    base = make_laplacian(40)
    rec = None
    plain, recycled = [], []
    for A, b in _sequence(base, 5, eps=0.001):
        plain.append(cg(A, b).iterations)
        res = cg(A, b, recycle=rec, k=10)
        rec = res.recycle
        recycled.append(res.iterations)
        assert np.linalg.norm(b - A @ res.x) <= 1e-8 * np.linalg.norm(b) * 1.01
    assert np.mean(recycled[2:]) < 0.8 * np.mean(plain[2:])
    W, AW = rec.W, rec.AW
    np.testing.assert_allclose(W @ AW.T, np.eye(W.shape[0]), atol=1e-6)  # A-orthonormal


def test_recycled_cg_with_preconditioner(make_laplacian):
    base = make_laplacian(30)
    rec = None
    its = []
    from pdeflow.solvers import SOR

    for A, b in _sequence(base, 4, eps=0.001):
        res = cg(A, b, M=SOR(), recycle=rec, k=8)
        rec = res.recycle
        its.append(res.iterations)
    assert its[-1] < its[0]


def test_ritz_pencil_from_cg_recurrences_matches_inner_products(make_laplacian, monkeypatch):
    """The projected pencil that recycled CG assembles from its recurrences (conjugate
    directions, M^-1-orthogonal residuals) equals the one from explicit inner products."""
    import importlib

    from pdeflow.solvers import SOR
    from pdeflow.solvers.backends import backend_for

    cgmod = importlib.import_module("pdeflow.solvers.cg")  # the attribute is the function
    seen = []
    real = cgmod._ritz_update

    def spy(bk, W, AW, BW, P, AP, Zs, alphas, pqs, rzs, k):
        seen.append(tuple(None if a is None else np.array(a) for a in
                          (W, AW, BW, P, AP, Zs, alphas, pqs, rzs)))
        return real(bk, W, AW, BW, P, AP, Zs, alphas, pqs, rzs, k)

    monkeypatch.setattr(cgmod, "_ritz_update", spy)
    base = make_laplacian(24)
    rec = None
    for A, b in _sequence(base, 3, eps=0.01):
        rec = cg(A, b, M=SOR(), recycle=rec, k=6, n_store=10).recycle
    assert len(seen) >= 3 and any(s[0] is not None for s in seen)
    bk = backend_for(base, None)
    for W, AW, BW, P, AP, Zs, alphas, pqs, rzs in seen:
        BP = (Zs[:-1] - Zs[1:]) / alphas[:, None]
        Y = P if W is None else np.vstack([W, P])
        AY = AP if W is None else np.vstack([AW, AP])
        BY = BP if W is None else np.vstack([BW, BP])
        F, G = cgmod._projected_pencil(bk, W, AW, BW, AP, Zs, 1.0 / alphas, pqs, rzs)
        Fx, Gx = AY @ BY.T, AY @ Y.T
        np.testing.assert_allclose(F, 0.5 * (Fx + Fx.T), atol=1e-7 * np.abs(Fx).max())
        np.testing.assert_allclose(G, 0.5 * (Gx + Gx.T), atol=1e-7 * np.abs(Gx).max())


def test_recycle_space_rejects_wrong_length(make_convection):
    A = make_convection(8)
    rec = RecycleSpace(np.ones((2, 5)), np.ones((2, 5)))
    from pdeflow.errors import ShapeError

    with pytest.raises(ShapeError):
        gcrodr(A, np.ones(64), recycle=rec)


def test_gcrodr_with_reused_preconditioner(make_convection):
    A = make_convection(20)
    M = ILU(drop_tol=1e-2).build(A)
    A2 = (A + sp.diags(np.full(A.shape[0], 0.02))).tocsr()
    b = np.ones(A.shape[0])
    first = gcrodr(A, b, M=M, restart=20, k=5)
    second = gcrodr(A2, b, M=M, restart=20, k=5, recycle=first.recycle)
    assert np.linalg.norm(A2 @ second.x - b) <= 1e-8 * np.linalg.norm(b) * 1.01


def _sequence_iterations(systems, order, update_every, monkeypatch=None, calls=None):
    import sys

    if monkeypatch is not None:
        mod = sys.modules[gcrodr.__module__]
        original = mod._harmonic_update

        def counted(*args, **kwargs):
            calls.append(1)
            return original(*args, **kwargs)

        monkeypatch.setattr(mod, "_harmonic_update", counted)
    rec, x, its = None, None, []
    for i in order:
        A, b = systems[i]
        res = gcrodr(A, b, x0=x, recycle=rec, restart=30, k=15, rtol=1e-8,
                     update_every=update_every, max_iter=4000, raise_on_failure=False)  # fmt: skip
        if update_every != 2:  # skipping every other update may not converge at all
            assert np.linalg.norm(A @ res.x - b) <= 1.01e-8 * np.linalg.norm(b)
        rec, x = res.recycle, res.x
        its.append(res.iterations)
    if monkeypatch is not None:
        monkeypatch.undo()
    return sum(its)


def test_auto_updates_skip_cycles_on_a_definite_sequence(monkeypatch):
    from pdeflow.solvers import skr_order

    params, systems = families.get("darcy", resolution=32, seed=1).systems(5)
    order = skr_order(params)
    every, auto = [], []
    its_every = _sequence_iterations(systems, order, 1, monkeypatch, every)
    its_auto = _sequence_iterations(systems, order, "auto", monkeypatch, auto)
    assert len(auto) < 0.75 * len(every)  # SPD: harmonic Ritz values positive, updates skipped
    assert its_auto <= 1.1 * its_every


def test_auto_updates_every_cycle_on_an_indefinite_sequence():
    from pdeflow.solvers import skr_order

    indefinite = families.get("helmholtz", k0=30.0, contrast=0.1, resolution=16, seed=2)
    params, systems = indefinite.systems(4)
    order = skr_order(params)
    its_every = _sequence_iterations(systems, order, 1)
    its_auto = _sequence_iterations(systems, order, "auto")
    its_second = _sequence_iterations(systems, order, 2)
    assert its_second > 1.3 * its_every  # skipping updates hurts here ...
    assert its_auto <= 1.05 * its_every  # ... and "auto" does not skip them


def test_update_every_rejects_other_words(make_convection):
    from pdeflow.errors import ConfigError

    A = make_convection(8)
    with pytest.raises(ConfigError, match="update_every"):
        gcrodr(A, np.ones(A.shape[0]), update_every="sometimes")
