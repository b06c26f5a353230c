"""Text2PDE: latent diffusion of PDE trajectories, conditioned on text or the first frame.

Modules: :mod:`.diffusion` (``GaussianDiffusion``, DDIM, DPM-Solver++, classifier-free
guidance), :mod:`.text` (``TextEncoder``, ``caption``, ``parse_caption``),
:mod:`.autoencoder` (``SpaceTimeAutoencoder``), :mod:`.dit` (``DiT``), :mod:`.model`
(``LatentDiffusionPDE``) and :mod:`.train` (short training loops).

>>> from pdeflow.operators.text2pde import GaussianDiffusion
>>> GaussianDiffusion().n_steps
1000
"""

from .autoencoder import AutoencoderConfig, SpaceTimeAutoencoder, relative_l2
from .diffusion import GaussianDiffusion
from .dit import DIT_SIZES, DiT, DiTConfig
from .model import LatentDiffusionConfig, LatentDiffusionPDE
from .text import TEXT_MODEL, TextEncoder, caption, parse_caption

__all__ = [
    "AutoencoderConfig",
    "SpaceTimeAutoencoder",
    "relative_l2",
    "GaussianDiffusion",
    "DIT_SIZES",
    "DiT",
    "DiTConfig",
    "LatentDiffusionConfig",
    "LatentDiffusionPDE",
    "TEXT_MODEL",
    "TextEncoder",
    "caption",
    "parse_caption",
]
