"""Classical ECG denoising baselines: the FIR and IIR filters of the DeepFilter benchmark, wavelet shrinkage.

DeepFilter (Romero et al. 2021) compares against two zero-phase filter chains applied beat by beat at
360 Hz: a high-pass at 0.67 Hz (baseline wander) followed by a low-pass at 150 Hz.

- FIR: Kaiser-window designs (``scipy.signal.kaiserord`` / ``firwin``) with a 0.07 Hz transition and a
  stop-band attenuation of (round(-20 log10 0.001) + 1) / 4.5 = 61 / 4.5 dB, which gives 2009 taps at 360 Hz.
- IIR: 4th-order Butterworth high-pass and low-pass.

Both run forwards and backwards (``filtfilt``). A beat of 512 samples is much shorter than the
3 x taps that ``filtfilt`` pads with, so, as in the benchmark, the beat is extended by its time reversal
in front and by its last value behind, filtered, and the middle part is kept.
"""

from __future__ import annotations

import numpy as np
import pywt
from scipy.signal import butter, fftconvolve, filtfilt, firwin, kaiserord

__all__ = ["deepfilter_fir_taps", "filtfilt_fir", "fir_filter", "iir_filter", "wavelet_denoise", "BASELINES"]


def deepfilter_fir_taps(fs: float, fc: float, kind: str, factor: float = 4.5,
                        width_hz: float = 0.07) -> np.ndarray:
    """Kaiser-window FIR taps of the DeepFilter benchmark (``kind`` = "highpass" or "lowpass")."""
    nyq = fs / 2.0
    ripple_db = (round(-20 * np.log10(0.001)) + 1) / factor
    n, beta = kaiserord(ripple_db, width_hz / nyq)
    if kind == "highpass" and n % 2 == 0:      # a type-I (odd) filter is needed to pass Nyquist
        n += 1
    return firwin(n, fc / nyq, window=("kaiser", beta), pass_zero=kind)


