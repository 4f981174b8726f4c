"""BART's ``.cfl`` / ``.hdr`` pair (Uecker et al., the Berkeley Advanced Reconstruction Toolbox).

``NAME.hdr`` is text: a ``# Dimensions`` line, then the dims (BART has 16; trailing 1s may be omitted).
``NAME.cfl`` is the raw complex64 data in Fortran (column-major) order. Written by hand because the
format is two dozen lines and BART's own ``cfl.py`` is not on PyPI.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffsci.domains import Loaded

from .checks import check_finite_array

__all__ = ["read_cfl", "write_cfl", "load_cfl", "save_cfl", "cfl_base"]


def cfl_base(path: str | Path) -> Path:
    """``x.cfl``, ``x.hdr`` or ``x`` -> ``x`` (the name BART uses for the pair)."""
    path = Path(path)
    return path.with_suffix("") if path.suffix.lower() in (".cfl", ".hdr") else path


def read_cfl(path: str | Path, *, squeeze: bool = True) -> np.ndarray:
    """Read a BART array as complex64 with the header's dims (trailing singleton dims dropped).

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); a = (np.arange(6) + 1j).reshape(2, 3).astype(np.complex64)
    >>> write_cfl(os.path.join(d, "a"), a); bool(np.array_equal(read_cfl(os.path.join(d, "a.cfl")), a))
    True
    """
    base = cfl_base(path)
    hdr, cfl = base.with_suffix(".hdr"), base.with_suffix(".cfl")
    for p in (hdr, cfl):
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such file (a BART array is a .hdr/.cfl pair)")
    lines = [ln.strip() for ln in hdr.read_text(errors="replace").splitlines()]
    try:
        i = lines.index("# Dimensions")
        dims = [int(v) for v in lines[i + 1].split()]
    except (ValueError, IndexError):
        raise ValueError(f"{hdr}: not a BART header (expected a '# Dimensions' line followed by integers)") \
            from None
    if not dims or any(d < 1 for d in dims):
        raise ValueError(f"{hdr}: invalid dimensions {dims}")
    n = int(np.prod(dims))
    size = cfl.stat().st_size
    if size != n * 8:
        raise ValueError(f"{cfl}: holds {size} bytes but the header's dims {dims} need {n * 8} "
                         f"(complex64); the file is truncated or does not belong to {hdr.name}")
    data = np.fromfile(cfl, dtype=np.complex64, count=n).reshape(dims, order="F")
    check_finite_array(data, str(cfl), "k-space")
    if squeeze:
        while data.ndim > 1 and data.shape[-1] == 1:
            data = data[..., 0]
    return data


def write_cfl(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as a BART ``.hdr``/``.cfl`` pair (complex64, Fortran order)."""
    base = cfl_base(path)
    arr = np.asarray(array)
    if arr.ndim > 16:
        raise ValueError(f"{base}: BART arrays have at most 16 dims, got shape {arr.shape}")
    base.with_suffix(".hdr").write_text("# Dimensions\n" + " ".join(str(d) for d in arr.shape) + " \n")
    np.asfortranarray(arr.astype(np.complex64)).T.tofile(base.with_suffix(".cfl"))  # .T: F order bytes


def load_cfl(path: str | Path) -> Loaded:
    """Domain reader: the BART array as it is (complex64, BART's dim order, trailing 1s dropped)."""
    return Loaded(read_cfl(path), {"path": str(cfl_base(path)), "format": "bart"})


def save_cfl(path: str | Path, array: np.ndarray, meta: dict | None = None) -> None:
    """Domain writer for ``.cfl`` (``meta`` is not needed: BART files carry only dims)."""
    write_cfl(path, array)
