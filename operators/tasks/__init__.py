"""Training tasks: what the :class:`~pdeflow.operators.trainer.Trainer` trains on."""

from pdeflow.operators.tasks.base import Metrics, Task

__all__ = ["Metrics", "Task"]
