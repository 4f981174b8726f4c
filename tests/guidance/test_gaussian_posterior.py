"""The closed-form posterior of linear-Gaussian problems, checked against the information form."""

from __future__ import annotations

import torch

from diffsci.diffusion import GaussianDenoiser
from diffsci.guidance import gaussian_posterior, operator_matrix, posterior_denoiser
from diffsci.operators import Downsample, Mask, SubsampledFourier


def _prior(g, shape=(1, 4, 4)):
    d = 16
    L = torch.randn(d, d, generator=g, dtype=torch.float64) / 4
    return GaussianDenoiser(torch.randn(shape, generator=g, dtype=torch.float64),
                            cov=L @ L.T + 0.1 * torch.eye(d, dtype=torch.float64))


def test_noisy_posterior_matches_the_information_form():
    g = torch.Generator().manual_seed(0)
    prior = _prior(g)
    for op in (Mask((torch.rand(4, 4, generator=g) < 0.5).double(), sigma_y=0.3),
               SubsampledFourier((torch.rand(4, 4, generator=g) < 0.5).double(), sigma_y=0.3),
               Downsample((2, 2), sigma_y=0.3)):
        y = op.measure(prior.sample(1, generator=g), generator=g)
        m, C = gaussian_posterior(prior, op, y)
        A = operator_matrix(op, prior.event_shape)
        yv = torch.cat([y.real.reshape(-1), y.imag.reshape(-1)]) if y.is_complex() else y.reshape(-1)
        P = torch.linalg.inv(prior.covariance()) + A.T @ A / 0.09         # posterior precision
        C_ref = torch.linalg.inv(P)
        m_ref = C_ref @ (torch.linalg.solve(prior.covariance(), prior.mean.reshape(-1)) + A.T @ yv / 0.09)
        assert torch.allclose(C, C_ref, atol=1e-10) and torch.allclose(m.reshape(-1), m_ref, atol=1e-10)


def test_noiseless_mask_on_diagonal_prior_pins_measured_values():
    g = torch.Generator().manual_seed(1)
    var = torch.rand(1, 8, generator=g, dtype=torch.float64) + 0.5
    prior = GaussianDenoiser(torch.randn(1, 8, generator=g, dtype=torch.float64), var=var)
    keep = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0], dtype=torch.float64)
    op = Mask(keep)
    y = op(prior.sample(1, generator=g))
    m, C = gaussian_posterior(prior, op, y)
    k = keep.bool()
    assert torch.allclose(m[0, k], y[0, 0, k]) and torch.allclose(m[0, ~k], prior.mean[0, ~k])
    assert torch.allclose(torch.diag(C)[k], torch.zeros(4, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(torch.diag(C)[~k], var[0, ~k])
    pd = posterior_denoiser(prior, op, y)           # the exact posterior denoiser is a Gaussian one
    assert torch.allclose(pd.mean, m)
