"""Families from a user's numpy right-hand side: :func:`from_rhs`.

A time-dependent PDE written as ordinary numpy code, ``f(t, y, p) -> dy`` or in-place
``f(dy, y, p, t)``, becomes a :class:`~pdeflow.datagen.families.Family`:

* the code is traced once (:func:`pdeflow.symbolic.trace`) when the family is built, so
  code that branches on data raises :class:`~pdeflow.errors.TracingError` there, not in a
  worker;
* the RHS and its sparse analytic Jacobian are compiled once per process
  (:func:`pdeflow.symbolic.compile`, :func:`pdeflow.symbolic.compile_jacobian`; the
  generated code and Numba's machine code are cached on disk, so a second worker loads
  them);
* each sample draws its initial state and parameters, binds the parameter values to the
  compiled kernels and is integrated by :func:`pdeflow.solvers.ode.solve`.  Everything but
  the values is shared between samples: kernels, the Jacobian's sparsity pattern and the
  symbolic LU analysis of the Newton matrices (cached by pattern in
  :mod:`pdeflow.solvers.sparse_lu`).

``method="auto"`` integrates a sample explicitly (``"rk45"``) where the Jacobian's
Gershgorin bound ``ρ`` at the initial state says the explicit stability limit costs at
most :data:`EXPLICIT_STEPS` steps over the time span (``ρ (t1 - t0) / 3.3``), else with
``"BDF"`` and the sparse analytic Jacobian.  Measured on Gray–Scott 64² (unit grid spacing,
t = 200, rtol 1e-4): rk45 0.12 s against BDF 2.8-3.5 s per sample, rk45 closer to a tight
reference (benchmarks/datagen_user_pde.py).
"""

from __future__ import annotations

import inspect
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, make_dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from pdeflow.datagen.families._base import FieldSpec, PointwiseFamily
from pdeflow.errors import ConfigError, DataError, ShapeError

__all__ = ["from_rhs", "RHSFamily", "RHSSpec", "EXPLICIT_STEPS", "METHODS"]

#: ``method="auto"`` integrates explicitly up to this many stability-limited steps
EXPLICIT_STEPS = 5000
#: integration methods a from_rhs family accepts
METHODS = ("auto", "rk45", "BDF", "rodas4", "Radau", "LSODA")
_AXES = ("x", "y", "z")
#: specs of this process by token: a family unpickled in a worker shares its kernels
_SPECS: dict[str, RHSSpec] = {}
_LOCK = threading.Lock()


# ------------------------------------------------------------------------------ spec
@dataclass(frozen=True, eq=False)
class RHSSpec:
    """What :func:`from_rhs` was given, validated (see there for the meaning of each).

    ``params`` maps each name to a number (fixed), a ``(low, high)`` range (uniform per
    sample, stored as a scalar parameter) or a sampler of arrays of the spatial shape
    (stored as an input field).
    """

    rhs: Callable[..., Any]
    form: str
    state_shape: tuple[int, ...] | Callable[[int], tuple[int, ...]]
    initial: Any
    params: Mapping[str, Any]
    times: tuple[float, ...]
    t0: float
    components: tuple[str, ...] | None
    grid: str
    description: str
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    kernels: dict = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["kernels"] = {}  # traced terms and compiled code stay in their process
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def shape(self, resolution: int | None) -> tuple[int, ...]:
        """The state shape at ``resolution`` (a fixed shape ignores it)."""
        if callable(self.state_shape):
            return _check_state_shape(self.state_shape(resolution))
        return self.state_shape

    def kind(self, name: str) -> str:
        """``"fixed"``, ``"range"`` or ``"field"``: how parameter ``name`` is drawn."""
        value = self.params[name]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return "fixed"
        if isinstance(value, tuple) and len(value) == 2:
            return "range"
        return "field"


def _check_state_shape(shape: Any) -> tuple[int, ...]:
    try:
        out = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ConfigError(
            f"from_rhs: 'state_shape' must be a tuple of ints. Got {shape!r}."
        ) from None
    if not out or min(out) < 1:
        raise ConfigError(f"from_rhs: 'state_shape' must be a tuple of ints >= 1. Got {shape!r}.")
    return out


