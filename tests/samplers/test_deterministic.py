"""Deterministic samplers against the closed-form probability-flow map of Gaussian data (float64, pointwise)."""

import math

import pytest
import torch

from diffsci.diffusion import karras_sigmas
from diffsci.samplers import NFE, SAMPLERS, dpmpp_2m, euler, get_sampler, heun, stochastic

from ..conftest import SHAPES, random_gaussian

SIGMA_MIN, SIGMA_MAX = 0.002, 80.0


def _flow_error(sampler, g, x_T, n):
    """Max pointwise error of the sampler's map from sigma_max to sigma_min against the exact map."""
    sigmas = karras_sigmas(n, SIGMA_MIN, SIGMA_MAX)[:-1]         # stop at sigma_min: no final jump to 0
    out = sampler(g, x_T, sigmas)
    return (out - g.pf_ode_map(x_T, SIGMA_MAX, SIGMA_MIN)).abs().max().item()


@pytest.mark.parametrize("spatial_dims", [1, 2, 3])
@pytest.mark.parametrize("name", ["euler", "heun", "dpmpp_2m"])
def test_reproduces_pf_ode_map_pointwise(name, spatial_dims, gen):
    g = random_gaussian(SHAPES[spatial_dims], full=True, seed=spatial_dims)
    x_T = SIGMA_MAX * torch.randn(4, *SHAPES[spatial_dims], generator=gen, dtype=torch.float64)
    n, tol = {"euler": (4096, 4e-3), "heun": (1024, 1e-4), "dpmpp_2m": (1024, 1e-4)}[name]
    assert _flow_error(SAMPLERS[name], g, x_T, n) < tol


@pytest.mark.parametrize("name,order", [("euler", 1), ("heun", 2), ("dpmpp_2m", 2)])
def test_convergence_order(name, order, gen):
    """Doubling the steps divides the global error by about 2**order (Karras grid, 128 -> 256 steps)."""
    g = random_gaussian(SHAPES[2], full=True, seed=7)
    x_T = SIGMA_MAX * torch.randn(8, *SHAPES[2], generator=gen, dtype=torch.float64)
    e1, e2 = _flow_error(SAMPLERS[name], g, x_T, 128), _flow_error(SAMPLERS[name], g, x_T, 256)
    measured = math.log2(e1 / e2)
    assert abs(measured - order) < 0.25, f"{name}: measured order {measured:.2f}, expected {order}"


def test_final_step_to_zero_is_the_denoiser(gen):
    """From sigma_min, one Euler step to sigma = 0 returns D(x, sigma_min) exactly."""
    g = random_gaussian(SHAPES[1], full=False)
    x = torch.randn(3, *SHAPES[1], generator=gen, dtype=torch.float64)
    sig = torch.tensor([0.5, 0.0], dtype=torch.float64)
    for f in (euler, heun, dpmpp_2m):
        torch.testing.assert_close(f(g, x, sig), g(x, 0.5), rtol=0, atol=1e-12)


def test_stochastic_without_churn_is_heun(gen):
    g = random_gaussian(SHAPES[3], full=True)
    x = SIGMA_MAX * torch.randn(2, *SHAPES[3], generator=gen, dtype=torch.float64)
    sigmas = karras_sigmas(20)
    torch.testing.assert_close(stochastic(g, x, sigmas, s_churn=0.0), heun(g, x, sigmas), rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_nfe_table_counts_denoiser_calls(name, gen):
    g = random_gaussian(SHAPES[1], full=False)
    calls = []

    def counting(x, sigma, cond=None):
        calls.append(1)
        return g(x, sigma, cond)

    SAMPLERS[name](counting, torch.randn(2, *SHAPES[1], dtype=torch.float64), karras_sigmas(10), generator=gen)
    assert len(calls) == NFE[name](10)


def test_callback_sees_every_step():
    g = random_gaussian(SHAPES[1], full=False)
    seen = []
    heun(g, torch.randn(1, *SHAPES[1], dtype=torch.float64), karras_sigmas(5),
         callback=lambda i, x, d: seen.append((i, x.shape, d.shape)))
    assert [s[0] for s in seen] == list(range(5))


def test_unknown_sampler_lists_the_valid_ones():
    with pytest.raises(ValueError, match="dpmpp_2m.*euler.*heun"):
        get_sampler("ddim")
