"""The embedded default: ECG simulated by neurokit2 (ECGSYN, McSharry et al. 2003), no download."""

from __future__ import annotations

import numpy as np

from .resample import resample
from .windows import detect_rpeaks, fixed_windows, normalise

__all__ = ["simulate_ecg", "simulated_windows", "simulated_beats"]


def simulate_ecg(duration_s: float, fs: float, heart_rate: float, seed: int) -> np.ndarray:
    """One simulated lead-II-like ECG (T,) in mV at ``fs`` Hz (generated at 360 Hz, then resampled)."""
    import neurokit2 as nk
    x = nk.ecg_simulate(duration=duration_s, sampling_rate=360, heart_rate=heart_rate, heart_rate_std=3,
                        noise=0.0, method="ecgsyn", random_state=seed)
    return resample(np.asarray(x, dtype=np.float64), 360.0, fs)


def _rates(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(55, 100, n)


def simulated_windows(n_records: int, duration_s: float, fs: float, length: int, seed: int = 0) -> np.ndarray:
    """Fixed windows (N, 1, length) of ``n_records`` simulated records at random heart rates (median removed)."""
    rng = np.random.default_rng(seed)
    out = []
    for k, hr in enumerate(_rates(n_records, rng)):
        x = simulate_ecg(duration_s, fs, float(hr), seed=int(rng.integers(2 ** 31)))
        w, _ = fixed_windows(x[None], length, hop=length // 2)
        out.append(normalise(w, "median")[0])
    return np.concatenate(out)


def simulated_beats(n_records: int, duration_s: float, fs: float, length: int, offset: int,
                    seed: int = 0) -> np.ndarray:
    """Beat windows (N, length) starting ``offset`` samples before each detected R peak, in mV, placed
    like the QTDB benchmark beats (end-point mean removed)."""
    rng = np.random.default_rng(seed)
    out = []
    for hr in _rates(n_records, rng):
        x = simulate_ecg(duration_s, fs, float(hr), seed=int(rng.integers(2 ** 31)))
        r = detect_rpeaks(x, fs)
        r = r[(r - offset >= 0) & (r - offset + length <= len(x))]
        w = np.stack([x[i - offset:i - offset + length] for i in r])
        out.append(w - (w[:, :1] + w[:, -1:]) / 2)
    return np.concatenate(out)
