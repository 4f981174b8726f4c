"""The conditional sampling path of the denoising harness against closed forms.

Model: prior x ~ N(0, s^2 I), observation y = x + n, n ~ N(0, t^2 I). The posterior is N(m, v I) with
m = s^2 / (s^2 + t^2) y and v = s^2 t^2 / (s^2 + t^2), and the exact denoiser of the noised posterior is
D(x, sigma | y) = m + v / (v + sigma^2) (x - m) (the engine's GaussianDenoiser centred on m).

For this linear ODE one Euler step from sigma_i to sigma_{i+1} maps x - m to
(1 + (sigma_{i+1} - sigma_i) sigma_i / (v + sigma_i^2)) (x - m) exactly, so the sampler's output is known
in closed form for the very noise it drew: that pins the condition <-> sample pairing of the multi-shot
path, the fold, the chunking and the returned quantity (the final denoised value, not an earlier x).

The second test is the regression test of the session-2 bug: the harness sampled with Heun on a 4-step
Karras grid (sigma ratios 6.5, 13, 60), whose corrector multiplies any error of the network at the small
sigma by about (sigma_i - sigma_{i+1}) / (2 sigma_{i+1}); a multi-shot average then came out 7x worse
than one denoiser call. A constant denoiser bias eps must move the harness's sample by O(eps).
"""

import pytest
import torch

from diffsci import Cond
from diffsci.diffusion import GaussianDenoiser, get_schedule
from diffsci_biosignal.harness.common import experiment, one_step, sample
from diffsci_biosignal.harness.denoising import QUICK, sampling_setup
from diffsci_biosignal.windows import fold, unfold

S2, T2 = 1.0, 0.25
V = S2 * T2 / (S2 + T2)                       # posterior variance 0.2
K, L = 4, 32                                  # fold factor and beat length of the toy problem


