"""Interpolation between data through the probability-flow ODE's noise (DDIM, Song et al. 2021, Sec. 5.4).

Two samples are mapped to noise level sigma_max by the PF-ODE (deterministic, invertible), their noises are
joined by spherical linear interpolation (Shoemake 1985), and the result is mapped back to the data. Unlike a
mix of the data themselves (mixup), every point on the path is again a point the model maps from noise, so the
path stays where the model puts its mass.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..conditioning import Cond
from ..diffusion.schedules import get_schedule
from ..types import Denoiser
from . import get_sampler


def _grid(steps: int, sigma_min: float, sigma_max: float, schedule: str, like: Tensor) -> Tensor:
    if not sigma_max > sigma_min > 0:
        raise ValueError(f"need sigma_max > sigma_min > 0, got sigma_min={sigma_min}, sigma_max={sigma_max}")
    return get_schedule(schedule)(steps, sigma_min, sigma_max, dtype=like.dtype, device=like.device)


def encode(denoiser: Denoiser, x0: Tensor, *, sigma_max: float = 80.0, sigma_min: float = 0.002, steps: int = 32,
           schedule: str = "karras", cond: Cond | None = None) -> Tensor:
    """The PF-ODE from x0 (read as the state at sigma_min) up to sigma_max: Heun on the ascending grid, the
    inverse of :func:`decode` on the same grid (up to the solver's error)."""
    up = _grid(steps, sigma_min, sigma_max, schedule, x0)[:-1].flip(0)   # sigma_min ... sigma_max, no 0
    return get_sampler("heun")(denoiser, x0, up, cond=cond)


def decode(denoiser: Denoiser, z: Tensor, *, sigma_max: float = 80.0, sigma_min: float = 0.002, steps: int = 32,
           schedule: str = "karras", cond: Cond | None = None) -> Tensor:
    """The PF-ODE from z at sigma_max down to the data (Heun, the last step to 0 an Euler step)."""
    return get_sampler("heun")(denoiser, z, _grid(steps, sigma_min, sigma_max, schedule, z), cond=cond)


def slerp(z0: Tensor, z1: Tensor, t: Tensor | float) -> Tensor:
    """Spherical linear interpolation per sample (dim 0): sin((1-t) a) / sin a z0 + sin(t a) / sin a z1, a the
    angle between the flattened z0 and z1; a plain linear mix where the two are (anti)parallel."""
    if z0.shape != z1.shape:
        raise ValueError(f"slerp needs two tensors of one shape, got {tuple(z0.shape)} and {tuple(z1.shape)}")
    t = torch.as_tensor(t, dtype=z0.dtype, device=z0.device).reshape(-1, *([1] * (z0.dim() - 1)))
    a, b = z0.flatten(1), z1.flatten(1)
    cos = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(torch.finfo(z0.dtype).tiny)
    ang = torch.arccos(cos.clamp(-1.0, 1.0)).reshape(-1, *([1] * (z0.dim() - 1)))
    s = torch.sin(ang)
    flat = s.abs() < 1e-6
    s = torch.where(flat, torch.ones_like(s), s)
    w0 = torch.where(flat, 1 - t, torch.sin((1 - t) * ang) / s)
    w1 = torch.where(flat, t, torch.sin(t * ang) / s)
    return w0 * z0 + w1 * z1


def interpolate(denoiser: Denoiser, x0: Tensor, x1: Tensor, t: Tensor | float, *, sigma_max: float = 80.0,
                sigma_min: float = 0.002, steps: int = 32, schedule: str = "karras",
                cond: Cond | None = None) -> Tensor:
    """Points at fraction ``t`` (a float, or one per sample) of the way from x0 to x1 (same shape (B, ...)),
    through the PF-ODE noise at ``sigma_max``; ``cond`` is used for all three ODE solves (interpolate within
    a class by pairing samples of that class)."""
    if x0.shape != x1.shape:
        raise ValueError(f"interpolate needs x0 and x1 of one shape, got {tuple(x0.shape)} and {tuple(x1.shape)}")
    kw = dict(sigma_max=sigma_max, sigma_min=sigma_min, steps=steps, schedule=schedule, cond=cond)
    both = None if cond is None else Cond.cat([cond, cond])                    # x0 and x1 stacked
    z = encode(denoiser, torch.cat([x0, x1]), **{**kw, "cond": both})
    return decode(denoiser, slerp(z[:len(x0)], z[len(x0):], t), **kw)
