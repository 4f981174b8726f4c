"""Anomaly scores and maps where the math is known: a Gaussian prior with its exact denoiser."""

import math

import pytest
import torch

from diffsci.anomaly import (elbo_score, nll_score, reconstruction_maps, reconstruction_score, score_samples)
from diffsci.diffusion import GaussianDenoiser

SHAPES = {1: (1, 32), 2: (1, 8, 8), 3: (1, 4, 4, 4)}
SPOTS = {1: (0, 20), 2: (0, 5, 2), 3: (0, 1, 3, 2)}


def _prior_and_data(spatial_dims, n=4, seed=0):
    shape = SHAPES[spatial_dims]
    g = GaussianDenoiser(torch.zeros(shape, dtype=torch.float64), var=0.25)
    x = g.sample(n, generator=torch.Generator().manual_seed(seed))
    return g, x


@pytest.mark.parametrize("spatial_dims", [1, 2, 3])
def test_shifted_sample_scores_higher_and_map_peaks_at_the_anomaly(spatial_dims):
    """Insert a bump of +3 (6 prior stds) at one location of sample 0: every score ranks it above the
    normal samples, and its reconstruction map peaks exactly there."""
    g, x = _prior_and_data(spatial_dims)
    bad = x.clone()
    bad[(0, *SPOTS[spatial_dims])] += 3.0
    gen = torch.Generator().manual_seed(1)
    nll = nll_score(g, bad, steps=8)
    el = elbo_score(g, bad, steps=16, repeats=2, generator=gen)
    rec = reconstruction_maps(g, bad, sigmas=(0.2, 0.5), repeats=8, generator=gen)
    for s in (nll, el, rec.score):
        assert s[0] > s[1:].max()
    assert rec.map.shape == bad.shape
    peak = torch.nonzero(rec.map[0] == rec.map[0].max())[0].tolist()
    assert tuple(peak) == SPOTS[spatial_dims]
    # NLL rises by exactly the Gaussian quadratic form: ((x+3)^2 - x^2)/(2 * 0.25) nats over d ln 2
    d = x[0].numel()
    v = x[(0, *SPOTS[spatial_dims])]
    expected = ((v + 3) ** 2 - v ** 2) / (2 * 0.25) / (d * math.log(2))
    assert abs((nll[0] - nll_score(g, x[:1], steps=8)[0]) - expected) < 1e-3


def test_onestep_map_matches_its_closed_form():
    """x - D(x + s eps, s) = (1 - a) x - a s eps with a = v/(v + s^2) for N(0, v I), so
    E[map] = mean over s of (1 - a)^2 x^2 + a^2 s^2, location by location."""
    g, x = _prior_and_data(1, n=2)
    sigmas = (0.1, 0.3, 0.6)
    r = reconstruction_maps(g, x, sigmas=sigmas, repeats=400, generator=torch.Generator().manual_seed(0))
    expected = torch.zeros_like(x)
    for s in sigmas:
        a = 0.25 / (0.25 + s ** 2)
        expected += ((1 - a) ** 2 * x ** 2 + a ** 2 * s ** 2) / len(sigmas)
    rel = (r.map - expected).abs() / expected
    assert rel.mean() < 0.05, rel.mean()
    assert r.per_sigma.shape == (3, *x.shape) and r.nfe == 3 * 400
    torch.testing.assert_close(r.score, r.map.reshape(2, -1).mean(1))
    # the mean reconstruction is the posterior mean shrinkage a * x averaged over sigmas
    shrink = sum(0.25 / (0.25 + s ** 2) for s in sigmas) / len(sigmas)
    assert (r.reconstruction - shrink * x).abs().max() < 0.05


def test_ode_reconstruction_is_the_pf_ode_map():
    """Method "ode" integrates the PF-ODE from sigma* to 0: for a Gaussian that is the exact affine map
    mu + (x_s - mu) sqrt(v / (v + s^2)) (to Heun's discretisation error)."""
    g, x = _prior_and_data(1, n=3)
    s = 0.5
    gen = torch.Generator().manual_seed(3)
    r = reconstruction_maps(g, x, sigmas=(s,), repeats=1, method="ode", steps=32, generator=gen)
    noisy = x + s * torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=x.dtype)
    exact = g.pf_ode_map(noisy, s, 0.0)
    assert (r.reconstruction - exact).abs().max() < 1e-3
    assert r.nfe == 2 * 32 - 1


def test_sde_reconstruction_has_posterior_statistics():
    """Method "sde" draws from the posterior p(x0 | x_s): for N(0, v) its mean is a x_s and its variance
    a s^2, so E|x - x_hat|^2 = (1-a)^2 x^2 + a^2 s^2 + a s^2 (one more a s^2 than the one-step map)."""
    g = GaussianDenoiser(torch.zeros(1, 64, dtype=torch.float64), var=0.25)
    x = torch.zeros(1, 1, 64, dtype=torch.float64)
    s = 0.5
    r = reconstruction_maps(g, x, sigmas=(s,), repeats=32, method="sde", steps=64,
                            generator=torch.Generator().manual_seed(0))
    a = 0.25 / (0.25 + s ** 2)
    expected = a ** 2 * s ** 2 + a * s ** 2
    assert abs(r.map.mean() - expected) < 0.1 * expected


def test_score_samples_dispatch_and_errors():
    g, x = _prior_and_data(2, n=2)
    gen = torch.Generator().manual_seed(0)
    out = score_samples(g, x, "recon", sigmas=(0.3,), repeats=2, generator=gen)
    assert out.map.shape == x.shape and out.score.shape == (2,) and out.info["sigmas"] == [0.3]
    nll = score_samples(g, x, "nll", steps=6)
    assert nll.map is None and torch.isfinite(nll.score).all() and (nll.stderr == 0).all()
    el = score_samples(g, x, "elbo", steps=8, repeats=2, generator=gen)
    assert (el.score > 0).all()
    score = reconstruction_score(g, x, sigmas=(0.3,), generator=torch.Generator().manual_seed(5))
    maps = reconstruction_maps(g, x, sigmas=(0.3,), generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(score, maps.score)
    with pytest.raises(ValueError, match="score kind"):
        score_samples(g, x, "magic")
    with pytest.raises(ValueError, match="reconstruction method"):
        reconstruction_maps(g, x, method="magic")
    with pytest.raises(ValueError, match="sigmas"):
        reconstruction_maps(g, x, sigmas=())
