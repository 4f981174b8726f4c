"""The synthetic domain: exact denoisers of random fields and mixtures against dense closed forms."""

import itertools
import math

import numpy as np
import pytest
import torch

from diffsci import Cond
from diffsci.data.synthetic import (FourierGaussianDenoiser, SyntheticParams, exact_denoiser,
                                    expected_power_spectrum, make_dataset, power_law_spectrum,
                                    radial_power_spectrum)
from diffsci.diffusion import GaussianDenoiser, GaussianMixtureDenoiser

GRIDS = {1: (10,), 2: (4, 6), 3: (4, 2, 4)}


def dense_stationary_cov(lam: torch.Tensor, channels: int) -> torch.Tensor:
    """Sigma_ij = (1/n) sum_k lambda_k cos(2 pi k.(x_i - x_j) / N), built from its definition (no FFT),
    block-diagonal over independent channels."""
    grid = lam.shape
    pts = np.array(list(itertools.product(*[range(n) for n in grid])), dtype=np.float64)        # (n, ndim)
    ks = np.array(list(itertools.product(*[range(n) for n in grid])), dtype=np.float64)
    lam_flat = lam.numpy().reshape(-1)
    diff = (pts[:, None, :] - pts[None, :, :]) / np.array(grid)                                # (n, n, ndim)
    phase = 2 * np.pi * np.einsum("ijd,kd->ijk", diff, ks)
    c = (np.cos(phase) * lam_flat).sum(-1) / len(pts)
    return torch.block_diag(*[torch.as_tensor(c)] * channels)


