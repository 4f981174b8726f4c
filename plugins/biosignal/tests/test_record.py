"""A trained model applied to a whole record (diffsci_biosignal.record): windows, stitching, rates, leads, the
prior's Gaussian posterior, and the denoise-record / score-record tasks on tiny trained models."""

import csv
import json

import numpy as np
import pytest
import torch

from diffsci.config import DataConfig, DiffusionConfig, ExperimentConfig, SamplingConfig, TrainConfig, UNetConfig
from diffsci.diffusion import GaussianDenoiser
from diffsci_biosignal.io import read_csv, read_wfdb, write_csv, write_wfdb
from diffsci_biosignal.record import (denoise_record, model_window, overlap_add, overlap_windows, read_record,
                                      resolve_checkpoint)
from diffsci_biosignal.windows import unfold

K, L, FS_MODEL = 4, 32, 100.0              # fold, window and rate of the toy models


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _cfg(conditional=True, fs=FS_MODEL, length=L, k=K, sigma_data=0.25, kind="files", out_dir="unused", steps=3):
    return ExperimentConfig(
        name="toy", model=UNetConfig(spatial_dims=1, in_channels=k, cond_channels=k if conditional else 0,
                                     channels=(8, 16), num_res_blocks=1, attention_levels=(False, False),
                                     norm_num_groups=4),
        diffusion=DiffusionConfig(sigma_data=sigma_data),
        data=DataConfig(domain="biosignal", params={"kind": kind, "fs": fs, "length": length, "fold": k}),
        train=TrainConfig(steps=2, batch_size=4, warmup_steps=1, log_every=1, val_every=2, ckpt_every=2,
                          out_dir=str(out_dir)),
        sampling=SamplingConfig(sampler="euler", steps=steps, sigma_max=10.0))