class PosteriorDenoiser(torch.nn.Module):
    """Exact D(x, sigma | y) of the Gaussian posterior, y = cond.channels (folded like x); plus an optional
    bias ``eps * u`` below sigma 0.5 (a network that is wrong at small noise levels)."""

    def __init__(self, eps: float = 0.0, u: torch.Tensor | None = None):
        super().__init__()
        self.g = GaussianDenoiser(torch.zeros(K, L // K, dtype=torch.float64), var=V)
        self.eps, self.u = eps, u
        self.calls = []

    def forward(self, x, sigma, cond=None):
        m = S2 / (S2 + T2) * cond.channels.to(x.dtype)
        out = m + self.g(x - m, sigma)
        s = float(torch.as_tensor(sigma).flatten()[0])
        self.calls.append(s)
        if self.eps and s < 0.5:
            out = out + self.eps * self.u
        return out


def _problem(b: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 1, L, generator=g, dtype=torch.float64) * S2 ** 0.5
    y = x + torch.randn(b, 1, L, generator=g, dtype=torch.float64) * T2 ** 0.5
    return Cond(channels=fold(y, K)), (S2 / (S2 + T2) * y)[:, 0]


def _euler_factor(sigmas: torch.Tensor) -> float:
    a = 1.0
    for s, s_next in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
        a *= 1 + (s_next - s) * s / (V + s * s)
    return a


@pytest.mark.parametrize("shots,batch", [(3, 1024), (3, 5)])
def test_multishot_euler_path_matches_the_closed_form(shots, batch):
    b, steps, smin, smax = 5, 6, 0.002, 10.0
    cond, m = _problem(b)
    den = PosteriorDenoiser()
    out = sample(den, (b, K, L // K), cond=cond, shots=shots, steps=steps, sampler="euler", sigma_min=smin,
                 sigma_max=smax, generator=torch.Generator().manual_seed(1), batch=batch).double()
    # the same draws, chunk by chunk, as sample() makes them
    g = torch.Generator().manual_seed(1)
    sig = get_schedule("karras")(steps, smin, smax, dtype=torch.float32)
    z = torch.cat([torch.randn((min(batch, b * shots - lo), K, L // K), generator=g) * sig[0]
                   for lo in range(0, b * shots, batch)]).double().reshape(b, shots, K, L // K)
    mm = fold(m[:, None], K)[:, None]                                    # (b, 1, K, L/K)
    expect = mm + _euler_factor(sig.double()) * (z - mm)
    assert out.shape == (b, shots, K, L // K)
    torch.testing.assert_close(out, expect, rtol=1e-4, atol=1e-4)
    # the last denoiser call is at sigma_min; a sample's spread about m is of the posterior's order, sqrt(v):
    # Euler on 6 steps contracts it to 0.68 sqrt(v) (under-dispersed samples, closer to the mean)
    assert den.calls[-1] == pytest.approx(smin, rel=1e-4)
    assert 0.6 < _euler_factor(sig.double()) * smax / V ** 0.5 < 0.75
    # unfolding returns each beat's own posterior: the shot mean of beat i is nearest to m_i
    d = ((unfold(out.mean(1), K)[:, 0, None] - m[None]) ** 2).mean(-1)
    assert (d.argmin(1) == torch.arange(b)).all()


def test_one_step_is_the_posterior_mean_up_to_the_sigma_max_leak():
    b = 4
    cond, m = _problem(b, seed=2)
    g = torch.Generator().manual_seed(3)
    est = one_step(PosteriorDenoiser(), cond, (b, K, L // K), sigma=10.0, generator=g).double()
    z = torch.randn((b, K, L // K), generator=torch.Generator().manual_seed(3)) * 10.0
    mm = fold(m[:, None], K)
    torch.testing.assert_close(est, mm + V / (V + 100.0) * (z.double() - mm), rtol=1e-5, atol=1e-5)
    # one Euler step from sigma_max to 0 is exactly one_step
    s1 = sample(PosteriorDenoiser(), (b, K, L // K), cond=cond, steps=1, sampler="euler", sigma_max=10.0,
                generator=torch.Generator().manual_seed(3))[:, 0].double()
    torch.testing.assert_close(s1, est, rtol=1e-5, atol=1e-5)


def _bias_gain(sampler: str, steps: int, smin: float, smax: float) -> float:
    """max |sample(D + eps u) - sample(D)| / eps over a batch, same noise."""
    b, eps = 8, 1e-2
    cond, _ = _problem(b, seed=4)
    u = torch.ones(K, L // K, dtype=torch.float64)
    kw = dict(cond=cond, steps=steps, sampler=sampler, sigma_min=smin, sigma_max=smax)
    ref = sample(PosteriorDenoiser(), (b, K, L // K), generator=torch.Generator().manual_seed(5), **kw)
    bad = sample(PosteriorDenoiser(eps, u), (b, K, L // K), generator=torch.Generator().manual_seed(5), **kw)
    return float((bad - ref).abs().max()) / eps


def test_harness_sampler_does_not_amplify_a_denoiser_bias(tmp_path):
    # Euler passes each step's bias on with a factor c_skip + ... <= 1, so the output moves by at most
    # eps per denoiser call made below sigma 0.5
    for quick in (True, False):
        cfg = experiment("denoising", quick=quick, seed=0, out_dir=tmp_path, quick_overrides=QUICK["model"])
        sampler, steps = sampling_setup(cfg, quick=quick)
        sig = get_schedule("karras")(steps, cfg.sampling.sigma_min, cfg.sampling.sigma_max)
        n_biased = int(((sig > 0) & (sig < 0.5)).sum())
        gain = _bias_gain(sampler, steps, cfg.sampling.sigma_min, cfg.sampling.sigma_max)
        assert gain <= n_biased + 0.05, (quick, sampler, steps, gain, n_biased)
    # the configuration of the bug (Heun, 4 Karras steps) fails this test by far (gain 36 for 3 biased calls)
    assert _bias_gain("heun", 4, 0.002, 10.0) > 20
