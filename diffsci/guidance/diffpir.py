"""DiffPIR: denoising diffusion models for plug-and-play image restoration (Zhu et al., CVPRW 2023, Algorithm 1)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..conditioning import Cond
from ..operators.base import LinearOperator
from ..types import Callback, Denoiser
from ..utils import randn_like
from ._common import check_problem

__all__ = ["diffpir"]


def diffpir(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, operator: LinearOperator, measurement: Tensor,
            cond: Cond | None = None, callback: Callback | None = None, generator: torch.Generator | None = None,
            lam: float = 1.0, zeta: float = 1.0) -> Tensor:
    r"""DiffPIR: denoiser prior step, closed-form proximal data step, partial re-noising.

    Per step (Zhu et al. 2023, Alg. 1, variance-exploding form where :math:`\bar\sigma_t = \sigma`):

    1. :math:`x_0^{(t)} = D(x_t, \sigma_t)`;
    2. data step :math:`\hat x_0 = \arg\min_x \|y - A x\|^2 + \rho_t \|x - x_0^{(t)}\|^2
       = x_0^{(t)} + A^+_{\rho_t}(y - A x_0^{(t)})`, :math:`\rho_t = \lambda \sigma_y^2 / \sigma_t^2`
       (sigma_y = 0: the projection onto the measured set);
    3. :math:`\hat\epsilon = (x_t - \hat x_0)/\sigma_t`,
       :math:`x_{t-1} = \hat x_0 + \sigma_{t-1}(\sqrt{1-\zeta}\,\hat\epsilon + \sqrt{\zeta}\, z)`.

    Args:
        lam: the paper's lambda (strength of the prior against the data term).
        zeta: the paper's zeta in [0, 1]: 0 is deterministic, 1 (default; the most accurate on the
            linear-Gaussian benchmark) draws fresh noise every step.
    """
    if not 0.0 <= zeta <= 1.0:
        raise ValueError(f"zeta must be in [0, 1], got {zeta}")
    if lam <= 0:
        raise ValueError(f"lam must be > 0, got {lam}")
    y = check_problem(x, operator, measurement, linear=True)
    for i in range(len(sigmas) - 1):
        s, s_next = sigmas[i].to(x.dtype), sigmas[i + 1].to(x.dtype)
        den = denoiser(x, s, cond)
        rho = lam * operator.sigma_y ** 2 / float(s) ** 2
        x0 = den + operator.pinv(y - operator(den), rho)                   # step 2: proximal data step
        if s_next > 0:
            eps = (x - x0) / s                                             # step 3
            x = x0 + s_next * (math.sqrt(1 - zeta) * eps + math.sqrt(zeta) * randn_like(x, generator))
        else:
            x = x0
        if callback is not None:
            callback(i, x, x0)
    return x
