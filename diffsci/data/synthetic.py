"""Synthetic data with known scores: stationary Gaussian random fields and mixtures of them, in 1D, 2D, 3D.

A stationary Gaussian field on the periodic grid (torus) has a circulant covariance, diagonalised by
the orthonormal DFT F: Sigma = F^H diag(lambda) F, with lambda_k the power spectrum. Here

    lambda_k proportional to (k0^2 + |k|^2)^(-alpha/2),   k the integer wavenumber (cycles per box),

scaled so that the marginal variance mean_k(lambda_k) is std^2. Then, for x = x0 + sigma n, Tweedie's
formula is a Wiener filter, applied mode by mode in O(d log d):

    D(x, sigma) = mu + F^H [ lambda / (lambda + sigma^2) * F (x - mu) ],

and log p_sigma(x) = -1/2 [ sum_k |F(x - mu)|_k^2 / (lambda_k + sigma^2) + sum_k log(lambda_k + sigma^2)
+ d log 2 pi ]. The "mixture" kind is sum_j w_j N(mu_j, Sigma) with smooth random means mu_j; its exact
denoiser is the responsibility-weighted sum of the components' (GaussianMixtureDenoiser), and with the
component index as a class label the conditional denoiser is the component's own.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from ..conditioning import Cond
from ..diffusion.analytic import GaussianMixtureDenoiser
from ..utils import batch_sigma
from .arrays import ArrayDataset

__all__ = ["SyntheticParams", "FourierGaussianDenoiser", "SyntheticMixtureDenoiser", "power_law_spectrum",
           "exact_denoiser", "make_dataset", "radial_power_spectrum", "expected_power_spectrum", "SPLITS"]

LOG_2PI = math.log(2 * math.pi)
SPLITS = {"train": 0, "val": 1, "test": 2}


class SyntheticParams(BaseModel):
    """``data.params`` of the synthetic domain.

    Attributes:
        kind: "field" (one stationary Gaussian field) or "mixture" (Gaussian fields with different means).
        spatial_dims, size, channels: sample shape (channels, size, ..., size); channels are independent.
        n_samples, n_val: sizes of the "train" and "val" splits ("test" has n_val samples too).
        seed: every split is a deterministic function of (seed, split).
        std: marginal standard deviation of a field (of each mixture component around its mean).
        alpha, k0: power-law exponent and low-wavenumber cut-off of the spectrum (alpha = 0: white noise).
        mean: constant mean of a field.
        num_components, separation: mixture size, and the RMS of each component's (smooth random) mean.
        conditional: give each mixture sample its component index as a class label.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["field", "mixture"] = "field"
    spatial_dims: Literal[1, 2, 3] = 2
    size: int = Field(32, ge=2)
    channels: int = Field(1, ge=1)
    n_samples: int = Field(1024, ge=1)
    n_val: int = Field(128, ge=1)
    seed: int = 0
    std: float = Field(0.5, gt=0)
    alpha: float = Field(3.0, ge=0)
    k0: float = Field(1.0, gt=0)
    mean: float = 0.0
    num_components: int = Field(2, ge=1)
    separation: float = Field(1.0, ge=0)
    conditional: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.channels, *[self.size] * self.spatial_dims)


def power_law_spectrum(shape: tuple[int, ...], alpha: float, k0: float = 1.0, std: float = 1.0,
                       dtype: torch.dtype = torch.float64) -> Tensor:
    """Eigenvalues lambda_k of a stationary periodic covariance on the grid ``shape`` (spatial axes only),
    lambda_k proportional to (k0^2 + |k|^2)^(-alpha/2), normalised so that mean(lambda) = std^2.

    >>> lam = power_law_spectrum((8, 8), alpha=2.0, std=0.5)
    >>> round(float(lam.mean()), 12), bool(lam[0, 0] == lam.max())
    (0.25, True)
    """
    ks = torch.meshgrid(*[torch.fft.fftfreq(n, d=1.0 / n, dtype=dtype) for n in shape], indexing="ij")
    k2 = sum(k ** 2 for k in ks)
    lam = (k0 ** 2 + k2) ** (-alpha / 2)
    return lam * (std ** 2 / lam.mean())


