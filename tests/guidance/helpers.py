"""Shared pieces of the posterior-sampler tests: sample statistics against a closed-form posterior."""

from __future__ import annotations

import torch


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
