"""Reading and writing micro-CT volumes: multi-page TIFF (also inside a .zip), raw binary, HDF5, NumPy, NIfTI.

Every reader returns a :class:`diffsci.domains.Loaded` whose ``array`` is ``(1, *spatial)`` (one channel,
2 or 3 spatial axes) in the file's own dtype and values (no rescaling, so that writing it back gives the
same file content), and whose ``meta`` holds ``format``, ``dtype``, ``source`` and, where the file says
so, ``voxel_size`` (metres). :func:`diffsci_microstructure.segmentation.binarize` turns it into a pore
mask; :func:`encode_binary` turns a generated pore mask back into the file's coding (e.g. 0 = pore,
255 = grain for the Imperial College images).

Raw binary files carry no header: the shape and dtype come from :func:`read_raw`'s arguments, from a
JSON sidecar (``volume.raw.json`` or ``volume.json``: ``{"shape": [400, 400, 400], "dtype": "uint8"}``),
or from the file name (``berea_400x400x400_uint8.raw``), in that order.
"""

from __future__ import annotations

import io
import json
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from diffsci.domains import Loaded
from diffsci.io import hdf5_datasets, open_hdf5

__all__ = ["read_volume", "write_volume", "read_tiff", "write_tiff", "read_zip", "write_zip", "read_raw",
           "write_raw", "read_hdf5", "write_hdf5", "read_npy", "write_npy", "read_nifti", "write_nifti",
           "encode_binary", "READERS", "WRITERS", "SUFFIXES"]

_TIFF = (".tif", ".tiff")
_H5_KEYS = ("volume", "data", "image", "x", "im")


def _canonical(array: np.ndarray, path: Path, what: str = "volume") -> np.ndarray:
    """(1, *spatial) with 2 or 3 spatial axes; a clear error for any other rank or for colour images."""
    a = np.asarray(array)
    if a.ndim in (2, 3):
        return a[None]
    if a.ndim == 4 and a.shape[0] == 1:
        return a
    raise ValueError(f"{path}: the {what} has shape {a.shape}; expected a 2D image (H, W) or a 3D volume "
                     "(D, H, W) of one channel (colour or multi-channel images: convert to grayscale first)")


def _spatial(array: np.ndarray, path: Path) -> np.ndarray:
    """Drop the channel axis of a (1, *spatial) array for writing; (*spatial) is accepted as it is."""
    a = np.asarray(array)
    if a.ndim in (3, 4) and a.shape[0] == 1:
        return a[0]
    if a.ndim in (2, 3):
        return a
    raise ValueError(f"{path}: cannot write an array of shape {a.shape}; expected (1, *spatial) or (*spatial) "
                     "with 2 or 3 spatial axes")


def _meta(fmt: str, path: Path, array: np.ndarray, **kw) -> dict[str, Any]:
    meta = {"format": fmt, "dtype": str(array.dtype), "source": str(path), "shape": list(array.shape[1:])}
    meta.update({k: v for k, v in kw.items() if v is not None})
    return meta


def _voxel_size(meta: dict) -> float | None:
    v = meta.get("voxel_size")
    if v is None:
        return None
    v = np.atleast_1d(np.asarray(v, dtype=float))
    return float(v[0])


# --- TIFF -------------------------------------------------------------------------------------------
_IMAGEJ_DTYPES = (np.uint8, np.uint16, np.float32)    # what the ImageJ hyperstack format can hold


def _series_problem(series) -> str | None:
    """Why the file's image series do not make one volume, or None when they do.

    tifffile makes one series per ``imwrite(..., append=True)`` call, so a TIFF written slice by slice
    has one 2D series per page; reading only ``series[0]`` would silently drop all but the first slice.
    Several 2D series of one shape and dtype are therefore stacked; anything else is refused.
    """
    kinds = sorted({(tuple(s.shape), str(s.dtype)) for s in series})
    if len(series) == 1 or (len(kinds) == 1 and len(kinds[0][0]) == 2):
        return None
    listed = ", ".join(f"{shape} {dtype}" for shape, dtype in kinds[:5])
    return (f"the TIFF holds {len(series)} image series of different shapes or dtypes ({listed}); only a single "
            "volume or a stack of 2D pages of one shape and dtype can be read")


