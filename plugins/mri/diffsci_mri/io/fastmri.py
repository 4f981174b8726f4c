"""fastMRI HDF5 volumes through h5py (Zbontar et al. 2018, the dataset's file format).

A fastMRI file holds ``kspace`` (complex64; ``(slices, H, W)`` single-coil or ``(slices, coils, H, W)``
multi-coil), the targets ``reconstruction_esc`` (single-coil) / ``reconstruction_rss`` (multi-coil),
``(slices, 320, 320)`` float32, the ISMRMRD XML header ``ismrmrd_header`` and attributes (``acquisition``,
``max``, ``norm``, ``patient_id``). Submissions hold one dataset ``reconstruction``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from diffsci.domains import Loaded
from diffsci.io import open_hdf5

from .checks import check_exists, check_finite_array

__all__ = ["FastMRIVolume", "read_fastmri", "load_fastmri", "write_fastmri", "parse_ismrmrd_header",
           "RECONSTRUCTION_KEYS"]

#: Image datasets looked for, in this order: a submission, then the multi- and single-coil targets.
RECONSTRUCTION_KEYS = ("reconstruction", "reconstruction_rss", "reconstruction_esc")


@dataclass
class FastMRIVolume:
    """Everything in one fastMRI file. ``kspace`` is None in a reconstruction-only file."""

    path: str
    kspace: np.ndarray | None
    reconstructions: dict[str, np.ndarray] = field(default_factory=dict)
    ismrmrd_header: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    mask: np.ndarray | None = None

    @property
    def multicoil(self) -> bool:
        return self.kspace is not None and self.kspace.ndim == 4


def read_fastmri(path: str | Path, *, slices: slice | None = None) -> FastMRIVolume:
    """Read a fastMRI HDF5 file (all of it, or ``slices`` of it); bad files are ValueErrors naming the file.

    Args:
        path: a ``.h5`` file of the fastMRI dataset (or one written by :func:`write_fastmri`).
        slices: optional slice of the first (slice) axis to read.
    """
    path = check_exists(path)
    sl = slices if slices is not None else slice(None)
    with open_hdf5(path, hint="truncated or corrupt?") as f:
        if "kspace" not in f and not any(k in f for k in RECONSTRUCTION_KEYS):
            raise ValueError(f"{path}: no 'kspace' nor any of {', '.join(RECONSTRUCTION_KEYS)} in the file "
                             f"(datasets: {', '.join(f.keys()) or 'none'}); is it a fastMRI file?")
        try:
            kspace = None
            if "kspace" in f:
                ks = f["kspace"]
                if ks.ndim not in (3, 4):
                    raise ValueError(f"{path}: 'kspace' has shape {ks.shape}; expected (slices, H, W) "
                                     "single-coil or (slices, coils, H, W) multi-coil")
                if not np.issubdtype(ks.dtype, np.complexfloating):
                    raise ValueError(f"{path}: 'kspace' has dtype {ks.dtype}; expected complex64")
                kspace = np.asarray(ks[sl], dtype=np.complex64)
                check_finite_array(kspace, str(path), "'kspace'")
            recons = {}
            for key in RECONSTRUCTION_KEYS:
                if key in f:
                    r = f[key]
                    if r.ndim != 3:
                        raise ValueError(f"{path}: '{key}' has shape {r.shape}; expected (slices, H, W)")
                    recons[key] = np.asarray(r[sl], dtype=np.float32)
                    check_finite_array(recons[key], str(path), f"'{key}'")
            header = None
            if "ismrmrd_header" in f:
                raw = f["ismrmrd_header"][()]
                header = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
            mask = np.asarray(f["mask"][()]) if "mask" in f else None
            attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
        except OSError as e:       # h5py raises OSError on truncated datasets
            raise ValueError(f"{path}: the HDF5 file is truncated or corrupt: {e}") from None
    return FastMRIVolume(str(path), kspace, recons, header, attrs, mask)


def load_fastmri(path: str | Path) -> Loaded:
    """Domain reader: the volume's image as ``(slices, 1, H, W)`` float32.

    The image is the first of :data:`RECONSTRUCTION_KEYS` present, else the root-sum-of-squares of
    the inverse Fourier transform of ``kspace``. ``meta`` holds ``kspace``, ``ismrmrd_header``,
    ``attrs``, ``mask`` and ``key`` (which dataset the image came from).
    """
    vol = read_fastmri(path)
    key = next((k for k in RECONSTRUCTION_KEYS if k in vol.reconstructions), None)
    if key is not None:
        img = vol.reconstructions[key]
    else:
        from ..kspace.fft import ifft2c, rss
        coil_imgs = ifft2c(vol.kspace if vol.multicoil else vol.kspace[:, None])
        img, key = rss(coil_imgs, axis=1).astype(np.float32), "rss(kspace)"
    meta = {"kspace": vol.kspace, "ismrmrd_header": vol.ismrmrd_header, "attrs": vol.attrs,
            "mask": vol.mask, "key": key, "path": vol.path}
    return Loaded(img[:, None], meta)


def write_fastmri(path: str | Path, array: np.ndarray, meta: dict | None = None) -> None:
    """Write images ``(slices, 1, H, W)`` or ``(slices, H, W)`` as a fastMRI-style file.

    The images go to ``meta.get('key', 'reconstruction')``; ``meta['kspace']``, ``meta['ismrmrd_header']``,
    ``meta['mask']`` and ``meta['attrs']`` are written back when present, so a file read with
    :func:`load_fastmri` round-trips.
    """
    meta = meta or {}
    arr = np.asarray(array, dtype=np.float32)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3:
        raise ValueError(f"{path}: cannot write images of shape {np.shape(array)} as fastMRI; "
                         "expected (slices, 1, H, W) or (slices, H, W)")
    check_finite_array(arr, str(path), "images to write")
    key = meta.get("key") or "reconstruction"
    if key not in RECONSTRUCTION_KEYS:
        key = "reconstruction"
    tmp = Path(str(path) + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.create_dataset(key, data=arr)
        if meta.get("kspace") is not None:
            f.create_dataset("kspace", data=np.asarray(meta["kspace"], dtype=np.complex64))
        if meta.get("mask") is not None:
            f.create_dataset("mask", data=np.asarray(meta["mask"]))
        if meta.get("ismrmrd_header"):
            f.create_dataset("ismrmrd_header", data=np.bytes_(meta["ismrmrd_header"].encode("utf-8")))
        for k, v in (meta.get("attrs") or {}).items():
            f.attrs[k] = v
    tmp.replace(path)


def parse_ismrmrd_header(xml: str) -> dict[str, Any]:
    """Encoded and recon matrix sizes and fields of view, and the phase-encoding limits, from the header.

    >>> h = ('<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD"><encoding>'
    ...      '<encodedSpace><matrixSize><x>640</x><y>368</y><z>1</z></matrixSize>'
    ...      '<fieldOfView_mm><x>280</x><y>161</y><z>4.5</z></fieldOfView_mm></encodedSpace>'
    ...      '<reconSpace><matrixSize><x>320</x><y>320</y><z>1</z></matrixSize>'
    ...      '<fieldOfView_mm><x>140</x><y>140</y><z>3</z></fieldOfView_mm></reconSpace>'
    ...      '<encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>365</maximum>'
    ...      '<center>184</center></kspace_encoding_step_1></encodingLimits></encoding></ismrmrdHeader>')
    >>> parse_ismrmrd_header(h)["recon_matrix"], parse_ismrmrd_header(h)["pe_limits"]
    ((320, 320, 1), (0, 365, 184))
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as e:
        raise ValueError(f"ismrmrd_header is not valid XML: {e}") from None
    ns = {"m": root.tag.split("}")[0].strip("{")} if root.tag.startswith("{") else {}
    p = "m:" if ns else ""

    def find(path: str) -> str:
        node = root.find("/".join(p + part for part in path.split("/")), ns)
        if node is None or node.text is None:
            raise ValueError(f"ismrmrd_header has no {path}")
        return node.text

    out: dict[str, Any] = {}
    for space, name in (("encodedSpace", "enc"), ("reconSpace", "recon")):
        out[f"{name}_matrix"] = tuple(int(find(f"encoding/{space}/matrixSize/{a}")) for a in "xyz")
        out[f"{name}_fov_mm"] = tuple(float(find(f"encoding/{space}/fieldOfView_mm/{a}")) for a in "xyz")
    lim = "encoding/encodingLimits/kspace_encoding_step_1"
    out["pe_limits"] = tuple(int(find(f"{lim}/{k}")) for k in ("minimum", "maximum", "center"))
    return out
