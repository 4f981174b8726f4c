"""NumPy ``.npy`` arrays (never pickled objects): images, k-space, masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffsci.domains import Loaded

from .checks import check_exists, check_finite_array

__all__ = ["load_npy", "save_npy"]


def load_npy(path: str | Path) -> Loaded:
    """Read an ``.npy`` array as it is (float or complex); pickled objects and NaN/Inf are refused."""
    path = check_exists(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"{path}: refusing to unpickle an object array ({e})") from None
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: not a readable .npy file (truncated or corrupt?): {e}") from None
    if arr.ndim == 0:
        raise ValueError(f"{path}: holds a scalar; expected an image, volume or k-space array")
    check_finite_array(arr, str(path))
    return Loaded(arr, {"path": str(path)})


def save_npy(path: str | Path, array: np.ndarray, meta: dict | None = None) -> None:
    """Write ``array`` as ``.npy`` (atomically)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, np.asarray(array), allow_pickle=False)
    tmp.replace(path)
