"""The DeepFilter FIR/IIR baselines and wavelet denoising: frequency responses and exactness."""

import numpy as np
import pytest
from scipy.signal import filtfilt

from diffsci_biosignal.filters import deepfilter_fir_taps, filtfilt_fir, fir_filter, iir_filter, wavelet_denoise

FS = 360.0
T = np.arange(int(60 * FS)) / FS            # one minute: longer than 3 x taps, so plain filtfilt


def _gain(filt, f):
    x = np.sin(2 * np.pi * f * T)
    y = filt(x, fs=FS)
    mid = slice(len(T) // 4, 3 * len(T) // 4)
    return np.sqrt(np.mean(y[mid] ** 2) / np.mean(x[mid] ** 2))


def test_fir_design_matches_the_benchmark():
    h = deepfilter_fir_taps(FS, 0.67, "highpass")
    assert len(h) == 2009                    # kaiserord(61 / 4.5 dB, 0.07 Hz / 180 Hz)
    np.testing.assert_allclose(h, h[::-1])   # linear phase


@pytest.mark.parametrize("filt", [fir_filter, iir_filter], ids=["fir", "iir"])
def test_baseline_wander_is_attenuated_and_the_ecg_band_passes(filt):
    for f in (0.1, 0.2, 0.3):
        assert _gain(filt, f) < 0.1, f"{f} Hz passes"
    for f in (5.0, 10.0, 20.0):
        assert abs(_gain(filt, f) - 1) < 0.01, f"{f} Hz is changed"


def test_fast_fir_filtfilt_equals_scipy():
    rng = np.random.default_rng(0)
    h = deepfilter_fir_taps(FS, 0.67, "highpass")
    x = rng.standard_normal((2, 3 * len(h) + 100))
    np.testing.assert_allclose(filtfilt_fir(h, x), filtfilt(h, 1.0, x, axis=-1), atol=1e-10)


def test_short_beats_follow_the_benchmark_padding():
    # a 512-sample beat is shorter than 3 x 2009 taps: extended by its reversal and its last value
    rng = np.random.default_rng(1)
    beat = rng.standard_normal(512)
    h = deepfilter_fir_taps(FS, 0.67, "highpass")
    ext = np.concatenate([beat[::-1], beat, np.full(3 * len(h) - 512, beat[-1])])
    ref = filtfilt(h, 1.0, ext)[512:1024]
    got = fir_filter(beat, fs=FS, fc_high=None)
    np.testing.assert_allclose(got, ref, atol=1e-10)
    assert fir_filter(np.stack([beat, beat]), fs=FS).shape == (2, 512)


def test_wavelet_removes_baseline_and_white_noise():
    rng = np.random.default_rng(0)
    t = np.arange(4096) / FS
    clean = np.sin(2 * np.pi * 8 * t) * np.exp(-((t % 1) - 0.5) ** 2 / 0.01)     # 8 Hz bursts once a second
    noisy = clean + 0.8 * np.sin(2 * np.pi * 0.15 * t) + 0.1 * rng.standard_normal(len(t))
    out = wavelet_denoise(noisy, fs=FS)
    assert np.mean((out - clean) ** 2) < 0.1 * np.mean((noisy - clean) ** 2)
    assert out.shape == noisy.shape


def test_wavelet_noise_level_per_band_survives_mains_in_the_finest_band():
    # at 180 Hz, 50 Hz mains falls in d1 (45-90 Hz): the white-noise rule (sigma from d1 for all bands)
    # thresholds every band away and returns exactly 0; per-band sigma keeps the 8 Hz bursts
    fs = 180.0
    t = np.arange(1024) / fs
    clean = np.sin(2 * np.pi * 8 * t) * np.exp(-((t % 1) - 0.5) ** 2 / 0.01)
    noisy = clean + 1.0 * np.sin(2 * np.pi * 50 * t)
    assert np.all(wavelet_denoise(noisy, fs=fs, noise_level="finest") == 0)
    out = wavelet_denoise(noisy, fs=fs)
    assert np.mean((out - clean) ** 2) < 0.2 * np.mean((noisy - clean) ** 2)
    with pytest.raises(ValueError, match="noise_level"):
        wavelet_denoise(noisy, fs=fs, noise_level="x")
