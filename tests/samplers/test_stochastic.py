"""Stochastic samplers reproduce the target distribution's mean and variance within Monte-Carlo error."""

import math

import pytest
import torch

from diffsci.diffusion import GaussianDenoiser, GaussianMixtureDenoiser, karras_sigmas
from diffsci.samplers import euler_maruyama, generate, heun, stochastic

from ..conftest import SHAPES

N = 4000


def _check_moments(samples, mean, var, z=4.5):
    """Per-element mean and variance within z standard errors (var's se: var * sqrt(2/(N-1)))."""
    n = samples.shape[0]
    m, v = samples.mean(0), samples.var(0)
    mean_z = ((m - mean) / (var / n).sqrt()).abs().max().item()
    var_z = ((v - var) / (var * math.sqrt(2 / (n - 1)))).abs().max().item()
    assert mean_z < z and var_z < z, f"mean z={mean_z:.2f}, var z={var_z:.2f}"


@pytest.mark.parametrize("spatial_dims", [1, 2, 3])
@pytest.mark.parametrize("sampler,steps,kw", [(stochastic, 64, {"s_churn": 40.0, "s_noise": 1.0}),
                                              (stochastic, 256, {"s_churn": 256.0, "s_noise": 1.0,
                                                                 "s_gamma_max": 1.0}),
                                              (euler_maruyama, 512, {})])
def test_gaussian_moments(sampler, steps, kw, spatial_dims, gen):
    shape = SHAPES[spatial_dims]
    mean = torch.linspace(-1, 1, int(torch.tensor(shape).prod()), dtype=torch.float64).reshape(shape)
    var = torch.linspace(0.05, 0.5, mean.numel(), dtype=torch.float64).reshape(shape)
    g = GaussianDenoiser(mean, var=var)
    sigmas = karras_sigmas(steps, 0.002, 80.0)
    x = 80.0 * torch.randn(N, *shape, generator=gen, dtype=torch.float64)
    _check_moments(sampler(g, x, sigmas, generator=gen, **kw), mean, var)


@pytest.mark.parametrize("sampler,kw", [(stochastic, {"s_churn": 40.0, "s_noise": 1.0}), (heun, {})])
def test_mixture_moments_and_weights(sampler, kw, gen):
    """A two-mode 2-D mixture: overall mean, variance, and the fraction of samples in each mode."""
    means = torch.tensor([[[-2.0, 1.0]], [[2.0, -1.0]]], dtype=torch.float64)    # (K=2, C=1, L=2)
    mix = GaussianMixtureDenoiser.isotropic(torch.tensor([0.3, 0.7]), means, torch.tensor([0.3, 0.5]))
    x = 80.0 * torch.randn(N, 1, 2, generator=gen, dtype=torch.float64)
    out = sampler(mix, x, karras_sigmas(64), generator=gen, **kw)
    cov = mix.covariance()
    _check_moments(out, mix.mean(), cov.diagonal().reshape(1, 2))
    frac = (out[:, 0, 0] > 0).double().mean().item()
    assert abs(frac - 0.7) < 4.5 * math.sqrt(0.21 / N)


def test_generator_makes_runs_reproducible():
    g = GaussianDenoiser(torch.zeros(1, 4, dtype=torch.float64), var=0.3)
    run = lambda seed: generate(g, (3, 1, 4), sampler="stochastic", steps=8, dtype=torch.float64,  # noqa: E731
                                generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(run(1), run(1), rtol=0, atol=0)
    assert not torch.equal(run(1), run(2))


def test_gamma_cap_sets_the_churn():
    """gamma_i = min(S_churn / N, s_gamma_max): the first denoiser call is at s_hat = sigma_0 (1 + gamma)."""
    calls = []

    def record(x, sigma, cond=None):
        calls.append(float(sigma))
        return torch.zeros_like(x)
    sigmas = torch.tensor([2.0, 1.0, 0.0], dtype=torch.float64)
    for cap, want in [(math.sqrt(2) - 1, 2.0 * math.sqrt(2)), (1.0, 4.0), (0.25, 2.5)]:
        calls.clear()
        stochastic(record, torch.zeros(1, 1), sigmas, s_churn=100.0, s_tmin=0.0, s_tmax=10.0, s_gamma_max=cap)
        assert calls[0] == pytest.approx(want)            # s_hat = sigma_0 (1 + gamma)
    with pytest.raises(ValueError, match="s_gamma_max"):
        stochastic(record, torch.zeros(1, 1), sigmas, s_gamma_max=-1.0)
