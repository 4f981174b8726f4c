"""DiffPIR: proximal data step, consistency, and zeta = 0 equals data consistency with Euler steps."""

from __future__ import annotations

import pytest
import torch

from diffsci.diffusion import GaussianDenoiser, karras_sigmas
from diffsci.guidance import data_consistency, diffpir
from diffsci.operators import SubsampledFourier


def _problem(sigma_y):
    g = torch.Generator().manual_seed(0)
    cov = torch.randn(12, 12, generator=g, dtype=torch.float64)
    prior = GaussianDenoiser(torch.zeros(1, 12, dtype=torch.float64), cov=cov @ cov.T / 12 + 0.1 * torch.eye(12))
    op = SubsampledFourier((torch.rand(12, generator=g) < 0.5).double(), sigma_y=sigma_y)
    y = op.measure(prior.sample(3, generator=g), generator=g)
    return prior, op, y, g


def test_noiseless_output_is_consistent():
    prior, op, y, g = _problem(0.0)
    x = torch.randn(3, 1, 12, generator=g, dtype=torch.float64) * 80
    out = diffpir(prior, x, karras_sigmas(10, 0.002, 80.0), operator=op, measurement=y, generator=g)
    assert torch.allclose(op(out), y, atol=1e-10)


@pytest.mark.parametrize("sigma_y", [0.0, 0.2])
def test_zeta_zero_is_data_consistency_with_euler_steps(sigma_y):
    """With zeta = 0, x_{t-1} = x0' + sigma_{t-1}/sigma_t (x_t - x0') is an Euler step on the data-consistent
    denoiser x0'. The data steps agree when rho = lam sigma_y^2/sigma^2 equals sigma_y^2/r^2: lam = 1 and
    sigma_data -> infinity (r = sigma)."""
    prior, op, y, g = _problem(sigma_y)
    sig = karras_sigmas(12, 0.002, 80.0)
    x = torch.randn(3, 1, 12, generator=g, dtype=torch.float64) * 80
    a = diffpir(prior, x, sig, operator=op, measurement=y, zeta=0.0)
    b = data_consistency(prior, x, sig, operator=op, measurement=y, sampler="euler", sigma_data=1e9)
    if sigma_y == 0:
        assert torch.allclose(a, b, atol=1e-10)
    else:
        assert torch.allclose(a, b, atol=1e-8)
        assert (op(a) - y).abs().max() > 1e-3   # noisy data are not interpolated


def test_bad_arguments():
    prior, op, y, g = _problem(0.1)
    x = torch.zeros(3, 1, 12, dtype=torch.float64)
    with pytest.raises(ValueError, match="zeta"):
        diffpir(prior, x, karras_sigmas(2), operator=op, measurement=y, zeta=1.5)
    with pytest.raises(ValueError, match="lam"):
        diffpir(prior, x, karras_sigmas(2), operator=op, measurement=y, lam=0)
    with pytest.raises(TypeError, match="LinearOperator"):
        from diffsci.operators import Operator

        class Sq(Operator):
            def forward(self, x):
                return x ** 2
        diffpir(prior, x, karras_sigmas(2), operator=Sq(), measurement=y.real)
