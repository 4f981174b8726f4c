"""ECG noise: the real NSTDB recordings and synthetic models, scaled to a target SNR or by peak-to-peak ratio.

Real noise: the MIT-BIH Noise Stress Test Database (Moody, Muldrow & Mark 1984) holds 30 min of
baseline wander (``bw``), electrode motion (``em``) and muscle artefact (``ma``), 2 channels at 360 Hz.

Scaling rules:

- SNR in dB, as in the noise stress test and in DeScoD-ECG's ``SNR``: 10 log10(sum x^2 / sum n^2).
- the DeepFilter amplitude rule (Romero et al. 2021): noise scaled so that its peak-to-peak amplitude is
  ``ratio`` times the beat's, with ratio drawn from {0.20, 0.21, ..., 1.99}.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfiltfilt

__all__ = ["NSTDB_KINDS", "SYNTHETIC_KINDS", "load_nstdb", "deepfilter_noise_split", "sequential_segments",
           "scale_to_snr", "scale_peak_to_peak", "snr_db", "baseline_wander", "muscle_artifact",
           "electrode_motion", "powerline", "gaussian", "synthetic_noise"]

NSTDB_KINDS = ("bw", "em", "ma")
SYNTHETIC_KINDS = ("baseline_wander", "emg", "electrode_motion", "powerline50", "powerline60", "gaussian")


def load_nstdb(root: str | Path, kind: str) -> tuple[np.ndarray, float]:
    """Read one NSTDB noise record: ((2, T) float64 in mV, fs). Headers mark them uncalibrated; WFDB uses 200/mV."""
    from .io import read_wfdb

    if kind not in NSTDB_KINDS:
        raise ValueError(f"unknown NSTDB noise '{kind}'; valid: {', '.join(NSTDB_KINDS)}")
    path = Path(root) / f"{kind}.hea"
    if not path.exists():
        raise FileNotFoundError(f"{path}: NSTDB noise record not found (give the nstdb folder)")
    rec = read_wfdb(path, annotation=None)
    return rec.array.astype(np.float64), float(rec.meta["fs"])


def deepfilter_noise_split(noise: np.ndarray, version: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) noise of the DeepFilter / DeScoD-ECG protocol from a (2, T) NSTDB record.

    Each channel is cut in halves a = [0, T/2) and b = [T/2, T-1); version 1 trains on channel 1 a and
    tests on channel 2 b, version 2 trains on channel 2 a and tests on channel 1 b. Train and test noise
    never overlap, and neither version's test noise is in the other version's training noise.
    """
    noise = np.asarray(noise)
    if noise.ndim != 2 or noise.shape[0] != 2:
        raise ValueError(f"expected a 2-channel noise record (2, T), got shape {noise.shape}")
    h = noise.shape[1] // 2
    a1, b1, a2, b2 = noise[0, :h], noise[0, h:-1], noise[1, :h], noise[1, h:-1]
    if version == 1:
        return a1, b2
    if version == 2:
        return a2, b1
    raise ValueError(f"noise version must be 1 or 2, got {version}")


def sequential_segments(noise: np.ndarray, n: int, length: int) -> np.ndarray:
    """n consecutive segments (n, length) of a 1D noise record, restarting from 0 when it runs out.

    This is how the DeepFilter protocol walks the noise: segment i starts where i - 1 ended.

    >>> sequential_segments(np.arange(10.0), 4, 3)[:, 0].tolist()
    [0.0, 3.0, 6.0, 0.0]
    """
    noise = np.asarray(noise)
    if len(noise) < length:
        raise ValueError(f"noise record of {len(noise)} samples is shorter than one segment of {length}")
    out = np.empty((n, length), dtype=noise.dtype)
    i = 0
    for k in range(n):
        out[k] = noise[i:i + length]
        i += length
        if i > len(noise) - length:
            i = 0
    return out


