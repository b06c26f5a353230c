"""Discretized PDE right-hand sides written as plain numpy user code.

The symbolic benchmarks trace these functions with pdeflow and with SymPy / SymEngine
object arrays, so they must stay ordinary numpy: no pdeflow imports, no special casing.
Each case has two functions:

* ``<case>_rhs(N)`` returns ``f(t, y, p) -> dy`` for an ``N x N`` grid; grid-dependent
  constants (masks, difference matrices) are captured in a closure, as module-level
  ``const`` globals are in the Julia originals;
* ``<case>_args(N, seed=0)`` returns example numeric arguments ``(t, y, p)``: a random
  positive state of the right shape and the parameter tuple of the original.

:data:`CASES` maps a case name to ``(make_rhs, make_args)``.

Sources
-------
Brusselator
    The 2-D Brusselator of the DifferentialEquations.jl / Symbolics.jl documentation
    ("Solving Large Stiff Equations", ``brusselator_2d_loop``): ``u, v`` on an ``N x N``
    grid of ``[0, 1]^2``, periodic boundaries, ``p = (A, B, alpha, dx) = (3.4, 1, 10,
    1/(N-1))``::

        du = alpha/dx^2 * lap(u) + B + u^2 v - (A + 1) u + f(x, y, t)
        dv = alpha/dx^2 * lap(v) + A u - u^2 v

    with the 5-point Laplacian written with ``np.roll``.  The source ``f`` is 5 inside the
    disc of radius 0.1 around (0.3, 0.6) for ``t >= 1.1`` and 0 before; here it is the
    switched-on source (a constant array), because a comparison on the traced ``t`` is
    data-dependent control flow that object arrays of SymPy symbols cannot trace.
RD3
    The 3-species reaction-diffusion model of the Symbolics.jl tutorial "Automated Sparse
    Parallelism of Julia Functions via Tracing"
    (https://juliasymbolics.github.io/Symbolics.jl/stable/tutorials/auto_parallel/),
    species ``A, B, C`` on an ``N x N`` grid with dense second-difference matrices
    ``Mx``, ``My`` (tridiagonal ``1, -2, 1`` with the reflecting boundary entries
    ``Mx[2,1] = Mx[end-1,end] = My[1,2] = My[end,end-1] = 2`` of the Julia code)::

        dA = D (My A + A Mx) + alpha1 - beta1 A - r1 A B + r2 C
        dB = alpha2 - beta2 B - r1 A B + r2 C
        dC = alpha3 - beta3 C + r1 A B - r2 C

    ``alpha1`` is 1 where the (1-based, column-major) grid coordinate ``X >= 4N/5`` and
    0 elsewhere.  The tutorial's constants are passed as the parameter tuple ``p =
    (alpha2, alpha3, beta1, beta2, beta3, r1, r2, D) = (1, 1, 1, 1, 1, 1, 1, 100)``, so
    tracers see them as symbols.  Its ``gamma1..3 = 0.1`` are the noise amplitudes of the
    stochastic version of the model and do not enter ``f``.  The state is ``u[:, :, k]``
    (shape ``(N, N, 3)``), as in the Julia code, and the output is ``cat(dA, dB, dC,
    dims=3)``, i.e. ``np.stack(..., axis=2)``.
"""

from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------- 2-D Brusselator
BRUSSELATOR_PARAMS = (3.4, 1.0, 10.0)  # A, B, alpha (dx is appended per grid)


def brusselator_rhs(N: int):
    """The periodic 2-D Brusselator on an ``N x N`` grid: ``f(t, y, p)``, ``y`` shaped (2, N, N)."""
    xyd = np.linspace(0.0, 1.0, N)
    x, y = np.meshgrid(xyd, xyd, indexing="ij")
    source = 5.0 * (((x - 0.3) ** 2 + (y - 0.6) ** 2) <= 0.1**2)

    def brusselator(t, y, p):
        A, B, alpha, dx = p
        u, v = y[0], y[1]
        a = alpha / dx**2
        lap_u = np.roll(u, 1, 0) + np.roll(u, -1, 0) + np.roll(u, 1, 1) + np.roll(u, -1, 1) - 4 * u
        lap_v = np.roll(v, 1, 0) + np.roll(v, -1, 0) + np.roll(v, 1, 1) + np.roll(v, -1, 1) - 4 * v
        du = a * lap_u + B + u**2 * v - (A + 1) * u + source
        dv = a * lap_v + A * u - u**2 * v
        return np.stack([du, dv])

    return brusselator


