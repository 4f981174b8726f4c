"""Pseudoinverse-guided diffusion (PiGDM, Song, Vahdat, Mardani & Kautz, ICLR 2023)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..conditioning import Cond
from ..operators.base import LinearOperator
from ..samplers import get_sampler
from ..types import Callback, Denoiser
from ..utils import append_dims, batch_sigma
from ._common import check_problem, posterior_variance, resolve_sigma_data, scalar_sigma

__all__ = ["pigdm", "PiGDMDenoiser"]


class PiGDMDenoiser:
    r"""D'(x, sigma) = D + sigma^2 g, g = (dD/dx)^T A^H (r^2 A A^H + sigma_y^2 I)^{-1} (y - A D).

    g is PiGDM's approximation of :math:`\nabla_x \log p(y | x_\sigma)` (Song et al. 2023, Eq. 7), which
    takes :math:`x_0 | x_\sigma \sim N(D, r^2 I)`; adding :math:`\sigma^2 g` to D turns the prior
    denoiser into a posterior one (Tweedie: :math:`E[x_0|x,y] = x + \sigma^2 \nabla \log p(x|y)`).
    The vector-Jacobian product runs through the denoiser under ``torch.enable_grad()``; the inverse is
    :math:`r^{-2} A^+_{\sigma_y^2/r^2}`, closed-form for mask and Fourier operators.
    """

    def __init__(self, denoiser: Denoiser, operator: LinearOperator, measurement: Tensor, sigma_data: float,
                 guidance_scale: float = 1.0):
        self.denoiser, self.operator, self.y = denoiser, operator, measurement
        self.sigma_data, self.scale = sigma_data, float(guidance_scale)

    def __call__(self, x: Tensor, sigma: Tensor | float, cond: Cond | None = None) -> Tensor:
        r2 = float(posterior_variance(torch.as_tensor(scalar_sigma(sigma), dtype=torch.float64), self.sigma_data))
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            d = self.denoiser(xg, sigma, cond)
            v = self.operator.pinv(self.y - self.operator(d.detach()), self.operator.sigma_y ** 2 / r2) / r2
            (g,) = torch.autograd.grad(d, xg, grad_outputs=v)
        s2 = append_dims(batch_sigma(sigma, x) ** 2, x.ndim)
        return d.detach() + self.scale * s2 * g


def pigdm(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, operator: LinearOperator, measurement: Tensor,
          cond: Cond | None = None, callback: Callback | None = None, generator: torch.Generator | None = None,
          sampler: str = "stochastic", sigma_data: float | None = None, guidance_scale: float = 1.0) -> Tensor:
    """Sample p(x | y) by integrating PiGDM's posterior denoiser with an engine sampler.

    Args:
        x: initial noise at sigmas[0], (B, C, *spatial); sigmas: decreasing grid ending in 0.
        operator, measurement: linear operator (noise std ``operator.sigma_y``) and y.
        sampler: engine sampler name (default "stochastic", EDM Alg. 2 with churn, which corrects the
            approximate guidance better than the deterministic "heun"; both make 2N - 1 denoiser calls,
            each with a backward pass).
        sigma_data: data std in r^2 = sigma^2 sd^2 / (sigma^2 + sd^2) (default ``denoiser.sigma_data``).
        guidance_scale: multiplies the guidance term (1 = the paper's posterior score).
    """
    y = check_problem(x, operator, measurement, linear=True)
    sd = resolve_sigma_data(denoiser, sigma_data, "pigdm")
    post = PiGDMDenoiser(denoiser, operator, y, sd, guidance_scale)
    return get_sampler(sampler)(post, x, sigmas, cond=cond, callback=callback, generator=generator)
