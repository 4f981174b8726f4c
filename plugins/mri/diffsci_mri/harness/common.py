"""Small pieces shared by the MRI harnesses: padding a denoiser to the UNet's multiple, timing, seeds."""

from __future__ import annotations

import time
import zlib
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["PaddedDenoiser", "Timer", "stable_seed", "unet_multiple"]


def unet_multiple(cfg) -> int:
    """The factor every spatial size must be a multiple of for the prior's UNet: 2 ** (levels - 1)."""
    return 2 ** (len(cfg.model.channels) - 1)


class PaddedDenoiser:
    """Zero-pad the input up to a multiple of ``multiple`` (bottom/right), denoise, crop back.

    The UNet refuses sizes that are not multiples of its down-sampling factor (its docstring says why);
    MRI images (e.g. 230 x 180) are padded explicitly here. The padding is background (zero), which
    the prior has seen around every brain.
    """

    def __init__(self, denoiser, multiple: int):
        self.denoiser, self.multiple = denoiser, int(multiple)
        self.sigma_data = getattr(denoiser, "sigma_data", None)

    def __call__(self, x: Tensor, sigma, cond=None) -> Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if ph == 0 and pw == 0:
            return self.denoiser(x, sigma, cond)
        out = self.denoiser(F.pad(x, (0, pw, 0, ph)), sigma, cond)
        return out[..., :h, :w]


class Timer:
    """Accumulates wall seconds per key: ``with timer("cs_tv"): ...``."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, key: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - t0


def stable_seed(*parts) -> int:
    """A seed that depends only on ``parts`` (not on Python's hash randomisation).

    >>> stable_seed("a.nii.gz", 4) == stable_seed("a.nii.gz", 4), stable_seed("a", 4) == stable_seed("a", 8)
    (True, False)
    """
    return zlib.crc32("|".join(map(str, parts)).encode()) & 0x7FFFFFFF


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(seed))
