"""``diffsci reconstruct`` end to end on a tiny (untrained) prior, and its error messages."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from diffsci.cli import main
from diffsci.config import DataConfig, ExperimentConfig, SamplingConfig, UNetConfig
from diffsci.operators import GRAMMAR


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from diffsci.train import save_denoiser
    cfg = ExperimentConfig(
        name="tiny-1d",
        model=UNetConfig(spatial_dims=1, in_channels=1, channels=(8,), attention_levels=(False,),
                         num_res_blocks=1, norm_num_groups=4),
        data=DataConfig(domain="synthetic"), sampling=SamplingConfig(steps=3))
    torch.manual_seed(0)
    net = cfg.model.build()
    path = tmp_path_factory.mktemp("ckpt") / "export"
    save_denoiser(cfg.diffusion.build_denoiser(net), cfg, path, sample_shape=(1, 16))
    return path


@pytest.fixture()
def files(tmp_path):
    mask = np.array([1, 0, 0, 1] * 4, dtype=np.float32)
    np.save(tmp_path / "mask.npy", mask)
    x = np.sin(np.linspace(0, 3, 16)).astype(np.float32)
    np.save(tmp_path / "y.npy", (mask * x)[None])                       # (C, L): one measurement
    np.save(tmp_path / "k.npy", (mask * np.fft.fft(x, norm="ortho")).astype(np.complex64)[None, None])
    return tmp_path


def test_data_consistency_keeps_the_measured_samples(checkpoint, files, capsys):
    out = files / "out"
    rc = main(["reconstruct", "--checkpoint", str(checkpoint), "--operator", f"mask:{files / 'mask.npy'}",
               "--measurement", str(files / "y.npy"), "--method", "dc", "--shots", "3", "--steps", "3",
               "--out", str(out), "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err
    mean, std, samples = (np.load(out / f"{n}.npy") for n in ("mean", "std", "samples"))
    assert mean.shape == (1, 16) and std.shape == (1, 16) and samples.shape == (3, 1, 16)
    y, m = np.load(files / "y.npy"), np.load(files / "mask.npy").astype(bool)
    assert np.allclose(samples[:, 0, m], y[0, m], atol=1e-6)               # hard DC: measured samples kept
    assert np.allclose(std[0, m], 0, atol=1e-6) and (std[0, ~m] > 0).all()
    assert np.allclose(mean, samples.mean(0), atol=1e-6)
    info = json.loads((out / "reconstruct.json").read_text())
    assert info["nfe_per_sample"] == 5 and info["relative_residual_of_mean"] < 1e-5
    assert all((out / f).exists() for f in ("mean.png", "std.png", "samples.png"))


@pytest.mark.parametrize("method", ["dps", "pigdm", "diffpir"])
def test_kspace_methods_run(checkpoint, files, method):
    out = files / method
    rc = main(["reconstruct", "--checkpoint", str(checkpoint), "--operator",
               f"fourier:mask={files / 'mask.npy'},sigma=0.01", "--measurement", str(files / "k.npy"),
               "--method", method, "--shots", "2", "--steps", "2", "--out", str(out), "--device", "cpu"])
    assert rc == 0
    assert np.load(out / "samples.npy").shape == (1, 2, 1, 16)            # batched input (N, C, L)
    assert np.isfinite(np.load(out / "mean.npy")).all()


def _err(capsys, argv) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


def test_errors(checkpoint, files, capsys):
    base = ["reconstruct", "--checkpoint", str(checkpoint), "--out", str(files / "e"), "--device", "cpu"]
    err = _err(capsys, base + ["--operator", "mask:random=lots", "--measurement", str(files / "y.npy")])
    assert "random=lots is not a number" in err and GRAMMAR.splitlines()[0] in err
    err = _err(capsys, base + ["--operator", f"mask:{files / 'mask.npy'}", "--measurement", str(files / "k.npy")])
    assert "complex data cannot be given to a real model" in err and "k.npy" in err
    np.save(files / "short.npy", np.zeros((1, 12), np.float32))
    err = _err(capsys, base + ["--operator", f"mask:{files / 'mask.npy'}", "--measurement", str(files / "short.npy")])
    assert "(1, 12)" in err and "short.npy" in err
    err = _err(capsys, base + ["--operator", "identity", "--measurement", str(files / "nope.npy")])
    assert "nope.npy" in err
    err = _err(capsys, base + ["--operator", f"fourier:{files / 'mask.npy'}", "--measurement", str(files / "y.npy")])
    assert "makes complex measurements" in err
    assert main(["reconstruct", "--help-operators"]) == 0 and GRAMMAR in capsys.readouterr().out


def test_domain_format_in_and_out(tmp_path, monkeypatch, capsys):
    """A measurement in a domain format is read by the domain's reader and the results written back in it."""
    import diffsci.domains as domains
    from diffsci.domains import Domain, Loaded
    from diffsci.io import load_array, save_array
    from diffsci.train import save_denoiser

    monkeypatch.setattr(domains, "_REGISTRY", dict(domains._REGISTRY))
    monkeypatch.setattr(domains, "_DISCOVERED", True)            # no plugin discovery in this test
    domains.register_domain(Domain(name="toy-h5", spatial_dims=(1,),
                                   readers={".h5": lambda p: Loaded(*load_array(p))},
                                   writers={".h5": lambda p, a, m: save_array(p, a, m)}))
    cfg = ExperimentConfig(name="toy", model=UNetConfig(spatial_dims=1, in_channels=1, channels=(8,),
                                                        attention_levels=(False,), num_res_blocks=1,
                                                        norm_num_groups=4),
                           data=DataConfig(domain="toy-h5"), sampling=SamplingConfig(steps=2))
    ck = save_denoiser(cfg.diffusion.build_denoiser(cfg.model.build()), cfg, tmp_path / "ck")
    save_array(tmp_path / "y.h5", np.ones((1, 8), np.float32), {"units": "mV"})
    rc = main(["reconstruct", "--checkpoint", str(ck), "--operator", "identity:sigma=0.1", "--measurement",
               str(tmp_path / "y.h5"), "--shots", "2", "--out", str(tmp_path / "o"), "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err
    mean, meta = load_array(tmp_path / "o" / "mean.h5")
    samples, _ = load_array(tmp_path / "o" / "samples.h5")
    assert mean.shape == (1, 8) and samples.shape == (2, 1, 8) and meta["units"] == "mV"
