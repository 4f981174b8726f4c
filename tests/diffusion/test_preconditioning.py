"""EDM preconditioning (Karras et al. 2022, Table 1) and the EDM loss."""

import math

import pytest
import torch
from torch import nn

from diffsci.diffusion import EDMDenoiser, EDMLoss


class Zero(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros((), dtype=torch.float64))
        self.seen = []

    def forward(self, x, noise, cond=None):
        self.seen.append((x.detach(), noise.detach()))
        return self.w * x


def test_coefficients_match_table_1():
    d = EDMDenoiser(Zero(), sigma_data=0.5)
    s = torch.tensor([0.002, 0.5, 80.0], dtype=torch.float64)
    c_skip, c_out, c_in, c_noise = d.preconditioning(s)
    torch.testing.assert_close(c_skip, 0.25 / (s ** 2 + 0.25))
    torch.testing.assert_close(c_out, s * 0.5 / (s ** 2 + 0.25).sqrt())
    torch.testing.assert_close(c_in, 1 / (s ** 2 + 0.25).sqrt())
    torch.testing.assert_close(c_noise, s.log() / 4)
    # Why these choices (EDM App. B.6): the effective target F* = (y - c_skip (y + s n)) / c_out has unit
    # variance for y ~ N(0, sigma_d^2), n ~ N(0, 1):  ((1 - c_skip)^2 sigma_d^2 + c_skip^2 s^2) / c_out^2 = 1.
    torch.testing.assert_close(((1 - c_skip) ** 2 * 0.25 + c_skip ** 2 * s ** 2) / c_out ** 2,
                               torch.ones(3, dtype=torch.float64))


def test_zero_network_is_the_exact_denoiser_of_n0_sigma_data(gen):
    """For x0 ~ N(0, sigma_d^2 I), D(x, s) = sigma_d^2/(sigma_d^2 + s^2) x = c_skip x: a zero F is optimal."""
    from diffsci.diffusion import GaussianDenoiser
    net = Zero()
    d = EDMDenoiser(net, sigma_data=0.7)
    exact = GaussianDenoiser(torch.zeros(2, 3, dtype=torch.float64), var=0.49)
    x = torch.randn(4, 2, 3, generator=gen, dtype=torch.float64)
    sigma = torch.tensor([0.1, 1.0, 3.0, 30.0], dtype=torch.float64)
    torch.testing.assert_close(d(x, sigma), exact(x, sigma))
    # the network sees unit-variance inputs and c_noise = ln(sigma)/4
    xin, noise = net.seen[-1]
    torch.testing.assert_close(noise, sigma.log() / 4)
    torch.testing.assert_close(xin, x / (sigma ** 2 + 0.49).sqrt()[:, None, None])


def test_scalar_sigma_broadcasts(gen):
    d = EDMDenoiser(Zero(), sigma_data=0.5)
    x = torch.randn(3, 1, 8, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(d(x, 2.0), d(x, torch.full((3,), 2.0, dtype=torch.float64)))
    with pytest.raises(ValueError, match="shape \\(3,\\)"):
        d(x, torch.ones(2, dtype=torch.float64))


def test_loss_of_the_optimal_denoiser_is_one_per_dim(gen):
    """lambda(s) E||D* - y||^2 / dim = lambda(s) sigma_d^2 s^2/(sigma_d^2 + s^2) = 1 for N(0, sigma_d^2) data."""
    sd = 0.5
    d = EDMDenoiser(Zero(), sigma_data=sd)
    loss = EDMLoss(sigma_data=sd)
    y = sd * torch.randn(20000, 1, 16, generator=gen, dtype=torch.float64)
    per_sample = loss(d, y, generator=gen)
    assert per_sample.shape == (20000,)
    se = per_sample.std().item() / math.sqrt(len(per_sample))
    assert abs(per_sample.mean().item() - 1.0) < 4 * se


def test_training_sigma_distribution_is_lognormal(gen):
    s = EDMLoss(P_mean=-1.2, P_std=1.2).sample_sigma(50000, device="cpu", dtype=torch.float64, generator=gen)
    assert abs(s.log().mean().item() + 1.2) < 0.03 and abs(s.log().std().item() - 1.2) < 0.03
