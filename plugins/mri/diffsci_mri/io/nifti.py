"""NIfTI-1/2 volumes through nibabel, keeping the affine and the header on every output.

Array layout (the domain's convention): channels first, ``(C, X, Y, Z)`` in the file's voxel order
(a 3-D file gives C = 1, a 4-D file (X, Y, Z, T) gives C = T). A 2-D file gives ``(1, X, Y)``.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from diffsci.domains import Loaded

from .checks import check_exists, check_finite_array

__all__ = ["read_nifti", "write_nifti"]


def read_nifti(path: str | Path) -> Loaded:
    """Read a ``.nii`` / ``.nii.gz`` volume as float32 ``(C, X, Y[, Z])``.

    ``meta`` holds ``affine`` (4x4 float64), ``header`` (the nibabel header, with scaling applied to
    the data so the writer stores float32), ``zooms`` (voxel size in mm), ``path`` and the on-disk
    ``dtype``. Truncated or corrupt files, ranks other than 2-4 and NaN/Inf voxels are ValueErrors.
    """
    path = check_exists(path)
    try:
        img = nib.load(str(path))
        data = np.asarray(img.dataobj, dtype=np.float32)     # applies scl_slope / scl_inter
    except (EOFError, OSError, zlib.error, gzip.BadGzipFile, nib.filebasedimages.ImageFileError,
            ValueError) as e:
        raise ValueError(f"{path}: not a readable NIfTI file (truncated or corrupt?): {e}") from None
    if data.ndim == 5 and data.shape[3] == 1:               # (X, Y, Z, 1, C): vector-valued NIfTI
        data = data[:, :, :, 0]
    if data.ndim not in (2, 3, 4):
        raise ValueError(f"{path}: NIfTI data has shape {data.shape}; expected a 2-D image, a 3-D volume "
                         "or a 4-D (X, Y, Z, channel) stack")
    check_finite_array(data, str(path), "volume")
    arr = np.moveaxis(data, -1, 0) if data.ndim == 4 else data[None]
    header = img.header.copy()
    meta = {"affine": np.asarray(img.affine, dtype=np.float64), "header": header,
            "zooms": tuple(float(z) for z in header.get_zooms()[:3]), "path": str(path),
            "dtype": str(img.get_data_dtype())}
    return Loaded(np.ascontiguousarray(arr), meta)


def write_nifti(path: str | Path, array: np.ndarray, meta: dict | None = None) -> None:
    """Write ``(C, X, Y[, Z])`` (or ``(X, Y, Z)``) as NIfTI with the affine and header of ``meta``.

    The header of the source volume is copied (orientation codes, units, description) and its data
    type set to float32; without ``meta['affine']`` the identity affine is used (and said so in the
    header's description).
    """
    path = Path(path)
    meta = meta or {}
    arr = np.asarray(array)
    if arr.ndim == 4:                                        # (C, X, Y, Z) -> (X, Y, Z[, C])
        arr = arr[0] if arr.shape[0] == 1 else np.moveaxis(arr, 0, -1)
    elif arr.ndim == 3 and arr.shape[0] == 1:                # (1, X, Y): a 2-D image
        arr = arr[0]
    if arr.ndim not in (2, 3, 4):
        raise ValueError(f"{path}: cannot write an array of shape {np.shape(array)} as NIfTI; "
                         "expected (C, X, Y, Z), (X, Y, Z) or (1, X, Y)")
    check_finite_array(arr, str(path), "array to write")
    affine = np.asarray(meta.get("affine", np.eye(4)), dtype=np.float64)
    if affine.shape != (4, 4):
        raise ValueError(f"{path}: meta['affine'] has shape {affine.shape}, expected (4, 4)")
    header = meta.get("header")
    header = header.copy() if header is not None else nib.Nifti1Header()
    img_cls = nib.Nifti2Image if isinstance(header, nib.Nifti2Header) else nib.Nifti1Image
    img = img_cls(arr.astype(np.float32 if not np.iscomplexobj(arr) else np.complex64), affine, header)
    img.set_data_dtype(np.float32 if not np.iscomplexobj(arr) else np.complex64)
    img.header.set_slope_inter(1.0, 0.0)
    if "affine" not in meta:
        img.header["descrip"] = b"diffsci: no source affine, identity used"
    # keep the source's qform/sform codes (nibabel resets them to 'aligned' when it sets the affine)
    if meta.get("header") is not None:
        src = meta["header"]
        img.set_qform(affine, int(src["qform_code"]) or 1)
        img.set_sform(affine, int(src["sform_code"]) or 1)
    nib.save(img, str(path))
