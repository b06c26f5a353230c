"""What is installed and what works: the data behind ``pdeflow info``.

:func:`probe_packages` lists every dependency declared by pdeflow (core and extras) with
its installed version; it reads package metadata only and is fast.
:func:`probe_capabilities` checks that each heavy backend really works (compiles a
function, runs a solve, lists devices), each in its own subprocess so that a crash or
a hang in one library cannot take down the caller, and says why when it does not.

Benchmarks reuse these records to describe the machine they ran on.

Examples
--------
>>> [c.name for c in probe_capabilities(["numba"])]
['numba']
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import importlib.util
import json
import platform
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

import pdeflow
from pdeflow.config import PdeflowConfig

__all__ = [
    "PackageInfo",
    "Capability",
    "CAPABILITIES",
    "probe_packages",
    "probe_capabilities",
    "find_mpiexec",
    "environment",
    "report",
    "InfoConfig",
    "run",
]

_PROBE_MARKER = "PDEFLOW_PROBE_RESULT "


@dataclass(frozen=True)
class PackageInfo:
    """One dependency of pdeflow.

    Attributes
    ----------
    name : str
        Distribution (or, for ``provided_by`` rows, module) name.
    group : str
        ``"core"`` or the name of the extra that pulls it in (``"fem"``, ``"dev"``...).
    required : str
        The version specifier pdeflow asks for ("" when none).
    version : str or None
        Installed version, ``None`` when not installed.
    provided_by : str
        For modules shipped inside another distribution (petsc4py inside
        dolfinx-solver-real), that distribution; otherwise "".
    """

    name: str
    group: str
    required: str
    version: str | None
    provided_by: str = ""


@dataclass(frozen=True)
class Capability:
    """Whether one backend works here.

    Attributes
    ----------
    name : str
        Human-readable name ("numba", "PETSc + MPI"...).
    usable : bool
        True when the probe ran its small job successfully.
    detail : str
        Versions and devices when usable; the reason when not.
    seconds : float
        How long the probe took, import time included.
    """

    name: str
    usable: bool
    detail: str
    seconds: float = 0.0


# ---------------------------------------------------------------------- packages
# Packages that a declared requirement brings in and that users ask about by name.
_IMPLIED: dict[str, list[tuple[str, str]]] = {
    # requirement name -> [(distribution or module, provided_by)]
    "numba": [("llvmlite", "")],
    "jax": [("jaxlib", "")],
    "dask": [("distributed", "")],
    "dolfinx-solver-real": [
        ("dolfinx", "dolfinx-solver-real"),
        ("petsc4py", "dolfinx-solver-real"),
        ("slepc4py", "dolfinx-solver-real"),
        ("mpi4py", ""),
    ],
}
_REQ_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;]*?)\s*(;.*)?$")
_EXTRA_RE = re.compile(r"extra\s*==\s*['\"]([^'\"]+)['\"]")


def _declared_requirements() -> list[tuple[str, str, str]]:
    """(name, group, specifier) for every requirement pdeflow declares."""
    reqs: list[str] | None = None
    try:
        reqs = metadata.requires("pdeflow")
    except metadata.PackageNotFoundError:
        reqs = None
    out: list[tuple[str, str, str]] = []
    if reqs is not None:
        for req in reqs:
            m = _REQ_RE.match(req)
            if not m:
                continue
            extra = _EXTRA_RE.search(m.group(4) or "")
            out.append((m.group(1), extra.group(1) if extra else "core", m.group(3)))
        return out
    # Running from a source tree that was never installed: read pyproject.toml.
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    if not pyproject.is_file():
        return out
    project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    groups = {"core": project.get("dependencies", [])}
    groups.update(project.get("optional-dependencies", {}))
    for group, items in groups.items():
        for req in items:
            m = _REQ_RE.match(req)
            if m:
                out.append((m.group(1), group, m.group(3)))
    return out


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _module_version(module: str) -> str | None:
    """``__version__`` of a module read from its source, without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    try:
        text = Path(spec.origin).read_text(encoding="utf-8")
    except OSError:
        return None
    m = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
    return m.group(1) if m else "installed"


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def probe_packages() -> list[PackageInfo]:
    """List pdeflow's declared dependencies with their installed versions.

    Returns
    -------
    list of PackageInfo
        Core dependencies first, then each extra; a few packages that a requirement
        implies (jaxlib, distributed, petsc4py, dolfinx, mpi4py...) follow their parent.
        Self-references such as ``pdeflow[fem]`` are left out.
    """
    rows: list[PackageInfo] = []
    seen: set[str] = set()
    for name, group, spec in _declared_requirements():
        if _normalize(name) == "pdeflow" or _normalize(name) in seen:
            continue
        seen.add(_normalize(name))
        rows.append(PackageInfo(name, group, spec, _dist_version(name)))
        for implied, provided_by in _IMPLIED.get(_normalize(name), []):
            if _normalize(implied) in seen:
                continue
            seen.add(_normalize(implied))
            version = _module_version(implied) if provided_by else _dist_version(implied)
            rows.append(PackageInfo(implied, group, "", version, provided_by))
    return rows


