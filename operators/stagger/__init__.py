"""NeuralStagger: physics-constrained neural solvers decomposed in space and time.

Huang et al., "NeuralStagger: Accelerating Physics-constrained Neural PDE Solver with
Spatial-temporal Decomposition", ICML 2023.  A fine grid splits into ``s²`` staggered coarse
sub-grids and time into ``k`` interleaved steps; one coarse sub-solver per sub-task, trained
jointly on the physics residual of the reassembled fine solution, without simulation data.

Examples
--------
>>> import torch
>>> from pdeflow.operators.stagger import space_to_stagger, stagger_to_space
>>> u = torch.randn(2, 1, 8, 8)
>>> bool((stagger_to_space(space_to_stagger(u, 4), 4) == u).all())
True
"""

from pdeflow.operators.stagger.decompose import (
    space_to_stagger,
    stagger_to_space,
    stagger_to_time,
    time_to_stagger,
)
from pdeflow.operators.stagger.equations import (
    heat_residual,
    heat_step,
    lid_driven_cavity,
    mac_navier_stokes_residual,
    mac_navier_stokes_step,
    torus_navier_stokes_residual,
    torus_navier_stokes_step,
)
from pdeflow.operators.stagger.model import NeuralStagger
from pdeflow.operators.stagger.problems import (
    HeatProblem,
    PhysicsProblem,
    TorusNavierStokesProblem,
    streamfunction,
)
from pdeflow.operators.stagger.residual import PhysicsResidual
from pdeflow.operators.stagger.train import train_physics

__all__ = [
    "HeatProblem",
    "NeuralStagger",
    "PhysicsProblem",
    "PhysicsResidual",
    "TorusNavierStokesProblem",
    "heat_residual",
    "heat_step",
    "lid_driven_cavity",
    "mac_navier_stokes_residual",
    "mac_navier_stokes_step",
    "streamfunction",
    "torus_navier_stokes_residual",
    "torus_navier_stokes_step",
    "train_physics",
    "space_to_stagger",
    "stagger_to_space",
    "stagger_to_time",
    "time_to_stagger",
]
