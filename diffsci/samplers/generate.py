"""Draw samples from a denoiser: initial noise at sigma_max, a schedule, a sampler."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..conditioning import Cond
from ..diffusion.schedules import get_schedule
from ..types import Denoiser
from . import get_sampler


def generate(denoiser: Denoiser, shape: Sequence[int], *, sampler: str = "heun", steps: int = 32,
             schedule: str = "karras", sigma_min: float = 0.002, sigma_max: float = 80.0,
             cond: Cond | None = None, generator: torch.Generator | None = None,
             device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
             callback=None, **sampler_kwargs) -> Tensor:
    """Sample ``shape`` = (B, C, *spatial) from the model by integrating from x ~ N(0, sigma_max^2 I)."""
    fn = get_sampler(sampler)
    sigmas = get_schedule(schedule)(steps, sigma_min, sigma_max, dtype=dtype, device=device)
    gdev = generator.device if generator is not None else device
    x = torch.randn(tuple(shape), generator=generator, device=gdev, dtype=dtype).to(device) * sigmas[0]
    return fn(denoiser, x, sigmas, cond=cond, callback=callback, generator=generator, **sampler_kwargs)
