"""PF-ODE log-likelihood against closed forms: Gaussian (diagonal and full covariance) and Gaussian mixtures."""

import math

import pytest
import torch
from torch import nn

from diffsci import Cond
from diffsci.diffusion import EDMDenoiser, GaussianDenoiser, GaussianMixtureDenoiser
from diffsci.likelihood import log_likelihood

from ..conftest import random_gaussian

# (event shape, full covariance): dims 1 to 64 on 1D, 2D and 3D tensors
GAUSSIANS = [((1, 1), False), ((1, 64), False), ((2, 4, 4), False), ((1, 4, 4, 4), False),
             ((1, 1), True), ((1, 6), True), ((2, 3, 2), True), ((1, 4, 4, 4), True)]


@pytest.mark.parametrize("shape,full", GAUSSIANS)
def test_exact_nll_matches_gaussian_log_prob(shape, full):
    """Exact divergence: log p within 1e-3 nats/dim of log N(x; mu, Sigma) (and of the density at sigma_min)."""
    g = random_gaussian(shape, full=full, seed=len(shape) + full)
    x = g.sample(4, generator=torch.Generator().manual_seed(1))
    r = log_likelihood(g, x, steps=24)
    d = x[0].numel()
    assert r.dim == d and r.nfe == 4 * 24 + 4 and r.divergence_evals == 24 + 2 and r.log_likelihood.shape == (4,)
    err_min = (r.log_likelihood - g.log_prob(x, 0.002)).abs().max() / d
    err_0 = (r.log_likelihood - g.log_prob(x)).abs().max() / d
    assert err_min < 1e-3, err_min
    assert err_0 < 1e-3, err_0
    torch.testing.assert_close(r.nats_per_dim, -r.log_likelihood / d)
    torch.testing.assert_close(r.bits_per_dim, r.nats_per_dim / math.log(2))
    assert (r.stderr == 0).all()


@pytest.mark.parametrize("shape", [(1, 2), (1, 4, 4), (2, 2, 2, 2)])
def test_exact_nll_matches_mixture_log_prob(shape):
    """Three-component mixture with its analytic denoiser, 1D/2D/3D events."""
    g = torch.Generator().manual_seed(0)
    means = torch.randn(3, *shape, generator=g, dtype=torch.float64) * 1.5
    mix = GaussianMixtureDenoiser.isotropic(torch.tensor([0.5, 0.3, 0.2]), means, torch.tensor([0.3, 0.5, 0.8]))
    x = mix.sample(4, generator=g)
    r = log_likelihood(mix, x, steps=32)
    d = x[0].numel()
    err = (r.log_likelihood - mix.log_prob(x)).abs().max() / d
    assert err < 1e-3, err


def test_convergence_with_steps():
    """RK4 path + trapezoid: the error falls much faster than first order when the steps double."""
    g = random_gaussian((1, 8), full=True, seed=7)
    x = g.sample(4, generator=torch.Generator().manual_seed(2))
    errs = [(log_likelihood(g, x, steps=n).log_likelihood - g.log_prob(x, 0.002)).abs().max() for n in (8, 16)]
    assert errs[1] < errs[0] / 4, errs


@pytest.mark.parametrize("shape,full", [((1, 5), True), ((1, 3, 3), True), ((1, 2, 2, 2), True)])
def test_hutchinson_is_unbiased_with_calibrated_stderr(shape, full):
    """48 independent Hutchinson runs on one sample: their mean is within 3 standard errors of the closed
    form, and the reported stderr matches the observed spread."""
    g = random_gaussian(shape, full=full, seed=11)
    x1 = g.sample(1, generator=torch.Generator().manual_seed(3))
    x = x1.expand(48, *x1.shape[1:])
    r = log_likelihood(g, x, steps=8, divergence="hutchinson", probes=4, probe="gaussian",
                       generator=torch.Generator().manual_seed(4))
    truth = g.log_prob(x1)[0]
    ll = r.log_likelihood
    sem = ll.std() / math.sqrt(len(ll))
    assert sem > 0                                        # the estimator really is random here
    assert abs(ll.mean() - truth) < 3 * sem, (ll.mean() - truth, sem)
    ratio = (r.stderr ** 2).mean() / ll.var()
    assert 0.5 < ratio < 2.0, ratio
    assert r.divergence_evals == 8 + 2


