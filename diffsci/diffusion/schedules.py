"""Sigma grids for sampling. A schedule returns a 1-D tensor of decreasing sigmas ending in 0."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["karras_sigmas", "loglinear_sigmas", "SCHEDULES", "get_schedule"]


def _append_zero(s: Tensor) -> Tensor:
    return torch.cat([s, s.new_zeros(1)])


def karras_sigmas(n: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0, *,
                  dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> Tensor:
    """The EDM grid, Karras et al. (2022) Eq. 5: ``n`` sigmas from sigma_max to sigma_min, then 0.

    sigma_i = (sigma_max^(1/rho) + i/(n-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho

    >>> karras_sigmas(3, 1.0, 4.0, rho=1.0).tolist()
    [4.0, 2.5, 1.0, 0.0]
    """
    if n < 1:
        raise ValueError(f"number of steps must be >= 1, got {n}")
    if not 0 < sigma_min <= sigma_max:
        raise ValueError(f"need 0 < sigma_min <= sigma_max, got {sigma_min}, {sigma_max}")
    ramp = torch.linspace(0, 1, n, dtype=dtype, device=device) if n > 1 else torch.zeros(1, dtype=dtype, device=device)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _append_zero((hi + ramp * (lo - hi)) ** rho)


def loglinear_sigmas(n: int, sigma_min: float = 0.002, sigma_max: float = 80.0, *,
                     dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> Tensor:
    """``n`` sigmas evenly spaced in log sigma from sigma_max to sigma_min, then 0.

    >>> [round(s, 6) for s in loglinear_sigmas(3, 1.0, 100.0).tolist()]
    [100.0, 10.0, 1.0, 0.0]
    """
    if n < 1:
        raise ValueError(f"number of steps must be >= 1, got {n}")
    if not 0 < sigma_min <= sigma_max:
        raise ValueError(f"need 0 < sigma_min <= sigma_max, got {sigma_min}, {sigma_max}")
    return _append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), n, dtype=dtype, device=device).exp())


SCHEDULES = {"karras": karras_sigmas, "loglinear": loglinear_sigmas}


def get_schedule(name: str):
    """Look a schedule up by name; an unknown name is an error listing the valid ones."""
    try:
        return SCHEDULES[name]
    except KeyError:
        raise ValueError(f"unknown schedule '{name}'; valid: {', '.join(sorted(SCHEDULES))}") from None
