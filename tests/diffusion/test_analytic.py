"""The closed-form references themselves: Tweedie's formula, the PF-ODE solution, sampling moments."""

import pytest
import torch

from diffsci.diffusion import GaussianDenoiser, GaussianMixtureDenoiser

from ..conftest import SHAPES, random_gaussian


def _autograd_score(logp, x, sigma):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(logp(x, sigma).sum(), x)
    return g


@pytest.mark.parametrize("spatial_dims", [1, 2, 3])
@pytest.mark.parametrize("full", [False, True])
def test_gaussian_tweedie(spatial_dims, full, gen):
    """D(x, s) = x + s^2 grad log p_s(x), with log p_s from log_prob (independent formulas)."""
    g = random_gaussian(SHAPES[spatial_dims], full=full, seed=3)
    x = torch.randn(5, *SHAPES[spatial_dims], generator=gen, dtype=torch.float64)
    sigma = torch.tensor([0.01, 0.3, 1.0, 5.0, 50.0], dtype=torch.float64)
    score = _autograd_score(g.log_prob, x, sigma)
    torch.testing.assert_close(g.score(x, sigma), score)
    torch.testing.assert_close(g(x, sigma), x + sigma.reshape(-1, *[1] * (x.ndim - 1)) ** 2 * score)


def test_gaussian_log_prob_matches_torch_distributions(gen):
    g = random_gaussian((1, 3, 2), full=True, seed=4)
    x = torch.randn(4, 1, 3, 2, generator=gen, dtype=torch.float64)
    ref = torch.distributions.MultivariateNormal(g.mean.reshape(-1), g.covariance() + 0.49 * torch.eye(6))
    torch.testing.assert_close(g.log_prob(x, 0.7), ref.log_prob(x.reshape(4, -1)))


def test_pf_ode_map_solves_the_ode(gen):
    """d x(s)/ds = (x - D(x, s))/s along the closed-form trajectory (central differences)."""
    g = random_gaussian((1, 4), full=True, seed=5)
    x0 = torch.randn(3, 1, 4, generator=gen, dtype=torch.float64) * 10
    s, h = 2.0, 1e-5
    x_s = g.pf_ode_map(x0, 10.0, s)
    deriv = (g.pf_ode_map(x0, 10.0, s + h) - g.pf_ode_map(x0, 10.0, s - h)) / (2 * h)
    torch.testing.assert_close(deriv, (x_s - g(x_s, s)) / s, rtol=1e-7, atol=1e-8)
    torch.testing.assert_close(g.pf_ode_map(x_s, s, 10.0), x0)                  # invertible


def test_gaussian_sample_moments(gen):
    g = random_gaussian((1, 2, 2), full=True, seed=6)
    x = g.sample(20000, generator=gen).reshape(20000, -1)
    torch.testing.assert_close(x.mean(0), g.mean.reshape(-1), atol=0.05, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), g.covariance(), atol=0.06, rtol=0)


def test_mixture_tweedie_and_sampling(gen):
    comps = [random_gaussian((1, 3), full=True, seed=s) for s in (8, 9, 10)]
    mix = GaussianMixtureDenoiser(torch.tensor([0.2, 0.5, 0.3]), comps)
    x = torch.randn(6, 1, 3, generator=gen, dtype=torch.float64) * 2
    sigma = torch.linspace(0.05, 3.0, 6, dtype=torch.float64)
    score = _autograd_score(mix.log_prob, x, sigma)
    torch.testing.assert_close(mix(x, sigma), x + sigma[:, None, None] ** 2 * score)
    s = mix.sample(30000, generator=gen).reshape(30000, -1)
    torch.testing.assert_close(s.mean(0), mix.mean().reshape(-1), atol=0.05, rtol=0)
    torch.testing.assert_close(torch.cov(s.T), mix.covariance(), atol=0.1, rtol=0)


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="exactly one"):
        GaussianDenoiser(torch.zeros(2))
    with pytest.raises(ValueError, match="shape \\(2, 2\\)"):
        GaussianDenoiser(torch.zeros(2), cov=torch.eye(3))
    g = GaussianDenoiser(torch.zeros(1, 4), var=1.0)
    with pytest.raises(ValueError, match="event shape"):
        g(torch.zeros(2, 1, 5), 1.0)
