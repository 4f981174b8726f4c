"""Resampling and windows: exact lengths, a sinusoid keeps its frequency, windows index what they say."""

import numpy as np
import pytest

from diffsci_biosignal.resample import poly_filter, rational_factor, resample, resample_samples
from diffsci_biosignal.windows import (beat_windows, denormalise, detect_rpeaks, fixed_windows, fold, normalise,
                                      unfold)


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