# ---------------------------------------------------------------------- capabilities
def find_mpiexec() -> Path | None:
    """The ``mpiexec`` next to this interpreter (the venv's, from the mpich wheel), else on PATH."""
    local = Path(sys.executable).parent / "mpiexec"
    if local.is_file():
        return local
    found = shutil.which("mpiexec")
    return Path(found) if found else None


def _first_line(text: str) -> str:
    lines = [" ".join(ln.split()) for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""


def _probe_numba() -> tuple[bool, str]:
    import numba
    import numpy as np

    @numba.njit(cache=False)
    def total(x):  # pragma: no cover - compiled
        s = 0.0
        for v in x:
            s += v
        return s

    value = total(np.arange(10.0))
    if value != 45.0:
        return False, f"njit function returned {value}, expected 45.0"
    return True, f"numba {numba.__version__}: njit compiled and ran a function"


def _probe_torch() -> list[tuple[str, bool, str]]:
    import torch

    x = torch.arange(4.0)
    if float((x * x).sum()) != 14.0:
        cpu = (False, "a small tensor computation gave a wrong result")
    else:
        build = f"CUDA build {torch.version.cuda}" if torch.version.cuda else "CPU-only build"
        cpu = (True, f"torch {torch.__version__} ({build}), {torch.get_num_threads()} CPU threads")
    try:
        gpu = _torch_cuda(torch)
    except Exception as exc:  # a GPU failure must not hide a working CPU build
        gpu = (False, f"{type(exc).__name__}: {_first_line(str(exc))}")
    return [("torch", *cpu), ("torch CUDA", *gpu)]


def _torch_cuda(torch: Any) -> tuple[bool, str]:
    if not torch.version.cuda:
        return False, f"torch {torch.__version__} is a CPU-only build"
    if not torch.cuda.is_available():
        return False, (
            f"no CUDA GPU visible (torch.cuda.is_available() is False; torch built for "
            f"CUDA {torch.version.cuda})"
        )
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    x = torch.arange(4.0, device="cuda")
    float((x * x).sum())
    return True, f"{len(names)} GPU(s): {', '.join(names)}"


def _probe_pyg() -> tuple[bool, str]:
    import torch
    import torch_geometric
    from torch_geometric.nn import GCNConv

    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    conv = GCNConv(2, 3)
    out = conv(torch.ones(3, 2), edge_index)
    if tuple(out.shape) != (3, 3):
        return False, f"GCNConv returned shape {tuple(out.shape)}, expected (3, 3)"
    return True, f"torch-geometric {torch_geometric.__version__}: GCNConv ran on a 3-node graph"


def _probe_jax() -> tuple[bool, str]:
    import jax
    import jax.numpy as jnp

    devices = jax.devices()
    y = jax.jit(lambda x: 2.0 * x)(jnp.arange(3.0))
    if [float(v) for v in y] != [0.0, 2.0, 4.0]:
        return False, "a jitted function gave a wrong result"
    listed = ", ".join(f"{d.platform}:{d.id} ({d.device_kind})" for d in devices)
    return True, f"jax {jax.__version__}, devices: {listed}"


def _probe_numba_cuda() -> tuple[bool, str]:
    if _dist_version("numba-cuda") is None:
        return False, "numba-cuda is not installed (pip install 'pdeflow[cuda]')"
    from numba import cuda

    if not cuda.is_available():
        error = cuda.cuda_error() if hasattr(cuda, "cuda_error") else None
        reason = _first_line(error) if error else "no CUDA driver or GPU found"
        return False, f"no usable GPU: {reason}"
    names = [g.name.decode() if isinstance(g.name, bytes) else str(g.name) for g in cuda.gpus]
    return True, f"numba-cuda {_dist_version('numba-cuda')}, GPU(s): {', '.join(names)}"


def _probe_dolfinx() -> tuple[bool, str]:
    from pdeflow.solvers.petsc import import_dolfinx_solver  # the one place it is imported

    if not import_dolfinx_solver():  # must come before dolfinx and petsc4py
        return False, "dolfinx-solver-real is not installed (pip install 'pdeflow[fem]')"
    import dolfinx
    import dolfinx.mesh
    from mpi4py import MPI

    mesh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 4)
    cells = mesh.topology.index_map(mesh.topology.dim).size_local
    if cells != 4:
        return False, f"a 4-cell unit interval mesh has {cells} cells"
    return True, f"dolfinx {dolfinx.__version__}: built a unit interval mesh"


