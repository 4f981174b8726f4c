"""Shared pieces of the posterior-sampler tests: sample statistics against a closed-form posterior."""

from __future__ import annotations

import math

import torch

from diffsci.diffusion import GaussianDenoiser, karras_sigmas
from diffsci.guidance import gaussian_posterior, multishot
from diffsci.operators import Mask, SubsampledFourier


def sample_errors(samples: torch.Tensor, m: torch.Tensor, C: torch.Tensor) -> tuple[float, float]:
    """(RMS of (mean - m)/sqrt(C_ii), ||cov - C||_F / ||C||_F) of samples (K, *event)."""
    x = samples.reshape(samples.shape[0], -1).to(C.dtype)
    sd = torch.diag(C).clamp_min(1e-300).sqrt()
    mean_err = float(((x.mean(0) - m.reshape(-1)) / sd).pow(2).mean().sqrt())
    cov_err = float((torch.cov(x.T) - C).norm() / C.norm())
    return mean_err, cov_err


def cov_floor(C: torch.Tensor, n: int) -> float:
    """Expected ||S - C||_F / ||C||_F of the sample covariance S of n Gaussian draws.

    E||S - C||_F^2 = (tr C^2 + (tr C)^2) / n for Gaussian data (Wishart second moments).
    """
    return float(((C @ C).trace() + C.trace() ** 2).sqrt() / (n ** 0.5 * C.norm()))


def check_exact_for_isotropic_prior(method: str, kind: str, *, seed: int, steps: int, shots: int):
    """Noise-aware samplers are exact when Sigma = s^2 I and sigma_data = s: x0 | x_sigma ~ N(D, r^2 I).

    A 6x6 isotropic Gaussian prior, a random 40 % mask or subsampled Fourier operator with sigma_y = 0.2;
    the multi-shot samples must match the closed-form posterior mean and covariance within Monte-Carlo
    error. Returns the MultiShot result for further checks.
    """
    g = torch.Generator().manual_seed(seed)
    s = 0.7
    prior = GaussianDenoiser(0.3 * torch.randn(1, 6, 6, generator=g, dtype=torch.float64), var=s ** 2)
    mask = (torch.rand(6, 6, generator=g) < 0.4).double()
    op = Mask(mask, sigma_y=0.2) if kind == "mask" else SubsampledFourier(mask, sigma_y=0.2)
    y = op.measure(prior.sample(1, generator=g), generator=g)
    m, C = gaussian_posterior(prior, op, y)
    out = multishot(method, prior, (1, 1, 6, 6), karras_sigmas(steps, 0.002, 80.0), operator=op, measurement=y,
                    shots=shots, generator=g, sigma_data=s, sampler="heun")
    mean_err, cov_err = sample_errors(out.samples[0].detach(), m, C)
    assert mean_err < 1.6 / math.sqrt(shots)             # MC floor 1/sqrt(shots)
    assert cov_err < 1.3 * cov_floor(C, shots)
    return out, C