def snr_db(x: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """10 log10(sum x^2 / sum n^2) over the last axis."""
    return 10 * np.log10(np.sum(np.square(x), -1) / np.sum(np.square(noise), -1))


def _per_item(v: float | np.ndarray, x: np.ndarray, noise: np.ndarray, name: str) -> np.ndarray:
    """A target (scalar, (N,), (N, C), ...) shaped to broadcast against x, noise (N, ..., T) from the leading axes.

    One value per beat of an (N, C, T) batch must become (N, 1, 1): NumPy's trailing-axis broadcasting would
    pair it with the leads (and silently so when N == C).
    """
    v = np.asarray(v, dtype=np.float64)
    if v.ndim == 0:
        return v
    shape = np.broadcast_shapes(x.shape, noise.shape)
    if v.ndim >= len(shape) or any(a not in (1, b) for a, b in zip(v.shape, shape)):
        raise ValueError(f"{name} of shape {v.shape} does not match the leading axes of the signal {shape}: "
                         f"give a scalar or one value per item (shape {shape[:1]}) or per row {shape[:-1]}")
    return v.reshape(v.shape + (1,) * (len(shape) - v.ndim))


def scale_to_snr(x: np.ndarray, noise: np.ndarray, snr: float | np.ndarray) -> np.ndarray:
    """Scale ``noise`` (per row) so that snr_db(x, scaled) equals ``snr`` dB in every row.

    ``snr`` is a scalar or one value per item along the leading axes: for x (N, C, T), ``snr`` (N,) puts
    every lead of beat i at snr[i] dB; (N, C) gives one value per lead.

    >>> x, n = np.ones(100), np.linspace(-1, 1, 100)
    >>> round(float(snr_db(x, scale_to_snr(x, n, 6.0))), 9)
    6.0
    """
    x, noise = np.asarray(x, dtype=np.float64), np.asarray(noise, dtype=np.float64)
    px, pn = np.sum(x ** 2, -1, keepdims=True), np.sum(noise ** 2, -1, keepdims=True)
    if np.any(pn == 0):
        raise ValueError("cannot scale an all-zero noise to a target SNR")
    target = px / 10 ** (_per_item(snr, x, noise, "snr") / 10)      # sum n^2 = sum x^2 / 10^(SNR/10)
    return noise * np.sqrt(target / pn)


def scale_peak_to_peak(x: np.ndarray, noise: np.ndarray, ratio: float | np.ndarray) -> np.ndarray:
    """DeepFilter rule: alpha = ratio / (ptp(noise) / ptp(x)), i.e. ptp(alpha * noise) = ratio * ptp(x), per row.

    ``ratio`` is a scalar or one value per item along the leading axes (as in :func:`scale_to_snr`).

    >>> x, n = np.array([0.0, 2.0]), np.array([-1.0, 3.0])
    >>> float(np.ptp(scale_peak_to_peak(x, n, 0.5)))
    1.0
    """
    x, noise = np.asarray(x, dtype=np.float64), np.asarray(noise, dtype=np.float64)
    ase = np.ptp(noise, -1, keepdims=True) / np.ptp(x, -1, keepdims=True)
    return noise * _per_item(ratio, x, noise, "ratio") / ase


# ----------------------------------------------------------------------------------- synthetic noise
def _bandlimited(n: int, fs: float, lo: float | None, hi: float | None, rng: np.random.Generator,
                 order: int = 4) -> np.ndarray:
    """Unit-variance Gaussian noise band-limited to [lo, hi] Hz (zero-phase Butterworth)."""
    w = rng.standard_normal(n + 2 * int(fs))            # one second of margin on each side
    nyq = fs / 2
    hi = None if hi is None or hi >= 0.95 * nyq else hi
    if lo and hi:
        sos = butter(order, [lo / nyq, hi / nyq], "bandpass", output="sos")
    elif lo:
        sos = butter(order, lo / nyq, "highpass", output="sos")
    elif hi:
        sos = butter(order, hi / nyq, "lowpass", output="sos")
    else:
        sos = None
    if sos is not None:
        w = sosfiltfilt(sos, w)
    w = w[int(fs):int(fs) + n]
    return w / w.std()


def baseline_wander(n: int, fs: float, rng: np.random.Generator, f_lo: float = 0.05, f_hi: float = 0.5,
                    components: int = 4) -> np.ndarray:
    """Sum of sinusoids at random frequencies in [f_lo, f_hi] Hz (respiration, slow drift); unit std."""
    t = np.arange(n) / fs
    f = rng.uniform(f_lo, f_hi, components)
    a = rng.uniform(0.3, 1.0, components)
    phi = rng.uniform(0, 2 * np.pi, components)
    bw = (a[:, None] * np.sin(2 * np.pi * f[:, None] * t[None] + phi[:, None])).sum(0)
    return bw / max(bw.std(), 1e-12)


def muscle_artifact(n: int, fs: float, rng: np.random.Generator, f_lo: float = 20.0,
                    f_hi: float = 150.0) -> np.ndarray:
    """EMG: Gaussian noise band-passed to [f_lo, min(f_hi, 0.45 fs)] Hz with a slowly varying envelope."""
    w = _bandlimited(n, fs, f_lo, min(f_hi, 0.45 * fs), rng)
    env = 1 + 0.5 * _bandlimited(n, fs, None, 0.5, rng)
    w = w * np.clip(env, 0.1, None)
    return w / w.std()


def electrode_motion(n: int, fs: float, rng: np.random.Generator, rate_hz: float = 0.5) -> np.ndarray:
    """Electrode motion: random steps that relax exponentially (0.1-0.8 s) plus 1-10 Hz bursts; unit std."""
    t = np.arange(n) / fs
    out = 0.3 * _bandlimited(n, fs, 0.1, 2.0, rng)
    for t0 in rng.uniform(0, n / fs, rng.poisson(rate_hz * n / fs) + 1):
        after = t >= t0
        tau = rng.uniform(0.1, 0.8)
        out[after] += rng.normal(0, 1.5) * np.exp(-(t[after] - t0) / tau)
        burst = after & (t < t0 + rng.uniform(0.1, 0.4))
        out[burst] += rng.normal(0, 0.7) * _bandlimited(int(burst.sum()) or 1, fs, 1.0, 10.0, rng)[:burst.sum()]
    out -= out.mean()
    return out / max(out.std(), 1e-12)


def powerline(n: int, fs: float, rng: np.random.Generator, freq: float = 50.0, harmonics: int = 2) -> np.ndarray:
    """Mains interference at ``freq`` Hz (50 or 60) with weaker odd harmonics below Nyquist; unit std."""
    if freq >= fs / 2:
        # sampled at or above Nyquist the sinusoid aliases (at exactly fs / 2 it is sampled at its zeros)
        raise ValueError(f"powerline noise at {freq:g} Hz needs fs > {2 * freq:g} Hz, got fs = {fs:g} Hz")
    t = np.arange(n) / fs
    out = np.zeros(n)
    for k in range(1, 2 * harmonics, 2):
        if k * freq < fs / 2:
            out += np.sin(2 * np.pi * k * freq * t + rng.uniform(0, 2 * np.pi)) / k ** 2
    return out / max(out.std(), 1e-12)


def gaussian(n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise, normalised to unit sample std like the other kinds (so an SNR mix weighs them alike)."""
    w = rng.standard_normal(n)
    return w / max(w.std(), 1e-12)


_SYNTH = {"baseline_wander": baseline_wander, "emg": muscle_artifact, "electrode_motion": electrode_motion,
          "powerline50": lambda n, fs, rng: powerline(n, fs, rng, 50.0),
          "powerline60": lambda n, fs, rng: powerline(n, fs, rng, 60.0), "gaussian": gaussian}


def synthetic_noise(kind: str, n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    """One of :data:`SYNTHETIC_KINDS`, n samples at fs Hz, unit standard deviation.

    >>> x = synthetic_noise("powerline50", 3600, 360.0, np.random.default_rng(0))
    >>> round(float(x.std()), 6)
    1.0
    """
    if kind not in _SYNTH:
        raise ValueError(f"unknown synthetic noise '{kind}'; valid: {', '.join(SYNTHETIC_KINDS)}")
    return _SYNTH[kind](n, fs, rng)