def _probe_petsc_mpi() -> tuple[bool, str]:
    from pdeflow.solvers.petsc import import_dolfinx_solver  # the one place it is imported

    if not import_dolfinx_solver():  # must come before dolfinx and petsc4py
        return False, "dolfinx-solver-real is not installed (pip install 'pdeflow[fem]')"
    from mpi4py import MPI
    from petsc4py import PETSc

    vec = PETSc.Vec().createSeq(3, comm=PETSc.COMM_SELF)
    vec.set(2.0)
    if vec.sum() != 6.0:
        return False, "a PETSc vector sum gave a wrong result"
    version = ".".join(str(v) for v in PETSc.Sys.getVersion())
    scalar = getattr(PETSc.ScalarType, "__name__", str(PETSc.ScalarType))
    mpi = _first_line(MPI.Get_library_version())
    mpiexec = find_mpiexec()
    if mpiexec is None:
        return False, (
            f"PETSc {version} works but no mpiexec was found next to {sys.executable} or on "
            "PATH (install the mpich wheel: pip install 'pdeflow[fem]')"
        )
    return True, f"PETSc {version} ({scalar}), {mpi}, mpiexec: {mpiexec}"


# Probe name -> function.  A probe returns (usable, detail) for the capability of its own
# name, or a list of (name, usable, detail) when one import serves several rows (torch
# reports "torch" and "torch CUDA").  The order is the order of the report.
ProbeResult = tuple[bool, str] | list[tuple[str, bool, str]]
CAPABILITIES: dict[str, Callable[[], ProbeResult]] = {
    "numba": _probe_numba,
    "torch": _probe_torch,
    "torch-geometric": _probe_pyg,
    "JAX": _probe_jax,
    "numba-cuda GPU": _probe_numba_cuda,
    "DOLFINx": _probe_dolfinx,
    "PETSc + MPI": _probe_petsc_mpi,
}


def _run_probe_here(name: str) -> list[Capability]:
    start = time.perf_counter()
    try:
        result = CAPABILITIES[name]()
    except ImportError as exc:
        result = (False, f"import failed: {_first_line(str(exc))}")
    except Exception as exc:  # a probe reports every failure as a reason
        result = (False, f"{type(exc).__name__}: {_first_line(str(exc))}")
    seconds = round(time.perf_counter() - start, 3)
    rows = [(name, *result)] if isinstance(result, tuple) else result
    return [Capability(n, bool(u), str(d), seconds) for n, u, d in rows]


def _run_probe_subprocess(name: str, timeout: float) -> list[Capability]:
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "pdeflow.info", "--probe", name]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return [Capability(name, False, f"probe timed out after {timeout:g} s", float(timeout))]
    seconds = round(time.perf_counter() - start, 3)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_PROBE_MARKER):
            records = json.loads(line[len(_PROBE_MARKER) :])
            return [Capability(r["name"], r["usable"], r["detail"], seconds) for r in records]
    tail = _first_line(proc.stderr.strip().splitlines()[-1]) if proc.stderr.strip() else ""
    detail = f"probe process died (exit code {proc.returncode}) {tail}".strip()
    return [Capability(name, False, detail, seconds)]


