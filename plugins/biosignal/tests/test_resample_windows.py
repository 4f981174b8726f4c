"""Resampling and windows: exact lengths, a sinusoid keeps its frequency, windows index what they say."""

import numpy as np
import pytest

from diffsci_biosignal.resample import poly_filter, rational_factor, resample, resample_samples
from diffsci_biosignal.windows import (beat_windows, denormalise, detect_rpeaks, fixed_windows, fold, normalise,
                                      rhythm_time_map, rhythm_windows, unfold)


def test_rational_factors():
    assert rational_factor(250, 360) == (36, 25)
    assert rational_factor(360, 120) == (1, 3)
    with pytest.raises(ValueError, match="positive"):
        rational_factor(0, 360)


def test_resample_preserves_a_sinusoid_and_matches_scipy_default():
    from scipy.signal import resample_poly
    t_in = np.arange(2500) / 250.0
    x = np.sin(2 * np.pi * 5.0 * t_in)
    y = resample(x, 250, 360)
    assert len(y) == 3600
    t_out = np.arange(3600) / 360.0
    inner = slice(200, -200)                                  # away from the edges of the FIR
    np.testing.assert_allclose(y[inner], np.sin(2 * np.pi * 5.0 * t_out)[inner], atol=2e-3)
    np.testing.assert_array_equal(y, resample_poly(x, 36, 25))   # the cached filter is scipy's default one
    assert poly_filter(36, 25) is poly_filter(36, 25)


def test_resample_samples():
    assert resample_samples(np.array([0, 25, 250]), 250, 360).tolist() == [0, 36, 360]


def test_fixed_and_beat_windows():
    x = np.arange(20.0)[None]
    w, starts = fixed_windows(x, 5)
    assert w.shape == (4, 1, 5) and starts.tolist() == [0, 5, 10, 15]
    np.testing.assert_array_equal(w[2, 0], np.arange(10, 15))
    w, kept = beat_windows(np.stack([x[0], -x[0]]), np.array([2, 8, 19]), 3, 2)
    assert kept.tolist() == [1] and w.shape == (1, 2, 5)
    np.testing.assert_array_equal(w[0, 1], -np.arange(5, 10))
    with pytest.raises(ValueError, match="shorter than one window"):
        fixed_windows(x, 50)
    with pytest.raises(ValueError, match=r"shape \(1000, 2\) looks like \(T, C\): transpose it"):
        fixed_windows(np.zeros((1000, 2)), 256)


def test_rhythm_time_map_sends_the_usual_rr_to_the_reference():
    t = np.linspace(-1.6, 1.6, 321)
    for rr in (0.5, 0.8, 1.3):
        m = rhythm_time_map(t, rr, ref_s=1.0, core_s=0.15)
        assert np.all(np.diff(m) > 0)                                           # monotone: no sample folds back
        np.testing.assert_allclose(m[np.abs(t) <= 0.15], t[np.abs(t) <= 0.15])  # the QRS keeps its time scale
        # the inverse at -1 s: t_in = -(0.15 + 0.85 a), a = (rr - 0.15) / 0.85, i.e. exactly -rr
        assert rhythm_time_map(np.array([-1.0, 1.0]), rr).tolist() == pytest.approx([-rr, rr])
    np.testing.assert_allclose(rhythm_time_map(t, 1.0), t)                      # the reference rhythm: identity
    assert rhythm_time_map(np.array([1.0]), 5.0)[0] == pytest.approx(2.0)      # clipped at 2 s (30 bpm)
    with pytest.raises(ValueError, match="core_s"):
        rhythm_time_map(t, 0.8, ref_s=0.1, core_s=0.15)


