"""Resampling to the model's rate: polyphase FIR (scipy.signal.resample_poly) with a rational factor."""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np
from scipy.signal import firwin, resample_poly

__all__ = ["rational_factor", "poly_filter", "resample", "resample_samples"]


def rational_factor(fs_in: float, fs_out: float, max_denominator: int = 1000) -> tuple[int, int]:
    """(up, down) with up/down = fs_out/fs_in, e.g. 250 -> 360 Hz is (36, 25).

    >>> rational_factor(250, 360)
    (36, 25)
    """
    if fs_in <= 0 or fs_out <= 0:
        raise ValueError(f"sampling rates must be positive, got {fs_in} -> {fs_out}")
    f = Fraction(fs_out / fs_in).limit_denominator(max_denominator)
    if abs(f.numerator / f.denominator - fs_out / fs_in) > 1e-9 * fs_out / fs_in:
        raise ValueError(f"cannot resample {fs_in} -> {fs_out} Hz with a rational factor of denominator "
                         f"<= {max_denominator}")
    return f.numerator, f.denominator


@lru_cache(maxsize=32)
def poly_filter(up: int, down: int) -> np.ndarray:
    """The anti-aliasing filter ``resample_poly`` designs by default (Kaiser beta 5, 20 x max(up, down) + 1 taps).

    Designing it once and passing it as ``window=`` gives identical output, about 4x faster on short beats.
    """
    m = max(up, down)
    h = firwin(2 * 10 * m + 1, 1.0 / m, window=("kaiser", 5.0))
    h.setflags(write=False)
    return h


def resample(x: np.ndarray, fs_in: float, fs_out: float, axis: int = -1) -> np.ndarray:
    """Resample along ``axis`` from fs_in to fs_out Hz (anti-aliasing polyphase filter).

    The length becomes ceil(T * fs_out / fs_in).

    >>> resample(np.ones((2, 250)), 250, 360).shape
    (2, 360)
    """
    if fs_in == fs_out:
        return np.asarray(x)
    up, down = rational_factor(fs_in, fs_out)
    return resample_poly(np.asarray(x, dtype=np.float64), up, down, axis=axis, window=poly_filter(up, down))


def resample_samples(samples: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Map annotation sample indices to the new rate (nearest sample).

    >>> resample_samples(np.array([0, 250, 500]), 250, 360).tolist()
    [0, 360, 720]
    """
    return np.round(np.asarray(samples, dtype=np.float64) * fs_out / fs_in).astype(np.int64)
