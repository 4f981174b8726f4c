"""Hard and noise-aware data consistency against closed-form posteriors."""

from __future__ import annotations

import math

import pytest
import torch

from diffsci.diffusion import GaussianDenoiser, karras_sigmas
from diffsci.guidance import data_consistency, gaussian_posterior
from diffsci.operators import Downsample, Mask, SubsampledFourier
from diffsci.samplers import heun

from .helpers import check_exact_for_isotropic_prior

K = 4000


def _diag_problem():
    g = torch.Generator().manual_seed(0)
    var = torch.rand(1, 16, generator=g, dtype=torch.float64) * 1.5 + 0.5
    prior = GaussianDenoiser(torch.randn(1, 16, generator=g, dtype=torch.float64), var=var)
    keep = (torch.rand(16, generator=g) < 0.5).double()
    op = Mask(keep)
    y = op(prior.sample(1, generator=g))
    return prior, op, y, keep.bool(), g


def test_diagonal_prior_noiseless_mask_matches_posterior_within_mc_error():
    """Posterior: measured pixels = y exactly; the others independent N(mu_i, s_i^2).

    Heun with 128 steps keeps the discretisation bias of the variance near 0.1% (measured on N(0, 1):
    1.024 at 32 steps, 1.007 at 64, 0.9996 at 128), far below the 4-standard-error tolerance of 8.9%.
    """
    prior, op, y, k, g = _diag_problem()
    m, C = gaussian_posterior(prior, op, y)
    sampler = "heun"
    sigmas = karras_sigmas(128, 0.002, 80.0)
    x = torch.randn(K, 1, 16, generator=g, dtype=torch.float64) * sigmas[0]
    s = data_consistency(prior, x, sigmas, operator=op, measurement=y, sampler=sampler, generator=g)[:, 0]
    assert torch.allclose(s[:, k], y[0, 0, k].expand(K, -1), atol=1e-12)     # A x = y exactly
    u = ~k
    sd = torch.diag(C)[u].sqrt()
    z_mean = (s[:, u].mean(0) - m[0, u]) / (sd / math.sqrt(K))                # standard errors
    assert z_mean.abs().max() < 4, z_mean
    var_ratio = s[:, u].var(0) / sd ** 2
    assert (var_ratio - 1).abs().max() < 4 * math.sqrt(2 / K), var_ratio      # 0.089
    corr = torch.corrcoef(s[:, u].T) - torch.eye(int(u.sum()), dtype=torch.float64)
    assert corr.abs().max() < 4 / math.sqrt(K)                                # independent: 0.063


def test_diagonal_prior_unmeasured_pixels_follow_the_prior_ode_exactly():
    """With a diagonal prior the projection never touches unmeasured pixels: they follow Heun on the prior."""
    prior, op, y, k, g = _diag_problem()
    sigmas = karras_sigmas(128, 0.002, 80.0)
    x = torch.randn(8, 1, 16, generator=g, dtype=torch.float64) * sigmas[0]
    s = data_consistency(prior, x, sigmas, operator=op, measurement=y, sampler="heun")
    ref = heun(prior, x, sigmas)
    assert torch.allclose(s[..., ~k], ref[..., ~k], atol=1e-12)
    exact = prior.pf_ode_map(x, 80.0, 0.0)                                    # closed-form ODE solution
    assert torch.allclose(s[..., ~k], exact[..., ~k], atol=3e-3)           # Heun error at 128 steps ~1e-3


@pytest.mark.parametrize("op", [SubsampledFourier(torch.tensor([1.0, 1, 0, 0, 1, 0, 1, 0]), centered=True),
                                Downsample((2,))])
def test_noiseless_result_is_consistent(op):
    g = torch.Generator().manual_seed(3)
    prior = GaussianDenoiser(torch.zeros(1, 8, dtype=torch.float64), var=1.0)
    y = op(prior.sample(2, generator=g))
    sigmas = karras_sigmas(8, 0.002, 80.0)
    x = torch.randn(2, 1, 8, generator=g, dtype=torch.float64) * 80
    out = data_consistency(prior, x, sigmas, operator=op, measurement=y, generator=g)
    assert torch.allclose(op(out), y, atol=1e-10)


@pytest.mark.parametrize("kind", ["mask", "fourier"])
def test_noise_aware_step_is_exact_for_an_isotropic_prior(kind):
    """x0 | x_sigma ~ N(D, r^2 I) holds exactly when Sigma = s^2 I and sigma_data = s: the posterior is exact."""
    out, C = check_exact_for_isotropic_prior("dc", kind, seed=4, steps=48, shots=2000)
    # the std map is the per-pixel posterior std
    assert torch.allclose(out.std[0].reshape(-1), torch.diag(C).sqrt(), rtol=0.1)
