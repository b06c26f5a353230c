"""Shared helpers of the FNO benchmarks: find or install neuraloperator, build both models.

neuraloperator is never a pdeflow dependency: it is imported from ``--neuralop-path DIR``,
from the environment if already installed, or installed on the fly into a cache folder with
``pip install --target DIR --no-deps neuraloperator tensorly tensorly-torch opt-einsum
configmypy`` (its import needs only these; ``--no-deps`` keeps pip away from torch).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

NEURALOP_PACKAGES = ["neuraloperator", "tensorly", "tensorly-torch", "opt-einsum", "configmypy"]
DEFAULT_DIR = Path(
    os.environ.get("PDEFLOW_NEURALOP_DIR", Path(tempfile.gettempdir()) / "pdeflow-neuralop")
)


def import_neuralop(path: str | Path | None = None, install: bool = True) -> tuple[Any, str]:
    """``(neuralop.models.FNO, how)``, or ``(None, reason)`` if it cannot be had."""
    for candidate in [path, DEFAULT_DIR] if path else [None, DEFAULT_DIR]:
        if candidate is not None:
            if not Path(candidate).is_dir():
                continue
            sys.path.insert(0, str(candidate))
        try:
            module = importlib.import_module("neuralop.models")
            version = importlib.import_module("neuralop").__version__
            return module.FNO, f"neuraloperator {version} from {candidate or 'the environment'}"
        except ImportError:
            if candidate is not None:
                sys.path.remove(str(candidate))
    if path is not None:
        return None, f"--neuralop-path {path}: neuralop cannot be imported from there"
    if not install:
        return None, "neuraloperator is not installed (pass --neuralop-path DIR)"
    DEFAULT_DIR.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target"]
    cmd += [str(DEFAULT_DIR), *NEURALOP_PACKAGES]
    print("installing neuraloperator for this benchmark only:", " ".join(cmd), flush=True)
    try:
        subprocess.run(cmd, check=True, timeout=600)
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"could not install neuraloperator ({exc}); pass --neuralop-path DIR"
    return import_neuralop(DEFAULT_DIR, install=False)


def build_pair(peer_fno: Any, ndim: int, width: int, modes: int, layers: int, channels=(1, 1)):
    """pdeflow's FNO and neuraloperator's FNO with the same architecture and mode set.

    pdeflow ``modes=m`` keeps frequencies ``-m..m-1`` on leading axes and ``0..m-1`` on the
    last (original FNO); neuraloperator 2.x counts all kept modes, so the same set is
    ``n_modes = (2m, ..., 2m, 2m - 1)``.  Both use lifting/projection ratio 2, a channel MLP
    (expansion 0.5) with soft-gating skip, a linear FNO skip, grid embedding and GELU.
    """
    from pdeflow.operators import FNO

    ours = FNO(channels[0], channels[1], modes=(modes,) * ndim, width=width, n_layers=layers)
    theirs = None
    if peer_fno is not None:
        n_modes = (2 * modes,) * (ndim - 1) + (2 * modes - 1,)
        theirs = peer_fno(
            n_modes=n_modes,
            in_channels=channels[0],
            out_channels=channels[1],
            hidden_channels=width,
            n_layers=layers,
        )
    return ours, theirs


def real_parameter_count(model: Any) -> int:
    """Trainable real numbers (a complex parameter counts twice)."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())