def filtfilt_fir(b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``scipy.signal.filtfilt(b, 1, x, axis=-1)`` for an FIR ``b``, computed with FFT convolutions.

    filtfilt odd-extends x by 3 len(b) samples at each end and starts each pass from the steady state of
    a constant input equal to the first sample (``lfilter_zi``); for an FIR filter that is the same as
    prepending len(b) - 1 copies of the first sample and keeping the 'valid' part of the convolution.
    Written by hand because scipy's direct-form filtfilt costs O(len(b)) per sample: with the 2009-tap
    benchmark filter this is ~50x faster and equal to rounding (checked in the tests).
    """
    b = np.asarray(b, dtype=np.float64)
    m, pad = len(b), 3 * len(b)
    if x.shape[-1] <= pad:
        raise ValueError(f"filtfilt_fir needs more than {pad} samples, got {x.shape[-1]}")
    left = 2 * x[..., :1] - x[..., pad:0:-1]                 # odd extension, as scipy's odd_ext
    right = 2 * x[..., -1:] - x[..., -2:-pad - 2:-1]
    y = np.concatenate([left, x, right], axis=-1)
    for _ in range(2):                                          # forward pass, then the time-reversed pass
        y = np.concatenate([np.repeat(y[..., :1], m - 1, axis=-1), y], axis=-1)
        y = fftconvolve(y, np.broadcast_to(b, (1,) * (y.ndim - 1) + (m,)), mode="valid", axes=-1)[..., ::-1]
    return y[..., pad:-pad]


def _zero_phase(b: np.ndarray, a: np.ndarray, x: np.ndarray, order: int) -> np.ndarray:
    """filtfilt along the last axis, extending short signals as the benchmark does (see module doc)."""
    n = x.shape[-1]
    run = (lambda s: filtfilt_fir(b, s)) if len(a) == 1 else (lambda s: filtfilt(b, a, s, axis=-1))
    if 3 * order < n:
        return run(x)
    extra = 3 * order - n
    ext = np.concatenate([x[..., ::-1], x, np.repeat(x[..., -1:], extra, axis=-1)], axis=-1)
    return run(ext)[..., n:2 * n]


def fir_filter(x: np.ndarray, fs: float = 360.0, fc_low: float = 0.67, fc_high: float = 150.0,
               factor: float = 4.5) -> np.ndarray:
    """DeepFilter's FIR chain: high-pass at fc_low then low-pass at fc_high (zero phase), along the last axis."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1, x.shape[-1])
    hp = deepfilter_fir_taps(fs, fc_low, "highpass", factor)
    lp = deepfilter_fir_taps(fs, fc_high, "lowpass", factor) if fc_high is not None and fc_high < fs / 2 else None
    out = np.empty_like(flat)
    for i in range(0, len(flat), 256):          # chunks: the padded beats are ~40x longer than the beats
        y = _zero_phase(hp, np.ones(1), flat[i:i + 256], len(hp))
        out[i:i + 256] = _zero_phase(lp, np.ones(1), y, len(lp)) if lp is not None else y
    return out.reshape(x.shape)


def iir_filter(x: np.ndarray, fs: float = 360.0, fc_low: float = 0.67, fc_high: float = 150.0,
               order: int = 4) -> np.ndarray:
    """DeepFilter's IIR chain: Butterworth high-pass at fc_low then low-pass at fc_high (zero phase)."""
    x = np.asarray(x, dtype=np.float64)
    b, a = butter(order, fc_low / (fs / 2), "highpass")
    y = _zero_phase(b, a, x, order)
    if fc_high is not None and fc_high < fs / 2:
        b, a = butter(order, fc_high / (fs / 2), "lowpass")
        y = _zero_phase(b, a, y, order)
    return y


def wavelet_denoise(x: np.ndarray, fs: float = 360.0, wavelet: str = "sym8", baseline_hz: float | None = 0.7,
                    threshold: str = "soft", noise_level: str = "per_level") -> np.ndarray:
    """Wavelet denoising (Donoho & Johnstone 1994) with wavelet baseline removal, along the last axis.

    1. Decompose (stationary wavelet transform) to the deepest level J whose approximation band
       [0, fs / 2^(J+1)] still reaches ``baseline_hz`` and set the approximation to zero (baseline wander
       lives there); None keeps it.
    2. Soft-threshold every detail band at the universal threshold sigma sqrt(2 ln n), with sigma estimated
       as median(|d|) / 0.6745 of each band itself (``noise_level="per_level"``, Johnstone & Silverman
       1997, for coloured noise such as EMG and mains) or of the finest band d1 for all (``"finest"``, the
       white-noise rule). With "finest", mains at 50 Hz sampled at 180 Hz sits in d1, inflates sigma and
       zeroes every band: the estimate is exactly 0.

    The signal is padded symmetrically to the next multiple of 2^J so that the deep levels exist.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    if baseline_hz is not None:
        level = max(1, int(np.floor(np.log2(fs / (2 * baseline_hz)) + 1e-9)))
    else:
        level = pywt.dwt_max_level(n, pywt.Wavelet(wavelet).dec_len)
    m = 2 ** level
    total = max(int(np.ceil(n / m)) * m, m)
    pad_l = (total - n) // 2
    pad = [(0, 0)] * (x.ndim - 1) + [(pad_l, total - n - pad_l)]
    xp = np.pad(x, pad, mode="symmetric") if total > n else x
    if total > 2 * n:      # symmetric padding cannot extend by more than the signal: repeat it
        xp = np.pad(x, pad, mode="reflect" if n > 1 else "edge")
    coeffs = pywt.swt(xp, wavelet, level=level, axis=-1, trim_approx=True, norm=True)
    # coeffs = [cA_J, cD_J, ..., cD_1] (stationary transform: every band keeps the full length)
    if noise_level not in ("per_level", "finest"):
        raise ValueError(f"noise_level must be 'per_level' or 'finest', got {noise_level!r}")
    finest = np.median(np.abs(coeffs[-1]), axis=-1, keepdims=True) / 0.6745
    out = [np.zeros_like(coeffs[0]) if baseline_hz is not None else coeffs[0]]
    for d in coeffs[1:]:
        sigma = np.median(np.abs(d), axis=-1, keepdims=True) / 0.6745 if noise_level == "per_level" else finest
        out.append(pywt.threshold(d, sigma * np.sqrt(2 * np.log(total)), mode=threshold))
    y = pywt.iswt(out, wavelet, axis=-1, norm=True)
    return y[..., pad_l:pad_l + n]


BASELINES = {"fir": fir_filter, "iir": iir_filter, "wavelet": wavelet_denoise}
