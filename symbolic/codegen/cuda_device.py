"""Whether the ``cuda`` target can run here, as one line that says what is missing.

numba reports a machine without a GPU only when the first kernel touches the device, with a
multi-line ``CudaSupportError`` ("Error at driver init: ... CUDA driver library cannot be
found ... NUMBA_CUDA_DRIVER ...").  :func:`require_cuda` checks at ``compile`` time instead.
"""

from __future__ import annotations

import importlib.util
import os

from pdeflow.errors import BackendUnavailableError

__all__ = ["require_cuda", "cuda_missing"]

_INSTEAD = (
    "use target='numba' (CPU, parallel=True for threads), 'numpy', 'jax' or 'torch' instead; "
    "'pdeflow info --capabilities' shows what a GPU run needs"
)


def cuda_missing() -> str | None:
    """What the ``cuda`` target lacks on this machine, or None when it can run.

    numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) counts as available.
    """
    if importlib.util.find_spec("numba") is None:
        return "numba is not installed (pip install 'pdeflow[cuda]')"
    try:
        from numba import cuda
    except ImportError as exc:
        why = _first_line(str(exc))
        return f"numba-cuda does not import ({why}; pip install 'pdeflow[cuda]')"
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return None
    if cuda.is_available():
        return None
    error = cuda.cuda_error() if hasattr(cuda, "cuda_error") else None
    text = str(error or "")
    if "cannot be found" in text or "libcuda" in text:
        return "no CUDA driver (libcuda.so) was found: this machine has no NVIDIA GPU driver"
    if "NO_DEVICE" in text or "no CUDA-capable device" in text or not text.strip():
        return "the CUDA driver sees no GPU (check CUDA_VISIBLE_DEVICES and nvidia-smi)"
    return f"the CUDA driver did not initialize ({_first_line(text)})"


def require_cuda() -> None:
    """Raise a one-line :class:`~pdeflow.errors.BackendUnavailableError` unless the ``cuda``
    target can run here."""
    missing = cuda_missing()
    if missing is not None:
        raise BackendUnavailableError(f"target='cuda' cannot run here: {missing}; {_INSTEAD}.")


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0].rstrip(":.") if lines else "no detail"
