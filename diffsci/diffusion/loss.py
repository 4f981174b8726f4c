"""The EDM training loss (Karras et al. 2022, Eq. 2 with Table 1's sigma distribution and weighting)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..conditioning import Cond
from ..utils import append_dims

__all__ = ["EDMLoss"]


class EDMLoss:
    r"""E_{sigma, y, n} [ lambda(sigma) || D(y + n, sigma) - y ||^2 ],  ln sigma ~ N(P_mean, P_std^2).

    lambda(sigma) = (sigma^2 + sigma_d^2) / (sigma sigma_d)^2, which makes the effective target of
    the raw network unit-variance at every sigma.

    Returns the per-sample loss (B,), averaged over channels and spatial positions.
    """

    def __init__(self, sigma_data: float = 0.5, P_mean: float = -1.2, P_std: float = 1.2):
        self.sigma_data, self.P_mean, self.P_std = float(sigma_data), float(P_mean), float(P_std)

    def sample_sigma(self, n: int, *, device, dtype=torch.float32,
                     generator: torch.Generator | None = None) -> Tensor:
        gdev = generator.device if generator is not None else device
        z = torch.randn(n, generator=generator, device=gdev, dtype=dtype).to(device)
        return (self.P_mean + self.P_std * z).exp()

    def weight(self, sigma: Tensor) -> Tensor:
        return (sigma ** 2 + self.sigma_data ** 2) / (sigma * self.sigma_data) ** 2

    def __call__(self, denoiser, y: Tensor, cond: Cond | None = None, *,
                 generator: torch.Generator | None = None) -> Tensor:
        sigma = self.sample_sigma(y.shape[0], device=y.device, dtype=y.dtype, generator=generator)
        gdev = generator.device if generator is not None else y.device
        n = torch.randn(y.shape, generator=generator, device=gdev, dtype=y.dtype).to(y.device)
        D = denoiser(y + append_dims(sigma, y.ndim) * n, sigma, cond)
        return self.weight(sigma) * (D - y).pow(2).flatten(1).mean(1)
