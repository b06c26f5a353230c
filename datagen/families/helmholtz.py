"""Helmholtz ``-Δu - k(x)² u = f`` on the unit square, ``u = 0`` on the boundary (SKR paper).

The conventions of :func:`pdeflow.datagen.families.assembly.helmholtz_system`: cell-centred 5-point
differences with ``u = 0`` half a cell outside the first cell centres,
``k = k0 (1 + 0.3 tanh GRF)``, and a fixed Gaussian source at the centre,
``f = exp(-50 |x - (½, ½)|²) s² / 50``.  With ``k0 = 3`` the matrix is SPD.

Why hand-written (not :func:`~pdeflow.datagen.families.from_rhs`): an elliptic problem, no
time integration; its samples are linear systems solved as one SKR sequence per chunk
(matrices from :mod:`pdeflow.datagen.families.assembly`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, final

import numpy as np
import scipy.sparse as sp

from pdeflow.datagen import samplers
from pdeflow.datagen.families import FieldSpec, LinearFamily, register

from .assembly import helmholtz_system
from .darcy import cell_centres, check_common, check_grf_options

__all__ = ["Helmholtz", "helmholtz_system"]


@register
@final
@dataclass(frozen=True)
class Helmholtz(LinearFamily):
    """``-Δu - k(x)² u = f`` with ``k = k0 (1 + 0.3 tanh GRF)`` and a fixed Gaussian source.

    Parameters
    ----------
    resolution : int
        Cells per axis (100 gives the paper's 10,000 unknowns).
    k0 : float
        Mean wavenumber (> 0).
    seed : int
    alpha, tau : float
        GRF parameters (Neumann/DCT, at the cell centres).
    contrast : float
        ``k = k0 (1 + contrast tanh(GRF))``; 0.3 by default, 0.1 with ``k0 = 30`` for the
        SKR benchmark's indefinite case.

    Notes
    -----
    Fields: ``k`` (input, (s, s)) wavenumber; ``u`` (output, (s, s)) solution; both at cell centres.

    Examples
    --------
    >>> fam = Helmholtz(resolution=16)
    >>> k = fam.sample(0)["k"]
    >>> bool((k > 3.0 * 0.7).all() and (k < 3.0 * 1.3).all())
    True
    """

    resolution: int = 100
    k0: float = 3.0
    seed: int = 0
    alpha: float = 2.0
    tau: float = 3.0
    contrast: float = 0.3
    name: ClassVar[str] = "helmholtz"

    def __post_init__(self) -> None:
        check_common(self)
        self._check_positive("k0", self.k0)
        self._check_positive("contrast", self.contrast)
        check_grf_options(self, self.alpha, self.tau)

    def fields(self) -> dict[str, FieldSpec]:
        s = (self.resolution, self.resolution)
        return {
            "k": FieldSpec("k", s, "input", ("x", "y"), "wavenumber at cell centres"),
            "u": FieldSpec("u", s, "output", ("x", "y"), "solution at cell centres"),
        }

    def coords(self) -> dict[str, np.ndarray]:
        c = cell_centres(self.resolution)
        return {"x": c, "y": c.copy()}

    def sample(self, i: int) -> dict[str, Any]:
        s = self.resolution
        g = samplers.grf((s, s), self.rng(i), alpha=self.alpha, tau=self.tau)
        return {"k": self.k0 * (1.0 + self.contrast * np.tanh(g))}

    def assemble(self, sample: Mapping[str, Any]) -> tuple[sp.csr_matrix, np.ndarray]:
        return helmholtz_system(sample["k"])

    def to_outputs(self, sample: Mapping[str, Any], solution: np.ndarray) -> dict[str, np.ndarray]:
        s = self.resolution
        return {"u": np.asarray(solution, dtype=float).reshape(s, s)}
