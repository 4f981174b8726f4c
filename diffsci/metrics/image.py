"""Reconstruction metrics for 1D, 2D and 3D arrays: PSNR, NMSE (fastMRI definitions) and SSIM (scikit-image).

Per sample; arrays are (C, *spatial) or (*spatial). ``data_range`` defaults to the reference's
max - min (the fastMRI convention uses the reference's maximum; pass it explicitly to match).
"""

from __future__ import annotations

import numpy as np

from ._arrays import as_numpy

__all__ = ["psnr", "nmse", "ssim"]


def _pair(estimate, reference) -> tuple[np.ndarray, np.ndarray]:
    e, r = as_numpy(estimate, "estimate"), as_numpy(reference, "reference")
    if e.shape != r.shape:
        raise ValueError(f"estimate has shape {e.shape} but reference has shape {r.shape}")
    if np.iscomplexobj(e) or np.iscomplexobj(r):
        e, r = np.abs(e), np.abs(r)
    return e.astype(np.float64), r.astype(np.float64)


def nmse(estimate, reference) -> float:
    """|e - r|^2 / |r|^2.

    >>> nmse([1.0, 1.0], [1.0, 2.0])
    0.2
    """
    e, r = _pair(estimate, reference)
    return float(((e - r) ** 2).sum() / (r ** 2).sum())


def psnr(estimate, reference, data_range: float | None = None) -> float:
    """10 log10(data_range^2 / MSE) in dB.

    >>> round(psnr([0.0, 1.0], [0.0, 0.9], data_range=1.0), 4)  # MSE = 0.005
    23.0103
    """
    e, r = _pair(estimate, reference)
    rng = float(r.max() - r.min()) if data_range is None else float(data_range)
    mse = float(((e - r) ** 2).mean())
    return float("inf") if mse == 0 else float(10 * np.log10(rng ** 2 / mse))


def ssim(estimate, reference, data_range: float | None = None, *, channel_axis: int | None = None,
         win_size: int | None = None) -> float:
    """Mean SSIM (Wang et al. 2004) by ``skimage.metrics.structural_similarity`` over all axes.

    For (C, *spatial) arrays pass ``channel_axis=0``. The window (default 7) is shrunk to the smallest
    spatial extent (odd) so that short signals and thin volumes work.
    """
    from skimage.metrics import structural_similarity  # imported here: scikit-image is slow to import
    e, r = _pair(estimate, reference)
    rng = float(r.max() - r.min()) if data_range is None else float(data_range)
    spatial = [n for i, n in enumerate(r.shape) if channel_axis is None or i != channel_axis % r.ndim]
    if win_size is None:
        win_size = min(7, min(spatial))
        win_size -= (win_size + 1) % 2
    if win_size < 3:
        raise ValueError(f"SSIM needs every spatial extent >= 3, got shape {r.shape}")
    return float(structural_similarity(r, e, data_range=rng, channel_axis=channel_axis, win_size=win_size))
