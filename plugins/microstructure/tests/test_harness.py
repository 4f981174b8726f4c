"""Smoke tests of the harnesses on tiny synthetic data (a porespy blobs volume, a 2-step prior)."""

import argparse
import json

import numpy as np
import pytest

from diffsci_microstructure.data import MicrostructureData
from diffsci_microstructure.harness import add_harness_args, run_generation, run_reconstruction
from diffsci_microstructure.io import read_volume


def _args(tmp_path, task, **kw):
    p = argparse.ArgumentParser()
    p.add_argument("--out")
    p.add_argument("--data", default=None)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    add_harness_args(task, p)
    ns = p.parse_args(["--out", str(tmp_path / task), "--quick", "--size", "16", "--n", "2", "--steps", "2",
                       "--tile", "8", "--prior-steps", "2"])
    for k, v in kw.items():
        setattr(ns, k, v)
    return ns


@pytest.fixture(scope="module")
def data():
    return MicrostructureData(source="blobs", blobs_size=64, blobs_porosity=0.3, voxel_size=2e-6,
                              test_fraction=0.5, val_fraction=0.25)


@pytest.mark.slow
def test_generation_report_is_complete(tmp_path, data, monkeypatch):
    import diffsci_microstructure.harness as harness
    from diffsci_microstructure.control import PorosityCalibration
    fits = []

    def identity_calibration(sample):                             # the 2-step prior ignores its condition
        fits.append(sample(0.2, 0))                               # the harness's sampler runs at a condition
        return PorosityCalibration(0.0, 1.0)
    monkeypatch.setattr(harness, "calibrate_porosity", identity_calibration)
    args = _args(tmp_path, "generation", targets="0.2,0.4", n_control=1, control_size=8)
    report = run_generation(args, data, published=True)
    out = tmp_path / "generation"
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["rows"] == report["rows"] and (out / "report.md").exists() and (out / "generation.png").exists()
    rows = {(r["method"], r["metric"]) for r in report["rows"]}
    for method in ("real", "diffusion"):
        for metric in ("porosity", "s2_mae_rel", "specific_surface", "permeability_md", "euler", "seam_s2_mae_rel"):
            assert (method, metric) in rows, (method, metric)
    assert ("diffusion_cfg1", "control_error") in rows
    cal = report["control"]["calibrated"][1.0]
    assert len(fits) == 1 and len(fits[0]) == 1 and 0 < fits[0][0] < 1             # n_control porosities
    assert cal["asked"] == pytest.approx([0.2, 0.4]) and ("diffusion_cfg1_calibrated", "control_error") in rows
    assert "porosity-control error below 0.005, calibrated condition" in report["targets"]
    assert ("published_gan", "permeability_md") in rows and ("published_real", "porosity") in rows
    real_phi = next(r for r in report["rows"] if r["method"] == "real" and r["metric"] == "porosity")
    assert 0.15 < real_phi["mean"] < 0.45 and real_phi["n"] == 2
    assert set(report["targets"]) and all("met" in v for v in report["targets"].values())
    gen = read_volume(out / "generated_000.tif")                   # written in the coding of the input
    assert gen.array.shape == (1, 16, 16, 16) and set(np.unique(gen.array)) <= {0, 255}


@pytest.mark.slow
def test_reconstruction_reproduces_the_slice(tmp_path, data):
    report = run_reconstruction(_args(tmp_path, "reconstruction", checkpoint=None), data)
    mismatch = next(r for r in report["rows"] if r["method"] == "diffusion_dc" and r["metric"] == "slice_mismatch")
    assert mismatch["mean"] == 0.0
    assert (tmp_path / "reconstruction" / "reconstruction.png").exists()


def test_full_mode_without_a_prior_is_a_clear_error(tmp_path, data, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = _args(tmp_path, "generation", quick=False)
    with pytest.raises(FileNotFoundError, match="no trained prior"):
        run_generation(args, data)


def test_cli_lists_the_harness_options(capsys):
    from diffsci.cli import main
    with pytest.raises(SystemExit) as e:
        main(["evaluate", "microstructure", "generation", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--checkpoint", "--tile", "--targets", "--perm-size", "--voxel-size", "--weights"):
        assert opt in out
