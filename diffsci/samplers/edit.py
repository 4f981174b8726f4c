"""SDEdit (Meng et al. 2022): variations of given data by noising it to sigma_start and denoising back."""

from __future__ import annotations

import torch
from torch import Tensor

from ..conditioning import Cond
from ..diffusion.schedules import get_schedule
from ..types import Denoiser
from . import get_sampler


def edit(denoiser: Denoiser, x0: Tensor, sigma_start: float, *, sampler: str = "heun", steps: int = 8,
         schedule: str = "karras", sigma_min: float = 0.002, cond: Cond | None = None,
         generator: torch.Generator | None = None, callback=None, **sampler_kwargs) -> Tensor:
    """x_t = x0 + sigma_start n, n ~ N(0, I), then the sampler on the schedule from sigma_start down to 0.

    x_t has the marginal of the data at noise level sigma_start when x0 is drawn from the data, so the output
    is again a draw from the model; how far it strays from x0 grows with sigma_start. With an ODE sampler and
    the exact denoiser of N(mu, s^2 I) the map is closed form: out = mu + (x_t - mu) s / sqrt(s^2 + sigma_start^2)
    (the PF-ODE of a Gaussian, tests/samplers/test_edit.py).
    """
    if not sigma_start > sigma_min:
        raise ValueError(f"sigma_start must exceed sigma_min ({sigma_min}), got {sigma_start}")
    fn = get_sampler(sampler)
    sigmas = get_schedule(schedule)(steps, sigma_min, sigma_start, dtype=x0.dtype, device=x0.device)
    gdev = generator.device if generator is not None else x0.device
    noise = torch.randn(x0.shape, generator=generator, device=gdev, dtype=x0.dtype).to(x0.device)
    return fn(denoiser, x0 + sigma_start * noise, sigmas, cond=cond, callback=callback, generator=generator,
              **sampler_kwargs)
