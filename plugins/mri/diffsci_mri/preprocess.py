"""Volume preprocessing with MONAI transforms: orientation, spacing, foreground crop, intensity, pad/crop.

The pipeline (all MONAI array transforms on a ``MetaTensor`` that carries the affine, so every output
can be written back as NIfTI in scanner space):

1. ``Orientation(axcodes)``  — RAS by default: axis 2 is then the axial (inferior -> superior) axis;
2. ``Spacing(pixdim)``       — resample to a common voxel size (bilinear);
3. ``CropForeground``        — the bounding box of the non-zero voxels (plus a margin);
4. ``ScaleIntensityRangePercentiles(lower, upper, 0, 1, clip=True)`` — the domain's normalisation:
   the ``lower``-th percentile maps to 0, the ``upper``-th to 1, clipped to [0, 1];
5. ``ResizeWithPadOrCrop``   — pad or centre-crop the in-plane axes to a fixed size (the slicing axis
   keeps its length).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from diffsci.domains import Loaded

if TYPE_CHECKING:                 # MONAI takes seconds to import: only inside the functions that use it
    from monai.data import MetaTensor
    from monai.transforms import Compose

__all__ = ["to_metatensor", "preprocess_volume", "build_transforms", "NORMALISATION"]

NORMALISATION = ("magnitude images resampled by MONAI (RAS, fixed spacing), cropped to the foreground, "
                 "intensity percentile-scaled so that the lower percentile (default 0) -> 0 and the upper "
                 "(default 99.5) -> 1, clipped to [0, 1]; arrays (1, H, W) per slice or (1, X, Y, Z) patches")


def to_metatensor(loaded: Loaded) -> MetaTensor:
    """A channel-first ``(C, X, Y, Z)`` MetaTensor carrying the NIfTI affine of ``loaded.meta``."""
    from monai.data import MetaTensor
    arr = np.asarray(loaded.array, dtype=np.float32)
    if arr.ndim != 4:
        raise ValueError(f"{loaded.meta.get('path', 'volume')}: expected a (C, X, Y, Z) volume, got shape "
                         f"{arr.shape}")
    affine = torch.as_tensor(np.asarray(loaded.meta.get("affine", np.eye(4))), dtype=torch.float64)
    return MetaTensor(torch.from_numpy(arr), affine=affine)


def build_transforms(*, axcodes: str = "RAS", pixdim: Sequence[float] | None = (1.5, 1.5, 1.5),
                     crop_foreground: bool = True, margin: int = 4,
                     percentiles: tuple[float, float] = (0.0, 99.5),
                     spatial_size: Sequence[int] | None = None) -> Compose:
    """The MONAI pipeline of this module's docstring (steps with ``None`` arguments are left out)."""
    from monai.transforms import (Compose, CropForeground, Orientation, ResizeWithPadOrCrop,
                                  ScaleIntensityRangePercentiles, Spacing)
    ts = [Orientation(axcodes=axcodes, labels=None)]
    if pixdim is not None:
        ts.append(Spacing(pixdim=tuple(pixdim), mode="bilinear"))
    if crop_foreground:
        ts.append(CropForeground(select_fn=lambda v: v > 0, margin=margin, allow_smaller=True))
    lo, hi = percentiles
    ts.append(ScaleIntensityRangePercentiles(lower=lo, upper=hi, b_min=0.0, b_max=1.0, clip=True))
    if spatial_size is not None:
        ts.append(ResizeWithPadOrCrop(spatial_size=tuple(spatial_size)))
    return Compose(ts)


def preprocess_volume(loaded: Loaded, *, axcodes: str = "RAS", pixdim: Sequence[float] | None = (1.5, 1.5, 1.5),
                      crop_foreground: bool = True, margin: int = 4,
                      percentiles: tuple[float, float] = (0.0, 99.5),
                      in_plane: Sequence[int] | None = (128, 128), axis: int = 2) -> MetaTensor:
    """Run the pipeline on one volume; returns a float32 ``(C, X, Y, Z)`` MetaTensor with its affine.

    Args:
        loaded: a volume from :func:`diffsci_mri.io.read_nifti` (``(C, X, Y, Z)`` with ``meta['affine']``).
        axcodes, pixdim, margin, percentiles: see :func:`build_transforms`.
        in_plane: size of the two axes other than ``axis`` after padding/cropping (None: keep).
        axis: the slicing axis (2 = axial in RAS); its length is kept.
    """
    from monai.data import MetaTensor
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
    size = None
    if in_plane is not None:
        size = list(in_plane)
        size.insert(axis, -1)                      # -1: MONAI keeps that axis' length
    pipe = build_transforms(axcodes=axcodes, pixdim=pixdim, crop_foreground=crop_foreground, margin=margin,
                            percentiles=percentiles, spatial_size=size)
    out = pipe(to_metatensor(loaded))
    if not isinstance(out, MetaTensor):
        out = MetaTensor(out)
    if not torch.isfinite(out).all():
        raise ValueError(f"{loaded.meta.get('path', 'volume')}: preprocessing produced NaN/Inf "
                         "(an empty or constant volume?)")
    return out.float()
