"""Reconstruction metrics exactly as fastMRI's ``evaluate.py`` (Zbontar et al. 2018, Sec. 5).

- NMSE = ||gt - pred||_2^2 / ||gt||_2^2 over the whole volume;
- PSNR = 10 log10(max(gt)^2 / MSE) with the data range the *volume's* maximum (skimage's
  ``peak_signal_noise_ratio(gt, pred, data_range=gt.max())``);
- SSIM = mean over slices of skimage's ``structural_similarity(gt_i, pred_i, data_range=max(gt))``
  with its defaults: 7x7 uniform window, K1 = 0.01, K2 = 0.03, no Gaussian weighting.

Inputs are magnitude images ``(slices, H, W)`` (a 2-D image is one slice). ``maxval`` lets a caller
score a subset of a volume's slices with the data range of the whole volume.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nmse", "psnr", "ssim", "slice_metrics", "METRICS"]


def _volumes(gt, pred, what: str) -> tuple[np.ndarray, np.ndarray]:
    gt = np.asarray(gt, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if gt.ndim == 2:
        gt, pred = gt[None], pred[None] if pred.ndim == 2 else pred
    if gt.ndim != 3:
        raise ValueError(f"{what}: expected (slices, H, W) or (H, W) magnitude images, got shape {gt.shape}")
    if gt.shape != pred.shape:
        raise ValueError(f"{what}: ground truth {gt.shape} and prediction {pred.shape} differ in shape")
    return gt, pred


def nmse(gt, pred) -> float:
    """Normalised MSE ``||gt - pred||^2 / ||gt||^2``.

    >>> nmse(np.array([[3.0, 4.0]]), np.array([[3.0, 3.0]]))
    0.04
    """
    gt, pred = _volumes(gt, pred, "nmse")
    return float(np.linalg.norm(gt - pred) ** 2 / np.linalg.norm(gt) ** 2)


def psnr(gt, pred, maxval: float | None = None) -> float:
    """PSNR in dB with ``data_range = gt.max()`` (or ``maxval``).

    >>> round(psnr(np.array([[1.0, 0.0]]), np.array([[0.9, 0.0]])), 4)   # MSE 0.005 -> 10 log10(1/0.005)
    23.0103
    """
    gt, pred = _volumes(gt, pred, "psnr")
    maxval = float(gt.max()) if maxval is None else float(maxval)
    from skimage.metrics import peak_signal_noise_ratio   # lazy: skimage is slow to import
    return float(peak_signal_noise_ratio(gt, pred, data_range=maxval))


def ssim(gt, pred, maxval: float | None = None) -> float:
    """Mean over slices of skimage's SSIM (7x7 window) with ``data_range = gt.max()`` (or ``maxval``)."""
    gt, pred = _volumes(gt, pred, "ssim")
    maxval = float(gt.max()) if maxval is None else float(maxval)
    from skimage.metrics import structural_similarity
    return float(np.mean([structural_similarity(g, p, data_range=maxval) for g, p in zip(gt, pred)]))


def slice_metrics(gt, pred, maxval: float) -> dict[str, np.ndarray]:
    """Per-slice NMSE, PSNR and SSIM of ``(slices, H, W)`` images, all with the volume's ``maxval``.

    fastMRI averages per volume; with few test volumes we report the per-slice distribution, each slice
    scored with the data range of the volume it comes from (so that a dark slice is not flattered).
    """
    gt, pred = _volumes(gt, pred, "slice_metrics")
    return {"nmse": np.array([nmse(g, p) for g, p in zip(gt, pred)]),
            "psnr": np.array([psnr(g, p, maxval) for g, p in zip(gt, pred)]),
            "ssim": np.array([ssim(g, p, maxval) for g, p in zip(gt, pred)])}


#: Domain metrics: ``(estimate, reference) -> float`` (note the order: the Domain contract passes the
#: estimate first; fastMRI's functions take the ground truth first).
METRICS = {"nmse": lambda est, ref: nmse(ref, est), "psnr": lambda est, ref: psnr(ref, est),
           "ssim": lambda est, ref: ssim(ref, est)}
