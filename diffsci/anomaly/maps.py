"""Anomaly maps with the input's shape: noise to sigma*, denoise, compare (per location).

For a sample x, each repeat draws eps ~ N(0, I), forms x + sigma* eps and reconstructs it by
  * "onestep": x_hat = D(x + sigma* eps, sigma*) (the posterior mean E[x0 | x_sigma*], Tweedie);
  * "ode": Heun on the probability-flow ODE from sigma* down to 0 (a sample-like reconstruction);
  * "sde": Euler-Maruyama on the reverse SDE from sigma* down to 0 (a posterior sample);
and the map is the residual (x - x_hat)^2 (or |x - x_hat|) averaged over repeats and over several
sigma* (small sigma* see fine defects, large sigma* see large ones). Locations the prior cannot explain
stay in the residual. Optional Gaussian smoothing (scipy.ndimage) and normalisation against the maps of
normal data (per-location or global z-scores) follow. The idea follows AnoDDPM (Wyatt et al. 2022) and
the partial-diffusion reconstruction of Pinaya et al. (2022), on the EDM denoiser in 1D, 2D and 3D.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

from ..conditioning import Cond
from ..diffusion.schedules import karras_sigmas
from ..samplers import euler_maruyama, heun
from ..types import Denoiser
from ..utils import randn_like

__all__ = ["ReconstructionMaps", "reconstruction_maps", "smooth_map", "MapNormalizer", "RECON_METHODS"]

RECON_METHODS = ("onestep", "ode", "sde")


@dataclass
class ReconstructionMaps:
    """Result of :func:`reconstruction_maps`.

    Attributes:
        map: (B, C, *spatial) residual averaged over repeats and sigmas.
        per_sigma: (S, B, C, *spatial) the same, per sigma*.
        reconstruction: (B, C, *spatial) mean reconstruction over repeats and sigmas.
        sigmas: the sigma* used.
        nfe: denoiser evaluations.
    """

    map: Tensor
    per_sigma: Tensor
    reconstruction: Tensor
    sigmas: tuple[float, ...]
    nfe: int

    @property
    def score(self) -> Tensor:
        """(B,) the sample score: the map's mean over all locations (a mean squared error)."""
        return self.map.reshape(self.map.shape[0], -1).mean(1)


