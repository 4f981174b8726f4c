"""data.params schema and datasets: validation errors, reproducible noisy pairs, the amplitude and SNR rules."""

import numpy as np
import pytest
from pydantic import ValidationError

from diffsci_biosignal.data import BiosignalData, NoisyBeats, SyntheticNoisyBeats, make_dataset, noisy_condition
from diffsci_biosignal.io import write_csv, write_npy
from diffsci_biosignal.noise import snr_db
from diffsci_biosignal.windows import unfold


def test_schema_rejects_typos_and_bad_values():
    with pytest.raises(ValidationError, match="extra"):
        BiosignalData(kind="mitdb", lenght=10)
    with pytest.raises(ValidationError):
        BiosignalData(kind="mitdb", classes=["X"])
    with pytest.raises(ValidationError):
        BiosignalData(fs=-1)


def test_noisy_beats_follow_the_amplitude_rule_and_are_reproducible():
    rng = np.random.default_rng(0)
    clean = rng.standard_normal((5, 64))
    noise = np.cumsum(rng.standard_normal(5000)) * 0.1 + 3.0           # a drifting record with an offset
    ds = NoisyBeats(clean, [noise], draws=2, seed=7, fold=8)
    assert len(ds) == 10
    for i in range(len(ds)):
        x, y = ds.pair(i)
        np.testing.assert_array_equal(x, clean[i % 5])
        r = np.ptp(y - x) / np.ptp(x)
        assert 0.2 <= r <= 1.99 and abs(r * 100 - round(r * 100)) < 1e-9     # ratio on the 0.01 grid
        item = ds[i]
        assert item["x"].shape == (8, 8) and item["channels"].shape == (8, 8)
        np.testing.assert_allclose(unfold(item["x"].numpy(), 8)[0], x, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(unfold(item["channels"].numpy(), 8)[0], noisy_condition(y[None])[0], atol=1e-5)
    np.testing.assert_array_equal(ds.pair(3)[1], NoisyBeats(clean, [noise], draws=2, seed=7).pair(3)[1])
    assert abs(float(ds[0]["channels"].mean())) < 1e-5                       # the offset is removed


def test_synthetic_noisy_beats_hit_the_snr_range():
    clean = np.sin(np.linspace(0, 20, 256))[None].repeat(3, 0)
    ds = SyntheticNoisyBeats(clean, 180.0, snr_db=(0.0, 6.0), draws=4, seed=1)
    snrs = [float(snr_db(x, y - x)) for x, y in (ds.pair(i) for i in range(len(ds)))]
    assert min(snrs) >= 0.0 - 1e-9 and max(snrs) <= 6.0 + 1e-9


def test_files_dataset_windows(tmp_path):
    t = np.arange(2000) / 200.0
    write_csv(tmp_path / "a.csv", np.sin(2 * np.pi * t)[None].astype(np.float32), {"fs": 200.0, "sig_name": ["II"]})
    ds = make_dataset(BiosignalData(kind="files", files=[str(tmp_path / "a.csv")], fs=100.0, length=50), "train")
    assert len(ds) == 20 and tuple(ds[0]["x"].shape) == (1, 50)               # 10 s at 100 Hz in 50-sample windows
    with pytest.raises(ValueError, match="give the signal files"):
        make_dataset(BiosignalData(kind="files"), "train")
    with pytest.raises(ValueError, match="unknown split"):
        make_dataset(BiosignalData(kind="files", files=["x"]), "dev")


def test_files_dataset_reads_time_by_channel_arrays_and_names_the_file(tmp_path):
    x = np.sin(np.linspace(0, 60, 2000))[:, None].repeat(2, 1).astype(np.float32)     # (T, C)
    np.save(tmp_path / "tc.npy", x)
    (tmp_path / "tc.npy.json").write_text('{"fs": 200.0}')
    with pytest.warns(UserWarning, match="transposing"):
        ds = make_dataset(BiosignalData(kind="files", files=[str(tmp_path / "tc.npy")], fs=100.0, length=50))
    assert len(ds) == 20                                                              # 2000 samples, not 2
    write_npy(tmp_path / "short.npy", x[:100].T, {"fs": 200.0})
    with pytest.raises(ValueError, match=r"short.npy: signal of 50 samples is shorter than one window of 384"):
        make_dataset(BiosignalData(kind="files", files=[str(tmp_path / "short.npy")], fs=100.0))
    write_npy(tmp_path / "odd.npy", x.T, {"fs": 200.0001})
    with pytest.raises(ValueError, match=r"odd.npy: cannot resample 200.0001 -> 100"):
        make_dataset(BiosignalData(kind="files", files=[str(tmp_path / "odd.npy")], fs=100.0, length=50))
    with pytest.raises(ValueError, match=r"odd.npy: data.params.lead is 2 but the file has 2 channels"):
        make_dataset(BiosignalData(kind="files", files=[str(tmp_path / "odd.npy")], fs=100.0, lead=2))


@pytest.mark.data
def test_mitdb_dataset_of_normal_beats(mitdb_root):
    ds = make_dataset(BiosignalData(kind="mitdb", root=str(mitdb_root), records=["101"], classes=["N"], labels=True),
                      "train")
    assert len(ds) > 1800 and tuple(ds[0]["x"].shape) == (1, 384) and int(ds[0]["label"]) == 0
    # rhythm-normalised windows: the same beats; 101's usual RR (~0.9 s) differs from 1 s, so the windows differ
    # outside the QRS and agree inside it (windows.rhythm_time_map keeps +-0.15 s; the plain windows' centre is
    # rounded to a whole sample, hence a correlation, not equality)
    params = dict(kind="mitdb", root=str(mitdb_root), records=["101"], classes=["N"], labels=True)
    rh = make_dataset(BiosignalData(**params, rhythm_ref_s=1.0), "train")
    assert abs(len(rh) - len(ds)) <= 2
    a, b = ds[100]["x"][0].numpy(), rh[100]["x"][0].numpy()
    assert np.corrcoef(a[174:210], b[174:210])[0, 1] > 0.9 and np.corrcoef(a[:100], b[:100])[0, 1] < 0.5
    with pytest.raises(ValueError, match="rhythm_ref_s"):
        BiosignalData(kind="mitdb", rhythm_ref_s=0.1)


def test_record_windows_are_high_passed_median_free_and_named(tmp_path):
    """qtdb_record_windows on a tiny WFDB folder: a 0.05 Hz drift of 2 mV is gone, a 6 Hz wave of 1 mV stays."""
    from diffsci_biosignal.io import write_wfdb
    from diffsci_biosignal.qtdb import qtdb_record_windows
    fs = 250.0
    t = np.arange(int(60 * fs)) / fs
    wave = np.sin(2 * np.pi * 6 * t)
    for name, drift in (("a", 2.0), ("b", 0.0)):
        x = (wave + drift * np.sin(2 * np.pi * 0.05 * t))[None].astype(np.float32)
        write_wfdb(tmp_path / f"{name}.hea", x, {"fs": fs, "sig_name": ["MLII"], "units": ["mV"]})
    w, names = qtdb_record_windows(tmp_path, ["b", "a"], fs_out=360.0, length=512)
    assert w.shape == (2 * (60 * 360 // 512), 512) and names.tolist() == ["a"] * 42 + ["b"] * 42
    np.testing.assert_allclose(np.median(w, axis=1), 0, atol=1e-12)
    mid = slice(10, 32)                                             # away from the filter's record edges
    ta = np.arange(512) / 360.0
    for k in range(mid.start, mid.stop):                            # the drift is gone: windows a == windows b
        np.testing.assert_allclose(w[k], w[42 + k], atol=0.02)
    k = mid.stop - 1                                                # and the wave is kept (gain ~1 at 6 Hz)
    ref = np.sin(2 * np.pi * 6 * (ta + k * 512 / 360.0))
    np.testing.assert_allclose(w[42 + k], ref - np.median(ref), atol=0.02)   # windows are median-free already
    kept = qtdb_record_windows(tmp_path, ["a"], fs_out=360.0, length=512, highpass_hz=None)[0]
    assert np.abs(kept[mid] - w[42:][mid]).max() > 0.3              # without the high-pass the drift's slope stays
    with pytest.raises(ValueError, match="holds a 100000-sample window"):
        qtdb_record_windows(tmp_path, ["a"], length=100_000)


@pytest.mark.data
def test_record_window_dataset_and_its_model_window(qtdb_root, nstdb_root):
    """The shipped config's data: windows of whole training records with real noise, and the record task's view."""
    from pathlib import Path

    from diffsci.config import load_config
    from diffsci_biosignal.record import model_window
    cfg = load_config(Path(__file__).parents[3] / "configs" / "biosignal_records.yaml")
    params = BiosignalData(**{**cfg.data.params, "records": ["sel100", "sel102"], "draws": 2})
    ds = make_dataset(params, "train")
    assert len(ds) == 2 * 2 * (900 * 360 // 512) and ds.sources[0] == "sel100"
    assert ds[5]["x"].shape == (8, 64) and ds[5]["channels"].shape == (8, 64)
    mw = model_window(None, cfg)
    assert (mw.fs, mw.length, mw.fold, mw.conditional, mw.noise) == (360.0, 512, 8, True, ("bw", "em", "ma"))