def test_hutchinson_rademacher_is_exact_for_diagonal_jacobians():
    """v^T J v = tr J for Rademacher v when J is diagonal: no Monte-Carlo error at all."""
    g = random_gaussian((1, 6), full=False, seed=5)
    x = g.sample(3, generator=torch.Generator().manual_seed(0))
    ex = log_likelihood(g, x, steps=12)
    hu = log_likelihood(g, x, steps=12, divergence="hutchinson", probes=2, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(hu.log_likelihood, ex.log_likelihood)
    hu1 = log_likelihood(g, x, steps=4, divergence="hutchinson", probes=1)
    assert torch.isnan(hu1.stderr).all()                 # one probe: no spread to estimate an error from


def test_taylor_correction_reaches_sigma_zero():
    """With a coarse sigma_min the density at sigma_min differs from p_0 by O(sigma_min^2); the first-order
    heat-equation step removes that to O(sigma_min^4)."""
    g = random_gaussian((2, 4), full=True, seed=2)
    x = g.sample(8, generator=torch.Generator().manual_seed(1))
    plain = log_likelihood(g, x, steps=24, sigma_min=0.05)
    corr = log_likelihood(g, x, steps=24, sigma_min=0.05, correction="taylor")
    e_plain = (plain.log_likelihood - g.log_prob(x)).abs().max()
    e_corr = (corr.log_likelihood - g.log_prob(x)).abs().max()
    assert (plain.log_likelihood - g.log_prob(x, 0.05)).abs().max() < 1e-3 * 8
    assert e_corr < e_plain / 10, (e_corr, e_plain)


def test_batch_independence_and_float32():
    """Each sample's result is its own: alone or in a batch, in float32 as in float64."""
    g = random_gaussian((1, 3, 3), full=True, seed=9)
    x = g.sample(3, generator=torch.Generator().manual_seed(0))
    full = log_likelihood(g, x, steps=8).log_likelihood
    alone = torch.cat([log_likelihood(g, x[i:i + 1], steps=8).log_likelihood for i in range(3)])
    torch.testing.assert_close(full, alone)
    g32 = GaussianDenoiser(g.mean.float(), cov=g.covariance().float())
    r32 = log_likelihood(g32, x.float(), steps=8)
    torch.testing.assert_close(r32.log_likelihood, full, atol=1e-2, rtol=1e-4)


def test_given_sigma_data_and_latent():
    """An explicit reference scale gives the same answer (the reference only moves numerical error), the
    reference mean is the data mean, and the latent is the exact PF-ODE map of x to sigma_max."""
    g = GaussianDenoiser(torch.full((1, 4), 0.5, dtype=torch.float64), var=torch.tensor([[0.1, 0.3, 0.6, 1.0]]))
    x = g.sample(4, generator=torch.Generator().manual_seed(0))
    auto = log_likelihood(g, x, steps=24)
    given = log_likelihood(g, x, steps=24, sigma_data=1.5)
    torch.testing.assert_close(given.log_likelihood, auto.log_likelihood, atol=4e-3, rtol=0)
    torch.testing.assert_close(given.reference_std, torch.full((4,), 1.5, dtype=torch.float64))
    torch.testing.assert_close(auto.reference_std ** 2, torch.full((4,), 0.5, dtype=torch.float64), rtol=1e-3, atol=0)
    torch.testing.assert_close(auto.reference_mean, g.mean.expand_as(x), atol=1e-3, rtol=0)
    exact_latent = g.pf_ode_map(x, 0.002, 80.0)
    assert ((auto.latent - exact_latent).abs().max() / exact_latent.abs().max()) < 1e-3


@pytest.mark.parametrize("width", [1.0, 0.5])
def test_dequantization_bounds_the_bin_probability(width):
    """Integer-grid data under a Gaussian: the dequantised estimate is unbiased for
    E_u[log p(x + w u)] + d log w (closed form for a Gaussian), which lower-bounds log P(bin) (Jensen)."""
    var = 2.0
    g = GaussianDenoiser(torch.zeros(1, 3, dtype=torch.float64), var=var)
    x1 = torch.tensor([[[0.0, 2.0, -3.0]]], dtype=torch.float64) * width
    # E_u (x + w u)^2 = x^2 + w x + w^2/3 for u ~ U[0, 1)
    expected = (-(x1 ** 2 + width * x1 + width ** 2 / 3) / (2 * var) - 0.5 * math.log(2 * math.pi * var)).sum()
    expected = expected + 3 * math.log(width)
    n = torch.distributions.Normal(0.0, math.sqrt(var))
    log_bin = (n.cdf(x1 + width) - n.cdf(x1)).log().sum()
    assert expected < log_bin
    r = log_likelihood(g, x1.expand(64, 1, 3), steps=12, dequantize_width=width,
                       generator=torch.Generator().manual_seed(0))
    ll = r.log_likelihood
    assert ll.std() > 0
    assert abs(ll.mean() - expected) < 3 * ll.std() / 8, (ll.mean(), expected)


class _TinyNet(nn.Module):
    """A small nonlinear conv net with a condition channel: D mixes neighbours, like a real network."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv1d(2, 8, 3, padding=1)
        self.b = nn.Conv1d(8, 1, 3, padding=1)

    def forward(self, x, noise_level, cond=None):
        h = torch.cat([x, cond.channels], 1)
        return self.b(torch.tanh(self.a(h) + noise_level[:, None, None]))


@pytest.mark.filterwarnings("ignore:.*torch.jit.script.*:DeprecationWarning")  # torch's own forward-AD setup
def test_network_denoiser_modes_agree_and_hutchinson_brackets_exact():
    """A conditional EDM denoiser: the three Jacobian-product modes give the same exact likelihood, and
    Hutchinson lies within 4 standard errors of it."""
    torch.manual_seed(0)
    den = EDMDenoiser(_TinyNet().double(), sigma_data=0.5).eval()
    x = torch.randn(3, 1, 8, dtype=torch.float64) * 0.5
    cond = Cond(channels=torch.randn(3, 1, 8, dtype=torch.float64))
    runs = {m: log_likelihood(den, x, cond, steps=4, mode=m).log_likelihood for m in ("batched", "reverse", "forward")}
    torch.testing.assert_close(runs["reverse"], runs["batched"])
    torch.testing.assert_close(runs["forward"], runs["batched"])
    hu = log_likelihood(den, x, cond, steps=4, divergence="hutchinson", probes=16,
                        generator=torch.Generator().manual_seed(0))
    assert ((hu.log_likelihood - runs["batched"]).abs() < 4 * hu.stderr).all()


def test_bad_arguments():
    g = GaussianDenoiser(torch.zeros(1, 2, dtype=torch.float64), var=1.0)
    x = torch.zeros(1, 1, 2, dtype=torch.float64)
    for kw, msg in [({"divergence": "trace"}, "divergence"), ({"probes": 0}, "probes"),
                    ({"sigma_min": 1.0, "sigma_max": 0.5}, "sigma_min"), ({"correction": "x"}, "correction"),
                    ({"schedule": "cosine"}, "schedule"), ({"mode": "sideways"}, "mode"),
                    ({"divergence": "hutchinson", "probe": "cauchy"}, "probe")]:
        with pytest.raises(ValueError, match=msg):
            log_likelihood(g, x, steps=2, **kw)


def test_model_mean_is_the_gaussian_mean_to_second_order():
    """(D(T eps) + D(-T eps)) / 2 = mu - Sigma (Sigma + T^2)^-1 mu exactly for a Gaussian, at a non-constant
    (typical) input."""
    from diffsci.likelihood import model_mean, typical_noise
    g = random_gaussian((1, 3, 3), full=True, seed=12)
    x = torch.zeros(2, 1, 3, 3, dtype=torch.float64)
    T = 80.0
    expected = g(torch.zeros_like(x), T)                       # mu + Sigma (Sigma + T^2)^-1 (0 - mu)
    torch.testing.assert_close(model_mean(g, x, T), expected)
    assert (model_mean(g, x, T) - g.mean).abs().max() < 1e-3
    y = typical_noise(x, T)
    assert y.std() > 10 and torch.equal(y[0], y[1])            # noise-like, the same for every sample


def test_trained_like_unet_gives_finite_likelihood():
    """A UNet with non-zero weights (GroupNorm, circular padding): finite results, Hutchinson within 4
    standard errors of the exact divergence (the network path of the benchmark and of diffsci score)."""
    from diffsci.nn import UNet
    torch.manual_seed(0)
    net = UNet(1, 1, channels=(8, 8), num_res_blocks=1, attention_levels=(False, False), norm_num_groups=4,
               padding_mode="circular")
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    den = EDMDenoiser(net, sigma_data=0.5).eval()
    x = 0.5 * torch.randn(2, 1, 8)
    ex = log_likelihood(den, x, steps=3)
    hu = log_likelihood(den, x, steps=3, divergence="hutchinson", probes=8, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(ex.log_likelihood).all() and torch.isfinite(hu.log_likelihood).all()
    assert ((hu.log_likelihood - ex.log_likelihood).abs() < 4 * hu.stderr).all()
