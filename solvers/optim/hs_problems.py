"""The 12 equality-constrained Hock-Schittkowski problems (Hock & Schittkowski, 1981).

Each problem is written once, as code that runs both under JAX and under numpy, with its
standard start and known optimum; derivatives come from :meth:`ConstrainedProblem.from_jax`
(``source="jax"``) or :meth:`ConstrainedProblem.from_numpy` (``source="numpy"``).

Examples
--------
>>> p = hs_problem("hs6")
>>> p.x0.tolist(), p.f_star
([-1.2, 1.0], 0.0)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pdeflow.errors import ConfigError
from pdeflow.solvers.optim.problem import ConstrainedProblem

__all__ = ["HS_NAMES", "HS_SPECS", "hs_problem", "HSSpec"]


@dataclass(frozen=True, slots=True)
class HSSpec:
    """One Hock-Schittkowski problem: functions, standard start, optimal value."""

    f: Callable[[Any], Any]
    c: Callable[[Any], Any]
    x0: tuple[float, ...]
    f_star: float


def _is_jax(v: Any) -> bool:
    return type(v).__module__.split(".")[0] in ("jax", "jaxlib")


def _stack(*items: Any) -> Any:
    if any(_is_jax(v) for v in items):
        import jax.numpy as jnp

        return jnp.stack(items)
    return np.stack(items)


def _sin(v: Any) -> Any:
    if _is_jax(v):
        import jax.numpy as jnp

        return jnp.sin(v)
    return np.sin(v)


def _log(v: Any) -> Any:
    if _is_jax(v):
        import jax.numpy as jnp

        return jnp.log(v)
    return np.log(v)


HS_SPECS: dict[str, HSSpec] = {
    "hs6": HSSpec(
        f=lambda x: (1 - x[0]) ** 2,
        c=lambda x: _stack(10 * (x[1] - x[0] ** 2)),
        x0=(-1.2, 1.0), f_star=0.0),
    "hs7": HSSpec(
        f=lambda x: _log(1 + x[0] ** 2) - x[1],
        c=lambda x: _stack((1 + x[0] ** 2) ** 2 + x[1] ** 2 - 4),
        x0=(2.0, 2.0), f_star=-math.sqrt(3.0)),
    "hs26": HSSpec(
        f=lambda x: (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 4,
        c=lambda x: _stack((1 + x[1] ** 2) * x[0] + x[2] ** 4 - 3),
        x0=(-2.6, 2.0, 2.0), f_star=0.0),
    "hs27": HSSpec(
        f=lambda x: 0.01 * (x[0] - 1) ** 2 + (x[1] - x[0] ** 2) ** 2,
        c=lambda x: _stack(x[0] + x[2] ** 2 + 1),
        x0=(2.0, 2.0, 2.0), f_star=0.04),
    "hs28": HSSpec(
        f=lambda x: (x[0] + x[1]) ** 2 + (x[1] + x[2]) ** 2,
        c=lambda x: _stack(x[0] + 2 * x[1] + 3 * x[2] - 1),
        x0=(-4.0, 1.0, 1.0), f_star=0.0),
    "hs39": HSSpec(
        f=lambda x: -x[0],
        c=lambda x: _stack(x[1] - x[0] ** 3 - x[2] ** 2, x[0] ** 2 - x[1] - x[3] ** 2),
        x0=(2.0, 2.0, 2.0, 2.0), f_star=-1.0),
    "hs40": HSSpec(
        f=lambda x: -x[0] * x[1] * x[2] * x[3],
        c=lambda x: _stack(x[0] ** 3 + x[1] ** 2 - 1, x[0] ** 2 * x[3] - x[2],
                           x[3] ** 2 - x[1]),
        x0=(0.8, 0.8, 0.8, 0.8), f_star=-0.25),
    "hs42": HSSpec(
        f=lambda x: (x[0] - 1) ** 2 + (x[1] - 2) ** 2 + (x[2] - 3) ** 2 + (x[3] - 4) ** 2,
        c=lambda x: _stack(x[0] - 2, x[2] ** 2 + x[3] ** 2 - 2),
        x0=(1.0, 1.0, 1.0, 1.0), f_star=28.0 - 10.0 * math.sqrt(2.0)),
    "hs46": HSSpec(
        f=lambda x: (x[0] - x[1]) ** 2 + (x[2] - 1) ** 2 + (x[3] - 1) ** 4 + (x[4] - 1) ** 6,
        c=lambda x: _stack(x[0] ** 2 * x[3] + _sin(x[3] - x[4]) - 1,
                           x[1] + x[2] ** 4 * x[3] ** 2 - 2),
        x0=(0.5 * math.sqrt(2.0), 1.75, 0.5, 2.0, 2.0), f_star=0.0),
    "hs48": HSSpec(
        f=lambda x: (x[0] - 1) ** 2 + (x[1] - x[2]) ** 2 + (x[3] - x[4]) ** 2,
        c=lambda x: _stack(x[0] + x[1] + x[2] + x[3] + x[4] - 5, x[2] - 2 * (x[3] + x[4]) + 3),
        x0=(3.0, 5.0, -3.0, 2.0, -2.0), f_star=0.0),
    "hs49": HSSpec(
        f=lambda x: (x[0] - x[1]) ** 2 + (x[2] - 1) ** 2 + (x[3] - 1) ** 4 + (x[4] - 1) ** 6,
        c=lambda x: _stack(x[0] + x[1] + x[2] + 4 * x[3] - 7, x[2] + 5 * x[4] - 6),
        x0=(10.0, 7.0, 2.0, -3.0, 0.8), f_star=0.0),
    "hs50": HSSpec(
        f=lambda x: (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 2 + (x[2] - x[3]) ** 4
        + (x[3] - x[4]) ** 2,
        c=lambda x: _stack(x[0] + 2 * x[1] + 3 * x[2] - 6, x[1] + 2 * x[2] + 3 * x[3] - 6,
                           x[2] + 2 * x[3] + 3 * x[4] - 6),
        x0=(35.0, -31.0, 11.0, 5.0, -5.0), f_star=0.0),
}

HS_NAMES: tuple[str, ...] = tuple(HS_SPECS)


@functools.cache
def hs_problem(name: str, source: str = "jax") -> ConstrainedProblem:
    """The Hock-Schittkowski problem ``name`` (e.g. ``"hs6"``), compiled once and cached.

    Parameters
    ----------
    name : str
        One of :data:`HS_NAMES`.
    source : {"jax", "numpy"}
        Derivatives by JAX autodiff or by :mod:`pdeflow.symbolic` tracing (Numba).

    Returns
    -------
    ConstrainedProblem
        With ``x0`` the standard start and ``f_star`` the known optimal value.
    """
    key = name.lower()
    if key not in HS_SPECS:
        raise ConfigError(
            f"The 'name' parameter of hs_problem must be one of {list(HS_NAMES)}. Got {name!r}."
        )
    if source not in ("jax", "numpy"):
        raise ConfigError(f"The 'source' parameter of hs_problem must be 'jax' or 'numpy'. "
                          f"Got {source!r}.")
    spec = HS_SPECS[key]
    build = ConstrainedProblem.from_jax if source == "jax" else ConstrainedProblem.from_numpy
    return build(spec.f, spec.c, list(spec.x0), name=key, f_star=spec.f_star)
