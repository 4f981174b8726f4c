"""First-order deterministic sampler: Euler steps on the probability-flow ODE."""

from __future__ import annotations

import torch
from torch import Tensor

from ..conditioning import Cond
from ..types import Callback, Denoiser


def euler(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, cond: Cond | None = None,
          callback: Callback | None = None, generator: torch.Generator | None = None) -> Tensor:
    """Euler's method on dx/dsigma = (x - D(x, sigma)) / sigma (Karras et al. 2022, Eq. 4 with sigma(t) = t).

    Args:
        x: initial noise at sigmas[0], shape (B, C, *spatial).
        sigmas: decreasing grid ending in 0, shape (N+1,).
        generator: unused (deterministic); kept for the common sampler signature.
    """
    for i in range(len(sigmas) - 1):
        s, s_next = sigmas[i].to(x.dtype), sigmas[i + 1].to(x.dtype)
        denoised = denoiser(x, s, cond)
        x = x + (s_next - s) * (x - denoised) / s            # x_{i+1} = x_i + (s_{i+1} - s_i) d_i
        if callback is not None:
            callback(i, x, denoised)
    return x