def test_rhythm_windows_put_the_neighbouring_r_peaks_at_the_reference():
    fs, before = 120.0, 192
    for rr in (0.5, 0.75, 1.2):                                                 # 120, 80, 50 bpm
        t = np.arange(int(30 * fs)) / fs
        r = np.arange(2.0, 28.0, rr)
        x = np.exp(-0.5 * ((t[:, None] - r[None]) / 0.01) ** 2).sum(1)[None]   # narrow unit pulses at the R peaks
        centres = r[5:8] * fs
        w, kept = rhythm_windows(x, centres, fs, before, before, np.full(3, rr), ref_s=1.0)
        assert kept.tolist() == [0, 1, 2] and w.shape == (3, 1, 2 * before)
        for win in w[:, 0]:
            assert abs(int(np.argmax(win[:before - 30])) - (before - 120)) <= 1   # previous R at -1 s
            assert abs(int(np.argmax(win[before + 30:])) + before + 30 - (before + 120)) <= 1  # next R at +1 s
            assert win[before] == pytest.approx(1.0, abs=1e-6)
    # the reference rhythm gives beat_windows' windows; windows past the record's ends are dropped
    x = np.random.default_rng(0).normal(size=(2, 600))
    c = np.array([10, 200, 300, 590])
    w, kept = rhythm_windows(x, c.astype(float), fs, 40, 50, np.ones(4), ref_s=1.0)
    w0, kept0 = beat_windows(x, c, 40, 50)
    assert kept.tolist() == kept0.tolist() == [1, 2]
    np.testing.assert_allclose(w, w0)
    with pytest.raises(ValueError, match="shape"):
        rhythm_windows(x, c.astype(float), fs, 40, 50, np.ones(3))


@pytest.mark.parametrize("mode", ["none", "median", "zscore", "minmax"])
def test_normalise_round_trip(mode):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 2, 50)).astype(np.float32) * 3 + 1
    y, p = normalise(w, mode)
    np.testing.assert_allclose(denormalise(y, p), w, rtol=1e-5, atol=1e-5)
    if mode == "median":
        np.testing.assert_allclose(np.median(y, -1), 0, atol=1e-6)
    if mode == "minmax":
        assert y.max() == pytest.approx(1.0) and y.min() == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="unknown normalisation"):
        normalise(w, "bogus")


def test_rpeak_detector_finds_simulated_beats():
    import neurokit2 as nk
    fs = 250
    x = nk.ecg_simulate(duration=10, sampling_rate=fs, heart_rate=60, heart_rate_std=0, method="ecgsyn",
                        random_state=1)
    r = detect_rpeaks(np.asarray(x), fs)
    assert 9 <= len(r) <= 11                                  # 60 bpm for 10 s
    rr = np.diff(r) / fs
    assert np.allclose(rr, 1.0, atol=0.05)


@pytest.mark.parametrize("method", ["neurokit", "xqrs"])
def test_rpeak_detector_errors_and_empty_results(method):
    x = np.random.default_rng(0).standard_normal(50)
    with pytest.raises(ValueError, match=r"at least 1 s of signal \(250 samples at 250 Hz\), got 50"):
        detect_rpeaks(x, 250, method)
    r = detect_rpeaks(np.zeros(4000), 2000, method)                  # a flat line: no beats, not a crash
    assert r.dtype == np.int64 and len(r) == 0


def test_fold_is_an_orthogonal_permutation_for_numpy_and_torch():
    import torch
    x = np.random.default_rng(0).standard_normal((3, 2, 64))
    f = fold(x, 8)
    assert f.shape == (3, 16, 8)
    np.testing.assert_array_equal(f[1, 8 + 3], x[1, 1, 3::8])          # channel c k + j = x[c, j::k]
    np.testing.assert_array_equal(unfold(f, 8), x)
    assert np.isclose(np.linalg.norm(f), np.linalg.norm(x))
    t = torch.as_tensor(x)
    np.testing.assert_array_equal(fold(t, 8).numpy(), f)
    np.testing.assert_array_equal(unfold(fold(t, 4), 4).numpy(), x)
    with pytest.raises(ValueError, match="multiple of the fold factor"):
        fold(x, 5)
