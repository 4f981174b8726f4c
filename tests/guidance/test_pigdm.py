"""PiGDM: exact when x0 | x_sigma really is N(D, r^2 I) (isotropic prior), and its guidance term."""

from __future__ import annotations

import pytest
import torch

from diffsci.diffusion import GaussianDenoiser, karras_sigmas
from diffsci.guidance import PiGDMDenoiser, gaussian_posterior, pigdm
from diffsci.operators import Mask
from diffsci.samplers import heun

from .helpers import check_exact_for_isotropic_prior


@pytest.mark.parametrize("kind", ["mask", "fourier"])
def test_exact_for_an_isotropic_prior(kind):
    check_exact_for_isotropic_prior("pigdm", kind, seed=5, steps=40, shots=1500)


def test_guided_denoiser_is_the_exact_posterior_denoiser_for_isotropic_priors():
    """sigma^2 J = r^2 I exactly, so D' = E[x0 | x_sigma, y] = the denoiser of N(m, C), pointwise."""
    g = torch.Generator().manual_seed(6)
    s = 1.3
    prior = GaussianDenoiser(torch.randn(1, 10, generator=g, dtype=torch.float64), var=s ** 2)
    op = Mask((torch.rand(10, generator=g) < 0.5).double(), sigma_y=0.3)
    y = op.measure(prior.sample(1, generator=g), generator=g)
    m, C = gaussian_posterior(prior, op, y)
    exact = GaussianDenoiser(m, cov=C)
    x = torch.randn(3, 1, 10, generator=g, dtype=torch.float64) * 2
    for sigma in (0.05, 0.7, 5.0):
        got = PiGDMDenoiser(prior, op, y.expand(3, -1, -1), s)(x, sigma)
        assert torch.allclose(got, exact(x, sigma), atol=1e-10)


def test_zero_guidance_is_the_prior_sampler_and_sigma_data_is_required():
    g = torch.Generator().manual_seed(7)
    prior = GaussianDenoiser(torch.zeros(1, 4, dtype=torch.float64), var=1.0)
    op = Mask(torch.tensor([1.0, 0, 1, 0]), sigma_y=0.1)
    y = torch.ones(1, 1, 4, dtype=torch.float64) * torch.tensor([1.0, 0, 1, 0], dtype=torch.float64)
    sig = karras_sigmas(6, 0.002, 80.0)
    x = torch.randn(2, 1, 4, generator=g, dtype=torch.float64) * 80
    out = pigdm(prior, x, sig, operator=op, measurement=y, sigma_data=1.0, guidance_scale=0.0, sampler="heun")
    assert torch.allclose(out, heun(prior, x, sig))
    with pytest.raises(ValueError, match="sigma_data"):
        pigdm(prior, x, sig, operator=op, measurement=y)
