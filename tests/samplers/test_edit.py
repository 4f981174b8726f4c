"""SDEdit (samplers.edit) against the closed-form probability-flow map of Gaussian data."""

import pytest
import torch

from diffsci.diffusion.analytic import GaussianDenoiser
from diffsci.samplers import edit

from ..conftest import SHAPES, random_gaussian


@pytest.mark.parametrize("sigma_start", [0.1, 1.0])
def test_edit_is_the_pf_ode_map_of_the_noised_input(sigma_start):
    g = random_gaussian(SHAPES[1], full=True, seed=3)
    x0 = torch.randn(5, *SHAPES[1], generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = edit(g, x0, sigma_start, sampler="heun", steps=256, generator=torch.Generator().manual_seed(2))
    n = torch.randn(x0.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    exact = g.pf_ode_map(x0 + sigma_start * n, sigma_start, 0.0)
    assert (out - exact).abs().max().item() < 1e-4
    assert (out - x0).abs().mean() > 1e-3                                     # it did edit


def test_edit_of_data_draws_keeps_the_distribution_and_forgets_with_sigma():
    """x0 ~ N(0, s^2): the output is N(0, s^2) again, correlated with x0 by s / sqrt(s^2 + t^2)."""
    s = 0.5
    g = GaussianDenoiser(torch.zeros(1, 1, dtype=torch.float64), var=s ** 2)
    x0 = s * torch.randn(20000, 1, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for t in (0.25, 1.0):
        out = edit(g, x0, t, steps=32, generator=torch.Generator().manual_seed(1))
        assert out.std().item() == pytest.approx(s, rel=0.03)
        corr = torch.corrcoef(torch.stack([x0.flatten(), out.flatten()]))[0, 1].item()
        assert corr == pytest.approx(s / (s ** 2 + t ** 2) ** 0.5, abs=0.02)


def test_edit_rejects_a_start_below_sigma_min():
    g = GaussianDenoiser(torch.zeros(1, 2), var=1.0)
    with pytest.raises(ValueError, match="sigma_start"):
        edit(g, torch.zeros(1, 1, 2), 0.001)
