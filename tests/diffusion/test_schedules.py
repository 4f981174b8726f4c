import pytest
import torch

from diffsci.diffusion import get_schedule, karras_sigmas, loglinear_sigmas


@pytest.mark.parametrize("fn", [karras_sigmas, loglinear_sigmas])
def test_grid_shape_endpoints_and_monotonicity(fn):
    s = fn(18, 0.002, 80.0)
    assert s.shape == (19,) and s.dtype == torch.float64 and s[-1] == 0
    torch.testing.assert_close(s[[0, -2]], torch.tensor([80.0, 0.002], dtype=torch.float64))
    assert (s[1:] < s[:-1]).all()


def test_karras_rho_interpolates_in_sigma_to_the_one_over_rho():
    s = karras_sigmas(5, 0.002, 80.0, rho=7.0)[:-1]
    d = s ** (1 / 7)
    torch.testing.assert_close(d[1:] - d[:-1], (d[1] - d[0]).expand(4))      # evenly spaced in sigma^(1/rho)


def test_loglinear_is_geometric():
    s = loglinear_sigmas(6, 0.01, 100.0)[:-1]
    torch.testing.assert_close(s[1:] / s[:-1], (s[1] / s[0]).expand(5))


def test_bad_arguments():
    with pytest.raises(ValueError, match="steps"):
        karras_sigmas(0)
    with pytest.raises(ValueError, match="sigma_min"):
        loglinear_sigmas(4, 1.0, 0.5)
    with pytest.raises(ValueError, match="karras.*loglinear"):
        get_schedule("cosine")