def brusselator_args(N: int, seed: int = 0):
    """Example ``(t, y, p)``: a random positive state of shape (2, N, N)."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(0.5, 1.5, size=(2, N, N))
    return 1.5, y, (*BRUSSELATOR_PARAMS, 1.0 / (N - 1))


# ------------------------------------------- 3-species reaction-diffusion (Symbolics.jl)
RD3_PARAMS = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 100.0)  # a2, a3, b1, b2, b3, r1, r2, D


def rd3_matrices(N: int):
    """``(Mx, My, alpha1)`` of the tutorial, as dense float arrays (0-based indices)."""
    off = np.full(N - 1, 1.0)
    Mx = np.diag(off, -1) + np.diag(np.full(N, -2.0)) + np.diag(off, 1)
    My = Mx.copy()
    Mx[1, 0] = 2.0
    Mx[N - 2, N - 1] = 2.0
    My[0, 1] = 2.0
    My[N - 1, N - 2] = 2.0
    # Julia: X = reshape([i for i in 1:N for j in 1:N], N, N), so X[a, b] = b (1-based).
    X = np.tile(np.arange(1, N + 1), (N, 1))
    alpha1 = 1.0 * (X >= 4 * N / 5)
    return Mx, My, alpha1


def rd3_rhs(N: int):
    """The tutorial's reaction-diffusion model: ``f(t, u, p)``, ``u`` of shape (N, N, 3)."""
    Mx, My, alpha1 = rd3_matrices(N)

    def rd3(t, u, p):
        a2, a3, b1, b2, b3, r1, r2, D = p
        A = u[:, :, 0]
        B = u[:, :, 1]
        C = u[:, :, 2]
        MyA = My @ A
        AMx = A @ Mx
        DA = D * (MyA + AMx)
        dA = DA + alpha1 - b1 * A - r1 * A * B + r2 * C
        dB = a2 - b2 * B - r1 * A * B + r2 * C
        dC = a3 - b3 * C + r1 * A * B - r2 * C
        return np.stack([dA, dB, dC], axis=2)

    return rd3


def rd3_stencil_rhs(N: int):
    """The same model with ``My @ A`` and ``A @ Mx`` summed over the three diagonals only.

    Term for term what the dense products give once their zero products vanish; the
    benchmark uses it to build SymPy/SymEngine expressions for the Jacobian timing where
    their trace of the dense products is too slow (and checks that the expressions agree).
    """
    Mx, My, alpha1 = rd3_matrices(N)
    lo_y, di_y, up_y = np.diag(My, -1)[:, None], np.diag(My)[:, None], np.diag(My, 1)[:, None]
    lo_x, di_x, up_x = np.diag(Mx, -1)[None, :], np.diag(Mx)[None, :], np.diag(Mx, 1)[None, :]

    def rd3_stencil(t, u, p):
        a2, a3, b1, b2, b3, r1, r2, D = p
        A = u[:, :, 0]
        B = u[:, :, 1]
        C = u[:, :, 2]
        MyA = di_y * A
        MyA[1:] += lo_y * A[:-1]
        MyA[:-1] += up_y * A[1:]
        AMx = A * di_x
        AMx[:, :-1] += A[:, 1:] * lo_x
        AMx[:, 1:] += A[:, :-1] * up_x
        DA = D * (MyA + AMx)
        dA = DA + alpha1 - b1 * A - r1 * A * B + r2 * C
        dB = a2 - b2 * B - r1 * A * B + r2 * C
        dC = a3 - b3 * C + r1 * A * B - r2 * C
        return np.stack([dA, dB, dC], axis=2)

    return rd3_stencil


def rd3_args(N: int, seed: int = 0):
    """Example ``(t, u, p)``: a random positive state of shape (N, N, 3)."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(0.5, 1.5, size=(N, N, 3))
    return 0.0, u, RD3_PARAMS


# stencil twins with the same expressions (for peers whose dense trace is too slow)
STENCIL_TWINS = {"rd3": rd3_stencil_rhs}

CASES = {
    "brusselator": (brusselator_rhs, brusselator_args),
    "rd3": (rd3_rhs, rd3_args),
}