def _tiff_from(source, path: Path) -> tuple[np.ndarray, float | None]:
    import tifffile
    problem, array, voxel = None, None, None
    try:
        with tifffile.TiffFile(source) as tif:
            page = tif.pages[0] if tif.pages else None
            if page is None:
                problem = "TIFF file with no pages"
            elif getattr(page, "samplesperpixel", 1) > 1:
                problem = (f"colour/multi-sample TIFF ({page.samplesperpixel} samples per pixel); convert it to "
                           "one grayscale channel first")
            elif (problem := _series_problem(tif.series)) is None:
                series = tif.series
                array = series[0].asarray() if len(series) == 1 else np.stack([s.asarray() for s in series])
                ij = tif.imagej_metadata or {}
                shaped = (tif.shaped_metadata or ({},))[0]
                res = page.tags.get("XResolution")
                if res is not None and ij.get("unit") in ("um", "micron", "\\u00B5m", "µm"):
                    num, den = res.value
                    voxel = den / num * 1e-6 if num else None
                elif shaped.get("voxel_size") is not None:   # written by _tiff_bytes for non-ImageJ dtypes
                    voxel = float(shaped["voxel_size"])
    except Exception as e:  # tifffile.TiffFileError and friends: corrupt or not a TIFF
        raise ValueError(f"{path}: not a readable TIFF file ({type(e).__name__}: {e})") from None
    if problem:
        raise ValueError(f"{path}: {problem}")
    return array, voxel


def read_tiff(path: str | Path) -> Loaded:
    """A multi-page TIFF (one page per slice, also written page by page) or a single 2D page."""
    path = Path(path)
    array, voxel = _tiff_from(str(path), path)
    array = _canonical(array, path)
    return Loaded(array, _meta("tiff", path, array, voxel_size=voxel))


def _tiff_bytes(array: np.ndarray, meta: dict) -> bytes:
    import tifffile
    buf = io.BytesIO()
    voxel = _voxel_size(meta)
    kw: dict[str, Any] = {}
    if voxel is not None and array.dtype in _IMAGEJ_DTYPES:
        um = voxel * 1e6
        kw = dict(imagej=True, resolution=(1 / um, 1 / um), metadata={"unit": "um", "spacing": um})
    elif voxel is not None:
        # ImageJ refuses bool, float64, int32...: keep the voxel size in tifffile's JSON description (read back
        # by _tiff_from) and as standard TIFF resolution in pixels per centimetre for other viewers.
        cm = voxel * 1e2
        kw = dict(resolution=(1 / cm, 1 / cm), resolutionunit="CENTIMETER", metadata={"voxel_size": voxel})
    # one channel always: without it tifffile stores a volume whose last axis is 3 or 4 as an RGB(A) image
    tifffile.imwrite(buf, array, photometric="minisblack", **kw)
    return buf.getvalue()


def write_tiff(path: str | Path, array: np.ndarray, meta: dict | None = None) -> None:
    path = Path(path)
    Path(path).write_bytes(_tiff_bytes(_spatial(array, path), meta or {}))


