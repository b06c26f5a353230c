"""pdeflow.meshes: grids, unstructured meshes, mesh movement, and graphs of point clouds.

Entry points
------------
:func:`radius_graph`, :func:`knn_graph` (exact neighbour graphs in PyG's ``edge_index``
layout, CPU via scipy's cKDTree or any torch device via a cell list), :class:`CappedGraph`.

Examples
--------
>>> import numpy as np
>>> from pdeflow.meshes import radius_graph
>>> radius_graph(np.array([[0.0, 0.0], [0.5, 0.0], [2.0, 0.0]]), r=1.0)
array([[1, 0],
       [0, 1]])
"""

from pdeflow._lazy import lazy_exports

# scipy (and torch, for the torch backend) load on first use
_LAZY = {
    "CappedGraph": ".graph",
    "knn_graph": ".graph",
    "radius_graph": ".graph",
}

__all__ = ["CappedGraph", "graph", "knn_graph", "radius_graph"]

__getattr__, __dir__ = lazy_exports(
    __name__, globals(), _LAZY, submodules=("graph",), public=__all__
)
