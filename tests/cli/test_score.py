"""``diffsci score`` end to end on an untrained EDM UNet, whose denoiser is exactly that of N(0, sigma_data^2 I).

The UNet's output layer is zero-initialised, so F = 0 and D(x, sigma) = c_skip x = sigma_d^2/(sigma^2 + sigma_d^2) x:
the Tweedie denoiser of N(0, sigma_d^2 I). Its NLL is therefore known in closed form.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from diffsci.cli import main
from diffsci.config import DataConfig, DiffusionConfig, ExperimentConfig, UNetConfig

SD = 0.5


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from diffsci.train import save_denoiser
    cfg = ExperimentConfig(
        name="tiny-1d", diffusion=DiffusionConfig(sigma_data=SD),
        model=UNetConfig(spatial_dims=1, in_channels=1, channels=(8, 8), attention_levels=(False, False),
                         num_res_blocks=1, norm_num_groups=4),
        data=DataConfig(domain="synthetic"))
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "export"
    save_denoiser(cfg.diffusion.build_denoiser(cfg.model.build()), cfg, path, sample_shape=(1, 16))
    return path


def _gauss_bpd(x: np.ndarray) -> np.ndarray:
    x = x.reshape(len(x), -1).astype(np.float64)
    d = x.shape[1]
    nll = 0.5 * (x ** 2).sum(1) / SD ** 2 + 0.5 * d * math.log(2 * math.pi * SD ** 2)
    return nll / (d * math.log(2))


def _rows(out):
    with open(out / "scores.csv") as f:
        return list(csv.DictReader(f))


def test_nll_scores_match_the_closed_form(checkpoint, tmp_path):
    rng = np.random.default_rng(0)
    x = (SD * rng.standard_normal((3, 1, 16))).astype(np.float32)
    x[2, 0, 5] += 3.0                                          # an anomaly
    np.save(tmp_path / "batch.npy", x)
    np.save(tmp_path / "single.npy", x[0])                      # (C, L): one sample
    out = tmp_path / "out"
    assert main(["score", "--checkpoint", str(checkpoint), "--input", str(tmp_path), "--out", str(out),
                 "--method", "nll", "--steps", "3", "--device", "cpu"]) == 0
    rows = _rows(out)
    assert [(r["file"].endswith("batch.npy"), r["index"]) for r in rows] == \
        [(True, "0"), (True, "1"), (True, "2"), (False, "0")]
    got = np.array([float(r["score"]) for r in rows])
    np.testing.assert_allclose(got, _gauss_bpd(np.concatenate([x, x[:1]])), atol=2e-3)
    assert got[2] > got[:2].max()
    report = json.loads((out / "scores.json").read_text())
    assert report["method"] == "nll" and report["settings"]["divergence"] == "auto" and len(report["samples"]) == 4


def test_recon_maps_in_the_input_format_and_calibration(checkpoint, tmp_path):
    from diffsci.domains import get_domain
    rng = np.random.default_rng(1)
    normal = (SD * rng.standard_normal((12, 1, 16))).astype(np.float32)
    test = (SD * rng.standard_normal((2, 1, 16))).astype(np.float32)
    test[1, 0, 9] += 4.0
    (tmp_path / "ref").mkdir()
    np.save(tmp_path / "ref" / "normal.npy", normal)
    dom = get_domain("synthetic")
    dom.write(tmp_path / "test.h5", test, {"note": "kept"})
    out = tmp_path / "out"
    assert main(["score", "--checkpoint", str(checkpoint), "--input", str(tmp_path / "test.h5"), "--out", str(out),
                 "--method", "recon", "--repeats", "8", "--reference", str(tmp_path / "ref"),
                 "--sigmas", "0.2,0.5"]) == 0
    rows = _rows(out)
    assert float(rows[1]["score"]) > float(rows[0]["score"])
    assert float(rows[1]["p_value"]) == pytest.approx(1 / 13)    # above all 12 normal scores
    m = dom.read(out / "maps" / "test_map.h5")
    assert m.array.shape == test.shape and m.meta["note"] == "kept"
    assert int(np.argmax(m.array[1, 0])) == 9
    z = dom.read(out / "maps" / "test_zmap.h5").array
    assert z.shape == test.shape and z[1, 0, 9] > 5


def test_elbo_method_runs_and_ranks(checkpoint, tmp_path):
    x = np.zeros((2, 1, 16), np.float32)
    x[1] += 2.0
    np.save(tmp_path / "x.npy", x)
    assert main(["score", "--checkpoint", str(checkpoint), "--input", str(tmp_path / "x.npy"), "--out",
                 str(tmp_path / "o"), "--method", "elbo", "--steps", "8", "--repeats", "2"]) == 0
    s = [float(r["score"]) for r in _rows(tmp_path / "o")]
    assert s[1] > s[0] + 1.0


def test_errors_name_the_problem(checkpoint, tmp_path, capsys):
    np.save(tmp_path / "img.npy", np.zeros((2, 1, 8, 8), np.float32))
    assert main(["score", "--checkpoint", str(checkpoint), "--input", str(tmp_path / "img.npy"),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "img.npy" in err and "spatial_dims=1" in err and "(2, 1, 8, 8)" in err
    np.save(tmp_path / "ch.npy", np.zeros((2, 3, 16), np.float32))
    assert main(["score", "--checkpoint", str(checkpoint), "--input", str(tmp_path / "ch.npy"),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "3 channels" in err and "in_channels=1" in err
    bad = np.zeros((3, 1, 16), np.float32)
    bad[2, 0, 4] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    assert main(["score", "--checkpoint", str(checkpoint), "--input", str(tmp_path / "nan.npy"),
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "nan.npy" in err and "sample 2" in err
    assert main(["score", "--checkpoint", str(checkpoint), "--input", str(tmp_path / "missing"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
