"""Classifier-free guidance as a denoiser wrapper (Ho & Salimans 2022, Eq. 6)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..conditioning import Cond
from ..utils import batch_sigma


class ClassifierFreeGuidance(nn.Module):
    """D_w(x, sigma, c) = D(x, sigma, null) + w (D(x, sigma, c) - D(x, sigma, null)).

    w = 1 is the conditional model, w = 0 the unconditional one, w > 1 sharpens towards c. The
    conditional and unconditional passes share one batched call. The wrapped denoiser must have
    been trained with condition dropout so that ``cond.drop()`` means something.
    """

    def __init__(self, denoiser: nn.Module, scale: float):
        super().__init__()
        self.denoiser, self.scale = denoiser, float(scale)

    def forward(self, x: Tensor, sigma: Tensor | float, cond: Cond | None = None) -> Tensor:
        if cond is None or self.scale == 1.0:
            return self.denoiser(x, sigma, cond)
        sigma = batch_sigma(sigma, x)
        both = Cond.cat([cond, cond.drop()])
        d_cond, d_uncond = self.denoiser(torch.cat([x, x]), torch.cat([sigma, sigma]), both).chunk(2)
        return d_uncond + self.scale * (d_cond - d_uncond)
