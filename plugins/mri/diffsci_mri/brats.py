"""BraTS patches (Medical Segmentation Decathlon Task01): assemble, normalise, tile.

The folder ``brats_patches/`` holds patches ``NAME_<k>_x<X>_y<Y>_z<Z>.h5`` of one glioma case, each with
``x`` (4, 160, 160, 16) raw intensities (FLAIR, T1w, T1gd, T2w) and ``y`` (160, 160, 16, 4) one-hot
labels (background, edema, non-enhancing tumour, enhancing tumour), cut at the offset (X, Y, Z) of the
240 x 240 x 155 BraTS grid. Overlapping patches agree (checked: 2216 of 16.9 M overlapping voxels
differ), so :func:`assemble_brats` pastes them back into the grid: one partial volume with a coverage
mask. Every axial slice it covers holds tumour, so "healthy" data are tumour-free *tiles*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from scipy import ndimage

from .io.checks import check_finite_array

__all__ = ["BratsVolume", "assemble_brats", "tiles", "CHANNELS", "GRID"]

CHANNELS = ("FLAIR", "T1w", "T1gd", "T2w")
GRID = (240, 240, 155)
_NAME = re.compile(r"_x(\d+)_y(\d+)_z(\d+)\.h5$")


@dataclass
class BratsVolume:
    """The assembled case: ``image`` (4, X, Y, Z) in [0, 1], ``tumour`` (X, Y, Z) bool (any label > 0),
    ``labels`` (X, Y, Z) int, ``covered`` (X, Y, Z) bool, ``brain`` (X, Y, Z) bool, and the covered z-range."""

    image: np.ndarray
    tumour: np.ndarray
    labels: np.ndarray
    covered: np.ndarray
    brain: np.ndarray
    z_range: tuple[int, int]
    scale: np.ndarray
    files: list[str]


def _read_patch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with h5py.File(path, "r") as f:
            if "x" not in f or "y" not in f:
                raise ValueError(f"{path}: expected datasets 'x' and 'y', found {', '.join(f.keys())}")
            x, y = np.asarray(f["x"][()]), np.asarray(f["y"][()])
    except OSError as e:
        raise ValueError(f"{path}: not a readable HDF5 file (truncated or corrupt?): {e}") from None
    if x.ndim != 4 or x.shape[0] != 4 or y.shape != x.shape[1:] + (4,):
        raise ValueError(f"{path}: x has shape {x.shape} and y {y.shape}; expected (4, X, Y, Z) and (X, Y, Z, 4)")
    check_finite_array(x, str(path), "'x'")
    return x, y


def assemble_brats(folder: str | Path, percentile: float = 99.5) -> BratsVolume:
    """Paste every patch of ``folder`` into the BraTS grid and scale each channel to [0, 1].

    Each channel is divided by its ``percentile``-th percentile over the brain (FLAIR > 0) and
    clipped to [0, 1] (the domain's normalisation).
    """
    folder = Path(folder)
    files = sorted(p for p in folder.glob("*.h5") if _NAME.search(p.name))
    if not files:
        raise FileNotFoundError(f"{folder}: no BraTS patch files (*_x<X>_y<Y>_z<Z>.h5)")
    image = np.zeros((4,) + GRID, dtype=np.float32)
    labels = np.zeros(GRID, dtype=np.int8)
    covered = np.zeros(GRID, dtype=bool)
    for p in files:
        x0, y0, z0 = map(int, _NAME.search(p.name).groups())
        x, y = _read_patch(p)
        sl = tuple(slice(o, o + s) for o, s in zip((x0, y0, z0), x.shape[1:]))
        if any(s.stop > g for s, g in zip(sl, GRID)):
            raise ValueError(f"{p}: a patch of shape {x.shape[1:]} at {(x0, y0, z0)} leaves the grid {GRID}")
        image[(slice(None),) + sl] = x
        labels[sl] = y.argmax(-1)
        covered[sl] = True
    brain = covered & (image[0] > 0)
    scale = np.array([np.percentile(image[c][brain], percentile) for c in range(4)], dtype=np.float32)
    image = np.clip(image / scale[:, None, None, None], 0, 1)
    zs = np.flatnonzero(covered.any((0, 1)))
    return BratsVolume(image, labels > 0, labels, covered, brain, (int(zs[0]), int(zs[-1])), scale,
                       [p.name for p in files])


def tiles(vol: BratsVolume, z_slices, size: int = 32, stride: int = 16, min_brain: float = 0.5,
          tumour_margin: int = 4) -> dict[str, np.ndarray]:
    """Axial tiles of ``z_slices``: fully covered, with at least ``min_brain`` brain pixels.

    Returns ``x`` (N, 4, size, size), ``tumour_frac`` (N,), ``clean`` (N,) bool (no tumour within
    ``tumour_margin`` pixels of the tile), ``origin`` (N, 3) (x, y, z).
    """
    xs, fr, clean, org = [], [], [], []
    for z in z_slices:
        cov, br, tu = vol.covered[..., z], vol.brain[..., z], vol.tumour[..., z]
        near = ndimage.binary_dilation(tu, iterations=tumour_margin) if tumour_margin else tu
        for i in range(0, GRID[0] - size + 1, stride):
            for j in range(0, GRID[1] - size + 1, stride):
                win = (slice(i, i + size), slice(j, j + size))
                if not cov[win].all() or br[win].mean() < min_brain:
                    continue
                xs.append(vol.image[(slice(None),) + win + (z,)])
                fr.append(tu[win].mean())
                clean.append(not near[win].any())
                org.append((i, j, z))
    if not xs:
        return {"x": np.zeros((0, 4, size, size), np.float32), "tumour_frac": np.zeros(0),
                "clean": np.zeros(0, bool), "origin": np.zeros((0, 3), int)}
    return {"x": np.stack(xs).astype(np.float32), "tumour_frac": np.array(fr), "clean": np.array(clean),
            "origin": np.array(org)}
