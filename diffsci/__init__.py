"""diffsci: diffusion priors for scientific data — reconstruct, score anomalies, generate; 1D, 2D and 3D.

Everything is written against one contract, the EDM-preconditioned denoiser ``D(x, sigma, cond) -> x0``.
"""

from .conditioning import Cond

__version__ = "0.1.0"
__all__ = ["Cond", "__version__"]
