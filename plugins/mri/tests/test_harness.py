"""The domain's registration and end-to-end smoke tests of the harnesses and the demo on tiny data."""

import argparse
import json

import h5py
import numpy as np
import pytest
import yaml

from diffsci.domains import get_domain
from diffsci_mri import domain
from diffsci_mri.harness.reconstruction import DEFAULT_CONFIG
from diffsci_mri.io import write_cfl


def test_domain_is_registered_with_everything():
    d = get_domain("mri")
    assert d is domain
    assert set(d.harnesses) == {"reconstruction", "anomaly"} and d.demo is not None
    assert {".nii", ".nii.gz", ".h5", ".cfl", ".npy"} <= set(d.readers) and set(d.writers) <= set(d.readers)
    assert all(p.exists() for p in d.configs.values())
    p = argparse.ArgumentParser()
    d.add_harness_args("reconstruction", p)
    a = p.parse_args(["--accelerations", "4", "--mask", "equispaced"])
    assert a.accelerations == [4] and a.mask == "equispaced"
    op = d.operators["kspace"](acceleration=4, width=32)
    assert op.mask_shape == (1, 32)


def _tiny_config(tmp_path, folder):
    cfg = yaml.safe_load(DEFAULT_CONFIG.read_text())
    cfg["data"]["params"].update(root=str(folder), files=None, pattern="*.nii.gz", spacing=[2.0, 2.0, 2.0],
                                 size=[32, 32], crop=[16, 16], crops_per_slice=2, test_range=[0.5, 0.7],
                                 val_range=[0.2, 0.3], gap=1)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _args(tmp_path, **kw):
    base = dict(data=None, out=str(tmp_path / "out"), quick=True, seed=0, device="cpu")
    base.update(kw)
    return argparse.Namespace(**base)


@pytest.mark.slow
def test_reconstruction_harness_smoke(tmp_path, volume_folder):
    rng = np.random.default_rng(0)
    k = (rng.normal(size=(1, 32, 24, 4)) + 1j * rng.normal(size=(1, 32, 24, 4))).astype(np.complex64)
    write_cfl(tmp_path / "mc", k)
    p = argparse.ArgumentParser()
    domain.add_harness_args("reconstruction", p)
    opts = p.parse_args(["--config", str(_tiny_config(tmp_path, volume_folder)), "--train-steps", "2",
                         "--max-slices", "1", "--steps", "2", "--dps-steps", "2", "--accelerations", "4",
                         "--multicoil", str(tmp_path / "mc.cfl"), "--cs-iters", "20", "--shots", "2"])
    args = _args(tmp_path, **vars(opts))
    report = domain.harnesses["reconstruction"](args)
    out = tmp_path / "out"
    saved = json.loads((out / "report.json").read_text())
    assert saved["rows"] == report["rows"]
    combos = {(r["method"], r["setting"], r["metric"]) for r in report["rows"]}
    for m in ("zero_filled", "cs_tv", "cs_wavelet", "diffusion_dc", "diffusion_dps"):
        for s in ("4x", "4x_multicoil"):
            for metric in ("psnr", "ssim", "nmse", "nfe", "seconds_per_slice"):
                assert (m, s, metric) in combos, (m, s, metric)
    nfe = {r["method"]: r["mean"] for r in report["rows"] if r["metric"] == "nfe" and r["setting"] == "4x"}
    # per slice: shots x sampler NFE (2 x 2 Euler steps; 2 x 2 DPS steps)
    assert nfe["diffusion_dc"] == 4 and nfe["diffusion_dps"] == 4 and nfe["cs_tv"] == 0
    assert saved["diffusion"]["shots"] == 2 and saved["diffusion"]["init"] == "zero_filled"
    assert (out / "reconstruction_4x.png").exists() and (out / "reconstruction_4x_multicoil.png").exists()
    assert (out / "report.md").read_text().startswith("# mri / reconstruction")