def _detect_form(rhs: Callable[..., Any], form: str | None) -> str:
    if form is not None:
        if form not in ("oop", "inplace"):
            raise ConfigError(f"from_rhs: 'form' must be 'oop' or 'inplace'. Got {form!r}.")
        return form
    try:
        params = [
            q for q in inspect.signature(rhs).parameters.values()
            if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        raise ConfigError("from_rhs: cannot read rhs's signature; pass form='oop' or "
                          "form='inplace'.") from None
    if len(params) in (3, 4):
        return "oop" if len(params) == 3 else "inplace"
    raise ConfigError(
        f"from_rhs: rhs{tuple(q.name for q in params)} must be f(t, y, p) -> dy or "
        "f(dy, y, p, t); pass form='oop' or form='inplace'."
    )


def _check_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dict(params or {}).items():
        if not (isinstance(key, str) and key.isidentifier()):
            raise ConfigError(f"from_rhs: parameter names must be identifiers. Got {key!r}.")
        if isinstance(value, list | tuple):
            if len(value) != 2 or not all(isinstance(v, int | float) for v in value) \
                    or not value[0] <= value[1]:
                raise ConfigError(
                    f"from_rhs: parameter {key!r} must be a number, a (low, high) range with "
                    f"low <= high, or a sampler. Got {value!r}."
                )
            value = (float(value[0]), float(value[1]))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = float(value)
        elif not callable(value) and not hasattr(value, "draw"):
            raise ConfigError(
                f"from_rhs: parameter {key!r} must be a number, a (low, high) range or a "
                f"sampler (rng -> array). Got {type(value).__name__}."
            )
        out[key] = value
    return out


def _check_times(times: Any, t0: float) -> tuple[float, ...]:
    arr = np.asarray(times, dtype=float).reshape(-1)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(np.diff(arr) <= 0) \
            or arr[0] < t0 or arr[-1] <= t0:
        raise ConfigError(
            f"from_rhs: 'times' must be finite, increasing, >= t0 = {t0} and end after t0. "
            f"Got {times!r}."
        )
    return tuple(float(v) for v in arr)


# ------------------------------------------------------------------------------ family
@dataclass(frozen=True)
class RHSFamily(PointwiseFamily):
    """A family built by :func:`from_rhs` (see there); its class carries the name and spec.

    Parameters
    ----------
    resolution : int, optional
        Grid points per spatial axis; a family with a fixed ``state_shape`` takes only its
        own.
    seed : int
    method : {"auto", "rk45", "BDF", "rodas4", "Radau", "LSODA"}
        Integrator of :func:`pdeflow.solvers.ode.solve` (``"auto"``: see the module).
    rtol, atol : float
        Tolerances of the integrator.
    spec : RHSSpec, optional
        Default: the spec the family was built with.
    """

    resolution: int | None = None
    seed: int = 0
    method: str = "auto"
    rtol: float = 1e-6
    atol: float = 1e-9
    spec: RHSSpec | None = field(default=None, repr=False, compare=False)
    name: ClassVar[str] = ""
    default_spec: ClassVar[RHSSpec | None] = None

    def __post_init__(self) -> None:
        spec = self.spec if self.spec is not None else type(self).default_spec
        if spec is None:
            raise ConfigError("RHSFamily is built by pdeflow.datagen.families.from_rhs(...).")
        object.__setattr__(self, "spec", spec)
        if self.resolution is None:
            object.__setattr__(self, "resolution", _default_resolution(spec))
        self._check_int("resolution", self.resolution, 1)
        self._check_int("seed", self.seed, 0)
        if self.method not in METHODS:
            raise ConfigError(f"The 'method' option of family {self.name!r} must be one of "
                              f"{METHODS}. Got {self.method!r}.")
        for opt in ("rtol", "atol"):
            self._check_positive(opt, getattr(self, opt))
        shape = spec.shape(self.resolution)
        if not callable(spec.state_shape) and self.resolution != shape[-1]:
            raise ConfigError(
                f"Family {self.name!r} has the fixed state shape {shape}: its 'resolution' "
                f"is {shape[-1]}. Got {self.resolution!r}."
            )
        _traced(spec, shape)  # TracingError here, at construction

    def __reduce__(self) -> tuple:
        return _rebuild, (self.name, self.spec, self.options())

    # ------------------------------------------------------------------ declaration
    def options(self) -> dict[str, Any]:
        """The options (JSON): resolution, seed, method, rtol, atol."""
        return {"resolution": self.resolution, "seed": self.seed, "method": self.method,
                "rtol": self.rtol, "atol": self.atol}

    @property
    def state_shape(self) -> tuple[int, ...]:
        """Shape of the state ``y`` the RHS takes."""
        return self.spec.shape(self.resolution)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """The state shape without the component axis."""
        shape = self.state_shape
        return shape[1:] if self.spec.components else shape

    def _axes(self) -> tuple[str, ...]:
        nd = len(self.spatial_shape)
        return _AXES[:nd] if nd <= 3 else tuple(f"x{i}" for i in range(nd))

    def fields(self) -> dict[str, FieldSpec]:
        spatial, axes, nt = self.spatial_shape, self._axes(), len(self.spec.times)
        out = {}
        comps = _components(self.spec)
        if self.spec.components:
            out["y0"] = FieldSpec("y0", (len(comps), *spatial), "input", ("c", *axes),
                                  f"state {', '.join(comps)} at t = t0 (component first)")
        else:
            out["u0"] = FieldSpec("u0", spatial, "input", axes, "u at t = t0")
        for p in self.spec.params:
            if self.spec.kind(p) == "field":
                out[p] = FieldSpec(p, spatial, "input", axes, f"parameter {p}")
        for c in _components(self.spec):
            out[c] = FieldSpec(c, (nt, *spatial), "output", ("t", *axes), f"{c} at times t")
        return out

    def coords(self) -> dict[str, np.ndarray]:
        out = {"t": np.asarray(self.spec.times)}
        if self.spec.components:
            out["c"] = np.arange(len(self.spec.components), dtype=float)
        shift = 0.5 if self.spec.grid == "cells" else 0.0
        for ax, s in zip(self._axes(), self.spatial_shape, strict=True):
            out[ax] = (np.arange(s) + shift) / s
        return out

    def param_names(self) -> tuple[str, ...]:
        return tuple(p for p in self.spec.params if self.spec.kind(p) == "range")

    # ------------------------------------------------------------------ sampling
    def sample(self, i: int) -> dict[str, Any]:
        rng = self.rng(i)
        y0 = _draw(self.spec.initial, rng, self.state_shape, "initial")
        out: dict[str, Any] = {_input(self.spec): y0}
        for p, value in self.spec.params.items():
            kind = self.spec.kind(p)
            if kind == "range":
                out[p] = float(rng.uniform(value[0], value[1]))
            elif kind == "field":
                out[p] = _draw(value, rng, self.spatial_shape, f"parameter {p!r}")
        return out


    # ------------------------------------------------------------------ solving
    def solve_one(self, sample: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict]:
        y0, pvec = self.values(sample)
        sol, method = self.integrate(y0, pvec)
        traj = sol.y.reshape((len(self.spec.times), *self.state_shape))
        outputs = dict(zip(_components(self.spec), _split(self.spec, traj, axis=1), strict=True))
        self.__dict__.setdefault("_ran", set()).add(method)
        return outputs, {"iterations": sol.steps, "residual": np.nan}

    def values(self, sample: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """The flat initial state ``(n,)`` and parameter vector of ``sample``."""
        y0 = np.asarray(sample[_input(self.spec)], dtype=float).reshape(-1)
        if y0.size != math.prod(self.state_shape) or not np.all(np.isfinite(y0)):
            raise DataError(f"family {self.name!r}: the initial state must be finite, "
                            f"shape {self.state_shape}.")
        vals = [np.asarray(sample.get(p, v), dtype=float).reshape(-1)
                for p, v in self.spec.params.items()]
        return y0, (np.concatenate(vals) if vals else np.zeros(0))

    def integrate(self, y0: np.ndarray, pvec: np.ndarray) -> tuple[Any, str]:
        """Integrate from ``y0`` with parameters ``pvec``; the solution at ``times`` and
        the method that ran."""
        from pdeflow.solvers.ode import ODEProblem, solve

        k = self.kernels()
        t0, tspan = self.spec.t0, (self.spec.t0, self.spec.times[-1])
        bound = k["fn"].bind(pvec)
        n = y0.size

        def rhs(t: float, y: np.ndarray) -> np.ndarray:
            return bound(np.empty(n), y, t)

        jac = _jacobian(k["jac"], pvec)
        method = self.method
        if method == "auto":
            rho = float(abs(jac(t0, y0)).sum(axis=1).max())
            method = "rk45" if rho * (tspan[1] - tspan[0]) / 3.3 <= EXPLICIT_STEPS else "BDF"
        implicit = method not in ("rk45",)
        prob = ODEProblem(rhs, y0, tspan, jac=jac if implicit else None,
                          autonomous=k["autonomous"])
        sol = solve(prob, method=method, rtol=self.rtol, atol=self.atol,
                    t_eval=np.asarray(self.spec.times), dense_output=False)
        return sol, method

    def kernels(self) -> dict[str, Any]:
        """The compiled RHS and Jacobian of this state shape (compiled on first use in this
        process, then shared by every sample and every family of the same spec)."""
        return _kernels(self.spec, self.state_shape)

    def solve(self, indices, solver=None, samples=None):  # noqa: D102 - see Family.solve
        self.__dict__["_ran"] = set()
        chunk = super().solve(indices, solver, samples)
        ran = self.__dict__.pop("_ran", set())
        chunk.method = "+".join(sorted(ran)) if ran else self.name
        return chunk


def _default_resolution(spec: RHSSpec) -> int:
    if callable(spec.state_shape):
        raise ConfigError("from_rhs: a callable 'state_shape' needs 'resolution'.")
    return spec.state_shape[-1]


def _components(spec: RHSSpec) -> tuple[str, ...]:
    return spec.components or ("u",)


def _input(spec: RHSSpec) -> str:
    """The input field of the initial state: ``"y0"`` (components first) or ``"u0"``."""
    return "y0" if spec.components else "u0"


def _split(spec: RHSSpec, arr: np.ndarray, axis: int = 0) -> list[np.ndarray]:
    if not spec.components:
        return [arr]  # one field "u"
    return [np.take(arr, i, axis=axis) for i in range(len(spec.components))]


def _draw(sampler: Any, rng: np.random.Generator, shape: tuple[int, ...], what: str) -> np.ndarray:
    if hasattr(sampler, "draw"):
        arr = sampler.draw(rng, shape)
    else:
        arr = sampler(rng)
    arr = np.asarray(arr, dtype=float)
    if arr.shape != tuple(shape):
        raise ShapeError(f"from_rhs: the {what} sampler returned shape {arr.shape}; "
                         f"expected {tuple(shape)}.")
    return arr


def _jacobian(jf: Any, pvec: np.ndarray) -> Callable[[float, np.ndarray], sp.csr_matrix]:
    shape, indices, indptr, nnz = jf.shape, jf.indices, jf.indptr, jf.nnz

    def jac(t: float, y: np.ndarray) -> sp.csr_matrix:
        data = jf.fill(np.empty(nnz), y, pvec, t)
        return sp.csr_matrix((data, indices, indptr), shape=shape)

    return jac


# ------------------------------------------------------------------------------ tracing
def _symbols(spec: RHSSpec, spatial: tuple[int, ...]) -> dict[str, Any]:
    from pdeflow.symbolic import array, sym

    return {p: (array(f"p_{p}", spatial) if spec.kind(p) == "field" else sym(f"p_{p}"))
            for p in spec.params}


def _traced(spec: RHSSpec, shape: tuple[int, ...]) -> tuple[Any, Any, list]:
    """``(outputs, y symbol, parameter symbols)`` of the RHS at ``shape`` (traced once per
    shape and process)."""
    key = ("trace", shape)
    with _LOCK:
        hit = spec.kernels.get(key)
    if hit is not None:
        return hit
    from pdeflow.symbolic import trace

    spatial = shape[1:] if spec.components else shape
    psyms = _symbols(spec, spatial)
    y = np.zeros(shape)
    if spec.form == "oop":
        out, ins = trace(spec.rhs, spec.t0, y, psyms, return_inputs=True)
    else:
        out, ins = trace(spec.rhs, np.empty(shape), y, psyms, spec.t0, return_inputs=True)
    names = list(inspect.signature(spec.rhs).parameters)
    y_sym = ins[names[1]]
    n_out = int(np.prod(getattr(out, "shape", (1,))))
    if n_out != math.prod(shape):
        raise ShapeError(f"from_rhs: rhs returned {n_out} values for a state of shape {shape} "
                         f"({math.prod(shape)} values).")
    hit = (out, y_sym, list(psyms.values()))
    with _LOCK:
        spec.kernels[key] = hit
    return hit


def _kernels(spec: RHSSpec, shape: tuple[int, ...]) -> dict[str, Any]:
    key = ("kernels", shape)
    with _LOCK:
        hit = spec.kernels.get(key)
    if hit is not None:
        return hit
    from pdeflow.symbolic import compile as sym_compile
    from pdeflow.symbolic import compile_jacobian

    out, y_sym, psyms = _traced(spec, shape)
    timings: dict[str, float] = {}
    s = time.perf_counter()
    fn = sym_compile(out, [y_sym], params=psyms or None, target="numba")
    jf = compile_jacobian(out, [y_sym], params=psyms or None, target="numba")
    timings["codegen"] = time.perf_counter() - s
    autonomous = getattr(fn, "autonomous", None)
    if autonomous is None:
        autonomous = fn.program.time is None
    hit = {"fn": fn, "jac": jf, "autonomous": bool(autonomous), "timings": timings}
    with _LOCK:
        spec.kernels[key] = hit
    return hit


# ------------------------------------------------------------------------------ building
def from_rhs(
    name: str,
    rhs: Callable[..., Any],
    *,
    state_shape: tuple[int, ...] | Callable[[int], tuple[int, ...]],
    initial: Any,
    params: Mapping[str, Any] | None = None,
    times: Sequence[float],
    t0: float = 0.0,
    components: Sequence[str] | None = None,
    resolution: int | None = None,
    method: str = "auto",
    rtol: float = 1e-6,
    atol: float = 1e-9,
    seed: int = 0,
    grid: str = "nodes",
    form: str | None = None,
    description: str = "",
) -> RHSFamily:
    """A family whose samples integrate the user's numpy RHS from random initial states.

    Parameters
    ----------
    name : str
        Family name (stored in the datasets).
    rhs : callable
        Ordinary numpy code, ``rhs(t, y, p) -> dy`` or in-place ``rhs(dy, y, p, t)``;
        ``y`` has shape ``state_shape`` and ``p`` is a dict ``{name: value}`` of
        ``params``.  It must not branch on data (use ``np.where``).
    state_shape : tuple of int, or callable ``resolution -> tuple``
        Shape of ``y``: ``(*spatial)`` or, with ``components``, ``(c, *spatial)``.
    initial : callable or sampler
        ``initial(rng) -> y0`` of shape ``state_shape``, or a sampler with
        ``draw(rng, shape)`` (:class:`pdeflow.datagen.samplers.GRFSampler`,
        :class:`pdeflow.datagen.samplers.UniformNoise`).
    params : dict, optional
        Name -> a number (fixed), a ``(low, high)`` range (drawn uniformly per sample and
        stored as a scalar parameter), or a sampler of spatial fields (stored as an input
        field).
    times : sequence of float
        Saved snapshots (increasing, after ``t0``): the output field ``(len(times),
        *spatial)`` per component.
    t0 : float
        Start time.
    components : sequence of str, optional
        Names of the state's leading axis (``("u", "v")``): the initial state is stored as
        one input field ``"y0"`` of shape ``(c, *spatial)`` (axis ``"c"``: one operator
        channel per component) and each component's trajectory as ``"<name>"``.  Without
        components: input ``"u0"``, output ``"u"``.
    resolution : int, optional
        Default resolution (needed when ``state_shape`` is callable).
    method, rtol, atol : optional
        Integrator options (see :class:`RHSFamily`).
    seed : int
        Default seed.
    grid : {"nodes", "cells"}
        Stored coordinates ``j / s`` or ``(j + 1/2) / s`` on ``[0, 1)``.
    form : {"oop", "inplace"}, optional
        Override the form read from ``rhs``'s signature (3 or 4 arguments).
    description : str
        One line for ``pdeflow families``.

    Returns
    -------
    RHSFamily
        An instance of a class of its own (``type(fam).name == name``), usable wherever a
        family is: ``generate``, ``stream``, ``--family file.py:obj``, resume, verify.

    Raises
    ------
    TracingError
        ``rhs`` branches on data (named line), here rather than in a worker.
    ConfigError, ShapeError
        Bad options, or ``rhs``/samplers returning the wrong shape.

    Examples
    --------
    >>> import numpy as np
    >>> from pdeflow.datagen.families import from_rhs
    >>> def decay(t, u, p):
    ...     return -p["k"] * u + 0.1 * (np.roll(u, 1) - 2 * u + np.roll(u, -1))
    >>> fam = from_rhs("decay-demo", decay, state_shape=(16,),
    ...                initial=lambda rng: rng.random(16), params={"k": (0.5, 1.0)},
    ...                times=[0.5, 1.0])
    >>> res = fam.solve([0, 1])
    >>> res.fields["u"].shape, fam.param_names()
    ((2, 2, 16), ('k',))
    """
    if not (isinstance(name, str) and name):
        raise ConfigError(f"from_rhs: 'name' must be a non-empty string. Got {name!r}.")
    if not callable(rhs):
        raise ConfigError(f"from_rhs: 'rhs' must be callable. Got {type(rhs).__name__}.")
    if grid not in ("nodes", "cells"):
        raise ConfigError(f"from_rhs: 'grid' must be 'nodes' or 'cells'. Got {grid!r}.")
    shape = state_shape if callable(state_shape) else _check_state_shape(state_shape)
    comps = tuple(components) if components else None
    spec = RHSSpec(
        rhs=rhs, form=_detect_form(rhs, form), state_shape=shape, initial=initial,
        params=_check_params(params), times=_check_times(times, float(t0)), t0=float(t0),
        components=comps, grid=grid, description=description,
    )
    _check_components(spec, resolution)
    defaults = {"resolution": resolution, "seed": seed, "method": method, "rtol": rtol,
                "atol": atol}
    return _family_class(name, spec, defaults)()


def _check_components(spec: RHSSpec, resolution: int | None) -> None:
    if spec.components is None:
        return
    names = spec.components
    if len(set(names)) != len(names) or not all(c.isidentifier() for c in names):
        raise ConfigError(f"from_rhs: 'components' must be distinct identifiers. Got {names}.")
    clash = sorted((set(names) | {"y0"}) & set(spec.params)) or sorted({"y0"} & set(names))
    if clash:
        raise ConfigError(f"from_rhs: parameter name(s) {clash} clash with stored fields.")
    if not callable(spec.state_shape) and spec.state_shape[0] != len(names):
        raise ConfigError(f"from_rhs: state_shape {spec.state_shape} must start with the "
                          f"{len(names)} components {names}.")


def _family_class(name: str, spec: RHSSpec, defaults: dict[str, Any]) -> type[RHSFamily]:
    """A frozen dataclass of its own: ``name``, the spec, and ``defaults`` as the defaults
    of its options (so ``cls()``, ``families.get(name, ...)`` and ``replace`` rebuild it)."""
    with _LOCK:
        spec = _SPECS.setdefault(spec.token, spec)
    module = getattr(spec.rhs, "__module__", None) or __name__
    qual = "".join(p.capitalize() for p in name.replace("_", "-").split("-") if p) or "RHS"
    doc = spec.description or f"Family {name!r} from the numpy RHS {spec.rhs.__qualname__}."
    doc = f"{doc}\n\n" + inspect.cleandoc(RHSFamily.__doc__ or "").split("\n\n", 1)[1]
    types = {"resolution": int | None, "seed": int, "method": str, "rtol": float,
             "atol": float}
    cls = make_dataclass(
        f"{qual}Family",
        [(k, types[k], field(default=v)) for k, v in defaults.items()],
        bases=(RHSFamily,), frozen=True,
        namespace={"name": name, "default_spec": spec, "__doc__": doc,
                   "__reduce__": RHSFamily.__reduce__},
    )
    cls.__module__ = module
    cls.__doc__ = doc
    return cls


def _rebuild(name: str, spec: RHSSpec, options: dict[str, Any]) -> RHSFamily:
    """Unpickle a from_rhs family: one spec (and one set of kernels) per token per process."""
    with _LOCK:
        spec = _SPECS.setdefault(spec.token, spec)
    return _family_class(name, spec, options)()
