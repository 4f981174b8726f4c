"""Closed-form denoisers of Gaussian and Gaussian-mixture data: the ground truth the engine is tested against.

For data x0 ~ N(mu, Sigma) and x = x0 + sigma n, Tweedie's formula gives the exact denoiser

    D(x, sigma) = E[x0 | x] = mu + Sigma (Sigma + sigma^2 I)^{-1} (x - mu),

the marginal p_sigma = N(mu, Sigma + sigma^2 I), and the probability-flow ODE dx/dsigma = (x - D)/sigma
(Karras et al. 2022, Eq. 4 with s(t) = 1, sigma(t) = t) has the exact solution

    x(sigma') = mu + (Sigma + sigma'^2 I)^{1/2} (Sigma + sigma^2 I)^{-1/2} (x(sigma) - mu).

Everything is computed in the eigenbasis of Sigma (float64 recommended). A mixture's denoiser is the
responsibility-weighted sum of its components' denoisers.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..utils import batch_sigma

__all__ = ["GaussianDenoiser", "GaussianMixtureDenoiser"]

LOG_2PI = math.log(2 * math.pi)


class GaussianDenoiser(nn.Module):
    """Exact denoiser, score, log-density, sampler and PF-ODE map of N(mu, Sigma) over an event shape.

    Args:
        mean: the mean, shape ``event_shape`` = (C, *spatial).
        cov: full covariance (d, d) with d = prod(event_shape); or
        var: a scalar or per-element variance of shape ``event_shape`` (diagonal covariance).

    >>> g = GaussianDenoiser(torch.zeros(1, 4, dtype=torch.float64), var=0.25)
    >>> float(g(torch.ones(2, 1, 4, dtype=torch.float64), 0.5)[0, 0, 0])  # 0.25/(0.25+0.25)
    0.5
    """

    def __init__(self, mean: Tensor, cov: Tensor | None = None, var: Tensor | float | None = None):
        super().__init__()
        if (cov is None) == (var is None):
            raise ValueError("give exactly one of cov (full covariance) or var (diagonal)")
        mean = torch.as_tensor(mean)
        self.event_shape = tuple(mean.shape)
        d = mean.numel()
        self.register_buffer("mean", mean)
        self.full = cov is not None
        if self.full:
            cov = torch.as_tensor(cov, dtype=mean.dtype)
            if cov.shape != (d, d):
                raise ValueError(f"cov must have shape ({d}, {d}) for an event of shape {self.event_shape}")
            cov = (cov + cov.T) / 2
            lam, U = torch.linalg.eigh(cov)
            if lam.min() < -1e-10 * lam.abs().max():
                raise ValueError(f"cov is not positive semi-definite (smallest eigenvalue {lam.min():.3g})")
            self.register_buffer("eigvals", lam.clamp_min(0))
            self.register_buffer("eigvecs", U)
        else:
            var = torch.as_tensor(var, dtype=mean.dtype).expand(self.event_shape).reshape(-1)
            if (var < 0).any():
                raise ValueError("var must be non-negative")
            self.register_buffer("eigvals", var.clone())
            self.eigvecs = None

    @property
    def dim(self) -> int:
        return self.mean.numel()

    # --- the eigenbasis -------------------------------------------------------------------------
    def _to_eig(self, x: Tensor) -> Tensor:
        """(B, *event) -> coordinates of x - mu in the eigenbasis, (B, d)."""
        z = (x - self.mean).reshape(x.shape[0], -1)
        return z @ self.eigvecs if self.full else z

    def _from_eig(self, z: Tensor) -> Tensor:
        z = z @ self.eigvecs.T if self.full else z
        return self.mean + z.reshape(z.shape[0], *self.event_shape)

    def _check(self, x: Tensor) -> None:
        if tuple(x.shape[1:]) != self.event_shape:
            raise ValueError(f"input shape {tuple(x.shape)} does not match the event shape {self.event_shape}")

    # --- exact quantities -------------------------------------------------------------------------
    def forward(self, x: Tensor, sigma: Tensor | float, cond=None) -> Tensor:
        """D(x, sigma) = mu + Sigma (Sigma + sigma^2 I)^{-1} (x - mu)."""
        self._check(x)
        s2 = batch_sigma(sigma, x)[:, None] ** 2
        return self._from_eig(self._to_eig(x) * self.eigvals / (self.eigvals + s2))

    def score(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        """grad log p_sigma(x) = (D(x, sigma) - x) / sigma^2 = -(Sigma + sigma^2 I)^{-1}(x - mu)."""
        self._check(x)
        s2 = batch_sigma(sigma, x)[:, None] ** 2
        z = -self._to_eig(x) / (self.eigvals + s2)
        return self._from_eig(z) - self.mean

    def log_prob(self, x: Tensor, sigma: Tensor | float = 0.0) -> Tensor:
        """log N(x; mu, Sigma + sigma^2 I) per sample, shape (B,)."""
        self._check(x)
        s2 = batch_sigma(sigma, x)[:, None] ** 2
        v = self.eigvals + s2
        z = self._to_eig(x)
        return -0.5 * ((z ** 2 / v).sum(1) + v.log().sum(1) + self.dim * LOG_2PI)

    def sample(self, n: int, sigma: float = 0.0, *, generator: torch.Generator | None = None) -> Tensor:
        """n draws of x ~ N(mu, Sigma + sigma^2 I), shape (n, *event)."""
        e = torch.randn(n, self.dim, generator=generator, dtype=self.mean.dtype,
                        device=generator.device if generator is not None else self.mean.device)
        return self._from_eig(e.to(self.mean.device) * (self.eigvals + sigma ** 2).sqrt())

    def pf_ode_map(self, x: Tensor, sigma_from: float, sigma_to: float) -> Tensor:
        """Exact probability-flow ODE solution from sigma_from to sigma_to (see the module docstring)."""
        self._check(x)
        ratio = ((self.eigvals + sigma_to ** 2) / (self.eigvals + sigma_from ** 2)).sqrt()
        return self._from_eig(self._to_eig(x) * ratio)

    def covariance(self) -> Tensor:
        """The full (d, d) covariance."""
        if self.full:
            return self.eigvecs @ torch.diag(self.eigvals) @ self.eigvecs.T
        return torch.diag(self.eigvals)


class GaussianMixtureDenoiser(nn.Module):
    """Exact denoiser and log-density of sum_k pi_k N(mu_k, Sigma_k).

    D(x, sigma) = sum_k r_k(x, sigma) D_k(x, sigma), r_k = softmax_k(log pi_k + log N(x; mu_k, Sigma_k + sigma^2 I)).

    Args:
        weights: (K,) mixture weights (normalised here).
        components: K GaussianDenoiser objects with the same event shape.
    """

    def __init__(self, weights: Tensor, components: list[GaussianDenoiser]):
        super().__init__()
        weights = torch.as_tensor(weights, dtype=components[0].mean.dtype)
        if weights.shape != (len(components),) or (weights < 0).any():
            raise ValueError("weights must be non-negative with one per component")
        if len({c.event_shape for c in components}) != 1:
            raise ValueError("all components must have the same event shape")
        self.register_buffer("log_weights", (weights / weights.sum()).log())
        self.components = nn.ModuleList(components)
        self.event_shape = components[0].event_shape

    @classmethod
    def isotropic(cls, weights: Tensor, means: Tensor, stds: Tensor | float) -> "GaussianMixtureDenoiser":
        """Mixture of N(means[k], stds[k]^2 I); means has shape (K, *event)."""
        stds = torch.as_tensor(stds, dtype=means.dtype).expand(means.shape[0])
        return cls(weights, [GaussianDenoiser(m, var=s ** 2) for m, s in zip(means, stds)])

    @property
    def dim(self) -> int:
        return self.components[0].dim

    def responsibilities(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        """(B, K) posterior component probabilities given the noisy x."""
        lp = torch.stack([c.log_prob(x, sigma) for c in self.components], 1) + self.log_weights
        return lp.softmax(1)

    def forward(self, x: Tensor, sigma: Tensor | float, cond=None) -> Tensor:
        r = self.responsibilities(x, sigma)
        Ds = torch.stack([c(x, sigma) for c in self.components], 1)
        return (r.reshape(*r.shape, *[1] * (x.ndim - 1)) * Ds).sum(1)

    def score(self, x: Tensor, sigma: Tensor | float) -> Tensor:
        s2 = batch_sigma(sigma, x).reshape(-1, *[1] * (x.ndim - 1)) ** 2
        return (self(x, sigma) - x) / s2

    def log_prob(self, x: Tensor, sigma: Tensor | float = 0.0) -> Tensor:
        lp = torch.stack([c.log_prob(x, sigma) for c in self.components], 1) + self.log_weights
        return lp.logsumexp(1)

    def sample(self, n: int, sigma: float = 0.0, *, generator: torch.Generator | None = None) -> Tensor:
        gdev = generator.device if generator is not None else self.log_weights.device
        k = torch.multinomial(self.log_weights.exp().to(gdev), n, replacement=True, generator=generator)
        k = k.to(self.log_weights.device)
        draws = torch.stack([c.sample(n, sigma, generator=generator) for c in self.components], 1)
        return draws[torch.arange(n, device=k.device), k]

    def mean(self) -> Tensor:
        w = self.log_weights.exp()
        return sum(wk * c.mean for wk, c in zip(w, self.components))

    def covariance(self) -> Tensor:
        """Total covariance sum_k pi_k (Sigma_k + mu_k mu_k^T) - mu mu^T, shape (d, d)."""
        w = self.log_weights.exp()
        m = self.mean().reshape(-1)
        second = sum(wk * (c.covariance() + torch.outer(c.mean.reshape(-1), c.mean.reshape(-1)))
                     for wk, c in zip(w, self.components))
        return second - torch.outer(m, m)
