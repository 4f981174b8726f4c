"""Euler-Maruyama on the reverse-time variance-exploding SDE (Song et al. 2021, Eq. 6)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..conditioning import Cond
from ..types import Callback, Denoiser
from ..utils import randn_like


def euler_maruyama(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, cond: Cond | None = None,
                   callback: Callback | None = None, generator: torch.Generator | None = None) -> Tensor:
    """Reverse SDE dx = -d[sigma^2] grad log p_sigma(x) + sqrt(d[sigma^2]) dw, discretised in sigma^2.

    With score = (D - x)/sigma^2 and delta = sigma_i^2 - sigma_{i+1}^2 > 0:
        x_{i+1} = x_i + delta/sigma_i^2 (D(x_i, sigma_i) - x_i) + sqrt(delta) z_i.
    The final step to sigma = 0 returns the denoised estimate without noise (Song et al.'s
    "denoise at the last step"); it equals the update above minus its last noise term.
    """
    for i in range(len(sigmas) - 1):
        s, s_next = sigmas[i].to(x.dtype), sigmas[i + 1].to(x.dtype)
        denoised = denoiser(x, s, cond)
        if s_next == 0:
            x = denoised
        else:
            delta = s ** 2 - s_next ** 2
            x = x + delta / s ** 2 * (denoised - x) + delta.sqrt() * randn_like(x, generator)
        if callback is not None:
            callback(i, x, denoised)
    return x