# --- ZIP of TIFF(s) --------------------------------------------------------------------------------
def _natural_key(name: str) -> list:
    """Sort key comparing runs of digits as numbers, so that slice_2 comes before slice_10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def read_zip(path: str | Path) -> Loaded:
    """A .zip holding one multi-page TIFF, or a stack of 2D TIFF slices (stacked in natural name order)."""
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise ValueError(f"{path}: not a readable zip file ({e})") from None
    with zf:
        members = sorted((n for n in zf.namelist() if n.lower().endswith(_TIFF) and not n.startswith("__MACOSX")),
                         key=_natural_key)
        if not members:
            raise ValueError(f"{path}: the zip holds no .tif/.tiff file (found: "
                             f"{', '.join(zf.namelist()[:10]) or 'nothing'})")
        arrays, voxel = [], None
        for name in members:
            a, v = _tiff_from(io.BytesIO(zf.read(name)), Path(f"{path}:{name}"))
            arrays.append(a)
            voxel = voxel if voxel is not None else v
    if len(arrays) == 1:
        array = arrays[0]
    else:
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1 or arrays[0].ndim != 2:
            raise ValueError(f"{path}: {len(arrays)} TIFF members that are not 2D slices of one shape "
                             f"(shapes: {sorted(shapes)[:5]}); a zip must hold one volume or a stack of slices")
        array = np.stack(arrays)
    array = _canonical(array, path)
    return Loaded(array, _meta("zip", path, array, voxel_size=voxel, members=members[:1] if len(members) == 1
                               else f"{len(members)} slices"))


def write_zip(path: str | Path, array: np.ndarray, meta: dict | None = None) -> None:
    """A .zip with one multi-page TIFF named after the zip."""
    path = Path(path)
    data = _tiff_bytes(_spatial(array, path), meta or {})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(path.stem + ".tif", data)


# --- raw binary --------------------------------------------------------------------------------------
_DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64")


def _raw_layout(path: Path) -> dict[str, Any]:
    for side in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if side.exists():
            try:
                info = json.loads(side.read_text())
            except json.JSONDecodeError as e:
                raise ValueError(f"{side}: not valid JSON ({e})") from None
            if "shape" not in info:
                raise ValueError(f"{side}: the sidecar of a raw file needs 'shape' (and 'dtype', default uint8)")
            return info
    m = re.search(r"(\d+)x(\d+)(?:x(\d+))?", path.stem)
    if m:
        shape = [int(g) for g in m.groups() if g is not None]
        dt = next((d for d in _DTYPES if d in path.stem.lower()), "uint8")
        return {"shape": shape, "dtype": dt}
    raise ValueError(f"{path}: a raw file needs its shape and dtype: pass them to read_raw(path, shape, dtype), "
                     f"write a sidecar {path.name}.json with {{\"shape\": [D, H, W], \"dtype\": \"uint8\"}}, "
                     "or name the file like volume_400x400x400_uint8.raw")


def read_raw(path: str | Path, shape=None, dtype=None, *, order: str = "C", offset: int = 0,
             byteorder: str = "<") -> Loaded:
    """Headerless binary: ``shape`` (D, H, W) or (H, W), ``dtype``; missing ones come from a sidecar or the name.

    Args:
        order: "C" (last axis fastest, the usual case) or "F" (Fortran order, e.g. some Avizo exports).
        offset: bytes to skip (a header of known length).
        byteorder: "<" little-endian (default) or ">" big-endian, for multi-byte dtypes.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    info = {} if shape is not None else _raw_layout(path)
    shape = tuple(int(s) for s in (shape if shape is not None else info["shape"]))
    try:
        dtype = np.dtype(dtype or info.get("dtype", "uint8"))
    except TypeError as e:
        raise ValueError(f"{path}: unknown dtype {dtype or info.get('dtype')!r} ({e})") from None
    if dtype.itemsize > 1:
        dtype = dtype.newbyteorder(info.get("byteorder", byteorder))
    order = info.get("order", order)
    offset = int(info.get("offset", offset))
    expected = int(np.prod(shape)) * dtype.itemsize
    size = path.stat().st_size - offset
    if size != expected:
        raise ValueError(f"{path}: the file has {size} bytes after offset {offset}, but shape {shape} of {dtype.name} "
                         f"needs {expected}; check the shape, dtype and header offset")
    array = np.fromfile(path, dtype=dtype, offset=offset).reshape(shape, order=order)
    array = _canonical(array.astype(dtype.newbyteorder("=")), path)
    return Loaded(array, _meta("raw", path, array, voxel_size=info.get("voxel_size")))


def write_raw(path: str | Path, array: np.ndarray, meta: dict | None = None) -> None:
    """C-order bytes plus a sidecar ``<name>.json`` with shape, dtype (and voxel_size) so that it reads back."""
    path = Path(path)
    a = np.ascontiguousarray(_spatial(array, path))
    a.astype(a.dtype.newbyteorder("<")).tofile(path)
    side = {"shape": list(a.shape), "dtype": a.dtype.name, "order": "C"}
    if _voxel_size(meta or {}) is not None:
        side["voxel_size"] = _voxel_size(meta)
    path.with_name(path.name + ".json").write_text(json.dumps(side))