def probe_capabilities(
    names: Iterable[str] | None = None,
    *,
    isolated: bool = True,
    timeout: float = 120.0,
    workers: int = 2,
) -> list[Capability]:
    """Check which backends work on this machine.

    Parameters
    ----------
    names
        Probes to run, keys of :data:`CAPABILITIES`; default all, in report order.
        The ``"torch"`` probe reports two rows, ``"torch"`` and ``"torch CUDA"``.
    isolated
        Run each probe in its own subprocess (default).  ``False`` runs them in this
        process, which is faster but lets a misbehaving library affect the caller.
    timeout
        Seconds allowed per probe (isolated mode only).
    workers
        Probes run concurrently (isolated mode only).

    Returns
    -------
    list of Capability
        The records, in the order of the probes requested.

    Raises
    ------
    KeyError
        An unknown probe name.
    """
    chosen = list(CAPABILITIES) if names is None else list(names)
    unknown = [n for n in chosen if n not in CAPABILITIES]
    if unknown:
        raise KeyError(f"unknown capabilities {unknown}; known: {list(CAPABILITIES)}")
    if not isolated:
        groups = [_run_probe_here(n) for n in chosen]
    else:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            groups = list(pool.map(lambda n: _run_probe_subprocess(n, timeout), chosen))
    return [cap for group in groups for cap in group]


def environment() -> dict[str, Any]:
    """pdeflow version, Python, platform and executable, as a JSON-ready dict."""
    return {
        "pdeflow": pdeflow.__version__,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "executable": sys.executable,
    }


def report(
    packages: Sequence[PackageInfo], capabilities: Sequence[Capability] | None
) -> dict[str, Any]:
    """The JSON document printed by ``pdeflow info --json``."""
    return {
        "environment": environment(),
        "packages": [asdict(p) for p in packages],
        "capabilities": None if capabilities is None else [asdict(c) for c in capabilities],
    }


def _main(argv: Sequence[str]) -> int:
    # Internal entry point used by the isolated probes: python -m pdeflow.info --probe NAME
    if len(argv) != 2 or argv[0] != "--probe" or argv[1] not in CAPABILITIES:
        names = ",".join(CAPABILITIES)
        print(f"usage: python -m pdeflow.info --probe {{{names}}}", file=sys.stderr)
        return 2
    records = [
        {"name": c.name, "usable": c.usable, "detail": c.detail} for c in _run_probe_here(argv[1])
    ]
    sys.stdout.flush()
    print(_PROBE_MARKER + json.dumps(records), flush=True)
    return 0


# ---------------------------------------------------------------------- config
class InfoConfig(PdeflowConfig):
    """Settings of ``pdeflow info`` (flags or a ``--config`` file with these fields).

    Attributes
    ----------
    format : {"table", "json"}
        Rich tables for people, JSON for programs.
    capabilities : bool
        Run the capability probes (slow: each imports a heavy library).
    probes : list of str or None
        Which probes to run (keys of :data:`CAPABILITIES`); ``None`` runs all.
    probe_timeout : float
        Seconds allowed per probe.
    workers : int
        Probes run concurrently.
    """

    format: Literal["table", "json"] = "table"
    capabilities: bool = True
    probes: list[str] | None = None
    probe_timeout: float = Field(120.0, gt=0)
    workers: int = Field(2, ge=1)

    @field_validator("probes")
    @classmethod
    def _known_probes(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            unknown = [v for v in value if v not in CAPABILITIES]
            if unknown:
                raise ValueError(f"unknown probe(s) {unknown}; choose from {list(CAPABILITIES)}")
        return value


def run(config: InfoConfig) -> dict[str, Any]:
    """Collect packages and (if configured) capabilities; return :func:`report`'s document."""
    caps = (
        probe_capabilities(config.probes, timeout=config.probe_timeout, workers=config.workers)
        if config.capabilities
        else None
    )
    return report(probe_packages(), caps)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
