"""Guidance: classifier-free guidance and posterior sampling for inverse problems.

Posterior samplers share the sampler signature plus the measurement model::

    f(denoiser, x, sigmas, *, operator, measurement, cond=None, callback=None, generator=None, **options)

where x is the initial noise at sigmas[0] and the noise level is ``operator.sigma_y``:
:func:`data_consistency` (projection / noise-aware proximal step on the denoised estimate),
:func:`dps` (Chung et al. 2023), :func:`pigdm` (Song et al. 2023), :func:`diffpir` (Zhu et al. 2023).
:func:`multishot` draws K samples per measurement and returns mean and std maps. See docs/inverse.md.
"""

from .cfg import ClassifierFreeGuidance
from .data_consistency import DataConsistencyDenoiser, data_consistency
from .diffpir import diffpir
from .dps import dps
from .gaussian_posterior import gaussian_posterior, operator_matrix, posterior_denoiser
from .multishot import PosteriorSamples, multishot, reduce_shots
from .pigdm import PiGDMDenoiser, pigdm

#: Posterior samplers by name (the ``--method`` of ``diffsci reconstruct``).
METHODS = {"dc": data_consistency, "dps": dps, "pigdm": pigdm, "diffpir": diffpir}


def get_method(name: str):
    """Look a posterior sampler up by name ("dc" or "data_consistency", "dps", "pigdm", "diffpir")."""
    key = "dc" if name == "data_consistency" else name
    try:
        return METHODS[key]
    except KeyError:
        raise ValueError(f"unknown posterior sampling method '{name}'; valid: {', '.join(METHODS)}") from None


def method_nfe(name: str, steps: int, sampler: str = "stochastic") -> int:
    """Denoiser calls of a posterior sampler for ``steps`` steps (dps, pigdm: each with a backward pass)."""
    from ..samplers import NFE
    key = "dc" if name == "data_consistency" else name
    if key in ("dps", "diffpir"):
        return steps
    if key in ("dc", "pigdm"):
        return NFE[sampler](steps)
    raise ValueError(f"unknown posterior sampling method '{name}'; valid: {', '.join(METHODS)}")


__all__ = ["ClassifierFreeGuidance", "data_consistency", "dps", "pigdm", "diffpir", "multishot",
           "reduce_shots", "PosteriorSamples", "DataConsistencyDenoiser", "PiGDMDenoiser", "METHODS",
           "get_method", "method_nfe", "gaussian_posterior", "posterior_denoiser", "operator_matrix"]