class FourierGaussianDenoiser(nn.Module):
    """Exact denoiser, score, log-density, sampler and PF-ODE map of a stationary Gaussian field N(mu, Sigma)
    with Sigma = F^H diag(lambda) F (orthonormal DFT over the spatial axes; channels independent).

    The same interface as :class:`diffsci.diffusion.GaussianDenoiser`, in O(d log d).

    Args:
        mean: (C, *spatial) mean.
        eigvals: (C, *spatial) or (*spatial) non-negative spectrum, symmetric under k -> -k.
    """

    def __init__(self, mean: Tensor, eigvals: Tensor):
        super().__init__()
        mean = torch.as_tensor(mean)
        eigvals = torch.as_tensor(eigvals, dtype=mean.dtype).expand(mean.shape).clone()
        if (eigvals < 0).any():
            raise ValueError("the spectrum (eigvals) must be non-negative")
        self.register_buffer("mean", mean)
        self.register_buffer("eigvals", eigvals)
        self.event_shape = tuple(mean.shape)
        self.dims = tuple(range(-(mean.ndim - 1), 0))            # the spatial axes

    @property
    def dim(self) -> int:
        return self.mean.numel()

    def _fft(self, z: Tensor) -> Tensor:
        return torch.fft.fftn(z, dim=self.dims, norm="ortho")

    def _ifft(self, z: Tensor) -> Tensor:
        return torch.fft.ifftn(z, dim=self.dims, norm="ortho").real

    def _check(self, x: Tensor) -> None:
        if tuple(x.shape[1:]) != self.event_shape:
            raise ValueError(f"input shape {tuple(x.shape)} does not match the event shape {self.event_shape}")

    def _s2(self, sigma, x: Tensor) -> Tensor:
        s = batch_sigma(sigma, x).to(self.eigvals.dtype)
        return s.reshape(-1, *[1] * len(self.event_shape)) ** 2

    def forward(self, x: Tensor, sigma: Tensor | float, cond: Cond | None = None) -> Tensor:
        """D(x, sigma) = mu + F^H [lambda / (lambda + sigma^2) F(x - mu)] (a Wiener filter)."""
        self._check(x)
        s2 = self._s2(sigma, x)
        return self.mean + self._ifft(self._fft(x - self.mean) * (self.eigvals / (self.eigvals + s2)))

    def score(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        """grad log p_sigma(x) = -F^H [F(x - mu) / (lambda + sigma^2)]."""
        self._check(x)
        return -self._ifft(self._fft(x - self.mean) / (self.eigvals + self._s2(sigma, x)))

    def log_prob(self, x: Tensor, sigma: Tensor | float = 0.0) -> Tensor:
        """log N(x; mu, Sigma + sigma^2 I) per sample, (B,)."""
        self._check(x)
        v = self.eigvals + self._s2(sigma, x)
        z2 = self._fft(x - self.mean).abs() ** 2
        return -0.5 * ((z2 / v).flatten(1).sum(1) + v.log().flatten(1).sum(1).expand(x.shape[0])
                       + self.dim * LOG_2PI)

    def sample(self, n: int, sigma: float = 0.0, *, generator: torch.Generator | None = None) -> Tensor:
        """n draws of N(mu, Sigma + sigma^2 I): colour white noise by sqrt(lambda + sigma^2) in Fourier space."""
        gdev = generator.device if generator is not None else self.mean.device
        w = torch.randn((n, *self.event_shape), generator=generator, device=gdev, dtype=self.mean.dtype)
        return self.mean + self._ifft(self._fft(w.to(self.mean.device)) * (self.eigvals + sigma ** 2).sqrt())

    def pf_ode_map(self, x: Tensor, sigma_from: float, sigma_to: float) -> Tensor:
        """Exact probability-flow ODE solution from sigma_from to sigma_to."""
        self._check(x)
        ratio = ((self.eigvals + sigma_to ** 2) / (self.eigvals + sigma_from ** 2)).sqrt()
        return self.mean + self._ifft(self._fft(x - self.mean) * ratio)

    def covariance(self) -> Tensor:
        """The dense (d, d) covariance (small grids only): Sigma e_i for every basis vector e_i."""
        eye = torch.eye(self.dim, dtype=self.mean.dtype, device=self.mean.device).reshape(self.dim, *self.event_shape)
        return self._ifft(self._fft(eye) * self.eigvals).reshape(self.dim, self.dim)


class SyntheticMixtureDenoiser(GaussianMixtureDenoiser):
    """A mixture's exact denoiser that also honours a class label (the component index): where a label is
    given and not dropped, D is that component's denoiser; elsewhere, the mixture's."""

    def forward(self, x: Tensor, sigma: Tensor | float, cond: Cond | None = None) -> Tensor:
        out = super().forward(x, sigma)
        if cond is None or cond.label is None:
            return out
        label = cond.label.to(x.device)
        keep = torch.ones_like(label, dtype=torch.bool) if cond.dropped is None else ~cond.dropped.to(x.device)
        comps = torch.stack([c(x, sigma) for c in self.components], 1)     # (B, K, ...)
        chosen = comps[torch.arange(x.shape[0], device=x.device), label.clamp(0, len(self.components) - 1)]
        return torch.where(keep.reshape(-1, *[1] * (x.ndim - 1)), chosen, out)


def _rng(params: SyntheticParams, stream: int) -> torch.Generator:
    seed = int(np.random.SeedSequence([params.seed, stream]).generate_state(1)[0])
    return torch.Generator().manual_seed(seed)


def _component_means(params: SyntheticParams, dtype: torch.dtype) -> Tensor:
    """K smooth random patterns (alpha = 4 spectrum) with RMS ``separation`` each, from stream 99."""
    shape = params.shape
    smooth = FourierGaussianDenoiser(torch.zeros(shape, dtype=dtype),
                                     power_law_spectrum(shape[1:], alpha=4.0, k0=1.0, dtype=dtype))
    m = smooth.sample(params.num_components, generator=_rng(params, 99))
    m = m - m.flatten(1).mean(1).reshape(-1, *[1] * len(shape))
    return params.mean + params.separation * m / m.flatten(1).pow(2).mean(1).sqrt().reshape(-1, *[1] * len(shape))


def exact_denoiser(params: SyntheticParams, dtype: torch.dtype = torch.float64) -> nn.Module:
    """The exact denoiser D(x, sigma, cond) of the data described by ``params`` (also score, log_prob,
    sample, pf_ode_map): a :class:`FourierGaussianDenoiser` for "field", a :class:`SyntheticMixtureDenoiser`
    for "mixture".

    >>> p = SyntheticParams(spatial_dims=1, size=8)
    >>> D = exact_denoiser(p)
    >>> D(torch.zeros(2, 1, 8, dtype=torch.float64), 0.3).abs().max().item()   # the mean is a fixed point
    0.0
    """
    lam = power_law_spectrum(params.shape[1:], params.alpha, params.k0, params.std, dtype=dtype)
    if params.kind == "field":
        return FourierGaussianDenoiser(torch.full(params.shape, params.mean, dtype=dtype), lam)
    means = _component_means(params, dtype)
    comps = [FourierGaussianDenoiser(m, lam) for m in means]
    return SyntheticMixtureDenoiser(torch.full((params.num_components,), 1.0 / params.num_components), comps)


def make_dataset(params: SyntheticParams, split: str = "train") -> ArrayDataset:
    """Draw the ``split`` ("train": n_samples; "val", "test": n_val) as float32 (N, C, *spatial);
    mixture samples carry their component index as "label" when ``conditional``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}'; valid: {', '.join(SPLITS)}")
    n = params.n_samples if split == "train" else params.n_val
    gen = _rng(params, SPLITS[split])
    D = exact_denoiser(params)
    label = None
    if params.kind == "field":
        x = D.sample(n, generator=gen)
    else:
        label = torch.randint(params.num_components, (n,), generator=gen)
        x = torch.stack([D.components[int(k)].sample(1, generator=gen)[0] for k in label])
    return ArrayDataset(x.float().numpy(), label=label.numpy() if params.conditional else None,
                        source=f"synthetic {params.kind} ({split})")


def radial_power_spectrum(x: Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of a batch (N, C, *spatial): (integer |k| bins, mean |F x|^2 per bin),
    averaged over samples and channels (orthonormal DFT, so sum over modes = sum of squares)."""
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x).double()
    dims = tuple(range(2, x.ndim))
    p = (torch.fft.fftn(x, dim=dims, norm="ortho").abs() ** 2).mean((0, 1))
    return _radial(p)


def expected_power_spectrum(params: SyntheticParams) -> tuple[np.ndarray, np.ndarray]:
    """The exact radial spectrum E|F x|^2 = lambda + mean_j |F mu_j|^2 of the synthetic data."""
    D = exact_denoiser(params)
    comps = [D] if params.kind == "field" else list(D.components)
    dims = tuple(range(1, len(params.shape)))
    p = sum((c.eigvals + torch.fft.fftn(c.mean, dim=dims, norm="ortho").abs() ** 2).mean(0) for c in comps)
    return _radial(p / len(comps))


def _radial(p: Tensor) -> tuple[np.ndarray, np.ndarray]:
    ks = torch.meshgrid(*[torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64) for n in p.shape], indexing="ij")
    kbin = torch.sqrt(sum(k ** 2 for k in ks)).round().long().reshape(-1)
    sums = torch.zeros(int(kbin.max()) + 1, dtype=torch.float64).index_add_(0, kbin, p.reshape(-1))
    counts = torch.bincount(kbin, minlength=len(sums)).double()
    keep = counts > 0
    return torch.arange(len(sums))[keep].numpy(), (sums[keep] / counts[keep]).numpy()
