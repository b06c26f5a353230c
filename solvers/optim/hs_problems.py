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

__all__ = ["HS_NAMES", "HS_SPECS", "HS_INEQ_NAMES", "HS_INEQ_SPECS", "hs_problem", "HSSpec"]


@dataclass(frozen=True, slots=True)
class HSSpec:
    """One Hock-Schittkowski problem: functions, standard start, optimal value.

    ``c`` (equalities, may be ``None``), ``g`` (inequalities written as ``g(x) <= 0``) and
    ``bounds`` (pairs, ``None`` for a missing side).
    """

    f: Callable[[Any], Any]
    c: Callable[[Any], Any] | None
    x0: tuple[float, ...]
    f_star: float
    g: Callable[[Any], Any] | None = None
    bounds: tuple[tuple[float | None, float | None], ...] | None = None


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


def _hs118_g(x: Any) -> Any:
    """HS118's 29 linear inequalities as ``g(x) <= 0`` (ramping limits, then demands)."""
    rows = []
    for j in range(1, 5):
        for off, hi in ((0, 13.0), (1, 14.0), (2, 13.0)):
            d = x[3 * j + off] - x[3 * j - 3 + off] + 7.0
            rows += [-d, d - hi]
    for k, demand in enumerate((60.0, 50.0, 70.0, 85.0, 100.0)):
        rows.append(demand - (x[3 * k] + x[3 * k + 1] + x[3 * k + 2]))
    return _stack(*rows)


def _hs118_f(x: Any) -> Any:
    total = 0.0
    for k in range(5):
        a, b, c = x[3 * k], x[3 * k + 1], x[3 * k + 2]
        total = total + 2.3 * a + 1e-4 * a**2 + 1.7 * b + 1e-4 * b**2 + 2.2 * c + 1.5e-4 * c**2
    return total


#: Hock-Schittkowski problems with inequalities and bounds (interior-point checks).
HS_INEQ_SPECS: dict[str, HSSpec] = {
    "hs21": HSSpec(
        f=lambda x: 0.01 * x[0] ** 2 + x[1] ** 2 - 100.0, c=None,
        g=lambda x: _stack(10.0 + x[1] - 10.0 * x[0]),
        bounds=((2.0, 50.0), (-50.0, 50.0)), x0=(-1.0, -1.0), f_star=-99.96),
    "hs35": HSSpec(
        f=lambda x: 9 - 8 * x[0] - 6 * x[1] - 4 * x[2] + 2 * x[0] ** 2 + 2 * x[1] ** 2
        + x[2] ** 2 + 2 * x[0] * x[1] + 2 * x[0] * x[2], c=None,
        g=lambda x: _stack(x[0] + x[1] + 2 * x[2] - 3),
        bounds=((0.0, None),) * 3, x0=(0.5, 0.5, 0.5), f_star=1.0 / 9.0),
    "hs71": HSSpec(
        f=lambda x: x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2],
        c=lambda x: _stack(x[0] ** 2 + x[1] ** 2 + x[2] ** 2 + x[3] ** 2 - 40),
        g=lambda x: _stack(25 - x[0] * x[1] * x[2] * x[3]),
        bounds=((1.0, 5.0),) * 4, x0=(1.0, 5.0, 5.0, 1.0), f_star=17.0140173),
    "hs118": HSSpec(
        f=_hs118_f, c=None, g=_hs118_g,
        bounds=((8.0, 21.0), (43.0, 57.0), (3.0, 16.0)) + ((0.0, 90.0), (0.0, 120.0),
                                                           (0.0, 60.0)) * 4,
        x0=(20.0, 55.0, 15.0) + (20.0, 60.0, 20.0) * 4, f_star=664.82045),
}

HS_INEQ_NAMES: tuple[str, ...] = tuple(HS_INEQ_SPECS)


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
    specs = {**HS_SPECS, **HS_INEQ_SPECS}
    if key not in specs:
        raise ConfigError(
            f"The 'name' parameter of hs_problem must be one of {list(specs)}. Got {name!r}."
        )
    if source not in ("jax", "numpy"):
        raise ConfigError(f"The 'source' parameter of hs_problem must be 'jax' or 'numpy'. "
                          f"Got {source!r}.")
    spec = specs[key]
    build = ConstrainedProblem.from_jax if source == "jax" else ConstrainedProblem.from_numpy
    return build(spec.f, spec.c, list(spec.x0), g=spec.g, bounds=spec.bounds, name=key,
                 f_star=spec.f_star)