def reconstruction_maps(denoiser: Denoiser, x: Tensor, cond: Cond | None = None, *,
                        sigmas: Sequence[float] = (0.1, 0.2, 0.4), repeats: int = 4, method: str = "onestep",
                        steps: int = 8, sigma_min: float = 0.002, residual: str = "squared",
                        generator: torch.Generator | None = None) -> ReconstructionMaps:
    """Noise to each sigma*, reconstruct ``repeats`` times, and average the per-location residual.

    Args:
        denoiser: D(x, sigma, cond).
        x: (B, C, *spatial).
        sigmas: the noise levels sigma* (in data units; the defaults suit data of std ~0.5).
        repeats: K noise draws per sigma*.
        method: "onestep", "ode" or "sde" (see the module docstring).
        steps: grid points from sigma* to sigma_min (Karras grid) for "ode" and "sde".
        residual: "squared" or "absolute".
        generator: for the noise.

    >>> from diffsci.diffusion import GaussianDenoiser
    >>> g = GaussianDenoiser(torch.zeros(1, 8), var=0.25)
    >>> r = reconstruction_maps(g, torch.zeros(2, 1, 8), generator=torch.Generator().manual_seed(0))
    >>> r.map.shape, r.nfe
    (torch.Size([2, 1, 8]), 12)
    """
    if method not in RECON_METHODS:
        raise ValueError(f"unknown reconstruction method '{method}'; valid: {', '.join(RECON_METHODS)}")
    if residual not in ("squared", "absolute"):
        raise ValueError(f"unknown residual '{residual}'; valid: squared, absolute")
    sigmas = tuple(float(s) for s in sigmas)
    if not sigmas or min(sigmas) <= 0:
        raise ValueError(f"sigmas must be a non-empty list of positive noise levels, got {sigmas}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    per_sigma, recon, nfe = [], torch.zeros_like(x), 0
    with torch.no_grad():
        for s_star in sigmas:
            acc = torch.zeros_like(x)
            for _ in range(repeats):
                noisy = x + s_star * randn_like(x, generator)
                if method == "onestep":
                    x_hat = denoiser(noisy, torch.tensor(s_star, dtype=x.dtype, device=x.device), cond)
                    nfe += 1
                else:
                    grid = karras_sigmas(steps, min(sigma_min, s_star), s_star, dtype=x.dtype, device=x.device)
                    sampler = heun if method == "ode" else euler_maruyama
                    x_hat = sampler(denoiser, noisy, grid, cond=cond, generator=generator)
                    nfe += 2 * steps - 1 if method == "ode" else steps
                res = x - x_hat
                acc += res ** 2 if residual == "squared" else res.abs()
                recon += x_hat
            per_sigma.append(acc / repeats)
    stack = torch.stack(per_sigma)
    return ReconstructionMaps(map=stack.mean(0), per_sigma=stack, reconstruction=recon / (repeats * len(sigmas)),
                              sigmas=sigmas, nfe=nfe)


def smooth_map(m: Tensor | np.ndarray, sigma: float | Sequence[float], *, batched: bool = True,
               channel_axis: bool = True) -> Tensor | np.ndarray:
    """Gaussian smoothing over the spatial axes only (``scipy.ndimage.gaussian_filter``), in pixels.

    Args:
        m: (B, C, *spatial) (or without B / C when ``batched`` / ``channel_axis`` is False).
        sigma: the kernel std in pixels, a scalar or one per spatial axis.

    >>> smooth_map(np.eye(5)[None, None], 1.0).shape
    (1, 1, 5, 5)
    """
    is_tensor = isinstance(m, Tensor)
    arr = m.detach().cpu().numpy() if is_tensor else np.asarray(m)
    lead = int(batched) + int(channel_axis)
    n_sp = arr.ndim - lead
    if n_sp < 1:
        raise ValueError(f"map of shape {arr.shape} has no spatial axis after {lead} leading axes")
    sig = [float(sigma)] * n_sp if np.isscalar(sigma) else [float(s) for s in sigma]
    if len(sig) != n_sp:
        raise ValueError(f"{len(sig)} smoothing widths for {n_sp} spatial axes")
    out = ndimage.gaussian_filter(arr.astype(np.float64, copy=False), [0.0] * lead + sig, mode="nearest")
    out = out.astype(arr.dtype, copy=False)
    return torch.from_numpy(out).to(m.device) if is_tensor else out


class MapNormalizer:
    """Z-score maps against the maps of normal data: (map - mean) / std, per location or global.

    ``per="location"`` needs normal maps of the same shape (registered data: MRI in atlas space,
    aligned beats); ``per="global"`` uses one mean and std over every location (any shapes).

    >>> n = MapNormalizer().fit(np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]]))  # mean (2, 5), std (1, 0)
    >>> n.transform(np.array([4.0, 5.0])).tolist()
    [2.0, 0.0]
    """

    def __init__(self, per: str = "location", eps: float = 1e-8):
        if per not in ("location", "global"):
            raise ValueError(f"per must be 'location' or 'global', got {per!r}")
        self.per, self.eps = per, eps
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, normal_maps) -> "MapNormalizer":
        """normal_maps: (N, *shape) maps of normal samples (N >= 2)."""
        a = normal_maps.detach().cpu().numpy() if isinstance(normal_maps, Tensor) else np.asarray(normal_maps)
        a = a.astype(np.float64)
        if a.shape[0] < 2:
            raise ValueError(f"need at least 2 normal maps to estimate a spread, got {a.shape[0]}")
        if self.per == "location":
            self.mean, self.std = a.mean(0), a.std(0, ddof=1)
        else:
            self.mean, self.std = np.asarray(a.mean()), np.asarray(a.std(ddof=1))
        return self

    def transform(self, maps):
        """Z-maps of ``maps`` (one map shaped like a normal map, or a batch of them)."""
        if self.mean is None:
            raise RuntimeError("MapNormalizer.transform called before fit")
        is_tensor = isinstance(maps, Tensor)
        a = maps.detach().cpu().numpy() if is_tensor else np.asarray(maps)
        if self.per == "location" and a.shape[-self.mean.ndim:] != self.mean.shape:
            raise ValueError(f"map shape {a.shape} does not end in the normal maps' shape {self.mean.shape}")
        z = (a - self.mean) / np.maximum(self.std, self.eps)       # eps: a floor for constant locations
        return torch.from_numpy(z).to(device=maps.device, dtype=maps.dtype) if is_tensor else z

    def state_dict(self) -> dict:
        return {"per": self.per, "eps": self.eps, "mean": self.mean, "std": self.std}

    @classmethod
    def from_state_dict(cls, state: dict) -> "MapNormalizer":
        n = cls(state["per"], state["eps"])
        n.mean, n.std = np.asarray(state["mean"]), np.asarray(state["std"])
        return n
