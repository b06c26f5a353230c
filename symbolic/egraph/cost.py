"""The cost model: CPU cycles per operation, anchored on SymbolicUtils and calibrated here.

:data:`ANCHOR` is SymbolicUtils' table (``+`` 1, ``*`` 3, ``/`` 24, ``^`` 100, ``exp`` 18,
``sin``/``cos`` 134, ``tan`` 156); entries that table lacks are marked as estimates below.
:func:`calibrate` times each operation in compiled Numba loops on this machine and stores
the table, with a fingerprint (CPU model, Numba version, architecture), as
``egraph_costs.json`` in ``$PDEFLOW_CACHE_DIR`` (default ``~/.cache/pdeflow``).
:func:`load_cost_model` returns the stored table when its fingerprint matches this
machine, else the anchor table.

The extension point is one method, ``cost(node, child_costs)``; a model's
:meth:`CostModel.node_cost` is the cost of one e-node alone (what a DAG cost sums).

>>> from pdeflow.symbolic.egraph.cost import CostModel
>>> m = CostModel.anchor()
>>> m.node_cost(("add", None, (1, 2, 3))), m.node_cost(("pow", 3, (1,)))
(2.0, 6.0)
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

#: SymbolicUtils' cycle costs; keys marked ``# est.`` are not in that table (estimates)
ANCHOR: dict[str, float] = {
    "add": 1.0, "sub": 1.0, "mul": 3.0, "div": 24.0, "pow": 100.0, "exp": 18.0,
    "sin": 134.0, "cos": 134.0, "tan": 156.0,
    "neg": 1.0,  # est.
    "fma": 4.0,  # est.: printed as a*b + c
    "sqrt": 24.0,  # est.
    "log": 20.0,  # est.
    "tanh": 60.0, "sinh": 60.0, "cosh": 60.0,  # est.
    "asin": 100.0, "acos": 100.0, "atan": 100.0,  # est.
    "abs": 1.0, "sign": 2.0, "min": 2.0, "max": 2.0, "where": 2.0,  # est.
    "lt": 1.0, "le": 1.0, "eq": 1.0, "ne": 1.0, "and": 1.0, "or": 1.0, "not": 1.0,  # est.
    "call": 50.0,  # est.: any other registered function
}

FILENAME = "egraph_costs.json"


def cost_dir() -> Path:
    """``$PDEFLOW_CACHE_DIR`` or ``~/.cache/pdeflow``."""
    d = os.environ.get("PDEFLOW_CACHE_DIR")
    return Path(d) if d else Path.home() / ".cache" / "pdeflow"


def fingerprint() -> dict[str, str]:
    """What a calibrated table depends on: CPU model, Numba version, architecture."""
    import numba

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "numba": numba.__version__, "machine": platform.machine()}


@dataclass(frozen=True)
class CostModel:
    """Cycle costs per operation.

    Parameters
    ----------
    table : dict of str to float
        Cycles of one operation (``"add"`` is one binary addition).
    source : str
        ``"anchor"``, ``"calibrated"`` or ``"custom"``.
    """

    table: dict = field(default_factory=lambda: dict(ANCHOR))
    source: str = "custom"

    def __post_init__(self):
        for k, v in self.table.items():
            if not isinstance(v, int | float) or v < 0:
                raise ValueError(
                    f"The cost of {k!r} in CostModel.table must be a number >= 0. Got {v!r}."
                )

    @classmethod
    def anchor(cls) -> CostModel:
        """The built-in cost model (the ``ANCHOR`` table), used when no calibration is given."""
        return cls(dict(ANCHOR), "anchor")

    def _t(self, op: str) -> float:
        v = self.table.get(op)
        return float(self.table.get("call", ANCHOR["call"]) if v is None else v)

    def node_cost(self, node) -> float:
        """Cycles of one e-node ``(op, payload, children)``, children excluded."""
        op, payload, ch = node
        if op in ("num", "sym"):
            return 0.0
        if op in ("add", "mul"):
            return (len(ch) - 1) * self._t(op)
        if op == "pow":
            return self.pow_cost(payload)
        if op == "fpow":
            return self._t("pow")
        return self._t(op)

    def pow_cost(self, e) -> float:
        """Cost of ``x ** e`` as the code generators print it."""
        if isinstance(e, float) and e.is_integer():
            e = int(e)
        if isinstance(e, int) and 1 <= abs(e) <= 8:
            c = (abs(e) - 1) * self._t("mul")
            return c + (self._t("div") if e < 0 else 0.0)
        if e == Fraction(1, 2):
            return self._t("sqrt")
        if e == Fraction(-1, 2):
            return self._t("sqrt") + self._t("div")
        return self._t("pow")

    def cost(self, node, child_costs) -> float:
        """Tree cost: ``node_cost(node) + sum(child_costs)``."""
        return self.node_cost(node) + sum(child_costs)


def load_cost_model(path: Path | None = None) -> CostModel:
    """The calibrated table if its fingerprint matches this machine, else :meth:`anchor`."""
    path = Path(path) if path else cost_dir() / FILENAME
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return CostModel.anchor()
    if data.get("fingerprint") != fingerprint():
        return CostModel.anchor()
    table = dict(ANCHOR)
    table.update({k: float(v) for k, v in data.get("table", {}).items()})
    return CostModel(table, "calibrated")


_UNARY = {
    "exp": "math.exp(a[i])", "log": "math.log(a[i])", "sin": "math.sin(a[i])",
    "cos": "math.cos(a[i])", "tan": "math.tan(a[i])", "tanh": "math.tanh(a[i])",
    "sinh": "math.sinh(a[i])", "cosh": "math.cosh(a[i])", "asin": "math.asin(b[i])",
    "acos": "math.acos(b[i])", "atan": "math.atan(a[i])", "sqrt": "math.sqrt(a[i])",
    "abs": "abs(a[i])", "neg": "-a[i]",
}
_BINARY = {
    "add": "a[i] + b[i]", "sub": "a[i] - b[i]", "mul": "a[i] * b[i]", "div": "a[i] / b[i]",
    "pow": "a[i] ** b[i]", "fma": "a[i] * b[i] + c[i]", "min": "min(a[i], b[i])",
    "max": "max(a[i], b[i])",
}


def _cpu_hz() -> float:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":", 1)[1]) * 1e6
    except (OSError, ValueError):
        pass
    return 3.0e9


def calibrate(ops=None, n: int = 20_000, repeats: int = 7, save: bool = True,
              path: Path | None = None) -> CostModel:
    """Time each operation in compiled Numba loops and build a cycle table.

    Each op is timed in ``out[i] = op(a[i], b[i])`` over ``n`` elements (best of
    ``repeats``), minus the copy loop ``out[i] = a[i]``; seconds become cycles at the
    clock rate of ``/proc/cpuinfo`` (floored at 0.25 cycle: cheap ops vectorize in such
    loops, so they measure throughput, not latency).

    Parameters
    ----------
    ops : iterable of str, optional
        Operations to time (default: all that have a loop form); others keep the anchor.
    save : bool
        Write the table, with :func:`fingerprint`, to ``path`` (default in :func:`cost_dir`).

    Returns
    -------
    CostModel
        With ``source="calibrated"``.
    """
    import numpy as np
    from numba import njit

    forms = {**_UNARY, **_BINARY}
    ops = list(forms) if ops is None else [o for o in ops if o in forms]
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 2.0, n)
    b = rng.uniform(-0.9, 0.9, n)
    c = rng.uniform(-1.0, 1.0, n)
    out = np.empty(n)

    def timed(expr):
        ns: dict = {}
        src = ("import math\n"
               "def k(a, b, c, out):\n"
               "    for i in range(a.shape[0]):\n"
               f"        out[i] = {expr}\n")
        exec(compile(src, "<calibrate>", "exec"), ns)
        k = njit(fastmath=False)(ns["k"])
        k(a, b, c, out)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            k(a, b, c, out)
            best = min(best, time.perf_counter() - t0)
        return best / n

    base = timed("a[i]")
    hz = _cpu_hz()
    raw = {op: max(timed(forms[op]) - base, 0.0) * hz for op in ops}
    table = dict(ANCHOR)
    for op, cyc in raw.items():
        table[op] = round(max(cyc, 0.25), 2)
    model = CostModel(table, "calibrated")
    if save:
        path = Path(path) if path else cost_dir() / FILENAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"fingerprint": fingerprint(), "table": table,
                                    "raw_cycles": raw, "created": time.time()}, indent=1))
    return model


def get_cost_model(cost) -> CostModel:
    """``"cycles"`` (calibrated if stored, else anchor), ``"anchor"``, a dict or a CostModel."""
    if isinstance(cost, CostModel):
        return cost
    if isinstance(cost, dict):
        t = dict(ANCHOR)
        t.update(cost)
        return CostModel(t, "custom")
    if cost == "cycles":
        return load_cost_model()
    if cost == "anchor":
        return CostModel.anchor()
    raise ValueError(
        "The 'cost' parameter of optimize must be 'cycles', 'anchor', a dict of op costs or a "
        f"CostModel. Got {cost!r}."
    )


__all__ = ["ANCHOR", "CostModel", "calibrate", "load_cost_model", "get_cost_model",
           "fingerprint", "cost_dir"]
