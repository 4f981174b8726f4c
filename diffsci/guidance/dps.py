"""Diffusion posterior sampling (DPS, Chung, Kim, Mccann, Klasky & Ye, ICLR 2023, Algorithm 1)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..conditioning import Cond
from ..operators.base import Operator
from ..types import Callback, Denoiser
from ..utils import append_dims, randn_like
from ._common import check_problem

__all__ = ["dps"]


def dps(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, operator: Operator, measurement: Tensor,
        cond: Cond | None = None, callback: Callback | None = None, generator: torch.Generator | None = None,
        step_size: float = 1.0) -> Tensor:
    r"""DPS: ancestral sampling plus a gradient step on :math:`\|y - A(\hat x_0(x_i))\|^2` through the denoiser.

    Algorithm 1 of Chung et al. (2023), written in the variance-exploding parameterisation:

    - :math:`\hat x_0 = D(x_i, \sigma_i)`;
    - ancestral step (the DDPM posterior :math:`q(x_{i+1} | x_i, \hat x_0)`):
      :math:`x' = \hat x_0 + \frac{\sigma_{i+1}^2}{\sigma_i^2}(x_i - \hat x_0)
      + \sigma_{i+1}\sqrt{1 - \sigma_{i+1}^2/\sigma_i^2}\, z`;
    - guidance: :math:`x_{i+1} = x' - \zeta_i\, c_i\, \nabla_{x_i} \|y - A(\hat x_0)\|^2` with
      :math:`\zeta_i = \zeta' / \|y - A(\hat x_0)\|` (the paper's normalised step) and
      :math:`c_i = \sqrt{(1+\sigma_i^2)(1+\sigma_{i+1}^2)}`, the factor that maps the paper's VP update
      onto :math:`x^{VE} = x^{VP}/\sqrt{\bar\alpha}` with :math:`\bar\alpha = 1/(1+\sigma^2)`.

    Works for any (also nonlinear) differentiable operator. The measurement noise enters only through the
    normalised step (the paper's Gaussian-noise variant); ``step_size`` is the paper's :math:`\zeta'`.
    One denoiser call with a backward pass per step.
    """
    y = check_problem(x, operator, measurement)
    n = len(sigmas) - 1
    for i in range(n):
        s, s_next = sigmas[i].to(x.real.dtype), sigmas[i + 1].to(x.real.dtype)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            den = denoiser(xg, s, cond)
            r = y - operator(den)
            sq = r.abs().pow(2).reshape(r.shape[0], -1).sum(1)          # ||y - A(x0_hat)||^2 per sample
            (grad,) = torch.autograd.grad(sq.sum(), xg)
        den = den.detach()
        if s_next > 0:
            ratio = s_next ** 2 / s ** 2
            x_next = den + ratio * (x - den) + s_next * (1 - ratio).sqrt() * randn_like(x, generator)
        else:
            x_next = den
        c = math.sqrt((1 + float(s) ** 2) * (1 + float(s_next) ** 2))
        zeta = step_size / sq.sqrt().clamp_min(torch.finfo(sq.dtype).tiny)
        x = x_next - append_dims(zeta * c, x.ndim) * grad
        if callback is not None:
            callback(i, x, den)
    return x
