"""Constrained logistic regression on real data shipped with scikit-learn.

::

    min_w  1/N sum_i log(1 + exp(-y_i a_i^T w))   s.t.   A w = b,   ||w||^2 = 1,

with standardized features ``a_i`` (breast cancer: d = 30; digits, labels 0-4 vs 5-9:
d = 64), a seeded Gaussian ``A`` (10 x d) and ``b = A w_feas`` for a random unit vector
``w_feas`` (so the constraints are feasible).  Derivatives are written by hand (numpy).
"""

from __future__ import annotations

import numpy as np

from pdeflow.errors import ConfigError
from pdeflow.solvers.optim.problem import ConstrainedProblem

__all__ = ["load_dataset", "logistic_problem"]


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Standardized features (N, d) and labels in {-1, +1} (N,) of a scikit-learn dataset."""
    from sklearn import datasets

    if name == "breast_cancer":
        X, y = datasets.load_breast_cancer(return_X_y=True)
        labels = np.where(y == 1, 1.0, -1.0)
    elif name == "digits":
        X, y = datasets.load_digits(return_X_y=True)
        labels = np.where(y >= 5, 1.0, -1.0)
    else:
        raise ConfigError(f"The 'name' parameter of logistic_problem must be one of "
                          f"['breast_cancer', 'digits']. Got {name!r}.")
    X = np.asarray(X, dtype=float)
    std = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return X, labels


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * t))


def logistic_problem(name: str = "breast_cancer", n_linear: int = 10,
                     seed: int = 0) -> ConstrainedProblem:
    """Build the constrained logistic regression problem on ``name``.

    Parameters
    ----------
    name : {"breast_cancer", "digits"}
    n_linear : int
        Rows of the Gaussian constraint matrix ``A``.
    seed : int
        Seed for ``A`` and ``w_feas``.

    Returns
    -------
    ConstrainedProblem
        ``n = d`` variables, ``m = n_linear + 1`` constraints, ``x0 = 1/sqrt(d)``.
    """
    X, y = load_dataset(name)
    N, d = X.shape
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n_linear, d))
    w_feas = rng.standard_normal(d)
    w_feas /= np.linalg.norm(w_feas)
    b = A @ w_feas
    Xy = X * y[:, None]

    def f(w: np.ndarray) -> float:
        return float(np.mean(np.logaddexp(0.0, -(Xy @ w))))

    def grad(w: np.ndarray) -> np.ndarray:
        return -(Xy.T @ _sigmoid(-(Xy @ w))) / N

    def cons(w: np.ndarray) -> np.ndarray:
        return np.concatenate([A @ w - b, [w @ w - 1.0]])

    def jac(w: np.ndarray) -> np.ndarray:
        return np.vstack([A, 2.0 * w[None, :]])

    def hess(w: np.ndarray, lam: np.ndarray) -> np.ndarray:
        s = _sigmoid(Xy @ w)
        return (X.T * (s * (1.0 - s))) @ X / N + 2.0 * lam[-1] * np.eye(d)

    return ConstrainedProblem(f=f, grad=grad, cons=cons, jac=jac, hess=hess,
                              x0=np.full(d, 1.0 / np.sqrt(d)), name=f"logistic-{name}")
