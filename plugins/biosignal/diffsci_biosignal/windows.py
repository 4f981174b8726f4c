"""Cutting records into model inputs: fixed windows, beat-centred windows, R-peak detection, normalisation."""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["fixed_windows", "beat_windows", "rhythm_time_map", "rhythm_windows", "detect_rpeaks", "normalise",
           "denormalise", "fold", "unfold", "NORMALISATIONS"]

NORMALISATIONS = ("none", "median", "zscore", "minmax")
MIN_RPEAK_SECONDS = 1.0


def fixed_windows(x: np.ndarray, length: int, hop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cut (C, T) into windows (N, C, length) every ``hop`` samples (default: no overlap).

    Returns (windows, starts). A tail shorter than ``length`` is dropped.

    >>> w, s = fixed_windows(np.arange(10.0)[None], 4, hop=3)
    >>> w.shape, s.tolist()
    ((3, 1, 4), [0, 3, 6])
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"expected a (C, T) signal, got shape {x.shape}")
    hop = length if hop is None else hop
    if length < 1 or hop < 1:
        raise ValueError(f"length and hop must be positive, got {length}, {hop}")
    if x.shape[1] < length:
        hint = (f"; shape {x.shape} looks like (T, C): transpose it to (C, T)"
                if x.shape[0] > x.shape[1] else "")
        raise ValueError(f"signal of {x.shape[1]} samples is shorter than one window of {length}{hint}")
    starts = np.arange(0, x.shape[1] - length + 1, hop)
    idx = starts[:, None] + np.arange(length)[None]
    return np.ascontiguousarray(np.moveaxis(x[:, idx], 1, 0)), starts


def beat_windows(x: np.ndarray, centres: np.ndarray, before: int, after: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows x[:, c - before : c + after] around each centre (R peak); (N, C, before + after).

    Returns (windows, kept) where ``kept`` indexes the centres whose window lies inside the record.

    >>> w, kept = beat_windows(np.arange(20.0)[None], np.array([1, 10, 19]), 3, 4)
    >>> w[:, 0].tolist(), kept.tolist()
    ([[7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0]], [1])
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"expected a (C, T) signal, got shape {x.shape}")
    centres = np.asarray(centres, dtype=np.int64)
    kept = np.flatnonzero((centres - before >= 0) & (centres + after <= x.shape[1]))
    idx = centres[kept][:, None] + np.arange(-before, after)[None]
    return np.ascontiguousarray(np.moveaxis(x[:, idx], 1, 0)), kept


def rhythm_time_map(t: np.ndarray, rr_reference: float, ref_s: float = 1.0, core_s: float = 0.15) -> np.ndarray:
    """Record time (s from the R peak) at each output time ``t`` of a rhythm-normalised window.

    Piecewise linear and odd: the core |t| <= core_s (PR segment and QRS) keeps its time scale, outside it
    t_in = sign(t) (core_s + (|t| - core_s) a) with a = (rr_reference - core_s) / (ref_s - core_s), so an R peak
    one reference RR away (t_in = -rr_reference) lands at t = -ref_s whatever the patient's heart rate. A
    premature beat's previous R peak then sits at the same place in every patient's window, which is what the
    RR features normalised by the average RR of de Chazal et al. (2004) and Llamedo & Martinez (2011) do for
    hand-made features. rr_reference is clipped to [0.4, 2.0] s (150-30 bpm); an array of them broadcasts against
    ``t`` (e.g. (N, 1) against (L,) gives one row per beat).

    >>> rhythm_time_map(np.array([-1.0, -0.1, 0.0, 0.1, 1.0]), rr_reference=0.6).round(3).tolist()
    [-0.6, -0.1, 0.0, 0.1, 0.6]
    """
    if not 0.0 <= core_s < ref_s:
        raise ValueError(f"need 0 <= core_s < ref_s, got core_s={core_s}, ref_s={ref_s}")
    a = (np.clip(np.asarray(rr_reference, dtype=np.float64), 0.4, 2.0) - core_s) / (ref_s - core_s)
    t = np.asarray(t, dtype=np.float64)
    return np.where(np.abs(t) <= core_s, t, np.sign(t) * (core_s + (np.abs(t) - core_s) * a))


