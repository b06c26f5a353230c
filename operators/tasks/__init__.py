"""Training tasks: what the :class:`~pdeflow.operators.trainer.Trainer` trains on.

A task batches samples (``collate``), computes the loss of a batch (``step``), judges a
model (``evaluate``) and owns the normalizers fitted on the data.

- :class:`SupervisedTask`: ``{"x", "y"}`` fields, ``loss(pred, target)`` (the default);
- :class:`GraphTask`: PyG graphs of different sizes, per-graph loss;
- :class:`PhysicsTask`: a residual loss with no targets, on states drawn from a family's sampler
  into a pool refreshed by the model's own steps (:meth:`PhysicsTask.dataset`);
- :class:`RolloutEvaluator`: autoregressive rollouts against reference trajectories, error
  against time.

Examples
--------
>>> from pdeflow.operators.tasks import GraphTask, SupervisedTask
>>> SupervisedTask().normalizers
{'x': None, 'y': None}
"""

from pdeflow._lazy import lazy_exports

from .base import Metrics, Task

_LAZY = {
    "SupervisedTask": ".supervised",
    "GraphTask": ".graph",
    "per_graph_error": ".graph",
    "PhysicsTask": ".physics",
    "PoolDataset": ".physics",
    "RolloutEvaluator": ".rollout",
    "RolloutResult": ".rollout",
}

__all__ = [
    "GraphTask",
    "Metrics",
    "PhysicsTask",
    "PoolDataset",
    "RolloutEvaluator",
    "RolloutResult",
    "SupervisedTask",
    "Task",
    "per_graph_error",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY, public=__all__)
