"""``diffsci evaluate biosignal record-denoising``: its metrics, its noise rule, and a tiny run on real records."""

import json

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt

from diffsci_biosignal.harness.records import median_windows, noisy_segment, record_metrics


def test_record_metrics_against_hand_values():
    rng = np.random.default_rng(0)
    y = rng.standard_normal(1000)
    e = y + 0.25 * rng.standard_normal(1000)
    x = y + rng.standard_normal(1000)
    m = record_metrics(e, y, x)
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((e - y) ** 2)))
    assert m["prd"] == pytest.approx(100 * np.sqrt(np.sum((e - y) ** 2) / np.sum(y ** 2)))
    # SNR improvement = 10 log10 of the ratio of the input's error energy to the output's
    assert m["snr_improvement"] == pytest.approx(10 * np.log10(np.sum((x - y) ** 2) / np.sum((e - y) ** 2)))
    assert m["cos"] == pytest.approx(e @ y / np.linalg.norm(e) / np.linalg.norm(y))
    assert record_metrics(2 * y, y, x)["cos"] == pytest.approx(1.0)                 # blind to gain
    # aligned: each signal minus its median, so an offset of the estimate or the input changes nothing
    shifted = record_metrics(e + 0.3, y, x - 2.0)
    for k in ("rmse", "prd", "cos", "snr_improvement"):
        assert shifted[f"{k}_aligned"] == pytest.approx(m[f"{k}_aligned"])
    assert shifted["rmse"] == pytest.approx(np.sqrt(np.mean((e + 0.3 - y) ** 2))) and shifted["rmse"] > m["rmse"]
    a = e - np.median(e) - (y - np.median(y))
    assert m["prd_aligned"] == pytest.approx(100 * np.linalg.norm(a) / np.linalg.norm(y - np.median(y)))
    with pytest.raises(ValueError, match="1D of one length"):
        record_metrics(e[:10], y, x)


def test_noisy_segment_follows_the_amplitude_rule():
    clean = np.sin(np.linspace(0, 20, 500))
    noise = np.random.default_rng(1).standard_normal(3000)
    rs = np.random.RandomState(1234)
    ratios = []
    for _ in range(20):
        noisy, r = noisy_segment(clean, noise, rs)
        n = noisy - clean
        assert np.ptp(n) == pytest.approx(r * np.ptp(clean))             # peak-to-peak = r x the clean's
        assert 0.2 <= r <= 1.99 and r * 100 == pytest.approx(round(r * 100))
        # the added noise is one contiguous piece of the record, scaled (correlation 1 at one start)
        pieces = np.lib.stride_tricks.sliding_window_view(noise, len(clean))
        corr = (pieces - pieces.mean(1, keepdims=True)) @ (n - n.mean())
        corr /= np.linalg.norm(pieces - pieces.mean(1, keepdims=True), axis=1) * np.linalg.norm(n - n.mean())
        assert corr.max() == pytest.approx(1.0) and np.argmax(corr) < len(noise) - len(clean)
        ratios.append(r)
    ref = np.random.RandomState(1234)
    assert ratios[0] == ref.randint(20, 200) / 100                      # the ratio is drawn first, then the start
    with pytest.raises(ValueError, match="shorter than the segment"):
        noisy_segment(clean, noise[:400], rs)


