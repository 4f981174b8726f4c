"""Second-order deterministic sampler of EDM (Karras et al. 2022, Algorithm 1)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..conditioning import Cond
from ..types import Callback, Denoiser


def heun(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, cond: Cond | None = None,
         callback: Callback | None = None, generator: torch.Generator | None = None) -> Tensor:
    """Heun's method on the probability-flow ODE; the last step (to sigma = 0) is a plain Euler step.

    Uses 2N - 1 denoiser evaluations for N steps.

    Args:
        x: initial noise at sigmas[0], shape (B, C, *spatial).
        sigmas: decreasing grid ending in 0, shape (N+1,).
    """
    for i in range(len(sigmas) - 1):
        s, s_next = sigmas[i].to(x.dtype), sigmas[i + 1].to(x.dtype)
        denoised = denoiser(x, s, cond)
        d = (x - denoised) / s                                 # Alg. 1 line 4: d_i
        x_next = x + (s_next - s) * d                          # line 5: Euler predictor
        if s_next > 0:                                         # lines 6-8: 2nd-order correction
            d_next = (x_next - denoiser(x_next, s_next, cond)) / s_next
            x_next = x + (s_next - s) * (d + d_next) / 2
        x = x_next
        if callback is not None:
            callback(i, x, denoised)
    return x
