"""k-space sampling masks: fastMRI's 1-D Cartesian masks and 2-D variable-density masks for 3-D scans.

1-D masks follow the semantics of fastMRI's ``subsample.py`` (Zbontar et al. 2018, Sec. 4.2), written
here from the paper's description so that masks can be drawn with a numpy Generator:

- ``N_low = round(N * center_fraction)`` centre columns are always sampled, starting at
  ``(N - N_low + 1) // 2``;
- random: every other column is kept with probability ``(N / R - N_low) / (N - N_low)``, so the
  expected number of columns is ``N / R``;
- equispaced: columns ``round(offset + j * R')`` with the adjusted spacing
  ``R' = R (N_low - N) / (N_low R - N)`` and a random ``offset`` in ``[0, round(R'))``, so that the
  total is again about ``N / R``.

The standard pairs are 4x with centre fraction 0.08 and 8x with 0.04 (:data:`CENTER_FRACTIONS`).
Masks are centred (DC column at ``N // 2``), boolean, shape ``(N,)`` for 1-D; apply a column mask to
``(..., H, W)`` k-space by broadcasting along the last axis.

2-D masks for 3-D Cartesian acquisitions (two phase-encoding axes) are variable-density Poisson-disc
masks with a fully sampled calibration square, drawn by SigPy (``sigpy.mri.poisson``,
Lustig et al. 2007; Uecker's variable-density Poisson disc).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["CENTER_FRACTIONS", "random_mask_1d", "equispaced_mask_1d", "cartesian_mask",
           "poisson_mask_2d", "acceleration_of", "column_mask_2d"]

#: fastMRI's centre fraction for each acceleration.
CENTER_FRACTIONS = {4: 0.08, 8: 0.04}


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _check(num_cols: int, acceleration: float, center_fraction: float) -> int:
    if num_cols < 2:
        raise ValueError(f"a k-space mask needs at least 2 columns, got {num_cols}")
    if acceleration < 1:
        raise ValueError(f"acceleration must be >= 1, got {acceleration}")
    if not 0 <= center_fraction <= 1:
        raise ValueError(f"center_fraction must be in [0, 1], got {center_fraction}")
    num_low = int(round(num_cols * center_fraction))
    if num_low > num_cols / acceleration:
        raise ValueError(f"centre fraction {center_fraction} keeps {num_low} of {num_cols} columns, more than "
                         f"the {num_cols / acceleration:.1f} that acceleration {acceleration} allows")
    return num_low


def _centre(num_cols: int, num_low: int) -> slice:
    pad = (num_cols - num_low + 1) // 2           # fastMRI's placement of the low frequencies
    return slice(pad, pad + num_low)


def random_mask_1d(num_cols: int, acceleration: float, center_fraction: float | None = None,
                   seed: int | np.random.Generator | None = 0) -> np.ndarray:
    """fastMRI's random column mask (``RandomMaskFunc``): centre block + columns kept with prob. p.

    >>> m = random_mask_1d(368, 4, 0.08, seed=0)
    >>> m.shape, bool(m[_centre(368, 29)].all())
    ((368,), True)
    """
    center_fraction = CENTER_FRACTIONS.get(int(acceleration), 0.08) if center_fraction is None \
        else center_fraction
    num_low = _check(num_cols, acceleration, center_fraction)
    prob = (num_cols / acceleration - num_low) / (num_cols - num_low)
    mask = _rng(seed).uniform(size=num_cols) < prob
    mask[_centre(num_cols, num_low)] = True
    return mask


def equispaced_mask_1d(num_cols: int, acceleration: float, center_fraction: float | None = None,
                       seed: int | np.random.Generator | None = 0) -> np.ndarray:
    """fastMRI's equispaced column mask (``EquispacedMaskFunc``), adjusted for the centre block.

    >>> m = equispaced_mask_1d(320, 4, 0.08, seed=0)
    >>> int(m.sum())   # ~ 320 / 4
    80
    """
    center_fraction = CENTER_FRACTIONS.get(int(acceleration), 0.08) if center_fraction is None \
        else center_fraction
    num_low = _check(num_cols, acceleration, center_fraction)
    mask = np.zeros(num_cols, dtype=bool)
    mask[_centre(num_cols, num_low)] = True
    if num_low * acceleration == num_cols:    # the centre block alone reaches the acceleration
        return mask
    adjusted = acceleration * (num_low - num_cols) / (num_low * acceleration - num_cols)
    offset = int(_rng(seed).integers(0, max(1, round(adjusted))))
    cols = np.around(np.arange(offset, num_cols - 1, adjusted)).astype(np.int64)
    mask[cols[cols < num_cols]] = True
    return mask


def cartesian_mask(kind: Literal["random", "equispaced"], num_cols: int, acceleration: float,
                   center_fraction: float | None = None, seed: int | np.random.Generator | None = 0
                   ) -> np.ndarray:
    """A 1-D column mask of the given kind (``"random"`` or ``"equispaced"``)."""
    fns = {"random": random_mask_1d, "equispaced": equispaced_mask_1d}
    if kind not in fns:
        raise ValueError(f"unknown mask kind '{kind}'; valid: {', '.join(fns)}")
    return fns[kind](num_cols, acceleration, center_fraction, seed)


def column_mask_2d(mask_1d: np.ndarray, num_rows: int) -> np.ndarray:
    """Broadcast a column mask ``(W,)`` to a full ``(H, W)`` k-space mask (every row alike)."""
    return np.broadcast_to(np.asarray(mask_1d, dtype=bool)[None, :], (num_rows, len(mask_1d))).copy()


def poisson_mask_2d(shape: tuple[int, int], acceleration: float, calib: tuple[int, int] = (24, 24),
                    seed: int = 0, crop_corner: bool = True) -> np.ndarray:
    """Variable-density Poisson-disc mask over two phase-encoding axes (SigPy), calibration square kept.

    Args:
        shape: (ky, kz) phase-encoding grid of a 3-D Cartesian scan.
        acceleration: target undersampling factor; SigPy reaches it within its tolerance (10 %).
        calib: size of the fully sampled centre.
        crop_corner: leave out the k-space corners (elliptical sampling).
    """
    import sigpy.mri

    if any(c > s for c, s in zip(calib, shape)):
        raise ValueError(f"calibration region {calib} is larger than the k-space grid {shape}")
    # SigPy's density search (a bisection on the variable-density slope) fails for some seeds on small
    # grids ("Cannot generate mask"); retry with derived seeds, so a given seed still gives one mask.
    for attempt in range(8):
        try:
            m = sigpy.mri.poisson(tuple(shape), float(acceleration), calib=tuple(calib), dtype=np.float32,
                                  crop_corner=crop_corner, seed=seed + 7919 * attempt)
            return m > 0
        except ValueError:
            continue
    raise ValueError(f"could not draw a Poisson-disc mask of acceleration {acceleration} on a {shape} grid "
                     f"with calibration {calib} (8 seeds tried); lower the acceleration or enlarge the grid")


def acceleration_of(mask: np.ndarray) -> float:
    """Achieved acceleration: samples on the grid divided by samples taken."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise ValueError("the mask samples nothing")
    return mask.size / mask.sum()
