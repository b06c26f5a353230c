"""``target="cuda"`` without a usable GPU: one line saying what is missing (issue #28, item 7)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from pdeflow.errors import BackendUnavailableError, PdeflowError
from pdeflow.symbolic import compile, compile_jacobian, trace
from pdeflow.symbolic.codegen import cuda_device


def _traced():
    def rhs(t, y, p):
        return p[0] * y**2 - np.roll(y, 1)

    return trace(rhs, 0.0, np.linspace(0.1, 1.0, 8), (2.0,), return_inputs=True)


@pytest.fixture
def no_simulator(monkeypatch):
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)


def test_cuda_target_on_this_machine_is_one_line(no_simulator):
    if cuda_device.cuda_missing() is None:
        pytest.skip("a CUDA GPU is usable here")
    out, ins = _traced()
    for build in (compile, compile_jacobian):
        with pytest.raises(BackendUnavailableError) as info:
            build(out, [ins["y"]], params=list(ins["p"]), target="cuda")
        msg = str(info.value)
        assert "\n" not in msg
        assert msg.startswith("target='cuda' cannot run here: ")
        assert "target='numba'" in msg and "CudaSupportError" not in msg
    assert isinstance(info.value, PdeflowError)


def _fake_cuda(monkeypatch, available: bool, error: str | None) -> None:
    from numba import cuda

    monkeypatch.setattr(cuda, "is_available", lambda: available)
    monkeypatch.setattr(cuda, "cuda_error", lambda: error, raising=False)


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (
            "\nCUDA driver library cannot be found.\nIf you are sure that a CUDA driver is "
            "installed,\ntry setting environment variable NUMBA_CUDA_DRIVER\n",
            "no CUDA driver (libcuda.so) was found",
        ),
        (
            "Error at driver init: [100] Call to cuInit results in CUDA_ERROR_NO_DEVICE",
            "the CUDA driver sees no GPU",
        ),
        (None, "the CUDA driver sees no GPU"),
        (
            "Error at driver init: [999] CUDA_ERROR_UNKNOWN\nmore",
            "did not initialize (Error at driver init: [999] CUDA_ERROR_UNKNOWN)",
        ),
    ],
)
def test_each_missing_piece_is_named(monkeypatch, no_simulator, error, says):
    _fake_cuda(monkeypatch, False, error)
    assert says in cuda_device.cuda_missing()
    with pytest.raises(BackendUnavailableError, match="cannot run here") as info:
        cuda_device.require_cuda()
    assert "\n" not in str(info.value)


def test_missing_numba_cuda_is_named(monkeypatch, no_simulator):
    import numba

    monkeypatch.delattr(numba, "cuda", raising=False)
    monkeypatch.setitem(sys.modules, "numba.cuda", None)  # import fails
    assert "numba-cuda does not import" in cuda_device.cuda_missing()


def test_a_usable_gpu_or_the_simulator_passes(monkeypatch):
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", "1")
    assert cuda_device.cuda_missing() is None
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM")
    _fake_cuda(monkeypatch, True, None)
    cuda_device.require_cuda()