def test_median_windows_removes_levels_and_keeps_what_has_median_zero():
    fs = 250.0
    t = np.arange(5000) / fs
    np.testing.assert_allclose(median_windows(np.full(5000, 0.7), fs, 360.0, 512, 256), 0.0, atol=5e-3)  # resampling ripple
    # spikes on a zero line (median 0 in every window) pass unchanged but for the resampling's ripple
    x = np.zeros(5000)
    x[100::200] = 1.0
    x = np.convolve(x, np.hanning(9) / np.hanning(9).max(), mode="same")
    y = median_windows(x, fs, 360.0, 512, 256)
    assert np.abs(y - x)[250:-250].max() < 0.05
    # the same spikes lifted by a step: the level goes, window by window
    z = median_windows(x + 0.3 * (t > 10), fs, 360.0, 512, 256)
    assert np.abs(z - x)[250:-250][np.abs(t[250:-250] - 10) > 1.5].max() < 0.05


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A 2-step conditional denoiser of 512-sample windows at 360 Hz, fold 8 (the record model's geometry)."""
    import torch

    from diffsci.config import (DataConfig, DiffusionConfig, ExperimentConfig, SamplingConfig, TrainConfig,
                                UNetConfig)
    from diffsci.train import train
    from diffsci_biosignal.data import NoisyBeats

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("records_model") / "run"
    cfg = ExperimentConfig(
        name="toy_records", model=UNetConfig(spatial_dims=1, in_channels=8, cond_channels=8, channels=(8, 16),
                                             num_res_blocks=1, attention_levels=(False, False), norm_num_groups=4),
        diffusion=DiffusionConfig(sigma_data=0.25),
        data=DataConfig(domain="biosignal", params={"kind": "qtdb_windows_noisy", "fs": 360.0, "length": 512,
                                                    "fold": 8, "noise": ["bw", "em", "ma"]}),
        train=TrainConfig(steps=2, batch_size=4, warmup_steps=1, log_every=1, val_every=2, ckpt_every=2,
                          out_dir=str(out)),
        sampling=SamplingConfig(sampler="euler", steps=2, sigma_max=10.0))
    rng = np.random.default_rng(0)
    train(cfg, dataset=NoisyBeats(rng.standard_normal((8, 512)) * 0.1, [rng.standard_normal(4000) * 0.1], fold=8),
          device="cpu", progress=False)
    return out


@pytest.mark.data
def test_record_denoising_harness_on_two_records(tmp_path, tiny_model, qtdb_root, nstdb_root, capsys):
    from diffsci.cli import main
    from diffsci_biosignal.io import read_wfdb
    from diffsci_biosignal.noise import deepfilter_noise_split, load_nstdb
    from diffsci_biosignal.resample import resample

    out = tmp_path / "rec"
    rc = main(["evaluate", "biosignal", "record-denoising", "--checkpoint", str(tiny_model), "--data",
               str(qtdb_root.parent), "--records", "sel123,sel233", "--seconds", "30,42", "--edge", "1", "--noise", "bw",
               "--shots", "2", "--steps", "2", "--out", str(out), "--device", "cpu", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    rep = json.loads((out / "report.json").read_text())
    rows = {(r["method"], r["setting"], r["metric"]): r for r in rep["rows"]}
    for m in ("diffusion", "fir", "iir", "wavelet", "truth_median_windows"):
        for metric in ("rmse", "prd", "cos", "snr_improvement", "prd_aligned", "snr_improvement_aligned"):
            assert rows[(m, "bw", metric)]["n"] == 2 and np.isfinite(rows[(m, "bw", metric)]["mean"])
    assert ("noisy", "bw", "snr_improvement") not in rows and (out / "record_examples.png").exists()
    # the noisy row, rebuilt by hand from the protocol: truth = the whole record high-passed, then the segment
    rec, nfs = load_nstdb(nstdb_root, "bw")
    rs = np.random.RandomState(1234)
    prds = []
    for r in ("sel123", "sel233"):
        raw = read_wfdb(qtdb_root / f"{r}.hea", annotation=None).array[0].astype(np.float64)
        truth = sosfiltfilt(butter(2, 0.5 / 125.0, "highpass", output="sos"), raw)[7500:10500]
        noisy, _ = noisy_segment(raw[7500:10500], resample(deepfilter_noise_split(rec, 1)[1][None], nfs, 250.0)[0], rs)
        prds.append(100 * np.linalg.norm((noisy - truth)[250:-250]) / np.linalg.norm(truth[250:-250]))
    assert rows[("noisy", "bw", "prd")]["mean"] == pytest.approx(np.mean(prds))
    assert ("noisy", "bw", "snr_improvement_aligned") not in rows
    assert rep["protocol"]["records"] == ["sel123", "sel233"] and rep["protocol"]["seconds"] == [30.0, 42.0]
    # a training record is refused by name (its truth would not be unseen)
    assert main(["evaluate", "biosignal", "record-denoising", "--checkpoint", str(tiny_model), "--records", "sel100",
                 "--out", str(tmp_path / "bad"), "--device", "cpu"]) != 0
    assert "--records: unknown sel100" in capsys.readouterr().err and not (tmp_path / "bad" / "report.json").exists()
    for flags, message in ((["--seconds", "30,40", "--edge", "5"], "B - A > 2 x --edge"),
                           (["--seconds", "30"], "expected A,B in seconds"),
                           (["--edge", "-1"], "--edge must be >= 0 seconds"),
                           (["--overlap", "1"], "--overlap must be in (0, 1)"),
                           (["--highpass", "0"], "--highpass must be > 0 Hz")):
        assert main(["evaluate", "biosignal", "record-denoising", "--checkpoint", str(tiny_model), *flags,
                     "--out", str(tmp_path / "bad"), "--device", "cpu"]) != 0
        assert message in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.data
def test_record_denoising_trains_the_record_config_without_a_checkpoint(tmp_path, qtdb_root, nstdb_root, capsys):
    from diffsci.cli import main
    from diffsci.train import load_denoiser

    out = tmp_path / "rq"
    rc = main(["evaluate", "biosignal", "record-denoising", "--quick", "--train-steps", "2", "--records", "sel123",
               "--noise", "ma", "--data", str(qtdb_root.parent), "--out", str(out), "--device", "cpu", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    rep = json.loads((out / "report.json").read_text())
    assert rep["model"]["checkpoint"] == str(out / "models" / "records_quick") and rep["model"]["train_steps"] == 2
    _, cfg = load_denoiser(out / "models" / "records_quick")
    # the shipped record config (windows of whole records with real noise), made small by --quick
    assert (cfg.data.params["kind"], cfg.model.channels, rep["model"]["kind"]) == \
        ("qtdb_windows_noisy", (32, 64, 64), "qtdb_windows_noisy")
    assert rep["protocol"]["seconds"] == [30.0, 50.0] and rep["sampling"]["shots"] == 2