# --- HDF5 --------------------------------------------------------------------------------------------
def read_hdf5(path: str | Path, key: str | None = None) -> Loaded:
    """The dataset ``key``, else the one named volume/data/image/x/im, else the only 2D/3D dataset."""
    import h5py
    path = Path(path)
    with open_hdf5(path) as f:
        found = hdf5_datasets(f)
        if key is None:
            key = next((k for k in _H5_KEYS if k in f), None)
            if key is None:
                vols = [n for n in found if f[n].ndim in (2, 3, 4)]
                if len(vols) != 1:
                    raise ValueError(f"{path}: cannot tell which dataset is the volume (datasets: "
                                     f"{', '.join(found) or 'none'}); name it 'volume' or pass key=")
                key = vols[0]
        if key not in f:
            raise ValueError(f"{path}: no dataset '{key}' (datasets: {', '.join(found) or 'none'})")
        obj = f[key]
        if not isinstance(obj, h5py.Dataset):       # a group: f[key][()] would fail with a bare TypeError
            what = "a group" if isinstance(obj, h5py.Group) else f"a {type(obj).__name__}"
            raise ValueError(f"{path}: '{key}' is {what}, not a dataset (datasets: {', '.join(found) or 'none'}); "
                             "pass key= with the dataset that holds the volume")
        array = obj[()]
        voxel = f[key].attrs.get("voxel_size", f.attrs.get("voxel_size"))
    array = _canonical(array, path, f"dataset '{key}'")
    return Loaded(array, _meta("hdf5", path, array, voxel_size=None if voxel is None else float(np.ravel(voxel)[0]),
                               key=key))


def write_hdf5(path: str | Path, array: np.ndarray, meta: dict | None = None) -> None:
    """Dataset ``volume`` (gzip-compressed) with the voxel size as an attribute."""
    import h5py
    path = Path(path)
    a = _spatial(array, path)
    with h5py.File(path, "w") as f:
        d = f.create_dataset("volume", data=a, compression="gzip", compression_opts=4)
        if _voxel_size(meta or {}) is not None:
            d.attrs["voxel_size"] = _voxel_size(meta)


# --- NumPy -------------------------------------------------------------------------------------------
def _npy_failure(path: Path, error: Exception) -> str:
    """Why np.load(allow_pickle=False) failed: an object array, or a file that is not a valid .npy.

    numpy reports any file without the .npy magic as "contains pickled (object) data", which sends the user
    after the wrong problem for a truncated or foreign file; parsing the header tells the two apart.
    """
    fmt = np.lib.format
    try:
        with open(path, "rb") as fh:
            major, _ = fmt.read_magic(fh)
            header = fmt.read_array_header_1_0(fh) if major == 1 else fmt.read_array_header_2_0(fh)
    except (ValueError, OSError) as e:
        return f"not a valid .npy file (numpy: {e})"
    if header[2].hasobject:
        return (f"the .npy holds an object array (dtype {header[2]}), which is read only with pickle; "
                "save a numeric array instead")
    return f"not a valid .npy file (numpy: {error})"


def _warn_if_colour(array: np.ndarray, path: Path) -> None:
    """(H, W, 3|4) is most likely an RGB(A) image saved with np.save, but it is a valid (D, H, W) volume too."""
    if array.ndim == 3 and array.shape[2] in (3, 4) and min(array.shape[:2]) >= 4 * array.shape[2]:
        warnings.warn(f"{path}: shape {array.shape} looks like a colour image; it is read as a 3D volume (D, H, W) "
                      f"only {array.shape[2]} voxels wide along its last axis. For a 2D image save one channel "
                      "or a grayscale (H, W) array, e.g. np.save(path, rgb.mean(-1))", UserWarning, stacklevel=3)


def read_npy(path: str | Path) -> Loaded:
    path = Path(path)
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise ValueError(f"{path}: {_npy_failure(path, e)}") from None
    _warn_if_colour(array, path)
    array = _canonical(array, path)
    return Loaded(array, _meta("npy", path, array))


