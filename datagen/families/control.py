"""PDE-constrained optimization problems built from the families' shared assembly.

Three named problems on the unit square, node grid ``n x n`` (``h = 1/(n - 1)``, unknowns at
the ``(n - 2)^2`` interior nodes, homogeneous Dirichlet data), each a
:class:`pdeflow.solvers.optim.pde.ReducedSpaceProblem` (the solver sees no PDE by name):

* :func:`poisson_control` -- ``min 1/2 ||w - w_d||^2 + beta/2 ||z||^2,  -Lap w = z``;
* :func:`semilinear_control` -- the same with the state equation ``-Lap w + w^3 = z``
  (nonlinear: several Newton steps);
* :func:`darcy_inversion` -- recover ``m = log K`` (a Gaussian random field, as in the Darcy
  family) from noisy point observations of the pressure ``u``,
  ``-div(e^m grad u) = 1``, with a Tikhonov prior ``gamma/2 |grad m|^2 + delta/2 m^2``.

Norms are mass-lumped (``h^2`` weights), so the reduced Hessians converge under refinement;
the state residual enters the KKT norm with the same weight (``residual_weight = h^2``).
Operators come from :func:`pdeflow.datagen.families.poisson.node_laplacian` and
:func:`pdeflow.datagen.families.darcy.node_diffusion_matrix`; the GRF from
:func:`pdeflow.datagen.samplers.grf`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pdeflow.datagen import samplers
from pdeflow.datagen.families.darcy import node_diffusion_matrix
from pdeflow.datagen.families.poisson import node_laplacian
from pdeflow.errors import ConfigError
from pdeflow.solvers.optim.pde import ReducedSpaceProblem

__all__ = ["poisson_control", "semilinear_control", "darcy_inversion", "diffusion_derivative"]


def _check_grid(n: int, where: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 4:
        raise ConfigError(f"The 'n' parameter of {where} must be an int in [4, inf). Got {n!r}.")
    return int(n)


def _interior_xy(n: int) -> tuple[np.ndarray, np.ndarray]:
    s = np.linspace(0.0, 1.0, n)[1:-1]
    X, Y = np.meshgrid(s, s, indexing="ij")
    return X.ravel(), Y.ravel()


def _box(bounds: tuple[float, float] | None, size: int) -> tuple[np.ndarray, np.ndarray] | None:
    if bounds is None:
        return None
    lo, hi = (float(b) for b in bounds)
    if not lo < hi:
        raise ConfigError(f"The 'bounds' parameter must be (low, high) with low < high. "
                          f"Got {bounds!r}.")
    return np.full(size, lo), np.full(size, hi)


def _tracking(target: np.ndarray, h2: float):
    def misfit(w: np.ndarray) -> tuple[float, np.ndarray]:
        d = w - target
        return 0.5 * h2 * float(d @ d), h2 * d

    hess = sp.diags_array(np.full(target.shape[0], h2)).tocsr()
    return misfit, (lambda w: hess)


def semilinear_control(n: int = 64, beta: float = 1e-6, *, cubic: float = 1.0,
                       bounds: tuple[float, float] | None = None,
                       amplitude: float = 4.0) -> ReducedSpaceProblem:
    """Distributed control of ``-Lap w + cubic w^3 = z`` toward a discontinuous target.

    The target is ``w_d = A`` on the square ``[0.25, 0.75]^2`` and ``-A/2`` on the disc of
    radius 0.15 around ``(0.8, 0.2)``, 0 elsewhere (rich in Laplacian eigenmodes, so CG has
    work to do).

    Parameters
    ----------
    n : int
        Nodes per side (``(n - 2)^2`` states and controls).
    beta : float
        Control cost.
    cubic : float
        Coefficient of ``w^3`` (0 gives Poisson control).
    bounds : (low, high), optional
        ``low <= z <= high`` at every node.
    amplitude : float
        Target amplitude ``A``.

    Returns
    -------
    ReducedSpaceProblem

    Examples
    --------
    >>> p = semilinear_control(8)
    >>> p.n_control, p.reg_scale == 1e-6 / 49
    (36, True)
    """
    n = _check_grid(n, "semilinear_control")
    if not beta > 0:
        raise ConfigError(f"The 'beta' parameter must be a float in (0, inf). Got {beta!r}.")
    A = sp.csr_array(node_laplacian(n))
    h2 = 1.0 / (n - 1) ** 2
    X, Y = _interior_xy(n)
    square = (np.abs(X - 0.5) <= 0.25) & (np.abs(Y - 0.5) <= 0.25)
    disc = (X - 0.8) ** 2 + (Y - 0.2) ** 2 <= 0.15**2
    target = amplitude * (square - 0.5 * disc)
    N = target.shape[0]
    misfit, misfit_hess = _tracking(target, h2)
    minus_eye = -sp.eye_array(N, format="csr")
    zero = sp.csr_array((N, N))

    def residual(w: np.ndarray, z: np.ndarray) -> np.ndarray:
        return A @ w + cubic * w**3 - z

    def state_jac(w: np.ndarray, z: np.ndarray) -> sp.csr_array:
        return sp.csr_array(A + sp.diags_array(3.0 * cubic * w**2))

    def residual_hess(w: np.ndarray, z: np.ndarray, p: np.ndarray):
        return sp.diags_array(6.0 * cubic * w * p).tocsr(), zero, zero

    name = "semilinear-control" if cubic else "poisson-control"
    return ReducedSpaceProblem(
        residual=residual, state_jac=state_jac, control_jac=lambda w, z: minus_eye,
        misfit=misfit, misfit_hess=misfit_hess, reg=beta * h2 * sp.eye_array(N, format="csr"),
        w0=np.zeros(N), z0=np.zeros(N), residual_hess=residual_hess,
        bounds=_box(bounds, N), reg_scale=beta * h2, residual_weight=h2, name=f"{name}-n{n}",
        info={"n": n, "target": target, "beta": beta})


def poisson_control(n: int = 64, beta: float = 1e-6,
                    bounds: tuple[float, float] | None = None) -> ReducedSpaceProblem:
    """Distributed Poisson control (linear-quadratic: one Newton step).

    Examples
    --------
    >>> poisson_control(8).name
    'poisson-control-n8'
    """
    return semilinear_control(n, beta, cubic=0.0, bounds=bounds)


def _colors(n: int) -> np.ndarray:
    """``(i + 2 j) mod 5`` on the node grid: no two nodes of one 5-point stencil pair share it."""
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return (i + 2 * j) % 5


def diffusion_derivative(u: np.ndarray, n: int) -> sp.csr_array:
    """``d(A(a) u)/da`` for the node diffusion matrix ``A(a)`` (linear in ``a``).

    ``A(a) u`` is linear in the nodal coefficient ``a``, and row ``(i, j)`` involves only the
    5-point stencil of ``a``; five colors (``(i + 2 j) mod 5``) separate every stencil, so
    five directional derivatives ``A(1 + chi_c) u - A(1) u`` give the whole Jacobian.

    Parameters
    ----------
    u : ndarray, shape ((n - 2)^2,)
        Interior values.
    n : int

    Returns
    -------
    scipy.sparse.csr_array, shape ((n - 2)^2, n^2)

    Examples
    --------
    >>> u = np.random.default_rng(0).random(9)
    >>> a = np.random.default_rng(1).random((5, 5)) + 1
    >>> D = diffusion_derivative(u, 5)
    >>> bool(np.allclose(D @ a.ravel(), node_diffusion_matrix(a) @ u))
    True
    """
    color = _colors(n)
    base = node_diffusion_matrix(np.ones((n, n))) @ u
    vals = np.stack([node_diffusion_matrix(1.0 + (color == c)) @ u - base for c in range(5)])
    m = n - 2
    I, J = np.meshgrid(np.arange(1, n - 1), np.arange(1, n - 1), indexing="ij")
    rows, cols, data = [], [], []
    row_index = np.arange(m * m).reshape(m, m)
    for di, dj in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
        ci, cj = I + di, J + dj
        rows.append(row_index.ravel())
        cols.append((ci * n + cj).ravel())
        data.append(vals[color[ci, cj].ravel(), row_index.ravel()])
    return sp.csr_array((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))),
                        shape=(m * m, n * n))


def _neumann_laplacian(n: int) -> sp.csr_array:
    """Stiffness of ``|grad m|^2`` on all ``n^2`` nodes (natural boundary), unscaled."""
    D = sp.diags_array([-np.ones(n - 1), np.ones(n - 1)], offsets=[0, 1], shape=(n - 1, n))
    T = sp.csr_array(D.T @ D)
    eye = sp.eye_array(n)
    return sp.csr_array(sp.kron(T, eye) + sp.kron(eye, T))


def darcy_inversion(n: int = 64, *, n_obs: int = 100, noise: float = 0.01, gamma: float = 1e-3,
                    delta: float = 1e-2, seed: int = 0,
                    bounds: tuple[float, float] | None = None) -> ReducedSpaceProblem:
    """Recover ``m = log K`` from noisy pressure observations (Tikhonov prior).

    ``-div(e^m grad u) = 1`` on the node grid, ``u = 0`` on the boundary.  The truth
    ``m_true`` is a GRF (``samplers.grf(alpha=2, tau=3)``, as in the Darcy family);
    ``n_obs`` interior nodes on a regular sub-grid observe ``u(m_true)`` with Gaussian noise
    of standard deviation ``noise * max|u|``.

    Parameters
    ----------
    n : int
        Nodes per side (``n^2`` parameters, ``(n - 2)^2`` states).
    n_obs : int
        Observations (rounded to a square).
    noise : float
        Relative noise level.
    gamma, delta : float
        Prior weights of ``|grad m|^2`` and ``m^2``.
    seed : int
        Seed of the truth and the noise.
    bounds : (low, high), optional
        Bounds on ``m``.

    Returns
    -------
    ReducedSpaceProblem
        ``info`` holds ``m_true`` (n, n), ``obs_index``, ``data``.

    Examples
    --------
    >>> p = darcy_inversion(8, n_obs=9)
    >>> p.n_control, p.info["data"].shape
    (64, (9,))
    """
    n = _check_grid(n, "darcy_inversion")
    rng = np.random.default_rng(seed)
    m_true = samplers.grf((n, n), rng, alpha=2.0, tau=3.0)
    h2 = 1.0 / (n - 1) ** 2
    k = max(1, int(round(np.sqrt(n_obs))))
    pos = np.unique(np.clip(np.round(np.linspace(0, n - 3, k + 2)[1:-1]).astype(int), 0, n - 3))
    obs = (pos[:, None] * (n - 2) + pos[None, :]).ravel()
    f = np.ones((n - 2) ** 2)
    u_true = sp.linalg.spsolve(sp.csc_matrix(node_diffusion_matrix(np.exp(m_true))), f)
    sigma = noise * float(np.abs(u_true).max())
    data = u_true[obs] + sigma * rng.standard_normal(obs.size)
    N = f.shape[0]
    P = sp.csr_array((np.ones(obs.size), (np.arange(obs.size), obs)), shape=(obs.size, N))
    Jww = sp.csr_array(P.T @ P) / sigma**2
    reg = sp.csr_array(gamma * _neumann_laplacian(n) + delta * h2 * sp.eye_array(n * n))

    def misfit(u: np.ndarray) -> tuple[float, np.ndarray]:
        r = (P @ u - data) / sigma
        return 0.5 * float(r @ r), P.T @ r / sigma

    def residual(u: np.ndarray, m: np.ndarray) -> np.ndarray:
        return node_diffusion_matrix(np.exp(m).reshape(n, n)) @ u - f

    def state_jac(u: np.ndarray, m: np.ndarray) -> sp.csr_array:
        return sp.csr_array(node_diffusion_matrix(np.exp(m).reshape(n, n)))

    def control_jac(u: np.ndarray, m: np.ndarray) -> sp.csr_array:
        return sp.csr_array(diffusion_derivative(u, n) @ sp.diags_array(np.exp(m)))

    def residual_hess(u: np.ndarray, m: np.ndarray, p: np.ndarray):
        em = np.exp(m)
        Wum = sp.csr_array(diffusion_derivative(p, n) @ sp.diags_array(em))
        Wmm = sp.diags_array(em * (diffusion_derivative(u, n).T @ p)).tocsr()
        return sp.csr_array((N, N)), Wum, Wmm

    return ReducedSpaceProblem(
        residual=residual, state_jac=state_jac, control_jac=control_jac, misfit=misfit,
        misfit_hess=lambda u: Jww, reg=reg, w0=np.zeros(N), z0=np.zeros(n * n),
        residual_hess=residual_hess, bounds=_box(bounds, n * n), residual_weight=h2,
        name=f"darcy-inversion-n{n}",
        info={"n": n, "m_true": m_true, "obs_index": obs, "data": data, "sigma": sigma})