@pytest.mark.parametrize("spatial_dims", [1, 2, 3])
def test_field_denoiser_equals_dense_gaussian(spatial_dims):
    grid = GRIDS[spatial_dims]
    lam = power_law_spectrum(grid, alpha=2.5, k0=1.0, std=0.7)
    mean = torch.randn((2, *grid), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    D = FourierGaussianDenoiser(mean, lam)
    C = dense_stationary_cov(lam, channels=2)
    assert torch.allclose(D.covariance(), C, atol=1e-12)
    G = GaussianDenoiser(mean, cov=C)
    x = torch.randn((5, 2, *grid), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for sigma in (0.05, 0.5, torch.tensor([0.1, 0.3, 1.0, 2.0, 9.0], dtype=torch.float64)):
        torch.testing.assert_close(D(x, sigma), G(x, sigma), rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(D.score(x, sigma), G.score(x, sigma), rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(D.log_prob(x, sigma), G.log_prob(x, sigma), rtol=1e-11, atol=1e-9)
    torch.testing.assert_close(D.pf_ode_map(x, 3.0, 0.2), G.pf_ode_map(x, 3.0, 0.2), rtol=1e-10, atol=1e-10)
    assert D.covariance().diagonal().mean().item() == pytest.approx(0.49, rel=1e-12)   # marginal var = std^2


def test_field_samples_have_the_covariance():
    """Monte-Carlo: the empirical covariance of 20000 draws matches Sigma within ~5 standard errors."""
    lam = power_law_spectrum((8,), alpha=2.0, std=1.0)
    D = FourierGaussianDenoiser(torch.zeros(1, 8, dtype=torch.float64), lam)
    n = 20000
    x = D.sample(n, generator=torch.Generator().manual_seed(0)).reshape(n, -1)
    emp = x.T @ x / n
    C = D.covariance()
    se = torch.sqrt((C ** 2 + torch.outer(C.diagonal(), C.diagonal())) / n)           # var of x_i x_j
    assert ((emp - C).abs() / se).max() < 5
    # and the noisy marginal: Sigma + sigma^2 I
    xs = D.sample(n, sigma=0.5, generator=torch.Generator().manual_seed(1)).reshape(n, -1)
    assert (xs.var(0) - (C.diagonal() + 0.25)).abs().max() < 5 * math.sqrt(2 / n) * 1.25


def test_mixture_denoiser_equals_dense_mixture_and_label_picks_the_component():
    p = SyntheticParams(kind="mixture", spatial_dims=2, size=4, num_components=3, separation=1.0, alpha=1.0)
    D = exact_denoiser(p)
    lam = power_law_spectrum((4, 4), alpha=1.0, std=p.std)
    C = dense_stationary_cov(lam, channels=1)
    dense = GaussianMixtureDenoiser(torch.full((3,), 1 / 3), [GaussianDenoiser(c.mean, cov=C) for c in D.components])
    x = D.sample(6, sigma=0.4, generator=torch.Generator().manual_seed(0))
    for s in (0.1, 0.7):
        torch.testing.assert_close(D(x, s), dense(x, s), rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(D.log_prob(x, s), dense.log_prob(x, s), rtol=1e-10, atol=1e-9)
    label = torch.tensor([0, 1, 2, 0, 1, 2])
    c = Cond(label=label, dropped=torch.tensor([False, False, False, True, True, False]))
    out = D(x, 0.7, c)
    for i in range(6):
        want = dense(x[i:i + 1], 0.7) if c.dropped[i] else dense.components[int(label[i])](x[i:i + 1], 0.7)
        torch.testing.assert_close(out[i:i + 1], want, rtol=1e-9, atol=1e-10)
    # the means really differ (RMS = separation) and are centred on params.mean
    rms = torch.stack([m.mean.pow(2).mean().sqrt() for m in D.components])
    torch.testing.assert_close(rms, torch.ones(3, dtype=torch.float64))


def test_datasets_are_deterministic_and_split():
    p = SyntheticParams(kind="mixture", spatial_dims=1, size=16, n_samples=50, n_val=7, conditional=True,
                        num_components=2)
    a, b = make_dataset(p, "train"), make_dataset(p, "train")
    assert torch.equal(a.x, b.x) and torch.equal(a.label, b.label)
    assert a.x.shape == (50, 1, 16) and a.x.dtype == torch.float32 and set(a.label.tolist()) == {0, 1}
    v = make_dataset(p, "val")
    assert len(v) == 7 and not torch.equal(v.x[:7], a.x[:7])
    assert "label" not in make_dataset(p.model_copy(update={"conditional": False}), "train")[0]
    with pytest.raises(ValueError, match="unknown split"):
        make_dataset(p, "holdout")
    # conditional draws really come from their component: closer to their own mean than to the other
    D = exact_denoiser(p)
    d = torch.stack([(a.x.double() - c.mean).pow(2).flatten(1).mean(1) for c in D.components], 1)
    assert (d.argmin(1) == a.label).float().mean() > 0.9


def test_spectrum_of_draws_matches_the_expected_one():
    p = SyntheticParams(spatial_dims=2, size=16, n_samples=400, mean=0.2)
    x = make_dataset(p, "train").x
    k, pk = radial_power_spectrum(x)
    k2, ptrue = expected_power_spectrum(p)
    assert (k == k2).all()
    # per bin, the average of (#modes x 400) chi-square-like terms: within 20% at every |k| >= 1
    assert np.abs(np.log(pk[1:] / ptrue[1:])).max() < 0.2
    assert x.mean().item() == pytest.approx(0.2, abs=0.03) and x.var().item() == pytest.approx(0.25, rel=0.1)


def test_domain_metrics():
    from diffsci.synthetic import domain
    p = SyntheticParams(spatial_dims=1, size=32, n_samples=300)
    x = make_dataset(p, "train").x.numpy()
    assert domain.metrics["mse"](x, x) == 0.0
    assert domain.metrics["mse"](x, np.zeros_like(x)) == pytest.approx(float((x.astype(np.float64) ** 2).mean()))
    assert domain.metrics["spectrum_log_error"](x, expected_power_spectrum(p)[1]) < 0.2
    assert domain.metrics["spectrum_log_error"](2 * x, x) == pytest.approx(math.log(4), rel=1e-9)
    assert domain.metrics["variance_ratio"](3 * x, x) == pytest.approx(9.0)


def test_data_params_are_validated_with_the_prefix():
    from diffsci.config import ConfigError, DataConfig, ExperimentConfig, UNetConfig, validate_data_params
    cfg = ExperimentConfig(model=UNetConfig(spatial_dims=2), data=DataConfig(params={"sise": 8, "spatial_dims": 4}))
    with pytest.raises(ConfigError) as e:
        validate_data_params(cfg, "x.yaml")
    assert "data.params.sise" in str(e.value) and "data.params.spatial_dims" in str(e.value)


@pytest.mark.slow
def test_tiny_unet_trained_briefly_beats_identity_and_its_initialisation(tmp_path):
    """40 steps of a tiny UNet on a 1D field: its denoiser is much closer to the exact (Wiener) denoiser than
    the identity (returning x), and at low noise than the untrained EDM denoiser (c_skip x: the UNet's output
    layer starts at 0, and c_skip x is already a fair shrinkage estimate at high noise)."""
    from diffsci.config import DataConfig, ExperimentConfig, TrainConfig, UNetConfig
    from diffsci.train import load_denoiser, train
    torch.set_num_threads(1)
    params = {"kind": "field", "spatial_dims": 1, "size": 32, "n_samples": 512, "n_val": 64, "alpha": 3.0}
    cfg = ExperimentConfig(
        model=UNetConfig(spatial_dims=1, channels=(8, 16), num_res_blocks=1, attention_levels=(False, False),
                         num_head_channels=8, padding_mode="circular"),
        data=DataConfig(domain="synthetic", params=params),
        train=TrainConfig(steps=40, batch_size=16, lr=5e-3, warmup_steps=5, ema_decay=0.8, val_every=40,
                          ckpt_every=40, log_every=20))
    train(cfg, device="cpu", progress=False, out_dir=tmp_path)
    den, _ = load_denoiser(tmp_path)
    p = SyntheticParams(**params)
    exact = exact_denoiser(p)
    x0 = make_dataset(p, "test").x.double()
    g = torch.Generator().manual_seed(0)
    for s in (0.2, 0.5, 1.0):
        x = x0 + s * torch.randn(x0.shape, generator=g, dtype=torch.float64)
        d_star = exact(x, s)
        with torch.no_grad():
            learned = (den(x.float(), s).double() - d_star).pow(2).mean()
        identity = (x - d_star).pow(2).mean()
        untrained = (0.25 / (0.25 + s ** 2) * x - d_star).pow(2).mean()
        assert learned < 0.2 * identity, (s, learned, identity)             # measured ratios 0.07-0.15
        if s <= 0.5:                                                         # measured 0.19-0.35
            assert learned < 0.5 * untrained, (s, learned, untrained)


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path):
    """`diffsci demo --quick`: trains, samples, writes every file, and reports the learned denoiser against
    the exact one (after 30 steps it already beats the identity by far at sigma >= 0.2)."""
    import json

    from diffsci.cli import main
    torch.set_num_threads(1)
    assert main(["demo", "synthetic", "--quick", "--out", str(tmp_path), "--device", "cpu"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    for f in ("samples.npy", "samples.h5", "samples.png", "spectrum.png", "report.json", "report.md"):
        assert (tmp_path / f).exists(), f
    assert np.load(tmp_path / "samples.npy").shape == (8, 1, 16, 16)
    for row in summary["denoiser_mse"]:
        if row["sigma"] >= 0.2:                 # 30 steps: near the identity at sigma = 0.05 (measured 0.9x)
            assert row["learned_vs_exact"] < 0.5 * row["identity_vs_exact"], row
        assert row["exact_vs_clean"] <= row["learned_vs_clean"] * 1.05, row     # the exact one is Bayes-optimal
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["domain"] == "synthetic" and any(r["metric"] == "mse_vs_exact" for r in report["rows"])
    # running it again continues (here: finds finished) the same run instead of failing
    assert main(["demo", "synthetic", "--quick", "--out", str(tmp_path), "--device", "cpu"]) == 0
