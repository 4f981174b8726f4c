"""Noise: the requested SNR is what one measures, the DeepFilter rule, the NSTDB split, synthetic spectra."""

import numpy as np
import pytest
from scipy.signal import welch

from diffsci_biosignal.noise import (SYNTHETIC_KINDS, deepfilter_noise_split, load_nstdb, scale_peak_to_peak,
                                     scale_to_snr, sequential_segments, snr_db, synthetic_noise)

FS = 360.0


@pytest.mark.parametrize("kind", SYNTHETIC_KINDS)
@pytest.mark.parametrize("target", [-6.0, 0.0, 12.0])
def test_noise_at_requested_snr_is_measured_back(kind, target):
    rng = np.random.default_rng(1)
    x = np.sin(2 * np.pi * 1.2 * np.arange(3600) / FS)
    n = scale_to_snr(x, synthetic_noise(kind, 3600, FS, rng), target)
    measured = 10 * np.log10(np.sum(x ** 2) / np.sum(((x + n) - x) ** 2))
    assert measured == pytest.approx(target, abs=1e-9)


def test_snr_per_row():
    x = np.ones((2, 100))
    n = scale_to_snr(x, np.random.default_rng(0).standard_normal((2, 100)), np.array([0.0, 20.0]))
    np.testing.assert_allclose(snr_db(x, n), [0.0, 20.0], atol=1e-9)


def test_peak_to_peak_rule():
    rng = np.random.default_rng(0)
    beats, noise = rng.standard_normal((5, 512)), rng.standard_normal((5, 512)) * 7
    ratio = np.array([0.2, 0.5, 1.0, 1.5, 1.99])
    scaled = scale_peak_to_peak(beats, noise, ratio)
    np.testing.assert_allclose(np.ptp(scaled, -1), ratio * np.ptp(beats, -1))


@pytest.mark.parametrize("n", [5, 2])                             # n == 2 == leads: no silent per-lead pairing
def test_one_target_per_beat_of_a_multi_lead_batch(n):
    rng = np.random.default_rng(0)
    x, noise = rng.standard_normal((n, 2, 512)), rng.standard_normal((n, 2, 512))
    target = np.linspace(0.0, 10.0, n)
    scaled = scale_to_snr(x, noise, target)
    measured = 10 * np.log10(np.sum(x ** 2, -1) / np.sum(scaled ** 2, -1))       # the definition, per lead
    np.testing.assert_allclose(measured, np.repeat(target[:, None], 2, 1), atol=1e-9)
    ratio = np.linspace(0.2, 1.99, n)
    ptp = scale_peak_to_peak(x, noise, ratio)
    np.testing.assert_allclose(np.ptp(ptp, -1), ratio[:, None] * np.ptp(x, -1))
    per_lead = scale_to_snr(x, noise, np.full((n, 2), 3.0))                          # (N, C): one per lead
    np.testing.assert_allclose(snr_db(x, per_lead), 3.0, atol=1e-9)
    with pytest.raises(ValueError, match=r"snr of shape \(3,\) does not match"):
        scale_to_snr(x, noise, np.zeros(3))


def test_powerline_at_or_above_nyquist_is_an_error_and_gaussian_is_unit_std():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="50 Hz needs fs > 100 Hz"):
        synthetic_noise("powerline50", 1000, 100.0, rng)
    with pytest.raises(ValueError, match="60 Hz needs fs > 120 Hz"):
        synthetic_noise("powerline60", 1000, 100.0, rng)
    assert synthetic_noise("powerline50", 1000, 110.0, rng).std() == pytest.approx(1.0)
    for seed in range(3):
        assert synthetic_noise("gaussian", 512, FS, np.random.default_rng(seed)).std() == pytest.approx(1.0, abs=1e-12)


def _band_fraction(x, lo, hi):
    f, p = welch(x, fs=FS, nperseg=4096)
    return p[(f >= lo) & (f <= hi)].sum() / p.sum()


def test_synthetic_noise_lives_where_it_should():
    rng = np.random.default_rng(0)
    n = int(120 * FS)
    assert _band_fraction(synthetic_noise("baseline_wander", n, FS, rng), 0, 0.6) > 0.95
    assert _band_fraction(synthetic_noise("emg", n, FS, rng), 15, 180) > 0.95
    assert _band_fraction(synthetic_noise("powerline50", n, FS, rng), 49, 51) > 0.85
    assert _band_fraction(synthetic_noise("powerline60", n, FS, rng), 59, 61) > 0.85
    em = synthetic_noise("electrode_motion", n, FS, rng)
    assert _band_fraction(em, 0, 12) > 0.9 and abs(em.std() - 1) < 1e-9
    g = synthetic_noise("gaussian", n, FS, rng)
    assert abs(_band_fraction(g, 0, 90) - 0.5) < 0.03           # white: flat spectrum
    with pytest.raises(ValueError, match="unknown synthetic noise"):
        synthetic_noise("pink", 10, FS, rng)


def test_deepfilter_split_and_segments():
    rec = np.stack([np.arange(11.0), 100 + np.arange(11.0)])
    tr1, te1 = deepfilter_noise_split(rec, 1)
    tr2, te2 = deepfilter_noise_split(rec, 2)
    assert tr1.tolist() == [0, 1, 2, 3, 4] and te1.tolist() == [105, 106, 107, 108, 109]   # last sample dropped
    assert tr2.tolist() == [100, 101, 102, 103, 104] and te2.tolist() == [5, 6, 7, 8, 9]
    assert not set(tr1) & set(te1) and not set(tr1) & set(te2) and not set(tr2) & set(te1)
    with pytest.raises(ValueError, match="1 or 2"):
        deepfilter_noise_split(rec, 3)
    seg = sequential_segments(np.arange(10.0), 5, 4)
    assert seg[:, 0].tolist() == [0, 4, 0, 4, 0]                   # wraps when fewer than 4 samples remain


@pytest.mark.data
@pytest.mark.parametrize("kind", ["bw", "em", "ma"])
def test_nstdb_records(nstdb_root, kind):
    rec, fs = load_nstdb(nstdb_root, kind)
    assert fs == 360.0 and rec.shape == (2, 650000)
    assert np.isfinite(rec).all() and rec.std() > 0.01
