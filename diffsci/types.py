"""The protocols the engine is written against (see docs/design: the denoiser contract)."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

from .conditioning import Cond

__all__ = ["Denoiser", "Callback", "Sampler"]


class Denoiser(Protocol):
    """D(x, sigma, cond) -> estimate of the clean x0; sigma is a scalar or shape (B,)."""

    def __call__(self, x: Tensor, sigma: Tensor | float, cond: Cond | None = None) -> Tensor: ...


class Callback(Protocol):
    """Called after step i with the new iterate x and the denoiser's estimate at that step."""

    def __call__(self, i: int, x: Tensor, denoised: Tensor) -> None: ...


class Sampler(Protocol):
    def __call__(self, denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, cond: Cond | None = None,
                 callback: Callback | None = None, generator: torch.Generator | None = None) -> Tensor: ...
