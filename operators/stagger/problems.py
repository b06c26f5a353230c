"""Physics-only training problems built on the ``heat`` and ``navier-stokes`` families.

A problem ties a compiled residual to a family: :meth:`initial` turns the family's sampler
into an initial state (what :class:`~pdeflow.operators.tasks.physics.PhysicsTask` draws), and
:meth:`reference` turns the family's ``solve`` into reference trajectories (what
:class:`~pdeflow.operators.tasks.rollout.RolloutEvaluator` compares against).  The family's
record interval ``T / n_snapshots`` is the residual's time step times ``k``, so one model call
is one record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pdeflow.datagen.families.heat import Heat
from pdeflow.datagen.families.navier_stokes import NavierStokes
from pdeflow.errors import ConfigError
from pdeflow.operators.stagger.equations import heat_residual, torus_navier_stokes_residual
from pdeflow.operators.stagger.residual import PhysicsResidual

__all__ = ["HeatProblem", "PhysicsProblem", "TorusNavierStokesProblem"]


class PhysicsProblem:
    """A residual, the family it is trained on, and the maps between them.

    Attributes
    ----------
    residual : PhysicsResidual
        One step of length ``dt``.
    family : Family
        Sampler and reference solver; one record is ``k`` residual steps.
    channels, cond_channels : int
        Channels of the state and of the network's conditioning input.
    dt : float
    k : int
    """

    residual: PhysicsResidual
    family: Any
    channels = 1
    cond_channels = 0

    def __init__(self, family: Any, residual: PhysicsResidual, dt: float, k: int) -> None:
        self.family, self.residual, self.dt, self.k = family, residual, float(dt), int(k)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.family.resolution}, dt={self.dt}, k={self.k})"

    @property
    def scale(self) -> float:
        """RMS of the initial states of samples 0..7 (for ``NeuralStagger(scale=...)``)."""
        return float(np.sqrt(np.mean([np.mean(self.initial(i)["u"] ** 2) for i in range(8)])))

    def observe(self, states: torch.Tensor) -> torch.Tensor:
        """The quantity rollouts are scored on: (M, C, H, W) -> (M, ...); default the state."""
        return states

    def state(self, sample: dict[str, np.ndarray], field: np.ndarray) -> np.ndarray:
        """The state (C, H, W) of one solution frame of ``sample``."""
        raise NotImplementedError

    def extras(self, sample: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Residual fields and network conditioning (key ``cond``) of ``sample``."""
        return {}

    def initial(self, i: int) -> dict[str, np.ndarray]:
        """Initial state of sample ``i`` of the family: ``{"u": (C, H, W), ...}``."""
        sample = self.family.sample(int(i))
        return {"u": self.state(sample, self._initial_field(sample)), **self.extras(sample)}

    def _initial_field(self, sample: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def reference(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """Solve ``indices`` with the family: ``u0`` (N, C, H, W), ``reference`` (N, T, C, H, W).

        Also ``times`` (T,), ``observe`` and ``cond`` (N, Cc, H, W) when the problem has
        one: the keyword arguments of :class:`~pdeflow.operators.tasks.rollout.RolloutEvaluator`.
        """
        res = self.family.solve(list(indices))
        out_name = next(n for n, f in self.family.fields().items() if f.role == "output")
        inputs = [n for n, f in self.family.fields().items() if f.role == "input"]
        u0, refs, conds = [], [], []
        for m in range(len(indices)):
            sample = {n: res.fields[n][m] for n in inputs}
            u0.append(self.state(sample, self._initial_field(sample)))
            refs.append(np.stack([self.state(sample, f) for f in res.fields[out_name][m]]))
            conds.append(self.extras(sample).get("cond"))
        out = {
            "observe": self.observe,
            "u0": torch.as_tensor(np.stack(u0)),
            "reference": torch.as_tensor(np.stack(refs)),
            "times": torch.as_tensor(self.family.coords()["t"]),
        }
        if self.cond_channels:
            out["cond"] = torch.as_tensor(np.stack(conds))
        return out


class HeatProblem(PhysicsProblem):
    """``u_t = ∇·(κ∇u)`` (family ``heat``), state ``u``, conditioned on ``log(κ/κ₀)``.

    Parameters
    ----------
    resolution : int
    n_records : int
        Records of the reference trajectory, one model call each.
    record_dt : float
        Time between records; the residual step is ``record_dt / k``.
    k : int
    family_options : dict
        More options of :class:`~pdeflow.datagen.families.heat.Heat` (``kappa``, ...).

    Examples
    --------
    >>> p = HeatProblem(resolution=8, n_records=2, record_dt=0.1)
    >>> p.initial(0)["u"].shape, p.reference([0])["reference"].shape
    ((1, 8, 8), torch.Size([1, 2, 1, 8, 8]))
    """

    cond_channels = 1
    _eig = None

    def __init__(
        self,
        resolution: int = 64,
        n_records: int = 10,
        record_dt: float = 0.1,
        k: int = 1,
        **family_options: Any,
    ) -> None:
        if record_dt <= 0 or k < 1:
            raise ConfigError(f"HeatProblem needs record_dt > 0 and k >= 1; got {record_dt}, {k}.")
        steps = family_options.pop("steps_per_record", k)
        family = Heat(
            resolution=resolution,
            T=record_dt * n_records,
            n_snapshots=n_records,
            n_steps=n_records * steps,
            **family_options,
        )
        super().__init__(family, heat_residual(resolution, record_dt / k), record_dt / k, k)

    def state(self, sample, field):
        return np.asarray(field, dtype=np.float64)[None]

    def precondition(self, r: torch.Tensor) -> torch.Tensor:
        """``(I + dt/2 κ₀ A₀)^{-1} r``, ``A₀`` the Dirichlet ``-Δ_h``: (B, n²) -> (B, n²).

        The heat residual with ``κ = κ₀`` everywhere becomes ``u¹ - (exact step of u⁰)``;
        with a random ``κ`` it is nearly so, so the loss is about as sensitive to smooth
        errors as to grid-scale ones.
        """
        n = self.family.resolution
        if getattr(self, "_eig", None) is None or self._eig[0].dtype != r.dtype:
            a = 2.0 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)
            a[0, 0] = a[-1, -1] = 3.0  # u = 0 half a cell outside: 2κ/h² on the end faces
            lam, vec = np.linalg.eigh(a * n * n)
            gain = 1.0 / (1.0 + 0.5 * self.dt * self.family.kappa * (lam[:, None] + lam[None, :]))
            self._eig = (torch.as_tensor(vec, dtype=r.dtype), torch.as_tensor(gain, dtype=r.dtype))
        vec, gain = (t.to(r.device) for t in self._eig)
        x = vec.T @ r.reshape(-1, n, n) @ vec
        return (vec @ (gain * x) @ vec.T).reshape(r.shape)

    def _initial_field(self, sample):
        return sample["u0"]

    def extras(self, sample):
        kappa = np.asarray(sample["kappa"], dtype=np.float64)
        return {"kappa": kappa[None], "cond": np.log(kappa / self.family.kappa)[None]}


class TorusNavierStokesProblem(PhysicsProblem):
    """Navier-Stokes on the torus (family ``navier-stokes``), state ``ψ`` with ``-Δψ = w``.

    The family's vorticity becomes a streamfunction by an exact spectral solve.  The
    network is conditioned on the forcing pattern ``sin 2π(x + y) + cos 2π(x + y)`` (a
    convolutional network has no other way to know where it is).

    Parameters
    ----------
    resolution : int
    n_records : int
    record_dt : float
    k : int
    nu : float
    family_options : dict
        More options of :class:`~pdeflow.datagen.families.navier_stokes.NavierStokes`.

    Examples
    --------
    >>> p = TorusNavierStokesProblem(resolution=8, n_records=2, record_dt=0.05)
    >>> p.reference([0])["reference"].shape
    torch.Size([1, 2, 1, 8, 8])
    """

    def __init__(
        self,
        resolution: int = 64,
        n_records: int = 10,
        record_dt: float = 0.1,
        k: int = 1,
        nu: float = 1e-3,
        **family_options: Any,
    ) -> None:
        if record_dt <= 0 or k < 1:
            raise ConfigError(
                f"TorusNavierStokesProblem needs record_dt > 0 and k >= 1; got {record_dt}, {k}."
            )
        family = NavierStokes(
            resolution=resolution,
            T=record_dt * n_records,
            n_snapshots=n_records,
            nu=nu,
            **family_options,
        )
        amp = 0.1 if family.forcing else 0.0
        res = torus_navier_stokes_residual(resolution, nu, record_dt / k, amp)
        super().__init__(family, res, record_dt / k, k)

    def state(self, sample, field):
        return streamfunction(np.asarray(field, dtype=np.float64))[None]

    cond_channels = 1

    def _initial_field(self, sample):
        return sample["w0"]

    def extras(self, sample):
        x = np.arange(self.family.resolution) / self.family.resolution
        phase = 2.0 * np.pi * (x[:, None] + x[None, :])
        return {"cond": (np.sin(phase) + np.cos(phase))[None]}

    def precondition(self, r: torch.Tensor) -> torch.Tensor:
        """Residuals in velocity units: ``(-Δ_h)^{-1/2} r`` (mean kept): (B, n²) -> (B, n²).

        The five-point ``-Δ_h`` is diagonal in Fourier space (symbol
        ``4n² (sin² πk/n + sin² πl/n)``).  The raw residual (vorticity units) weighs a
        grid-scale error of ``ψ`` ``~n²`` times more than a smooth one; this halves that
        imbalance in the exponent and still penalizes grid-scale vorticity.
        """
        n = self.family.resolution
        f = torch.fft.fftfreq(n, dtype=r.dtype, device=r.device)
        sym = (
            4
            * n
            * n
            * (torch.sin(torch.pi * f)[:, None] ** 2 + torch.sin(torch.pi * f)[None, :] ** 2)
        )
        sym[0, 0] = 1.0
        out = torch.fft.ifft2(torch.fft.fft2(r.reshape(-1, n, n)) / sym.sqrt()).real
        return out.reshape(r.shape)

    def observe(self, states: torch.Tensor) -> torch.Tensor:
        """Vorticity ``-Δψ`` (the residual's five-point stencil): (M, 1, n, n) -> (M, n, n)."""
        psi = states[:, 0]
        n = psi.shape[-1]
        lap = sum(torch.roll(psi, sh, ax) for sh in (1, -1) for ax in (-1, -2)) - 4 * psi
        return -lap * n * n


def streamfunction(w: np.ndarray) -> np.ndarray:
    """Zero-mean ``ψ`` with ``-Δψ = w`` on the unit torus (spectral): shape of ``w`` (n, n).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16) / 16
    >>> w = 8 * np.pi**2 * np.sin(2 * np.pi * x)[:, None] * np.sin(2 * np.pi * x)[None, :]
    >>> bool(np.allclose(streamfunction(w), w / (8 * np.pi**2)))
    True
    """
    n = w.shape[-1]
    k = np.fft.fftfreq(n, 1.0 / n)
    lap = 4.0 * np.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2)
    lap[0, 0] = 1.0
    w_hat = np.fft.fft2(w) / lap
    w_hat[0, 0] = 0.0
    return np.fft.ifft2(w_hat).real