@pytest.mark.slow
def test_reconstruction_from_the_cs_tv_start(tmp_path, volume_folder, monkeypatch):
    """--init cs_tv: the methods run in an order that puts CS-TV first (whatever the order asked), the diffusion
    rows' seconds include the CS-TV solve, and the report says where the samplers started."""
    import time

    from diffsci_mri.harness import reconstruction as rec
    solve = rec._cs

    def slow_cs(*a, **k):                          # a CS-TV solve far slower than the tiny diffusion run
        time.sleep(0.5)
        return solve(*a, **k)
    monkeypatch.setattr(rec, "_cs", slow_cs)
    p = argparse.ArgumentParser()
    domain.add_harness_args("reconstruction", p)
    opts = p.parse_args(["--config", str(_tiny_config(tmp_path, volume_folder)), "--train-steps", "2",
                         "--max-slices", "1", "--steps", "2", "--accelerations", "4", "--multicoil", "none",
                         "--cs-iters", "20", "--shots", "2", "--init", "cs_tv", "--sigma-start", "0.3",
                         "--dps-steps", "2", "--methods", "diffusion_dps", "diffusion_dc", "cs_tv"])
    # not --quick: the DPS step is tuned on training slices, started from their CS-TV images too
    report = domain.harnesses["reconstruction"](_args(tmp_path, quick=False, **vars(opts)))
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["diffusion"]["init"] == "cs_tv" and saved["diffusion"]["sigma_max"] == 0.3
    sec = {r["method"]: r["mean"] for r in report["rows"] if r["metric"] == "seconds_per_slice"}
    assert set(sec) == {"cs_tv", "diffusion_dc", "diffusion_dps"}
    assert min(sec["diffusion_dc"], sec["diffusion_dps"]) > sec["cs_tv"] > 0.5        # CS-TV time included
    assert len(saved["tuned"]["dps_4x"]["train_psnr"]) >= 3
    assert any("--init cs_tv" in n for n in saved["notes"])


def test_cs_tv_start_needs_the_cs_tv_method(tmp_path):
    p = argparse.ArgumentParser()
    domain.add_harness_args("reconstruction", p)
    opts = p.parse_args(["--init", "cs_tv", "--methods", "zero_filled", "diffusion_dc"])
    with pytest.raises(ValueError, match="add cs_tv to --methods"):
        domain.harnesses["reconstruction"](_args(tmp_path, **vars(opts)))


@pytest.mark.slow
def test_anomaly_harness_smoke(tmp_path, volume_folder):
    rng = np.random.default_rng(0)
    bdir = tmp_path / "brats"
    bdir.mkdir()
    x = rng.uniform(100, 1000, (4, 96, 96, 12))
    lab = np.zeros((96, 96, 12), int)
    lab[10:30, 10:30, :] = 1
    with h5py.File(bdir / "C_1_x0_y0_z0.h5", "w") as f:
        f.create_dataset("x", data=x)
        f.create_dataset("y", data=np.eye(4)[lab])
    p = argparse.ArgumentParser()
    domain.add_harness_args("anomaly", p)
    cfg = _tiny_config(tmp_path, volume_folder)
    opts = p.parse_args(["--config", str(cfg), "--brats", str(bdir), "--train-steps", "2", "--max-slices", "2",
                         "--gap", "1"])
    report = domain.harnesses["anomaly"](_args(tmp_path, **vars(opts)))
    combos = {(r["setting"], r["metric"]) for r in report["rows"]}
    for s in ("ixi_synthetic", "brats"):
        for m in ("sample_auroc", "sample_ap", "pixel_ap", "best_dice"):
            assert (s, m) in combos, (s, m)
    methods = {(r["method"], r["metric"]) for r in report["rows"] if r["setting"] == "brats"}
    assert {("flair_intensity", m) for m in ("sample_auroc", "pixel_ap", "best_dice")} <= methods
    maps = sorted(p.name for p in (tmp_path / "out" / "maps").glob("*.nii.gz"))
    assert "brats_map.nii.gz" in maps and any("synthetic_map" in m for m in maps)
    import nibabel as nib
    src = nib.load(sorted(volume_folder.glob("*.nii.gz"))[0])
    out_map = nib.load(tmp_path / "out" / "maps" / maps[[i for i, m in enumerate(maps) if "sub0" in m and
                                                         "map" in m][0]])
    assert out_map.header.get_zooms()[:3] == pytest.approx((2.0, 2.0, 2.0))   # the preprocessed grid's affine
    assert np.sign(out_map.affine[0, 0]) == np.sign(src.affine[0, 0])


