"""pdeflow.solvers: Krylov recycling (GCRO-DR, recycled CG), SKR ordering, preconditioners,
linear-algebra backends (scipy, PETSc).  Solvers never know which PDE they solve: problem
families, their assembly and random fields live in :mod:`pdeflow.datagen.families`.

Entry points
------------
:func:`gmres`, :func:`fgmres`, :func:`gcrodr`, :func:`cg`, :func:`recycled_cg`,
:func:`direct_solve`, :func:`skr_order`, :func:`solve_sequence`.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> from pdeflow.solvers import solve_sequence
>>> L = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(256, 256), format="csr")
>>> params = np.linspace(0.5, 1.0, 8)[:, None]
>>> systems = [((L + c * sp.identity(256)).tocsr(), np.ones(256)) for c in params[:, 0]]
>>> res = solve_sequence(systems, "skr", params=params)
>>> res.method, res.solutions.shape
('skr', (8, 256))
"""

from .backends import AbstractBackend, Operator, PetscBackend, ScipyBackend, backend_for
from .cg import DeflationSpace, cg, recycled_cg
from .direct import SparseLDL, direct_solve, factorize, is_symmetric, splu_factor
from .gcrodr import RecycleSpace, gcrodr
from .gmres import fgmres, gmres
from .ordering import hilbert_index, lowpass_features, morton_index, path_length, skr_order
from .preconditioners import (
    AMG,
    ASM,
    ILU,
    LU,
    SOR,
    AbstractPreconditioner,
    BJacobi,
    BuiltPreconditioner,
    Identity,
    Jacobi,
    make_preconditioner,
)
from .sequence import (
    PC_REFRESH,
    AutoChoice,
    AutoStrategy,
    SequenceResult,
    SequenceSettings,
    SystemReport,
    solve_sequence,
)
from .status import SolveResult, SolveStatus
from .strategies import (
    CGStrategy,
    DirectStrategy,
    GMRESStrategy,
    RecycledCGStrategy,
    SequenceStrategy,
    SKRStrategy,
)

__all__ = [
    "AbstractBackend",
    "Operator",
    "ScipyBackend",
    "PetscBackend",
    "backend_for",
    "SolveStatus",
    "SolveResult",
    "gmres",
    "fgmres",
    "gcrodr",
    "RecycleSpace",
    "cg",
    "recycled_cg",
    "DeflationSpace",
    "direct_solve",
    "factorize",
    "splu_factor",
    "SparseLDL",
    "is_symmetric",
    "skr_order",
    "path_length",
    "lowpass_features",
    "hilbert_index",
    "morton_index",
    "solve_sequence",
    "SequenceResult",
    "SystemReport",
    "SequenceSettings",
    "PC_REFRESH",
    "AutoStrategy",
    "AutoChoice",
    "SequenceStrategy",
    "GMRESStrategy",
    "SKRStrategy",
    "CGStrategy",
    "RecycledCGStrategy",
    "DirectStrategy",
    "AbstractPreconditioner",
    "BuiltPreconditioner",
    "Identity",
    "Jacobi",
    "SOR",
    "ILU",
    "LU",
    "AMG",
    "ASM",
    "BJacobi",
    "make_preconditioner",
]
