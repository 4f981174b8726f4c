"""VPEpsDenoiser: a discrete-VP eps (or v / x0) network becomes the EDM denoiser D.

(a) With the analytic prediction of Gaussian data the adapter must reproduce GaussianDenoiser's D
exactly at the discrete sigmas and closely between them; (b) around a MONAI DiffusionModelUNet it must
agree with MONAI's own DDPMScheduler x0-prediction and run under our samplers.
"""

import pytest
import torch

from diffsci import Cond
from diffsci.diffusion import VPEpsDenoiser, karras_sigmas
from diffsci.samplers import heun

from ..conftest import random_gaussian

T = 1000


def _abar():
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)       # DDPM's linear schedule (Ho et al. 2020)
    return torch.cumprod(1 - betas, 0)


class AnalyticVPNet:
    """The exact prediction of a discrete-VP network for Gaussian data g at integer t, linearly
    interpolated in t between integers (what a network trained at integer timesteps does smoothly)."""

    def __init__(self, g, abar, kind="epsilon"):
        self.g, self.abar, self.kind = g, abar, kind

    def at(self, x_t, i):
        ab = self.abar[i].reshape(-1, *[1] * (x_t.ndim - 1))
        sigma = ((1 - ab) / ab).sqrt()
        x = x_t / ab.sqrt()                                            # x = x_t sqrt(1 + sigma^2)
        x0 = self.g(x, sigma.flatten())
        eps = (x - x0) / sigma
        v = ab.sqrt() * eps - (1 - ab).sqrt() * x0
        return {"epsilon": eps, "v_prediction": v, "sample": x0}[self.kind]

    def __call__(self, x_t, t, cond=None):
        t = t.double()
        lo = t.floor().long().clamp(max=len(self.abar) - 2)
        w = (t - lo).reshape(-1, *[1] * (x_t.ndim - 1))
        return (1 - w) * self.at(x_t, lo) + w * self.at(x_t, lo + 1)


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction", "sample"])
@pytest.mark.parametrize("shape", [(1, 8), (1, 2, 3), (1, 2, 2, 2)])
def test_analytic_prediction_reproduces_gaussian_denoiser(kind, shape, gen):
    g = random_gaussian(shape, full=True, seed=3)
    d = VPEpsDenoiser(AnalyticVPNet(g, _abar(), kind), _abar(), prediction_type=kind)
    idx = torch.tensor([0, 3, 50, 400, 999])
    scale = (1 + d.sigmas[idx]).reshape(-1, *[1] * len(shape))
    x = torch.randn(len(idx), *shape, generator=gen, dtype=torch.float64) * scale
    # exactly at the discrete sigmas
    torch.testing.assert_close(d(x, d.sigmas[idx]), g(x, d.sigmas[idx]), rtol=1e-10, atol=1e-10)
    # between them (geometric midpoints): only the interpolation of the prediction in t differs
    # and much closer than rounding sigma to the nearest discrete one would be
    mid = (d.sigmas[idx[:-1]] * d.sigmas[idx[:-1] + 1]).sqrt()
    err = (d(x[:-1], mid) - g(x[:-1], mid)).abs().flatten(1).amax(1)
    rounding = (g(x[:-1], d.sigmas[idx[:-1]]) - g(x[:-1], mid)).abs().flatten(1).amax(1)
    assert (err < 3e-4).all() and (err < 0.3 * rounding).all(), (err, rounding)


def test_sigma_timestep_maps():
    d = VPEpsDenoiser(lambda x, t, c: x, _abar())
    assert d.sigma_min == pytest.approx(float(((1 - _abar()[0]) / _abar()[0]).sqrt()))
    assert d.sigma_max == pytest.approx(float(((1 - _abar()[-1]) / _abar()[-1]).sqrt()))
    t = torch.tensor([0.0, 0.25, 17.5, 998.9, 999.0], dtype=torch.float64)
    torch.testing.assert_close(d.sigma_to_t(d.t_to_sigma(t)), t)
    torch.testing.assert_close(d.sigma_to_t(d.sigmas[[5, 6]]), torch.tensor([5.0, 6.0], dtype=torch.float64))
    # out of range sigmas clamp to the end timesteps
    assert d.sigma_to_t(torch.tensor([1e-6, 1e6], dtype=torch.float64)).tolist() == [0.0, T - 1]
    grid = karras_sigmas(10, 0.05, 50.0)
    r = d.round_sigma(grid)
    assert r[-1] == 0 and all(bool((d.sigmas == s).any()) for s in r[:-1])
    assert ((r[:-1].log() - grid[:-1].log()).abs() < 0.02).all()          # the grid is dense in ln sigma


def test_bad_schedule():
    with pytest.raises(ValueError, match="decreasing"):
        VPEpsDenoiser(lambda x, t, c: x, torch.tensor([0.5, 0.9]))
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        VPEpsDenoiser(lambda x, t, c: x, torch.tensor([1.0, 0.5]))
    with pytest.raises(ValueError, match="prediction_type"):
        VPEpsDenoiser(lambda x, t, c: x, _abar(), prediction_type="score")


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_monai_unet_and_ddpm_scheduler(prediction_type):
    from monai.networks.nets import DiffusionModelUNet
    from monai.networks.schedulers import DDPMScheduler

    torch.manual_seed(0)
    net = DiffusionModelUNet(spatial_dims=2, in_channels=1, out_channels=1, channels=(8, 16),
                             attention_levels=(False, True), num_res_blocks=1, norm_num_groups=8,
                             num_head_channels=8, num_class_embeds=3).eval()
    with torch.no_grad():                      # MONAI zero-inits its output conv: make eps non-trivial
        for p in net.out[-1].parameters():
            p.normal_(0, 0.2)
    sched = DDPMScheduler(num_train_timesteps=T, clip_sample=False, prediction_type=prediction_type)
    d = VPEpsDenoiser.from_monai(net, sched)
    assert d.prediction_type == prediction_type
    gen = torch.Generator().manual_seed(0)
    x_t = torch.randn(2, 1, 8, 8, generator=gen)
    label = torch.tensor([2, 0])
    for t in (3, 250, 900):
        with torch.no_grad():
            out = net(x_t, timesteps=torch.full((2,), t), class_labels=label)
            x0_monai = sched.step(out, t, x_t)[1]                        # MONAI's pred_original_sample
            sigma = d.sigmas[t].float()
            x = x_t * (1 + sigma ** 2).sqrt()                            # the same state in EDM's variable
            x0_ours = d(x, sigma, Cond(label=label))
        torch.testing.assert_close(x0_ours, x0_monai, rtol=1e-4, atol=1e-4 * (1 + sigma.item()))
    # MONAI has no null label: dropping the condition is an error unless a null class was reserved
    with pytest.raises(ValueError, match="null_label"):
        d(x, sigma, Cond(label=label).drop())
    # our Heun sampler runs end to end on the MONAI model
    sigmas = karras_sigmas(6, d.sigma_min, d.sigma_max).float()
    with torch.no_grad():
        out = heun(d, torch.randn(2, 1, 8, 8, generator=gen) * sigmas[0], sigmas, cond=Cond(label=label))
    assert out.shape == (2, 1, 8, 8) and torch.isfinite(out).all()