class ConditionEcho(torch.nn.Module):
    """D(x, sigma, cond) = f(cond): ignores x, so the harness's Euler sampler returns f(cond) exactly (its last step
    to sigma 0 lands on D). Records the conditions it is called with."""

    def __init__(self, f=lambda c: c, length=L):
        super().__init__()
        self.f, self.seen = f, []
        self.sample_shape = (K, length // K)

    def forward(self, x, sigma, cond=None):
        self.seen.append(cond.channels.clone())
        assert x.shape[1:] == self.sample_shape and cond.channels.shape == x.shape
        return self.f(cond.channels.to(x.dtype))


def _record(t_samples, fs, leads=2, seed=0):
    """A band-limited record (mV): DC offset, slow drift and tones below fs / 6, different in each lead."""
    rng = np.random.default_rng(seed)
    t = np.arange(t_samples) / fs
    x = [rng.uniform(-1, 1) + 0.3 * np.sin(2 * np.pi * 0.2 * t + rng.uniform(0, 6))
         + sum(rng.uniform(0.1, 0.5) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (1.3, 4.7, fs / 7))
         for _ in range(leads)]
    return np.stack(x)


@pytest.mark.parametrize("length,hop,total", [(32, 16, 100), (32, 7, 33), (8, 5, 3), (512, 256, 10800)])
def test_overlap_add_of_the_windows_returns_the_signal(length, hop, total):
    x = np.random.default_rng(1).standard_normal((2, total))
    w, starts = overlap_windows(x, length, hop)
    assert w.shape == (len(starts), 2, length) and starts[0] == -(length // 2)
    assert starts[-1] + length >= total + length // 2            # the last sample sits no later than mid-window
    np.testing.assert_allclose(overlap_add(w, starts, total), x, atol=1e-12)
    # every window is the signal itself where it lies inside the record
    for win, s in zip(w, starts):
        lo, hi = max(s, 0), min(s + length, total)
        np.testing.assert_array_equal(win[:, lo - s:hi - s], x[:, lo:hi])


def test_identity_like_denoiser_returns_the_record_without_seams():
    den = ConditionEcho()
    x = _record(1003, FS_MODEL)                                   # 1003 samples: no whole number of hops
    y = denoise_record(den, _cfg(), x, FS_MODEL, shots=2, steps=3, baseline="input", progress=False)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, x, atol=2e-5)
    # what the model saw: folded windows of L samples minus their mean (the harness's noisy_condition)
    c = unfold(torch.cat(den.seen), K)[:, 0].double()
    np.testing.assert_allclose(c.mean(-1), 0, atol=1e-5)
    n_windows = int(np.ceil(1003 / (L // 2))) + 1
    assert len(c) == 2 * n_windows * 2 * 3                         # 2 leads x windows x 2 shots x 3 Euler steps


def test_model_baseline_removes_the_offset_and_a_linear_denoiser_scales():
    # a tone whose period (8 samples) divides the window: every window has mean 0 whatever its start, so the
    # model's estimate a * (w - mean w) stitches to a * tone, with the record's DC offset gone
    t = np.arange(800)
    tone = np.sin(2 * np.pi * t / 8)
    x = np.stack([1.7 + tone, -0.4 + 0.5 * tone])
    y = denoise_record(ConditionEcho(lambda c: 0.8 * c), _cfg(), x, FS_MODEL, shots=1, steps=2, progress=False)
    inner = slice(L, 800 - L)                                      # away from the mirrored ends
    np.testing.assert_allclose(y[:, inner], 0.8 * np.stack([tone, 0.5 * tone])[:, inner], atol=1e-5)
    y_in = denoise_record(ConditionEcho(lambda c: 0.8 * c), _cfg(), x, FS_MODEL, shots=1, steps=2, baseline="input",
                          progress=False)
    np.testing.assert_allclose(y_in[:, inner], (0.8 * np.stack([tone, 0.5 * tone]) + [[1.7], [-0.4]])[:, inner],
                               atol=1e-5)


def test_leads_are_denoised_one_by_one():
    f = lambda c: torch.tanh(3 * c) - 0.1 * c ** 2               # nonlinear: mixing leads would show
    x = _record(700, FS_MODEL, leads=2, seed=3)
    both = denoise_record(ConditionEcho(f), _cfg(), x, FS_MODEL, shots=1, steps=2, progress=False)
    for i in range(2):
        alone = denoise_record(ConditionEcho(f), _cfg(), x[i], FS_MODEL, shots=1, steps=2, progress=False)
        np.testing.assert_allclose(both[i], alone[0], atol=1e-6)


def test_a_record_at_another_rate_is_resampled_to_the_model_and_back():
    fs = 250.0
    x = _record(2501, fs, seed=2)               # 10 s at 250 Hz, tones up to 36 Hz; the model runs at 100 Hz
    den = ConditionEcho()
    y = denoise_record(den, _cfg(), x, fs, shots=1, steps=2, baseline="input", progress=False)
    assert y.shape == x.shape
    # the round trip 250 -> 100 -> 250 Hz keeps content below 50 Hz: the filters' ripple inside, more in the
    # outermost 0.1 s, where the mirrored extension of a 36 Hz tone is not that tone
    np.testing.assert_allclose(y[:, 25:-25], x[:, 25:-25], atol=5e-3)
    np.testing.assert_allclose(y, x, atol=0.1)
    tm = int(np.ceil(2501 * FS_MODEL / fs))                        # 1001 samples at the model's rate
    assert len(torch.cat(den.seen)) == 2 * (int(np.ceil(tm / (L // 2))) + 1) * 2   # leads x windows x steps
    # a 2 Hz tone at 250 Hz reaches the model as a 2 Hz tone at 100 Hz: 50 samples per period
    den = ConditionEcho(length=400)
    tone = np.sin(2 * np.pi * 2.0 * np.arange(2500) / fs)
    denoise_record(den, _cfg(length=400), tone, fs, shots=1, steps=2, progress=False)
    w = unfold(den.seen[0], K)[2, 0].numpy()                       # the third window lies inside the record
    assert np.argmax(np.abs(np.fft.rfft(w))) == 8                  # 400 samples / 50 per period


def test_prior_with_white_noise_gives_the_gaussian_posterior_mean():
    # prior N(0, v) per sample, noise std S = sqrt(v): the posterior mean of each median-removed window is y / 2
    v = 0.04
    prior = GaussianDenoiser(torch.zeros(K, L // K), var=v)
    prior.sample_shape = (K, L // K)
    cfg = _cfg(conditional=False, sigma_data=v ** 0.5, steps=24)
    x = _record(300, FS_MODEL, leads=1, seed=4)
    y = denoise_record(prior, cfg, x, FS_MODEL, noise_sigma=v ** 0.5, shots=64, progress=False,
                       generator=torch.Generator().manual_seed(0))
    w, starts = overlap_windows(x, L, L // 2)
    med = np.median(w, -1, keepdims=True)
    expect = overlap_add(0.5 * (w - med) + med, starts, x.shape[1])           # baseline "input" for a prior
    # posterior std sqrt(v / 2) = 0.14 per sample; 64 shots and ~2 windows per sample leave ~0.013
    assert np.sqrt(np.mean((y - expect) ** 2)) < 0.03
    assert np.sqrt(np.mean((y - x) ** 2)) > 0.1                   # it did shrink


def test_clear_errors():
    den = ConditionEcho()
    x = _record(200, FS_MODEL)
    x[1, 5] = np.nan
    with pytest.raises(ValueError, match="lead 1, sample 5"):
        denoise_record(den, _cfg(), x, FS_MODEL, progress=False)
    with pytest.raises(ValueError, match="takes no noise level"):
        denoise_record(den, _cfg(), _record(200, FS_MODEL), FS_MODEL, noise_sigma=0.1, progress=False)
    prior = GaussianDenoiser(torch.zeros(K, L // K), var=0.1)
    with pytest.raises(ValueError, match="unconditional prior"):
        denoise_record(prior, _cfg(conditional=False), _record(200, FS_MODEL), FS_MODEL, progress=False)
    with pytest.raises(ValueError, match="fold 2 but model.in_channels 4"):
        model_window(den, _cfg().model_copy(update={"data": DataConfig(domain="biosignal",
                                                                       params={"kind": "files", "fold": 2})}))
    mw = model_window(None, _cfg(kind="qtdb_noisy", k=8).model_copy(update={
        "data": DataConfig(domain="biosignal", params={"kind": "qtdb_noisy", "fold": 8, "noise": ["em"]})}))
    assert (mw.fs, mw.length, mw.fold, mw.conditional, mw.noise) == (360.0, 512, 8, True, ("em",))


def test_read_record_converts_units_and_refuses_non_voltages(tmp_path):
    x = _record(300, 100.0).astype(np.float32)
    write_csv(tmp_path / "r.csv", x, {"fs": 100.0, "sig_name": ["I", "II"]})
    loaded, suffix = read_record(tmp_path / "r.csv")
    assert suffix == ".csv" and loaded.array.shape == (2, 300) and loaded.meta["units"] == ["mV", "mV"]
    np.save(tmp_path / "r.npy", x * 1e3)
    with pytest.raises(ValueError, match="no sampling rate"):
        read_record(tmp_path / "r.npy")
    (tmp_path / "r.npy.json").write_text(json.dumps({"fs": 100.0, "units": ["uV", "uV"]}))
    np.testing.assert_allclose(read_record(tmp_path / "r.npy")[0].array, x, rtol=1e-5, atol=1e-6)   # uV -> mV
    (tmp_path / "r.npy.json").write_text(json.dumps({"fs": 100.0, "units": ["uV", "degC"]}))
    with pytest.raises(ValueError, match=r"lead 1 .* 'degC', not a voltage"):
        read_record(tmp_path / "r.npy")
    with pytest.raises(ValueError, match="unsupported format"):
        read_record(tmp_path / "r.txt")


# ----------------------------------------------------------------------------- the CLI tasks on tiny trained models
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-step conditional denoiser with the harness's geometry (QTDB beats: 512 at 360 Hz, fold 8) in a harness-like
    folder, and a 2-step prior of MIT-BIH-like beat windows (384 at 120 Hz, fold 8)."""
    from diffsci.data import ArrayDataset
    from diffsci.train import train
    from diffsci_biosignal.data import NoisyBeats

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("record_models")
    rng = np.random.default_rng(0)
    t = np.linspace(-1, 1, 512)
    clean = np.exp(-(t[None] - rng.uniform(-0.3, 0.3, (16, 1))) ** 2 / 0.001)
    den_cfg = _cfg(kind="qtdb_noisy", k=8, out_dir=tmp / "harness" / "models" / "denoise_mixed").model_copy(update={
        "data": DataConfig(domain="biosignal", params={"kind": "qtdb_noisy", "fold": 8, "noise": ["bw", "em", "ma"]})})
    train(den_cfg, dataset=NoisyBeats(clean, [rng.standard_normal(4000) * 0.1], fold=8), device="cpu", progress=False)
    prior_cfg = _cfg(conditional=False, kind="mitdb", k=8, out_dir=tmp / "prior").model_copy(update={
        "data": DataConfig(domain="biosignal", params={"kind": "mitdb", "fs": 120.0, "classes": ["N"]})})
    windows = rng.standard_normal((16, 8, 48)).astype(np.float32) * 0.3
    train(prior_cfg, dataset=ArrayDataset(windows), device="cpu", progress=False)
    return tmp


def _evaluate(task, *args):
    from diffsci.cli import main
    return main(["evaluate", "biosignal", task, "--device", "cpu", "--no-progress", *map(str, args)])


def test_denoise_record_task_writes_the_record_in_its_format(trained, tmp_path, capsys):
    x = _record(2500, 250.0).astype(np.float32)                    # 2 leads, 10 s at 250 Hz
    meta = {"fs": 250.0, "sig_name": ["MLII", "V1"], "units": ["mV", "mV"], "adc_gain": [200.0, 200.0],
            "baseline": [0, 0], "annotations": {"extension": "atr", "sample": np.array([100, 900]),
                                                "symbol": ["N", "V"]}}
    write_wfdb(tmp_path / "m2.hea", x, meta)
    out = tmp_path / "out"
    # the harness's output folder: its models/denoise_mixed is used
    assert _evaluate("denoise-record", "--checkpoint", trained / "harness", "--record", tmp_path / "m2.hea",
                     "--noise", "em", "--shots", 2, "--steps", 2, "--out", out) == 0
    back = read_wfdb(out / "m2_denoised.hea")
    assert back.array.shape == (2, 2500) and back.meta["fs"] == 250.0 and back.meta["sig_name"] == ["MLII", "V1"]
    assert back.meta["annotations"]["sample"].tolist() == [100, 900] and np.isfinite(back.array).all()
    rep = json.loads((out / "report.json").read_text())
    assert rep["task"] == "denoise-record" and rep["model"]["fs"] == 360.0 and rep["model"]["window"] == 512
    assert rep["settings"]["shots"] == 2 and rep["settings"]["hop"] == 256 and rep["record"]["fs"] == 250.0
    rows = {(r["setting"], r["metric"]): r["mean"] for r in rep["rows"]}
    for lead in ("MLII", "V1"):
        assert rows[(lead, "rms_raw_mv")] == pytest.approx(np.sqrt(np.mean(x[0 if lead == "MLII" else 1] ** 2.0)),
                                                           rel=1e-5)
        removed = np.sqrt(np.mean((x[0 if lead == "MLII" else 1] - back.array[0 if lead == "MLII" else 1]) ** 2.0))
        assert rows[(lead, "rms_removed_mv")] == pytest.approx(removed, abs=0.01)  # WFDB stores 1/200 mV steps
    assert (out / "denoised.png").exists()
    # CSV in, CSV out; a 1-lead record at the model's own rate
    write_csv(tmp_path / "one.csv", x[:1, :1000], {"fs": 360.0, "sig_name": ["II"]})
    assert _evaluate("denoise-record", "--checkpoint", trained / "harness" / "models" / "denoise_mixed", "--record",
                     tmp_path / "one.csv", "--shots", 1, "--steps", 2, "--out", tmp_path / "out1") == 0
    back = read_csv(tmp_path / "out1" / "one_denoised.csv")
    assert back.array.shape == (1, 1000) and back.meta["fs"] == pytest.approx(360.0)
    # the prior is no conditional denoiser: it needs the noise level
    capsys.readouterr()
    assert _evaluate("denoise-record", "--checkpoint", trained / "prior", "--record", tmp_path / "one.csv",
                     "--out", tmp_path / "out2") == 2
    assert "unconditional prior" in capsys.readouterr().err and not (tmp_path / "out2" / "report.json").exists()
    # ... and with the noise level it removes white noise under the prior (at the prior's 120 Hz)
    assert _evaluate("denoise-record", "--checkpoint", trained / "prior", "--record", tmp_path / "one.csv",
                     "--noise-sigma", 0.05, "--shots", 1, "--steps", 2, "--out", tmp_path / "out3") == 0
    rep = json.loads((tmp_path / "out3" / "report.json").read_text())
    assert rep["settings"]["baseline"] == "input" and rep["settings"]["sampler"] == "stochastic"
    assert read_csv(tmp_path / "out3" / "one_denoised.csv").array.shape == (1, 1000)


def test_resolve_checkpoint_picks_the_noise_model(tmp_path):
    m = tmp_path / "h" / "models"
    for n in ("denoise_bw", "denoise_em"):
        (m / n).mkdir(parents=True)
    assert resolve_checkpoint(tmp_path / "h", "denoise_*", ("denoise_em", "denoise_mixed")) == m / "denoise_em"
    with pytest.raises(ValueError, match="several models .*denoise_bw, denoise_em.* --noise"):
        resolve_checkpoint(tmp_path / "h", "denoise_*", ("denoise_ma", "denoise_mixed"))
    assert resolve_checkpoint(m / "denoise_bw", "denoise_*") == m / "denoise_bw"     # a run folder as it is


def test_score_record_task_reports_beats_in_the_records_samples(trained, tmp_path):
    from diffsci_biosignal.simulate import simulate_ecg
    fs = 360.0
    x = simulate_ecg(20.0, fs, 70.0, seed=1)[None].astype(np.float32)
    from diffsci_biosignal.windows import detect_rpeaks
    r = detect_rpeaks(x[0], fs)
    sym = ["N"] * len(r)
    sym[len(r) // 2] = "V"
    write_wfdb(tmp_path / "s.hea", x, {"fs": fs, "sig_name": ["MLII"], "units": ["mV"],
                                       "annotations": {"extension": "atr", "sample": r, "symbol": sym}})
    out = tmp_path / "score"
    assert _evaluate("score-record", "--checkpoint", trained / "prior", "--record", tmp_path / "s.hea",
                     "--out", out) == 0
    with open(out / "scores.csv") as f:
        rows = list(csv.DictReader(f))
    inside = r[(r >= 1.6 * fs) & (r + 1.6 * fs <= x.shape[1])]          # beats whose +-1.6 s window fits
    assert [int(row["sample_record"]) for row in rows] == inside.tolist()
    assert [int(row["sample_120hz"]) for row in rows] == np.round(inside / 3).astype(int).tolist()
    assert [row["aami"] for row in rows].count("V") == 1 and {"diffusion_recon_rr", "rr_prematurity"} <= set(rows[0])
    maps = np.load(out / "maps.npz")
    assert maps["map"].shape == (len(rows), 384) and maps["sample_record"].tolist() == inside.tolist()
    np.testing.assert_allclose(maps["map"][:, 192 - 36:192 + 36].mean(1),
                               [float(row["diffusion_recon"]) for row in rows], rtol=1e-4)
    rep = json.loads((out / "report.json").read_text())
    assert rep["beats"]["source"].startswith("annotations") and rep["beats"]["scored"] == len(rows)
    # no annotations (CSV): the R-peak detector finds the beats, in the record's samples
    write_csv(tmp_path / "s.csv", x, {"fs": fs, "sig_name": ["MLII"]})
    assert _evaluate("score-record", "--checkpoint", trained / "prior", "--record", tmp_path / "s.csv",
                     "--out", tmp_path / "score_csv") == 0
    with open(tmp_path / "score_csv" / "scores.csv") as f:
        got = np.array([int(row["sample_record"]) for row in csv.DictReader(f)])
    assert len(got) == len(inside) and np.abs(got - inside).max() <= 2
