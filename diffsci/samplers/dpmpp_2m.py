"""DPM-Solver++(2M): the second-order multistep data-prediction solver (Lu et al. 2022, Algorithm 2)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..conditioning import Cond
from ..types import Callback, Denoiser


def dpmpp_2m(denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, cond: Cond | None = None,
             callback: Callback | None = None, generator: torch.Generator | None = None) -> Tensor:
    """DPM-Solver++(2M) in the sigma parameterisation (alpha = 1, lambda = -log sigma).

    Exact exponential integration of the linear part: x_{i+1} = (s_{i+1}/s_i) x_i + (1 - s_{i+1}/s_i) D_i',
    where D_i' = (1 + 1/(2r)) D_i - 1/(2r) D_{i-1} with r = h_{i-1}/h_i is the multistep estimate of the
    denoised value (first step and last step to sigma = 0 use D_i). One denoiser call per step.
    """
    old_denoised, h_last = None, None
    for i in range(len(sigmas) - 1):
        s, s_next = sigmas[i].to(x.dtype), sigmas[i + 1].to(x.dtype)
        denoised = denoiser(x, s, cond)
        if s_next == 0:
            x = denoised                                       # the exact limit of the update at sigma -> 0
        else:
            h = s.log() - s_next.log()                         # h_i = lambda_{i+1} - lambda_i
            d = denoised
            if old_denoised is not None:
                r = h_last / h
                d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (s_next / s) * x - torch.expm1(-h) * d        # sigma_{i+1}/sigma_i = exp(-h)
            h_last = h
        old_denoised = denoised
        if callback is not None:
            callback(i, x, denoised)
    return x
