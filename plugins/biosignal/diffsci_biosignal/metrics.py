"""Denoising metrics of the ECG literature, defined as in the DeepFilter and DeScoD-ECG evaluation code.

All take (estimate, reference) arrays of shape (N, T) or (N, C, T) in physical units (mV) and return one
value per sample (N,), summing over every axis but the first:

- SSD, sum of squared distances: sum (y - y_hat)^2 [mV^2].
- MAD, maximum absolute distance: max |y - y_hat| [mV].
- PRD, percentage root-mean-square difference, **as the published code computes it**:
  100 sqrt( sum (y_hat - y)^2 / sum (y_hat - mean(y))^2 ), where mean(y) is the mean of the whole
  reference array passed in (the code calls ``np.mean(y)`` on the batch), and the denominator uses the
  estimate y_hat, not y. ``ref_mean`` fixes that mean explicitly.
- cosine similarity: <y, y_hat> / (|y| |y_hat|) (``sklearn.metrics.pairwise.cosine_similarity`` per beat).
- SNR: 10 log10( sum y^2 / sum (y_hat - y)^2 ) [dB]; SNR improvement = SNR(output) - SNR(input).

>>> y = np.array([[0.0, 1.0, 0.0, -1.0]])
>>> y_hat = np.array([[0.5, 1.0, 0.0, -1.0]])
>>> float(ssd(y_hat, y)[0]), float(mad(y_hat, y)[0])
(0.25, 0.5)
"""

from __future__ import annotations

import numpy as np

__all__ = ["ssd", "mad", "prd", "cos_sim", "snr", "snr_improvement", "DENOISING_METRICS"]


def _pair(estimate, reference) -> tuple[np.ndarray, np.ndarray]:
    e, r = np.asarray(estimate, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if e.shape != r.shape:
        raise ValueError(f"estimate has shape {e.shape} but reference has shape {r.shape}")
    if e.ndim == 1:
        e, r = e[None], r[None]
    return e.reshape(len(e), -1), r.reshape(len(r), -1)


def ssd(estimate, reference) -> np.ndarray:
    """Sum of squared distances per sample."""
    e, r = _pair(estimate, reference)
    return np.sum(np.square(r - e), axis=1)


def mad(estimate, reference) -> np.ndarray:
    """Maximum absolute distance per sample."""
    e, r = _pair(estimate, reference)
    return np.max(np.abs(r - e), axis=1)


def prd(estimate, reference, ref_mean: float | None = None) -> np.ndarray:
    """PRD in percent, as in the DeepFilter / DeScoD-ECG code (see the module docstring).

    >>> float(prd([[2.0, 0.0]], [[1.0, 1.0]])[0])      # mean(y) = 1: sqrt((1 + 1) / (1 + 1))
    100.0
    """
    e, r = _pair(estimate, reference)
    m = float(np.mean(r)) if ref_mean is None else float(ref_mean)
    return 100 * np.sqrt(np.sum(np.square(e - r), axis=1) / np.sum(np.square(e - m), axis=1))


def cos_sim(estimate, reference) -> np.ndarray:
    """Cosine similarity per sample; 0 where either vector is zero (no direction: no similarity, rather
    than the 0/0 of the published code).

    >>> float(cos_sim([[1.0, 0.0]], [[1.0, 1.0]])[0]) == float(1 / np.sqrt(2))
    True
    >>> cos_sim([[0.0, 0.0]], [[1.0, 1.0]]).tolist()
    [0.0]
    """
    e, r = _pair(estimate, reference)
    den = np.linalg.norm(e, axis=1) * np.linalg.norm(r, axis=1)
    return np.sum(e * r, axis=1) / np.where(den > 0, den, 1.0)


def snr(estimate, reference) -> np.ndarray:
    """SNR of an estimate against the clean reference, in dB."""
    e, r = _pair(estimate, reference)
    return 10 * np.log10(np.sum(np.square(r), axis=1) / np.sum(np.square(e - r), axis=1))


def snr_improvement(estimate, noisy, reference) -> np.ndarray:
    """SNR(estimate) - SNR(noisy input), in dB."""
    return snr(estimate, reference) - snr(noisy, reference)


DENOISING_METRICS = {"ssd": ssd, "mad": mad, "prd": prd, "cos": cos_sim, "snr": snr}