@pytest.mark.slow
def test_demo_quick(tmp_path):
    summary = domain.demo(tmp_path / "demo", "cpu", True)
    rep = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert {"zero_filled", "cs_tv", "diffusion_dc"} <= {r["method"] for r in rep["rows"]}
    assert summary["psnr"]["cs_tv"] > summary["psnr"]["zero_filled"]
    assert (tmp_path / "demo" / "demo.png").exists() and (tmp_path / "demo" / "cs_tv.nii.gz").exists()


def test_padded_denoiser_pads_to_the_multiple_and_crops_back():
    import torch
    from diffsci_mri.harness.common import PaddedDenoiser
    seen = []

    def den(x, sigma, cond=None):
        seen.append(tuple(x.shape))
        return 2 * x + sigma

    x = torch.rand(2, 1, 10, 7)
    out = PaddedDenoiser(den, 4)(x, 0.5)
    assert seen == [(2, 1, 12, 8)]
    torch.testing.assert_close(out, 2 * x + 0.5)


def test_load_prior_reads_weights_saved_with_singleton_kernel_axes(tmp_path):
    """Priors trained before the UNet's 1x1 skip convolutions became pointwise layers still load."""
    import types

    import torch
    from diffsci.config import load_config
    from diffsci.train import save_denoiser
    from diffsci_mri.harness.prior import load_prior
    cfg = load_config(DEFAULT_CONFIG)
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"channels": (8, 16), "attention_levels":
                                                                      (False, False), "norm_num_groups": 4})})
    net = cfg.model.build()
    torch.manual_seed(0)
    for p in net.parameters():
        p.data.normal_()
    old = {k: (v.reshape(*v.shape, 1, 1) if k.endswith("skip.weight") and v.ndim == 2 else v)
           for k, v in net.state_dict().items()}
    assert any(v.ndim == 4 and k.endswith("skip.weight") for k, v in old.items()) or \
        not any(k.endswith("skip.weight") for k in old)
    save_denoiser(types.SimpleNamespace(net=types.SimpleNamespace(state_dict=lambda: old)), cfg, tmp_path / "p",
                  sample_shape=(1, 16, 16))
    den, _ = load_prior(tmp_path / "p")
    for k, v in den.net.state_dict().items():
        torch.testing.assert_close(v, net.state_dict()[k])


def test_flair_baseline_finds_a_hyperintense_lesion_and_only_inside_the_brain():
    from diffsci.metrics import segmentation_metrics
    from diffsci_mri.harness.anomaly import flair_maps
    rng = np.random.default_rng(0)
    x = rng.normal(0.4, 0.02, (2, 4, 32, 32))
    lesion = np.zeros((2, 32, 32), bool)
    lesion[:, 10:18, 12:20] = True
    x[:, 0][lesion] += 0.5                         # FLAIR-hyperintense
    x[:, 1][lesion] -= 0.5                         # the other channels do not enter the map
    brain = np.ones((2, 32, 32), bool)
    brain[:, :, :4] = False
    x[:, 0, :, :4] = 5.0                           # bright outside the brain: must be ignored
    assert np.all(flair_maps(x, brain, 1.0)[~brain] == 0)
    x[:, :, :, :4] = 0.0                           # skull-stripped, as BraTS is
    m = flair_maps(x, brain, 1.0)
    seg = segmentation_metrics(m[brain], lesion[brain])
    assert seg["pixel_auroc"] > 0.97 and seg["best_dice"] > 0.8
