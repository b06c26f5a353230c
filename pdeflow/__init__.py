"""pdeflow: numpy PDE code traced to a graph, compiled, solved, stored as datasets, and learned.

The layers, bottom up: :mod:`pdeflow.symbolic` (tracing, rewriting, code generation),
:mod:`pdeflow.solvers` (Krylov recycling, stiff ODEs), :mod:`pdeflow.meshes`,
:mod:`pdeflow.datagen` (HDF5 datasets) and :mod:`pdeflow.operators` (neural operators); the
``pdeflow`` command sits on top. Importing this package is light: import each subpackage you use.

Examples
--------
>>> import pdeflow
>>> import pdeflow.symbolic
>>> isinstance(pdeflow.__version__, str)
True
"""

__version__ = "0.1.0"

from pdeflow.threads import set_threads  # noqa: E402 (light: imports only pdeflow.errors)

__all__ = ["__version__", "set_threads"]
