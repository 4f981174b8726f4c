"""Stochastic sampler of EDM with churn (Karras et al. 2022, Algorithm 2)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..conditioning import Cond
from ..types import Callback, Denoiser
from ..utils import randn_like


def stochastic(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, cond: Cond | None = None,
               callback: Callback | None = None, generator: torch.Generator | None = None,
               s_churn: float = 40.0, s_tmin: float = 0.05, s_tmax: float = 50.0,
               s_noise: float = 1.003) -> Tensor:
    """EDM Algorithm 2: raise sigma by gamma_i, add matching fresh noise, then take a Heun step.

    gamma_i = min(S_churn / N, sqrt(2) - 1) for sigma_i in [S_tmin, S_tmax], else 0.
    With s_churn = 0 this is exactly Algorithm 1 (heun). Defaults are EDM's ImageNet-64 settings
    except s_churn, which is a moderate 40.
    """
    n = len(sigmas) - 1
    for i in range(n):
        s, s_next = sigmas[i].to(x.dtype), sigmas[i + 1].to(x.dtype)
        gamma = min(s_churn / n, math.sqrt(2) - 1) if s_tmin <= float(s) <= s_tmax else 0.0
        s_hat = s * (1 + gamma)                                            # line 5
        if gamma > 0:
            x = x + (s_hat ** 2 - s ** 2).sqrt() * s_noise * randn_like(x, generator)  # line 6
        denoised = denoiser(x, s_hat, cond)
        d = (x - denoised) / s_hat                                         # line 7
        x_next = x + (s_next - s_hat) * d                                  # line 8
        if s_next > 0:                                                     # lines 9-11
            d_next = (x_next - denoiser(x_next, s_next, cond)) / s_next
            x_next = x + (s_next - s_hat) * (d + d_next) / 2
        x = x_next
        if callback is not None:
            callback(i, x, denoised)
    return x