def rhythm_windows(x: np.ndarray, centres: np.ndarray, fs: float, before: int, after: int,
                   rr_reference: np.ndarray, ref_s: float = 1.0,
                   core_s: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """Beat windows on a rhythm-normalised time axis (:func:`rhythm_time_map`), linearly interpolated.

    ``x`` (C, T) at ``fs`` Hz; ``centres`` R peaks in (fractional) samples; ``rr_reference`` (N,) the usual RR in s
    of each beat's patient (e.g. the average RR). Output (N, C, before + after) on the grid t = (i - before) / fs;
    ``kept`` indexes the beats whose window lies inside the record (as :func:`beat_windows`). With
    rr_reference = ref_s the windows are :func:`beat_windows`'s.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a (C, T) signal, got shape {x.shape}")
    centres = np.asarray(centres, dtype=np.float64)
    rr_reference = np.asarray(rr_reference, dtype=np.float64)
    if rr_reference.shape != centres.shape:
        raise ValueError(f"rr_reference {rr_reference.shape} and centres {centres.shape} differ in shape")
    t = (np.arange(before + after) - before) / fs
    rr = np.where(np.isfinite(rr_reference), rr_reference, ref_s)[:, None]   # no RR known: plain window
    pos = centres[:, None] + rhythm_time_map(t[None], rr, ref_s, core_s) * fs  # (N, L) record samples
    kept = np.flatnonzero((pos[:, 0] >= 0) & (pos[:, -1] <= x.shape[1] - 1))
    grid = np.arange(x.shape[1])
    w = np.stack([np.interp(pos[kept], grid, ch) for ch in x], axis=1)       # (N, C, L)
    return w, kept


def detect_rpeaks(x: np.ndarray, fs: float, method: Literal["neurokit", "xqrs"] = "neurokit") -> np.ndarray:
    """R-peak sample indices of a 1D ECG (one lead), by neurokit2's detector or WFDB's XQRS.

    ``neurokit``: ``nk.ecg_clean`` (0.5 Hz high-pass + powerline notch) then ``nk.ecg_peaks``.
    ``xqrs``: ``wfdb.processing.xqrs_detect`` followed by ``correct_peaks`` onto the local maximum.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"detect_rpeaks takes one lead (T,), got shape {x.shape}")
    if method not in ("neurokit", "xqrs"):
        raise ValueError(f"unknown R-peak detector '{method}'; valid: neurokit, xqrs")
    # both detectors smooth and filter over windows of up to ~0.8 s and fail obscurely on shorter input
    min_len = int(np.ceil(MIN_RPEAK_SECONDS * fs))
    if len(x) < min_len:
        raise ValueError(f"detect_rpeaks needs at least {MIN_RPEAK_SECONDS:g} s of signal ({min_len} samples at "
                         f"{fs:g} Hz), got {len(x)} samples")
    if method == "neurokit":
        import neurokit2 as nk
        clean = nk.ecg_clean(x, sampling_rate=fs)
        _, info = nk.ecg_peaks(clean, sampling_rate=fs)
        return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)
    import wfdb.processing as wp
    qrs = wp.xqrs_detect(x, fs=fs, verbose=False)
    if len(qrs) == 0:                          # correct_peaks indexes with the empty (float) array and fails
        return np.zeros(0, dtype=np.int64)
    return np.asarray(wp.correct_peaks(x, qrs, search_radius=int(0.1 * fs), smooth_window_size=int(0.15 * fs),
                                       peak_dir="compare"), dtype=np.int64)


def normalise(w: np.ndarray, mode: str = "median", scale: float = 1.0) -> tuple[np.ndarray, dict]:
    """Per-window normalisation of (N, C, T) windows; returns (normalised, params) for :func:`denormalise`.

    Modes: ``none`` (x / scale), ``median`` ((x - median) / scale, keeps amplitude in physical units),
    ``zscore`` ((x - mean) / std), ``minmax`` (to [-1, 1]). Statistics are per window and channel.

    >>> x = np.array([[[1.0, 2.0, 3.0]]])
    >>> y, p = normalise(x, "zscore")
    >>> np.allclose(denormalise(y, p), x), round(float(y.std()), 6)
    (True, 1.0)
    """
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 3:
        raise ValueError(f"normalise expects windows (N, C, T), got shape {w.shape}")
    if mode == "none":
        offset = np.zeros(w.shape[:2] + (1,), np.float32)
        div = np.full_like(offset, scale)
    elif mode == "median":
        offset = np.median(w, axis=-1, keepdims=True)
        div = np.full_like(offset, scale)
    elif mode == "zscore":
        offset = w.mean(-1, keepdims=True)
        div = np.maximum(w.std(-1, keepdims=True), 1e-6)
    elif mode == "minmax":
        lo, hi = w.min(-1, keepdims=True), w.max(-1, keepdims=True)
        offset, div = (hi + lo) / 2, np.maximum((hi - lo) / 2, 1e-6)
    else:
        raise ValueError(f"unknown normalisation '{mode}'; valid: {', '.join(NORMALISATIONS)}")
    return ((w - offset) / div).astype(np.float32), {"mode": mode, "offset": offset, "scale": div}


def denormalise(w: np.ndarray, params: dict) -> np.ndarray:
    """Undo :func:`normalise`."""
    return np.asarray(w) * params["scale"] + params["offset"]


def fold(x, k: int):
    """Polyphase fold (space-to-depth) of the last axis: (..., C, L) -> (..., C k, L / k).

    Channel c k + j holds samples j, j + k, j + 2k, ... of channel c. The fold is a permutation (an
    orthogonal map), so Gaussian noise stays i.i.d. and a diffusion model of the folded signal is a model
    of the signal; a UNet then runs at 1/k of the length, about k times cheaper for the same widths.
    Works on NumPy arrays and torch tensors.

    >>> fold(np.arange(8)[None], 2).tolist()
    [[0, 2, 4, 6], [1, 3, 5, 7]]
    >>> bool((unfold(fold(np.arange(12.0).reshape(2, 6), 3), 3) == np.arange(12.0).reshape(2, 6)).all())
    True
    """
    if k == 1:
        return x
    *lead, c, length = x.shape
    if length % k:
        raise ValueError(f"length {length} is not a multiple of the fold factor {k}")
    y = x.reshape(*lead, c, length // k, k)
    y = y.swapaxes(-1, -2) if hasattr(y, "swapaxes") else y.transpose(-1, -2)
    return y.reshape(*lead, c * k, length // k)


def unfold(x, k: int):
    """Inverse of :func:`fold`: (..., C k, L / k) -> (..., C, L)."""
    if k == 1:
        return x
    *lead, ck, n = x.shape
    if ck % k:
        raise ValueError(f"{ck} channels are not a multiple of the fold factor {k}")
    y = x.reshape(*lead, ck // k, k, n)
    y = y.swapaxes(-1, -2) if hasattr(y, "swapaxes") else y.transpose(-1, -2)
    return y.reshape(*lead, ck // k, n * k)
