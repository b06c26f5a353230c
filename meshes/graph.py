"""Exact neighbour graphs of point clouds: radius graphs and k-nearest-neighbour graphs.

PyG's ``radius_graph``/``knn_graph`` need compiled extensions (pyg-lib, torch-cluster) that
have no wheels for our Python, and cap neighbours silently; these are exact replacements
with PyG's output layout.

Conventions (the same for both functions and every backend)
-----------------------------------------------------------
* ``edge_index`` has shape ``(2, E)`` and dtype int64. Row 0 is the **source** ``j``, row 1
  the **target** ``i`` (the centre node): PyG's default ``flow="source_to_target"``, where a
  message passes from ``edge_index[0]`` to ``edge_index[1]``. Both graphs here are built
  around each target, so ``knn_graph`` gives every target its ``k`` nearest sources.
* Edges are sorted by target, then by source, so the output is deterministic and
  identical across backends.
* Distances: coordinates are converted to float64, and the squared distance of a pair is
  ``s = (a_0 - b_0)**2; s += (a_1 - b_1)**2; ...`` in axis order. Both backends decide
  with this same formula, so they give the same edges to the last bit. ``radius_graph``
  keeps a pair when ``s <= r * r``, so the ball is closed. ``knn_graph`` and
  ``max_neighbors`` rank sources by ``(s, source index)``, so ties, duplicate points
  included, go to the lower index.
* ``batch`` assigns each point to a graph (any order, ids >= 0); no edge joins two graphs.
* Self loops (``i -> i``) only with ``loop=True``. Duplicate points are distinct nodes and
  are joined like any other pair at distance 0.

Backends (``method``)
---------------------
``"kdtree"``: ``scipy.spatial.cKDTree`` on the CPU (``query_pairs`` for radius graphs,
``query`` for kNN). The squared distances are recomputed with the formula above, so the
result does not depend on scipy's rounding.
``"torch"``: pure torch, on the tensor's device. For radius graphs it uses a cell list:
points are hashed into a uniform grid of cells at least ``r`` wide and sorted by cell,
and each pair of points in the same or adjacent cells (``3**dim`` cells per point) is
examined once. Its cost grows as ``3**dim``, so it is meant for 2-D and 3-D. For kNN it
computes exact distances within each graph in chunks and takes ``topk``: this is
``O(n_g**2)`` per graph of ``n_g`` points, suited to graphs of up to ~1e5 points on a GPU.
Memory stays bounded by the chunking. This backend also runs on CPU tensors (slower there
than the kd-tree: 13x for a 100k-point radius graph).
``"auto"`` (default): ``"torch"`` for tensors on an accelerator, ``"kdtree"`` otherwise.

Inputs are numpy arrays or torch tensors of any dimension. The result is of the same kind
(a tensor on ``x``'s device for a tensor ``x``).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, overload

import numpy as np
from scipy.spatial import cKDTree

from pdeflow.errors import ConfigError, DataError, ShapeError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["CappedGraph", "radius_graph", "knn_graph"]

Method = Literal["auto", "kdtree", "torch"]
_METHODS = ("auto", "kdtree", "torch")
# the query radius of the kd-tree is widened by this relative margin; pairs are then
# decided exactly with the float64 formula of the module docstring
_KD_MARGIN = 1e-9
# squares of coordinate differences below ~1e-162 underflow to 0, so searches reach at
# least this far (in distance; its square is still a normal float)
TINY_DISTANCE = 1e-140


class CappedGraph(NamedTuple):
    """What :func:`radius_graph` returns when ``max_neighbors`` is given.

    Attributes
    ----------
    edge_index : ndarray or Tensor, shape (2, E), int64
        The kept edges. Each target keeps its ``max_neighbors`` nearest sources,
        ranked by (distance, source index).
    n_dropped : int
        How many edges of the exact radius graph were dropped by the cap (0 when no target
        had more than ``max_neighbors`` neighbours).
    """

    edge_index: Any
    n_dropped: int


# ---------------------------------------------------------------------- input checks
def _torch_module() -> Any:
    return sys.modules.get("torch")


def _is_tensor(a: Any) -> bool:
    torch = _torch_module()
    return torch is not None and isinstance(a, torch.Tensor)


def _points(x: Any, who: str) -> np.ndarray | torch.Tensor:
    """``x`` as float64 (numpy, or torch on its device), checked: 2-D, finite."""
    if _is_tensor(x):
        torch = _torch_module()
        if x.is_complex() or x.dtype == torch.bool:
            raise DataError(f"{who}: x must hold real coordinates, got dtype {x.dtype}")
        pts = x.detach().to(torch.float64)
        finite = bool(torch.isfinite(pts).all())
    else:
        arr = np.asarray(x)
        if arr.dtype.kind not in "fiu":
            raise DataError(f"{who}: x must hold real coordinates, got dtype {arr.dtype}")
        pts = arr.astype(np.float64, copy=False)
        finite = bool(np.isfinite(pts).all())
    if pts.ndim != 2 or pts.shape[1] < 1:
        raise ShapeError(
            f"{who}: x must be 2-D, shape (num_points, dim) with dim >= 1; "
            f"got shape {tuple(pts.shape)}"
        )
    if not finite:
        bad = (~np.isfinite(_to_numpy(pts))).any(axis=1).nonzero()[0]
        raise DataError(
            f"{who}: x has non-finite coordinates at {bad.size} point(s) (first: point "
            f"{int(bad[0])}); remove or fix them"
        )
    return pts


def _to_numpy(a: Any) -> np.ndarray:
    return a.detach().cpu().numpy() if _is_tensor(a) else np.asarray(a)


def _batch(batch: Any, n: int, who: str) -> np.ndarray | None:
    """``batch`` as a numpy int64 vector of length ``n`` (or None), checked."""
    if batch is None:
        return None
    b = _to_numpy(batch)
    if b.ndim != 1 or b.shape[0] != n:
        raise ShapeError(
            f"{who}: batch must be 1-D with one graph id per point ({n}); "
            f"got shape {tuple(b.shape)}"
        )
    if b.dtype.kind not in "iu":
        raise DataError(f"{who}: batch must hold integer graph ids, got dtype {b.dtype}")
    if n and b.min() < 0:
        raise DataError(f"{who}: batch holds a negative graph id ({int(b.min())}); ids are >= 0")
    return b.astype(np.int64, copy=False)


def _compact(b: np.ndarray | None) -> np.ndarray | None:
    """Graph ids renumbered 0..B-1 (order kept); ``None`` stays ``None``."""
    if b is None:
        return None
    if b.size and (np.diff(b) >= 0).all():  # sorted: no sort needed
        starts = np.concatenate([[True], b[1:] != b[:-1]])
        return np.cumsum(starts) - 1
    return np.unique(b, return_inverse=True)[1].astype(np.int64)


def _method(method: str, x: Any, who: str) -> str:
    if method not in _METHODS:
        raise ConfigError(
            f"The 'method' parameter of {who} must be one of {_METHODS}. Got {method!r}."
        )
    if method == "auto":
        return "torch" if _is_tensor(x) and x.device.type != "cpu" else "kdtree"
    return method


def _positive_int(value: Any, name: str, who: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(
            f"The '{name}' parameter of {who} must be an int >= {minimum}. Got {value!r}."
        )
    return int(value)


def _radius(r: Any, who: str) -> float:
    try:
        value = float(r)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(r, bool) or not np.isfinite(value) or value < 0:
        raise ConfigError(f"The 'r' parameter of {who} must be a finite float >= 0. Got {r!r}.")
    return value


# ---------------------------------------------------------------------- shared numpy helpers
def _columns(x: np.ndarray) -> list[np.ndarray]:
    return [np.ascontiguousarray(x[:, k]) for k in range(x.shape[1])]


def _sq_dist_np(cols: list[np.ndarray], src: np.ndarray, tgt: np.ndarray) -> np.ndarray:
    """Squared distances of pairs from the coordinate columns (the module's summation order)."""
    s = cols[0][src] - cols[0][tgt]
    s *= s
    for c in cols[1:]:
        d = c[src] - c[tgt]
        d *= d
        s += d
    return s


def _shift(n: int) -> int:
    return max(1, int(n - 1).bit_length())


def _sort_edges_np(src: np.ndarray, tgt: np.ndarray, n: int) -> np.ndarray:
    """``(2, E)`` int64, sorted by target then source."""
    b = _shift(n)
    key = (tgt.astype(np.int64) << b) | src.astype(np.int64)
    key.sort()
    return np.stack([key & ((1 << b) - 1), key >> b])


def _cap_np(
    src: np.ndarray, tgt: np.ndarray, d2: np.ndarray, n: int, cap: int
) -> tuple[np.ndarray, int]:
    """Keep each target's ``cap`` nearest sources (ties by index); sorted edges, dropped."""
    order = np.lexsort((src, d2, tgt))
    t = tgt[order]
    counts = np.bincount(t, minlength=n)
    first = np.cumsum(counts) - counts
    keep = order[(np.arange(t.size) - first[t]) < cap]
    return _sort_edges_np(src[keep], tgt[keep], n), int(src.size - keep.size)


def _with_batch_column(x: np.ndarray, bid: np.ndarray | None, sep: float) -> np.ndarray:
    """Append ``graph id * sep`` as a last coordinate: graphs end up ``>= sep`` apart."""
    if bid is None:
        return x
    return np.column_stack([x, bid.astype(np.float64) * sep])


# ---------------------------------------------------------------------- radius graph
def _radius_kdtree(
    x: np.ndarray, r: float, bid: np.ndarray | None, loop: bool, cap: int | None
) -> tuple[np.ndarray, int]:
    n = x.shape[0]
    pts = _with_batch_column(x, bid, sep=2.0 * r + 1.0)
    reach = max(r * (1.0 + _KD_MARGIN), TINY_DISTANCE)
    pairs = cKDTree(pts, compact_nodes=False).query_pairs(reach, output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    d2 = _sq_dist_np(_columns(x), i, j)
    inside = d2 <= r * r
    if not inside.all():
        i, j, d2 = i[inside], j[inside], d2[inside]
    self_ = np.arange(n, dtype=np.int64) if loop else np.zeros(0, dtype=np.int64)
    if cap is None:  # pack (target, source) into one int64 key and sort once
        b = _shift(n)
        key = np.concatenate([(j << b) | i, (i << b) | j, (self_ << b) | self_])
        key.sort()
        return np.stack([key & ((1 << b) - 1), key >> b]), 0
    src, tgt = np.concatenate([i, j, self_]), np.concatenate([j, i, self_])
    return _cap_np(src, tgt, np.concatenate([d2, d2, np.zeros(self_.size)]), n, cap)


@overload
def radius_graph(
    x: Any,
    r: float,
    batch: Any = None,
    max_neighbors: None = None,
    loop: bool = False,
    method: Method = "auto",
) -> Any: ...


@overload
def radius_graph(
    x: Any,
    r: float,
    batch: Any = None,
    *,
    max_neighbors: int,
    loop: bool = False,
    method: Method = "auto",
) -> CappedGraph: ...


def radius_graph(
    x: Any,
    r: float,
    batch: Any = None,
    max_neighbors: int | None = None,
    loop: bool = False,
    method: Method = "auto",
) -> Any:
    """All pairs of points within distance ``r`` of each other, as a PyG ``edge_index``.

    Exact: every pair with squared distance ``<= r * r`` (float64, see the module
    docstring) gives two edges ``j -> i`` and ``i -> j``, and no edge is dropped unless
    ``max_neighbors`` asks for it, in which case the number dropped is returned too.

    Parameters
    ----------
    x : ndarray or Tensor, shape (N, dim)
        Point coordinates (any dim >= 1, any real dtype; finite).
    r : float
        Radius, >= 0, in the units of ``x``. The ball is closed.
    batch : ndarray or Tensor of int, shape (N,), optional
        Graph id of each point (>= 0, sorted or not); edges never join two graphs.
    max_neighbors : int, optional
        Keep at most this many edges per target: its nearest sources, ranked by
        (distance, source index). When given, the result is a :class:`CappedGraph`
        ``(edge_index, n_dropped)``.
    loop : bool
        Add the self loop ``i -> i`` of every point. It counts towards ``max_neighbors``.
    method : {"auto", "kdtree", "torch"}
        Backend (module docstring). Every backend gives the same edges.

    Returns
    -------
    edge_index : ndarray or Tensor, shape (2, E), int64
        Row 0 the source, row 1 the target, sorted by target then source. Numpy for
        numpy ``x``, a tensor on ``x``'s device for a tensor ``x``. With
        ``max_neighbors``, a :class:`CappedGraph` instead.

    Raises
    ------
    ShapeError
        ``x`` not 2-D, or ``batch`` not of length N.
    DataError
        Non-finite coordinates, non-integer or negative graph ids.
    ConfigError
        ``r`` negative or not finite, ``max_neighbors < 1``, unknown ``method``.

    Examples
    --------
    >>> import numpy as np
    >>> radius_graph(np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]]), r=1.0)
    array([[1, 0],
           [0, 1]])
    >>> radius_graph(np.zeros((3, 1)), r=1.0, max_neighbors=1)
    CappedGraph(edge_index=array([[1, 0, 0],
           [0, 1, 2]]), n_dropped=3)
    """
    who = "radius_graph"
    radius = _radius(r, who)
    cap = None if max_neighbors is None else _positive_int(max_neighbors, "max_neighbors", who)
    backend = _method(method, x, who)
    pts = _points(x, who)
    bid = _compact(_batch(batch, pts.shape[0], who))
    if pts.shape[0] == 0:
        edges, dropped = np.zeros((2, 0), dtype=np.int64), 0
    elif backend == "torch":
        from . import _graph_torch

        edges, dropped = _graph_torch.radius_edges(_as_torch(pts), radius, bid, bool(loop), cap)
    else:
        edges, dropped = _radius_kdtree(_to_numpy(pts), radius, bid, bool(loop), cap)
    out = _like(edges, x)
    return out if cap is None else CappedGraph(out, int(dropped))


# ---------------------------------------------------------------------- kNN graph
def _knn_kdtree(x: np.ndarray, k: int, bid: np.ndarray | None, loop: bool) -> np.ndarray:
    n = x.shape[0]
    diameter = float(np.sqrt(((x.max(axis=0) - x.min(axis=0)) ** 2).sum()))
    pts = _with_batch_column(x, bid, sep=2.0 * diameter + 1.0)
    tree = cKDTree(pts, compact_nodes=False)
    # one more than needed (k, plus the point itself without loops), to detect ties
    m = min(n, k + (1 if loop else 2))
    cols = tree.query(pts, k=m)[1].reshape(n, m)
    rows = np.broadcast_to(np.arange(n)[:, None], (n, m))
    valid = cols < n
    cols = np.where(valid, cols, 0)
    if bid is not None:
        valid &= bid[cols] == bid[rows]
    # the query returned the point's whole graph (it ran out of it, or asked for all)
    incomplete = ~valid.all(axis=1) | (m >= n)
    if not loop:
        valid &= cols != rows
    d2 = _sq_dist_np(_columns(x), cols.reshape(-1), rows.reshape(-1)).reshape(n, m)
    d2[~valid] = np.inf
    # rank each row's candidates by (distance, index): two stable sorts of short rows
    for by_distance in (False, True):
        order = np.argsort(d2 if by_distance else cols, axis=1, kind="stable")
        cols, d2, valid = (np.take_along_axis(a, order, axis=1) for a in (cols, d2, valid))
    # a target is settled when its graph was exhausted, or when its k-th candidate is
    # clearly nearer than its (k+1)-th: then no point outside the query can rank before
    padded = np.pad(d2, ((0, 0), (0, max(0, k + 1 - m))), constant_values=np.inf)
    kth, after = padded[:, k - 1], padded[:, k]
    settled = incomplete | (after > kth * (1.0 + 1e-7) + TINY_DISTANCE**2)
    chosen = valid & (np.arange(m) < k)[None, :] & settled[:, None]
    src, tgt = cols[chosen], rows[chosen]
    unsettled = np.flatnonzero(~settled)
    if unsettled.size:
        extra_src, extra_tgt = _knn_ties(x, pts, tree, unsettled, kth[unsettled], k, bid, loop)
        src, tgt = np.concatenate([src, extra_src]), np.concatenate([tgt, extra_tgt])
    return _sort_edges_np(src, tgt, n)


def _knn_ties(
    x: np.ndarray,
    pts: np.ndarray,
    tree: cKDTree,
    targets: np.ndarray,
    kth_d2: np.ndarray,
    k: int,
    bid: np.ndarray | None,
    loop: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Targets whose k-th neighbour ties: gather every point up to that distance, rank."""
    radii = np.sqrt(kth_d2) * (1.0 + 1e-6) + TINY_DISTANCE
    found = tree.query_ball_point(pts[targets], radii, return_sorted=False)
    lengths = np.fromiter((len(f) for f in found), dtype=np.int64, count=len(found))
    cols = np.fromiter((c for f in found for c in f), dtype=np.int64, count=int(lengths.sum()))
    rows = np.repeat(targets, lengths)
    valid = np.ones(rows.size, dtype=bool) if loop else cols != rows
    if bid is not None:
        valid &= bid[cols] == bid[rows]
    rows, cols = rows[valid], cols[valid]
    d2 = _sq_dist_np(_columns(x), cols, rows)
    order = np.lexsort((cols, d2, rows))
    rows, cols = rows[order], cols[order]
    starts = np.searchsorted(rows, rows, side="left")
    keep = (np.arange(rows.size) - starts) < k
    return cols[keep], rows[keep]


def knn_graph(
    x: Any,
    k: int,
    batch: Any = None,
    loop: bool = False,
    method: Method = "auto",
) -> Any:
    """Each point's ``k`` nearest neighbours in its graph, as a PyG ``edge_index``.

    Edges run ``j -> i`` from the ``k`` nearest sources ``j`` to each target ``i``. Sources
    are ranked by (squared float64 distance, index), so ties, duplicate points included,
    go to the lower index, and every backend gives the same graph. A target in a graph of
    ``k`` points or fewer gets every other point of it, so fewer than ``k`` edges, as in PyG.

    Parameters
    ----------
    x : ndarray or Tensor, shape (N, dim)
        Point coordinates (any dim >= 1; finite).
    k : int
        Neighbours per point, >= 1.
    batch : ndarray or Tensor of int, shape (N,), optional
        Graph id of each point (>= 0, sorted or not); neighbours come from the same graph.
    loop : bool
        Count the point itself as a candidate (distance 0), as PyG's ``loop=True``.
    method : {"auto", "kdtree", "torch"}
        Backend (module docstring).

    Returns
    -------
    edge_index : ndarray or Tensor, shape (2, E), int64
        Row 0 the source, row 1 the target, sorted by target then source.
        ``E = N * k`` when every graph has more than ``k`` points.

    Raises
    ------
    ShapeError, DataError, ConfigError
        As :func:`radius_graph`; ``k < 1`` is a ConfigError.

    Examples
    --------
    >>> import numpy as np
    >>> knn_graph(np.array([[0.0], [1.0], [3.0]]), k=1)
    array([[1, 0, 1],
           [0, 1, 2]])
    """
    who = "knn_graph"
    k = _positive_int(k, "k", who)
    backend = _method(method, x, who)
    pts = _points(x, who)
    bid = _compact(_batch(batch, pts.shape[0], who))
    if pts.shape[0] == 0:
        edges: Any = np.zeros((2, 0), dtype=np.int64)
    elif backend == "torch":
        from . import _graph_torch

        edges = _graph_torch.knn_edges(_as_torch(pts), k, bid, bool(loop))
    else:
        edges = _knn_kdtree(_to_numpy(pts), k, bid, bool(loop))
    return _like(edges, x)


# ---------------------------------------------------------------------- conversions
def _as_torch(pts: Any) -> torch.Tensor:
    if _is_tensor(pts):
        return pts
    import torch

    return torch.from_numpy(np.ascontiguousarray(pts))


def _like(edges: Any, x: Any) -> Any:
    """``edges`` as the kind of ``x``: numpy for numpy, a tensor on ``x``'s device."""
    if _is_tensor(x):
        torch = _torch_module()
        out = edges if _is_tensor(edges) else torch.from_numpy(np.ascontiguousarray(edges))
        return out.to(device=x.device, dtype=torch.int64)
    return _to_numpy(edges).astype(np.int64, copy=False)
