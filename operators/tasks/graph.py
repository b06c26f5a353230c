"""Graph learning: PyG graphs of different sizes, batched into one disjoint graph.

Samples are :class:`torch_geometric.data.Data` graphs (as the datasets and streams
of :mod:`pdeflow.datagen` hand out ragged fields on request). :class:`GraphTask`
batches them with ``Batch.from_data_list``, computes the loss per graph (so a
large graph does not outweigh a small one) and averages over the graphs.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import IterableDataset

from pdeflow.errors import ConfigError, DataError, ShapeError
from pdeflow.operators.normalizers import UnitGaussianNormalizer
from pdeflow.operators.tasks.base import Metrics, Task

__all__ = ["GraphTask", "per_graph_error"]

GraphLoss = Literal["l2", "mse"]
_LOSSES = ("l2", "mse")


def per_graph_error(
    pred: torch.Tensor,
    target: torch.Tensor,
    index: torch.Tensor,
    num_graphs: int,
    kind: GraphLoss = "l2",
) -> torch.Tensor:
    r"""The error of each graph: relative L2 or mean squared error over its rows.

    ``"l2"`` is :math:`\|p_g - t_g\|_2 / \|t_g\|_2` and ``"mse"`` is
    :math:`\mathrm{mean}\,(p_g - t_g)^2`, both over the rows (nodes, or the one
    row of a graph-level target) and features of graph :math:`g`.

    Parameters
    ----------
    pred, target : torch.Tensor
        ``(R, *F)`` predictions and targets, one row per node or per graph.
    index : torch.Tensor
        ``(R,)`` int64, the graph of each row (PyG's ``batch`` vector, or
        ``arange(num_graphs)`` for graph-level targets).
    num_graphs : int
    kind : {"l2", "mse"}

    Returns
    -------
    torch.Tensor
        ``(num_graphs,)``.

    Examples
    --------
    >>> t = torch.tensor([[1.0], [1.0], [2.0]])
    >>> per_graph_error(2 * t, t, torch.tensor([0, 0, 1]), 2, "mse")
    tensor([1., 4.])
    """
    diff = (pred - target).reshape(pred.shape[0], -1)
    sq = torch.zeros(num_graphs, dtype=diff.dtype, device=diff.device)
    sq = sq.index_add(0, index, diff.pow(2).sum(1))
    if kind == "mse":
        rows = torch.zeros(num_graphs, dtype=diff.dtype, device=diff.device)
        rows = rows.index_add(0, index, torch.ones_like(diff[:, 0]))
        return sq / (rows * diff.shape[1]).clamp_min(1)
    ref = torch.zeros_like(sq).index_add(0, index, target.reshape(pred.shape[0], -1).pow(2).sum(1))
    return sq.sqrt() / ref.sqrt().clamp_min(torch.finfo(diff.dtype).tiny)


class GraphTask(Task):
    """Regression on graphs of different sizes, node-level or graph-level targets.

    The model is called as ``model(*[batch[k] for k in inputs])`` (by default
    ``model(x, edge_index)``, PyG's convention) and returns one row per node, or
    one per graph, like ``batch[target]``. The loss is :func:`per_graph_error`
    averaged over the graphs of the batch.

    Parameters
    ----------
    inputs : sequence of str
        Attributes of the batch passed to the model, in order.
    target : str
        Attribute holding the targets.
    loss : {"l2", "mse"}
        Per-graph relative L2 (default) or mean squared error.
    normalize : bool
        Fit unit-Gaussian normalizers on the node features ``x`` and the targets
        over the training graphs (:meth:`prepare`); the model then sees encoded
        features and its output is decoded before the loss, so errors are in
        physical units.
    normalizer_samples : int
        Number of training graphs to fit the normalizers on.

    Raises
    ------
    ConfigError
        An unknown ``loss`` or empty ``inputs``.

    Shapes
    ------
    ``collate``: list of ``Data`` with ``x (N_i, F)``, ``edge_index (2, E_i)``,
    ``y (N_i, T)`` or ``(1, T)`` -> a ``Batch`` with ``x (sum N_i, F)``,
    ``edge_index (2, sum E_i)``, ``batch (sum N_i,)``.

    Examples
    --------
    >>> import torch
    >>> from torch_geometric.data import Data
    >>> graphs = [Data(x=torch.randn(n, 2), y=torch.randn(n, 1),
    ...                edge_index=torch.tensor([[0, 1], [1, 0]])) for n in (3, 5)]
    >>> task = GraphTask()
    >>> batch = task.collate(graphs)
    >>> int(batch.num_graphs), tuple(batch.x.shape)
    (2, (8, 2))
    >>> model = lambda x, edge_index: x[:, :1]
    >>> loss, _ = task.step(model, batch)
    >>> sorted(task.evaluate(model, [batch]))
    ['l2', 'mse']
    """

    def __init__(
        self,
        inputs: Sequence[str] = ("x", "edge_index"),
        target: str = "y",
        loss: GraphLoss = "l2",
        *,
        normalize: bool = False,
        normalizer_samples: int = 256,
    ) -> None:
        if loss not in _LOSSES:
            raise ConfigError(
                f"The 'loss' parameter of GraphTask must be one of {_LOSSES}. Got {loss!r}."
            )
        if not inputs:
            raise ConfigError(
                "The 'inputs' parameter of GraphTask must name at least one attribute."
            )
        self.inputs = tuple(inputs)
        self.target = target
        self.loss = loss
        self.normalize = bool(normalize)
        self.normalizer_samples = int(normalizer_samples)
        self.normalizers = {"x": None, target: None}

    # ---------------------------------------------------------------- Task
    def collate(self, samples: Sequence[Any]) -> Any:
        """One PyG ``Batch`` of the graphs in ``samples``.

        Raises
        ------
        DataError
            A sample is not a ``torch_geometric.data.Data``, or lacks an input or the target.
        ShapeError
            Graphs whose node features, edge features or targets differ in width.
        """
        from torch_geometric.data import Batch, Data

        graphs = list(samples)
        for i, g in enumerate(graphs):
            if not isinstance(g, Data):
                raise DataError(
                    f"GraphTask sample {i} is a {type(g).__name__}, not a torch_geometric Data "
                    "(open ragged datasets as graphs)"
                )
        self._check_widths(graphs)
        return Batch.from_data_list(graphs)

    def _check_widths(self, graphs: list[Any]) -> None:
        if not graphs:
            raise DataError("GraphTask got an empty list of graphs")
        for key in self.inputs + (self.target,):
            if key not in graphs[0]:
                raise DataError(
                    f"GraphTask graph 0 has no attribute {key!r}; it has {sorted(graphs[0].keys())}"
                )
        names = [k for k in graphs[0].keys() if k != "edge_index"]
        for key in names:
            first = graphs[0][key]
            if not isinstance(first, torch.Tensor) or first.ndim < 2:
                continue
            for i, g in enumerate(graphs[1:], start=1):
                other = g[key] if key in g else None
                if not isinstance(other, torch.Tensor) or other.shape[1:] != first.shape[1:]:
                    shape = None if other is None else tuple(getattr(other, "shape", ()))
                    raise ShapeError(
                        f"GraphTask batch: {key!r} of graph {i} has shape {shape} but graph 0 "
                        f"has {tuple(first.shape)}; every graph needs the same feature width"
                    )

    def predict(self, model: nn.Module, batch: Any) -> torch.Tensor:
        """Model output for ``batch`` in physical units (normalizers applied)."""
        xn, yn = self.normalizers["x"], self.normalizers[self.target]
        if xn is not None:
            batch = copy.copy(batch)
            batch.x = xn.encode(batch.x)
        args = []
        for key in self.inputs:
            if key not in batch:
                raise DataError(f"GraphTask batch has no attribute {key!r} (inputs={self.inputs})")
            args.append(batch[key])
        pred = model(*args)
        return yn.decode(pred) if yn is not None else pred

    def errors(self, model: nn.Module, batch: Any, kind: GraphLoss) -> torch.Tensor:
        """``(num_graphs,)`` per-graph errors of ``model`` on ``batch``.

        Raises
        ------
        ShapeError
            The prediction has neither one row per node nor one per graph, or a different
            width from the target.
        """
        pred = self.predict(model, batch)
        target = batch[self.target]
        n, g = int(batch.num_nodes), int(batch.num_graphs)
        if pred.shape[0] == target.shape[0] == n:
            index = batch.batch
        elif pred.shape[0] == target.shape[0] == g:
            index = torch.arange(g, device=target.device)
        else:
            raise ShapeError(
                f"GraphTask: prediction {tuple(pred.shape)} and target {self.target!r} "
                f"{tuple(target.shape)} need one row per node ({n}) or per graph ({g})"
            )
        if pred.numel() != target.numel():
            raise ShapeError(
                f"GraphTask: prediction {tuple(pred.shape)} does not match target "
                f"{self.target!r} {tuple(target.shape)}"
            )
        return per_graph_error(pred.reshape(target.shape), target, index, g, kind)

    def step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, Metrics]:
        """Mean over the graphs of the per-graph loss."""
        return self.errors(model, batch, self.loss).mean(), {}

    def evaluate(self, model: nn.Module, data: Iterable[Any]) -> Metrics:
        """Per-graph relative L2 and MSE, averaged over every graph of ``data``."""
        sums = {"l2": 0.0, "mse": 0.0}
        count = 0
        for batch in data:
            for kind in sums:
                sums[kind] += float(self.errors(model, batch, kind).sum())
            count += int(batch.num_graphs)
        return {k: v / max(count, 1) for k, v in sums.items()}

    # ---------------------------------------------------------------- normalizers
    def prepare(self, data: Any) -> None:
        """Fit the normalizers on the first graphs of ``data`` when ``normalize`` and none is
        set yet."""
        if self.normalize and all(v is None for v in self.normalizers.values()):
            self.fit_normalizers(data)

    def fit_normalizers(self, data: Any) -> None:
        """Fit unit-Gaussian normalizers of ``x`` and the target on up to
        ``normalizer_samples`` graphs of ``data`` (rows pooled over every graph)."""
        n = self.normalizer_samples
        if isinstance(data, IterableDataset) or not hasattr(data, "__len__"):
            graphs = list(itertools.islice(iter(data), n))
        else:
            graphs = [data[i] for i in range(min(n, len(data)))]
        if not graphs:
            raise DataError("cannot fit normalizers: the training data holds no graph")
        self._check_widths(graphs)
        fitted = {}
        for key in ("x", self.target):
            rows = torch.cat([g[key].reshape(g[key].shape[0], -1) for g in graphs])
            fitted[key] = UnitGaussianNormalizer.fitted(rows)
        self.normalizers = fitted

    def __repr__(self) -> str:
        return f"GraphTask(inputs={self.inputs}, target={self.target!r}, loss={self.loss!r})"
