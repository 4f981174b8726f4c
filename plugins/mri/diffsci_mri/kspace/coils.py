"""Coil sensitivity maps from the fully sampled calibration region, and coil combination.

- :func:`espirit_maps`: ESPIRiT (Uecker et al., MRM 2014) through SigPy's ``EspiritCalib`` — the
  eigenvector of the calibration matrix's image-space operator with eigenvalue ~1, cropped where
  the eigenvalue falls below ``crop``;
- :func:`lowres_maps`: the simpler estimate used when ESPIRiT is not wanted: the coil images of the
  Hann-windowed calibration region divided by their root-sum-of-squares (the "low-resolution
  ratio" estimate; Pruessmann et al. 1999 used body-coil ratios), zero outside a threshold mask;
- :func:`absorb_phase`: put the smooth phase of the calibration image into the maps, so that the
  object is (close to) real and non-negative, the image space of a magnitude prior.

k-space is centred, shape ``(coils, H, W)``, complex.
"""

from __future__ import annotations

import numpy as np

from .fft import ifft2c, rss

__all__ = ["espirit_maps", "lowres_maps", "absorb_phase", "sense_combine", "calibration_region"]


def _check_kspace(kspace: np.ndarray, what: str = "k-space") -> np.ndarray:
    kspace = np.asarray(kspace)
    if kspace.ndim != 3 or not np.iscomplexobj(kspace):
        raise ValueError(f"{what} must be complex (coils, H, W), got {kspace.dtype} of shape {kspace.shape}")
    return kspace


def calibration_region(kspace: np.ndarray, width: int) -> np.ndarray:
    """Zero every sample outside the central ``width x width`` square of each coil's k-space."""
    kspace = _check_kspace(kspace)
    out = np.zeros_like(kspace)
    h, w = kspace.shape[-2:]
    ch, cw = min(width, h), min(width, w)
    sy, sx = (h - ch + 1) // 2, (w - cw + 1) // 2
    out[:, sy:sy + ch, sx:sx + cw] = kspace[:, sy:sy + ch, sx:sx + cw]
    return out


def espirit_maps(kspace: np.ndarray, calib_width: int = 24, thresh: float = 0.02, kernel_width: int = 6,
                 crop: float = 0.95, max_iter: int = 100) -> np.ndarray:
    """ESPIRiT maps ``(coils, H, W)`` complex64 by SigPy (``sigpy.mri.app.EspiritCalib``).

    Only the central ``calib_width`` lines/columns are used, so the maps can be estimated from an
    undersampled acquisition that keeps its centre fully sampled.
    """
    import sigpy.mri

    kspace = _check_kspace(kspace)
    if min(kspace.shape[-2:]) < calib_width:
        raise ValueError(f"calibration width {calib_width} exceeds the k-space size {kspace.shape[-2:]}")
    maps = sigpy.mri.app.EspiritCalib(kspace.astype(np.complex64), calib_width=calib_width, thresh=thresh,
                                      kernel_width=kernel_width, crop=crop, max_iter=max_iter,
                                      show_pbar=False).run()
    return np.asarray(maps, dtype=np.complex64)


def lowres_maps(kspace: np.ndarray, calib_width: int = 24, threshold: float = 0.05) -> np.ndarray:
    """Low-resolution ratio maps: ``S_c = x_c^low / rss(x^low)`` where ``rss(x^low) > threshold * max``.

    ``x^low`` are the coil images of the calibration square under a 2-D Hann window (to suppress the
    ringing of the truncation). The maps satisfy ``sum_c |S_c|^2 = 1`` inside the mask.
    """
    kspace = _check_kspace(kspace)
    cal = calibration_region(kspace, calib_width)
    h, w = kspace.shape[-2:]
    ch, cw = min(calib_width, h), min(calib_width, w)
    win = np.zeros((h, w))
    sy, sx = (h - ch + 1) // 2, (w - cw + 1) // 2
    win[sy:sy + ch, sx:sx + cw] = np.outer(np.hanning(ch + 2)[1:-1], np.hanning(cw + 2)[1:-1])
    low = ifft2c(cal * win)
    r = rss(low, axis=0)
    support = r > threshold * r.max()
    return np.where(support, low / np.maximum(r, 1e-12), 0).astype(np.complex64)


def sense_combine(coil_images: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """Least-squares coil combination ``sum_c conj(S_c) x_c / sum_c |S_c|^2`` (0 where no coil sees)."""
    num = (np.conj(maps) * coil_images).sum(axis=0)
    den = (np.abs(maps) ** 2).sum(axis=0)
    return np.where(den > 1e-8, num / np.maximum(den, 1e-8), 0)


def absorb_phase(maps: np.ndarray, kspace: np.ndarray, calib_width: int = 24) -> np.ndarray:
    """Maps times the phase of the low-resolution combined image, ``S_c e^{i phi}``.

    The object ``x = |x| e^{i phi_true}`` then satisfies ``S_c x = (S_c e^{i phi}) |x| e^{i (phi_true - phi)}``:
    when the image phase is smooth (phi_true ~ phi, which the calibration region measures), the
    object in the new maps is real and non-negative. The residual phase is a model error that a
    magnitude prior cannot represent; :func:`diffsci_mri.harness` reports it.
    """
    kspace = _check_kspace(kspace)
    low = ifft2c(calibration_region(kspace, calib_width))
    phase = np.exp(1j * np.angle(sense_combine(low, maps)))
    return (maps * phase[None]).astype(np.complex64)

