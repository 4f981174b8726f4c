"""Small helpers shared by the whole engine: broadcasting, devices, random numbers, input checks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["append_dims", "batch_sigma", "randn_like", "resolve_device", "check_finite", "check_spatial",
           "data_root", "config_dir"]

# The source checkout this package was imported from (an editable install): its configs/ and ../shared/data.
_CHECKOUT = Path(__file__).resolve().parents[1]


def append_dims(t: Tensor, ndim: int) -> Tensor:
    """Append trailing singleton dims so that ``t`` broadcasts against a tensor of rank ``ndim``.

    >>> append_dims(torch.ones(4), 3).shape
    torch.Size([4, 1, 1])
    """
    if t.ndim > ndim:
        raise ValueError(f"cannot append dims to a tensor of rank {t.ndim} to reach rank {ndim}")
    return t.reshape(*t.shape, *([1] * (ndim - t.ndim)))


def batch_sigma(sigma: Tensor | float, x: Tensor) -> Tensor:
    """Return ``sigma`` as a ``(B,)`` tensor on ``x``'s device and dtype (scalar sigmas are broadcast)."""
    sigma = torch.as_tensor(sigma, device=x.device, dtype=x.dtype if x.is_floating_point() else None)
    if sigma.ndim == 0:
        return sigma.expand(x.shape[0])
    if sigma.shape != (x.shape[0],):
        raise ValueError(f"sigma must be a scalar or have shape ({x.shape[0]},), got {tuple(sigma.shape)}")
    return sigma


def randn_like(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Standard normal noise shaped like ``x``, drawn from ``generator`` when one is given."""
    if generator is None:
        return torch.randn_like(x)
    return torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype).to(x.device)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when present, else CPU; ``"cuda"`` without a GPU is an error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"--device {device} was asked for, but torch sees no CUDA device")
    return torch.device(device)


def check_finite(x: Tensor | np.ndarray, source: str) -> None:
    """Raise a ValueError naming ``source`` and the first sample index that holds NaN or Inf.

    ``x`` is batched: index 0 runs over samples.
    """
    arr = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    if np.iscomplexobj(arr):
        arr = np.abs(arr)
    finite = np.isfinite(arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        kind = "NaN" if np.isnan(arr.reshape(finite.shape)[tuple(bad)]) else "Inf"
        raise ValueError(f"{source}: {kind} in sample {int(bad[0])} (and possibly others); "
                         "clean or drop it before training or scoring")


def check_spatial(x: Tensor, spatial_dims: int, channels: int | None = None, what: str = "input") -> None:
    """Check that ``x`` has shape (B, C, *spatial) with ``spatial_dims`` spatial axes (and C channels)."""
    if x.ndim != spatial_dims + 2:
        raise ValueError(
            f"{what} has shape {tuple(x.shape)} (rank {x.ndim}), but a model with spatial_dims="
            f"{spatial_dims} expects rank {spatial_dims + 2}: (batch, channels, "
            + ", ".join(["length"] if spatial_dims == 1 else [f"d{i}" for i in range(spatial_dims)]) + ")")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{what} has {x.shape[1]} channels (shape {tuple(x.shape)}), "
                         f"but the model expects {channels}")


def data_root(subdir: str | None = None) -> Path:
    """Where the real data lives: $DIFFSCI_DATA, else ``../shared/data`` beside the repository.

    The path may not exist (a fresh machine): callers check and skip or fail with a clear message.
    """
    env = os.environ.get("DIFFSCI_DATA")
    root = Path(env) if env else (_CHECKOUT / ".." / "shared" / "data").resolve()
    return root / subdir if subdir else root


def config_dir() -> Path:
    """Where the experiment YAMLs (the repository's ``configs/``) are: $DIFFSCI_CONFIGS, else the
    ``configs/`` of the source checkout the package was imported from (an editable install), else
    ``./configs`` (a non-editable install run from the repository root, as on a lent GPU machine).

    Where none exists this returns the checkout's path, so that the caller's error names it.
    """
    env = os.environ.get("DIFFSCI_CONFIGS")
    if env:
        return Path(env)
    for candidate in (_CHECKOUT / "configs", Path.cwd() / "configs"):
        if candidate.is_dir():
            return candidate
    return _CHECKOUT / "configs"