def write_npy(path: str | Path, array: np.ndarray, meta: dict | None = None) -> None:
    np.save(Path(path), np.asarray(array), allow_pickle=False)


# --- NIfTI -------------------------------------------------------------------------------------------
def read_nifti(path: str | Path) -> Loaded:
    """NIfTI-1/2 (.nii, .nii.gz); the voxel size is the first zoom in metres when the header says mm, um or m.

    Unknown units give no voxel size: the zooms are then 1 by default and not a measurement.
    """
    import nibabel as nib
    path = Path(path)
    try:
        img = nib.load(str(path))
        array = np.asanyarray(img.dataobj)
    except Exception as e:  # nibabel raises several kinds for corrupt files
        raise ValueError(f"{path}: not a readable NIfTI file ({type(e).__name__}: {e})") from None
    unit = img.header.get_xyzt_units()[0]
    scale = {"mm": 1e-3, "micron": 1e-6, "meter": 1.0}.get(unit)
    voxel = float(img.header.get_zooms()[0]) * scale if scale else None
    array = _canonical(array, path)
    return Loaded(array, _meta("nifti", path, array, voxel_size=voxel))


def write_nifti(path: str | Path, array: np.ndarray, meta: dict | None = None) -> None:
    """Zooms in mm from the voxel size; without one the units are "unknown" (a 1 mm stamp would be invented).

    NIfTI has no bool type: masks are written as uint8 0/1.
    """
    import nibabel as nib
    path = Path(path)
    a = _spatial(array, path)
    if a.dtype == bool:
        a = a.astype(np.uint8)
    voxel = _voxel_size(meta or {})
    affine = np.eye(4)
    if voxel is not None:
        affine[:3, :3] *= voxel * 1e3                       # NIfTI zooms in mm
    img = nib.Nifti1Image(a, affine)
    img.header.set_xyzt_units("mm" if voxel is not None else "unknown")
    nib.save(img, str(path))


# --- tables and helpers -----------------------------------------------------------------------------
READERS = {".tif": read_tiff, ".tiff": read_tiff, ".zip": read_zip, ".raw": read_raw, ".h5": read_hdf5,
           ".hdf5": read_hdf5, ".npy": read_npy, ".nii": read_nifti, ".nii.gz": read_nifti}
WRITERS = {".tif": write_tiff, ".tiff": write_tiff, ".zip": write_zip, ".raw": write_raw, ".h5": write_hdf5,
           ".hdf5": write_hdf5, ".npy": write_npy, ".nii": write_nifti, ".nii.gz": write_nifti}
SUFFIXES = tuple(sorted(READERS, key=len, reverse=True))


def _suffix(path: Path, table: dict) -> str:
    name = path.name.lower()
    for s in SUFFIXES:
        if name.endswith(s) and s in table:
            return s
    raise ValueError(f"{path}: unsupported volume format; supported: {', '.join(sorted(table))}")


def read_volume(path: str | Path, **kw) -> Loaded:
    """Read any supported volume by its suffix (``kw`` goes to the reader, e.g. shape/dtype for .raw)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    return READERS[_suffix(path, READERS)](path, **kw)


def write_volume(path: str | Path, array: np.ndarray, meta: dict | None = None) -> Path:
    """Write a (1, *spatial) or (*spatial) array in the format of the suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    WRITERS[_suffix(path, WRITERS)](path, array, meta or {})
    return path


def encode_binary(pore: np.ndarray, meta: dict | None = None) -> np.ndarray:
    """A boolean pore mask in the coding of the file it came from (``meta`` of :func:`binarize`).

    Default coding: uint8, pore 0, grain 255 (the Imperial College micro-CT convention).

    >>> encode_binary(np.array([True, False])).tolist()
    [0, 255]
    """
    meta = meta or {}
    dtype = np.dtype(meta.get("dtype", "uint8"))
    pore_value, solid_value = meta.get("pore_value", 0), meta.get("solid_value", 255)
    out = np.where(np.asarray(pore, dtype=bool), pore_value, solid_value)
    return out.astype(dtype)
