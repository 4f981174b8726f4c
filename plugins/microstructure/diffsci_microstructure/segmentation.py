"""From a micro-CT volume to a pore mask: already-binary images by value, grayscale ones by Otsu's threshold.

Convention throughout the plugin (as in porespy): a boolean array with True = pore (void), False = grain.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["binarize", "otsu_threshold"]


def otsu_threshold(volume: np.ndarray) -> float:
    """Otsu's (1979) threshold of a grayscale volume (scikit-image), computed on at most 2M voxels."""
    from skimage.filters import threshold_otsu
    v = np.asarray(volume).ravel()
    if v.size > 2_000_000:                                  # a regular subsample: the histogram is what matters
        v = v[:: v.size // 2_000_000]
    return float(threshold_otsu(v))


def binarize(volume: np.ndarray, *, pore_value: float | None = None, threshold: float | None = None,
             pore_is_dark: bool = True, source: str = "volume") -> tuple[np.ndarray, dict]:
    """Pore mask (True = pore) of a volume, and the coding needed to write generated masks back.

    - bool: returned as it is (True = pore).
    - exactly two values (a segmented image): pore = ``pore_value`` if given, else the darker value when
      ``pore_is_dark`` (pores attenuate X-rays least: 0 = pore, 255 = grain in the Imperial College images).
    - one value: an error (nothing to segment).
    - more values (grayscale): pore = below ``threshold`` (above when not ``pore_is_dark``); without a
      threshold, Otsu's, with a warning that a hand-checked segmentation is better for quantitative work.

    Returns:
        (pore mask of the input's shape, meta with dtype, pore_value, solid_value, threshold).

    >>> m, meta = binarize(np.array([0, 255, 255, 0], dtype=np.uint8))
    >>> m.tolist(), meta["pore_value"], meta["solid_value"]
    ([True, False, False, True], 0, 255)
    """
    a = np.asarray(volume)
    if a.dtype == bool:
        return a.copy(), {"dtype": "bool", "pore_value": True, "solid_value": False}
    if not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"{source}: cannot segment an array of dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        raise ValueError(f"{source}: the volume holds NaN or Inf values")
    sample = a.ravel()[:: max(1, a.size // 5_000_000)]
    values = np.unique(sample)
    if values.size <= 2:
        values = np.unique(a)
    meta = {"dtype": str(a.dtype)}
    if values.size == 1:
        raise ValueError(f"{source}: the volume has a single value ({values[0]}); there is no pore/grain contrast")
    if values.size == 2 and threshold is None:
        lo, hi = values.tolist()
        if pore_value is None:
            pore_value = lo if pore_is_dark else hi
        if pore_value not in (lo, hi):
            raise ValueError(f"{source}: pore_value={pore_value} is not one of the volume's two values {lo}, {hi}")
        solid = hi if pore_value == lo else lo
        meta.update(pore_value=_py(pore_value), solid_value=_py(solid), threshold=None)
        return a == pore_value, meta
    if threshold is None:
        threshold = otsu_threshold(a)
        warnings.warn(f"{source}: grayscale volume ({values.size}+ distinct values); segmenting with Otsu's "
                      f"threshold {threshold:.4g} ({'darker' if pore_is_dark else 'brighter'} = pore). Check it: "
                      "pass a segmented volume for quantitative work", stacklevel=2)
    pore = a < threshold if pore_is_dark else a > threshold
    lo, hi = (0, 255) if a.dtype == np.uint8 else (float(a.min()), float(a.max()))
    meta.update(pore_value=_py(lo if pore_is_dark else hi), solid_value=_py(hi if pore_is_dark else lo),
                threshold=float(threshold))
    return pore, meta


def _py(v):
    return v.item() if isinstance(v, np.generic) else v
