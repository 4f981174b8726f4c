"""The continuous-time ELBO against closed forms on Gaussian data (exact and mis-specified denoisers)."""

import math

import numpy as np
import pytest
import torch

from diffsci.diffusion import GaussianDenoiser
from diffsci.likelihood import elbo, log_likelihood, sigma_proposal

from ..conftest import random_gaussian

SMIN, SMAX = 0.002, 80.0


def closed_form_neg_elbo(model: GaussianDenoiser, x: torch.Tensor, c: float = 0.0) -> np.ndarray:
    """-ELBO with the expectation over eps in closed form: in the model's eigenbasis, with a = l / (l + s^2),
    E|D(x + s eps) - x|^2 = sum_i (1 - a_i)^2 z_i^2 + a_i^2 s^2 (z = coordinates of x - mu), integrated over
    sigma by a dense trapezoid rule in log sigma; plus the prior KL and the decoder term."""
    lam = model.eigvals.numpy()
    z = model._to_eig(x).numpy()
    u = np.linspace(math.log(SMIN), math.log(SMAX), 100001)
    s = np.exp(u)[:, None]
    a = lam[None] / (lam[None] + s ** 2)
    i1 = np.trapezoid((1 - a) ** 2 / s ** 2, u, axis=0)         # weight of z_i^2
    i2 = np.trapezoid((a ** 2).sum(1), u)                        # the noise part
    diffusion = (z ** 2 * i1).sum(1) + i2
    d = lam.size
    m = model(torch.zeros_like(x), SMAX).numpy().reshape(len(x), -1)
    v = SMAX ** 2 + c ** 2
    kl = 0.5 * (d * SMAX ** 2 / v + ((x.numpy().reshape(len(x), -1) - m) ** 2).sum(1) / v - d
                - d * math.log(SMAX ** 2 / v))
    recon = 0.5 * d * (1 + math.log(2 * math.pi) + 2 * math.log(SMIN))
    return kl + recon + diffusion


def test_closed_form_is_tight_for_the_exact_denoiser():
    """The reference identity: with the exact denoiser, -ELBO(x) = E_eps[-log p_smin(x + smin eps)]
    (checks the closed form used below, and that the bound is tight up to its ends)."""
    g = random_gaussian((2, 4), full=True, seed=1)
    x = g.sample(32, generator=torch.Generator().manual_seed(0))
    neg = closed_form_neg_elbo(g, x)
    lam, z = g.eigvals.numpy(), g._to_eig(x).numpy()
    v = lam + SMIN ** 2
    noisy_nll = 0.5 * ((z ** 2 + SMIN ** 2) / v).sum(1) + 0.5 * np.log(2 * np.pi * v).sum()
    np.testing.assert_allclose(neg, noisy_nll, atol=1e-4)


@pytest.mark.parametrize("shape,schedule", [((1, 6), "loglinear"), ((2, 2, 2), "karras"), ((1, 2, 2, 2), "loglinear")])
def test_monte_carlo_elbo_matches_closed_form_and_bounds_the_nll(shape, schedule):
    """Exact denoiser, Gaussian data (1D/2D/3D): the MC estimate agrees with the closed form within 3
    standard errors, its reported stderr matches its spread, and the bound holds: mean -ELBO >= mean NLL."""
    g = random_gaussian(shape, full=True, seed=2)
    x = g.sample(96, generator=torch.Generator().manual_seed(1))
    r = elbo(g, x, steps=24, repeats=4, schedule=schedule, generator=torch.Generator().manual_seed(2))
    neg = torch.from_numpy(closed_form_neg_elbo(g, x))
    diff = -r.elbo - neg
    sem = (r.stderr ** 2).sum().sqrt() / len(x)
    assert abs(diff.mean()) < 3 * sem, (diff.mean(), sem)
    z = diff / r.stderr
    assert 0.6 < z.std() < 2.2, z.std()                      # t with 3 dof has std 1.73
    nll = -g.log_prob(x)
    assert (-r.elbo).mean() > nll.mean() - 3 * sem
    assert ((neg - nll).mean()) > 0                          # exact expectation: strictly above on average
    assert r.nfe == 24 * 4 + 2
    torch.testing.assert_close(-r.elbo, r.prior_kl + r.reconstruction + r.diffusion)
    torch.testing.assert_close(r.bits_per_dim, -r.elbo / (x[0].numel() * math.log(2)))


def test_misspecified_denoiser_gap_is_the_kl_divergence():
    """Data N(mu, S), model N(mu', 2S): averaged over the data, -ELBO_model - NLL_true estimates
    E[-log p'] - E[-log p] = KL(p || p') (to O(smin^2)), well above zero; and the bound holds against the
    model's own exact PF-ODE likelihood."""
    g = random_gaussian((2, 3), full=True, seed=3)
    model = GaussianDenoiser(g.mean + 0.4, cov=2 * g.covariance())
    x = g.sample(256, generator=torch.Generator().manual_seed(5))
    r = elbo(model, x, steps=16, repeats=4, generator=torch.Generator().manual_seed(6))
    S1, S2 = g.covariance(), model.covariance()
    dmu = (model.mean - g.mean).reshape(-1)
    kl = 0.5 * (torch.trace(torch.linalg.solve(S2, S1)) + dmu @ torch.linalg.solve(S2, dmu) - 6
                + torch.logdet(S2) - torch.logdet(S1))
    gap = -r.elbo + g.log_prob(x)
    sampling = gap.std() / math.sqrt(len(x))                  # data sampling + MC noise together
    assert abs(gap.mean() - kl) < 3 * sampling, (gap.mean(), kl, sampling)
    assert gap.mean() > 5 * sampling
    ode = log_likelihood(model, x[:32], steps=16)
    per = -r.elbo[:32] + ode.log_likelihood
    assert per.mean() > -3 * (r.stderr[:32] ** 2).sum().sqrt() / 32


def test_sigma_proposals_cover_the_range():
    """phi(0) = sigma_min, phi(1) = sigma_max, and the weights integrate 1/sigma^3 exactly: the weight is
    phi'(u)/phi^3, so int_0^1 w(u) du = (sigma_min^-2 - sigma_max^-2) / 2."""
    u = torch.linspace(0, 1, 200001, dtype=torch.float64)
    for sched in ("loglinear", "karras"):
        s, w = sigma_proposal(u, 0.1, 10.0, sched)
        assert abs(s[0] - 0.1) < 1e-12 and abs(s[-1] - 10.0) < 1e-9
        integral = torch.trapezoid(w, u)
        assert abs(integral - (0.1 ** -2 - 10.0 ** -2) / 2) < 1e-3 * integral
    with pytest.raises(ValueError, match="schedule"):
        sigma_proposal(u, 0.1, 1.0, "cosine")
