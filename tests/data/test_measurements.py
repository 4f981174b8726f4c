"""Measurement-conditioned datasets, and a tiny conditional UNet trained on one with CFG sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffsci import Cond
from diffsci.data import ArrayDataset, MeasurementDataset, measurement_channels
from diffsci.operators import Downsample, Mask, SubsampledFourier


def _base(n=64, length=16, labels=False):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 1, length)).astype(np.float32)
    return ArrayDataset(x, label=rng.integers(0, 2, n) if labels else None)


def test_channels_are_the_adjoint_of_a_noisy_measurement():
    base = _base()
    mask = torch.tensor([1.0, 0.0] * 8)
    ds = MeasurementDataset(base, Mask(mask, sigma_y=0.2), keep_measurement=True, seed=3)
    a, b = ds[5], ds[5]
    assert torch.equal(a["channels"], b["channels"])                        # fixed per item
    assert torch.equal(a["channels"], a["measurement"] * mask)              # A^H y = M y
    noise = torch.stack([ds[i]["channels"] - mask * base[i]["x"] for i in range(len(ds))])
    measured = noise[..., mask.bool()]
    assert abs(float(measured.std()) - 0.2) < 0.02 and float(noise[..., ~mask.bool()].abs().max()) == 0
    assert ds.cond_channels == 1
    fresh = MeasurementDataset(base, Mask(mask, sigma_y=0.2), seed=None)
    assert not torch.equal(fresh[0]["channels"], fresh[0]["channels"])


def test_pinv_and_measurement_channels():
    x = torch.arange(8.0).reshape(1, 1, 8)
    d = Downsample((2,))
    assert torch.equal(measurement_channels(d, d(x), (1, 1, 8), "pinv"),
                       torch.tensor([[[0.5, 0.5, 2.5, 2.5, 4.5, 4.5, 6.5, 6.5]]]))
    with pytest.raises(ValueError, match="spatial shape"):
        measurement_channels(d, d(x), (1, 1, 8), "measurement")
    f = SubsampledFourier(torch.ones(8))
    c = measurement_channels(f, f(x), (1, 1, 8), "measurement")            # complex -> [Re, Im]
    k = torch.fft.fft(x, norm="ortho")
    assert c.shape == (1, 2, 8) and torch.allclose(c[:, 0], k.real[:, 0]) and torch.allclose(c[:, 1], k.imag[:, 0])
    with pytest.raises(ValueError, match="unknown measurement channel kind"):
        measurement_channels(f, f(x), (1, 1, 8), "fft")


def test_existing_channels_are_kept_and_random_operators_per_item():
    class WithChannels(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return {"x": torch.ones(1, 8), "channels": torch.full((1, 8), 7.0)}

    def random_mask(i, g):
        return Mask((torch.rand(8, generator=g) < 0.5).float())

    ds = MeasurementDataset(WithChannels(), random_mask, seed=0)
    item = ds[1]
    assert item["channels"].shape == (2, 8) and bool((item["channels"][0] == 7).all())
    assert torch.equal(ds[1]["channels"], item["channels"])                 # same mask for item 1 each time
    assert not torch.equal(ds[1]["channels"], ds[2]["channels"])            # a different one for item 2


def test_conditional_unet_trains_on_measurements_and_cfg_sampling_runs(tmp_path):
    from diffsci.config import DataConfig, ExperimentConfig, TrainConfig, UNetConfig
    from diffsci.guidance import ClassifierFreeGuidance
    from diffsci.samplers import generate
    from diffsci.train import load_denoiser, train

    torch.manual_seed(0)
    mask = torch.tensor([1.0, 0.0, 0.0, 1.0] * 4)
    op = Mask(mask, sigma_y=0.05)
    ds = MeasurementDataset(_base(32, labels=True), op)
    cfg = ExperimentConfig(
        name="cond-tiny",
        model=UNetConfig(spatial_dims=1, in_channels=1, channels=(8, 8), attention_levels=(False, False),
                         num_res_blocks=1, norm_num_groups=4, num_classes=2, cond_channels=ds.cond_channels),
        data=DataConfig(domain="synthetic"),
        train=TrainConfig(steps=40, batch_size=8, lr=3e-3, warmup_steps=2, ema_decay=0.5, cond_dropout=0.2,
                          log_every=20, val_every=40, val_batches=1, ckpt_every=40, seed=0))
    res = train(cfg, dataset=ds, progress=False, out_dir=tmp_path / "run", device="cpu")
    assert np.mean(res.losses[-10:]) < np.mean(res.losses[:10])            # it learns
    den, cfg2 = load_denoiser(res.run_dir)
    assert cfg2.model.cond_channels == 1
    y = op.measure(torch.as_tensor(ds.base.x[:3]), generator=torch.Generator().manual_seed(1))
    cond = Cond(label=torch.tensor([0, 1, 1]), channels=measurement_channels(op, y, (3, 1, 16)))
    with torch.no_grad():
        out = generate(ClassifierFreeGuidance(den, 2.0), (3, 1, 16), sampler="heun", steps=4, cond=cond,
                       generator=torch.Generator().manual_seed(0))
        d_c = den(out, 0.5, cond)
        d_0 = den(out, 0.5, Cond(label=cond.label, channels=torch.zeros_like(cond.channels)))
    assert out.shape == (3, 1, 16) and bool(torch.isfinite(out).all())
    assert not torch.allclose(d_c, d_0)                                     # the measurement is an input
