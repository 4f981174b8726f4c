"""PF-ODE interpolation (samplers.interpolate) against the closed-form probability-flow map of Gaussian data."""

import math

import pytest
import torch

from diffsci import Cond
from diffsci.samplers.interpolate import decode, encode, interpolate, slerp

from ..conftest import SHAPES, random_gaussian

SMIN, SMAX = 0.002, 80.0


def _pair(seed=1, b=4):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, *SHAPES[2], generator=g, dtype=torch.float64),
            torch.randn(b, *SHAPES[2], generator=g, dtype=torch.float64))


def test_encode_is_the_pf_ode_map_and_decode_its_inverse():
    g = random_gaussian(SHAPES[2], full=True, seed=3)
    x0, _ = _pair()
    z = encode(g, x0, steps=128)
    exact = g.pf_ode_map(x0, SMIN, SMAX)
    assert ((z - exact).norm() / exact.norm()).item() < 3e-3                      # Heun, 128 steps
    assert (decode(g, z, steps=128) - x0).abs().max().item() < 1e-3
    assert (z - x0).abs().mean() > 1.0                                          # it did move


def test_interpolate_is_the_slerp_of_the_exact_noises_mapped_back():
    g = random_gaussian(SHAPES[2], full=True, seed=4)
    x0, x1 = _pair(seed=2)
    t = torch.tensor([0.0, 0.3, 0.5, 1.0], dtype=torch.float64)
    out = interpolate(g, x0, x1, t, steps=128)
    exact = g.pf_ode_map(slerp(g.pf_ode_map(x0, SMIN, SMAX), g.pf_ode_map(x1, SMIN, SMAX), t), SMAX, 0.0)
    assert (out - exact).abs().max().item() < 2e-3
    assert (out[0] - x0[0]).abs().max().item() < 2e-3                           # t = 0: x0
    assert (out[3] - x1[3]).abs().max().item() < 2e-3                           # t = 1: x1
    assert (out[1] - ((1 - 0.3) * x0[1] + 0.3 * x1[1])).abs().max().item() > 1e-2   # not the data's own mix


def test_slerp_keeps_the_norm_on_the_great_circle_and_falls_back_to_a_mix():
    a = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    mid = slerp(a, b, 0.5)
    assert torch.allclose(mid, torch.tensor([[math.sqrt(0.5), math.sqrt(0.5)]], dtype=torch.float64))
    third = slerp(2 * a, 2 * b, 1 / 3)
    assert torch.allclose(third, 2 * torch.tensor([[math.cos(math.pi / 6), math.sin(math.pi / 6)]],
                                                  dtype=torch.float64))
    assert torch.allclose(slerp(a, 3 * a, 0.5), 2 * a)                          # parallel: the linear mix
    with pytest.raises(ValueError, match="one shape"):
        slerp(a, torch.zeros(1, 3), 0.5)


def test_interpolate_passes_the_condition_for_every_solve_and_checks_shapes():
    seen = []

    def den(x, sigma, cond):
        assert cond is not None and cond.label.shape[0] == x.shape[0]
        seen.append(x.shape[0])
        return x / (1 + sigma ** 2)

    x0, x1 = _pair(b=3)
    interpolate(den, x0, x1, 0.5, steps=4, cond=Cond(label=torch.tensor([0, 1, 2])))
    assert set(seen) == {3, 6}                                                   # encode both, decode the mix
    with pytest.raises(ValueError, match="one shape"):
        interpolate(den, x0, x1[:2], 0.5, steps=4)
    with pytest.raises(ValueError, match="sigma_max > sigma_min"):
        encode(den, x0, sigma_max=0.001)
