"""Input checks shared by every MRI reader: rank, finiteness, a file that is really there."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["check_exists", "check_ndim", "check_finite_array"]


def check_exists(path: str | Path) -> Path:
    """Return ``path`` as a Path, or raise FileNotFoundError naming it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, expected a file")
    return path


def check_ndim(arr: np.ndarray, allowed: tuple[int, ...], source: str, what: str = "array") -> None:
    """Raise a ValueError naming ``source`` when ``arr.ndim`` is not one of ``allowed``."""
    if arr.ndim not in allowed:
        raise ValueError(f"{source}: {what} has shape {arr.shape} (rank {arr.ndim}); "
                         f"expected rank {' or '.join(map(str, allowed))}")


def check_finite_array(arr: np.ndarray, source: str, what: str = "array") -> None:
    """Raise a ValueError naming ``source`` and the first bad voxel when ``arr`` holds NaN or Inf.

    >>> check_finite_array(np.ones(3), "x.npy")
    >>> check_finite_array(np.array([1.0, np.nan]), "x.npy")
    Traceback (most recent call last):
    ...
    ValueError: x.npy: array holds 1 NaN/Inf value(s), the first at index (1,); clean the file first
    """
    a = np.abs(arr) if np.iscomplexobj(arr) else arr
    if not np.issubdtype(a.dtype, np.floating):
        return
    bad = ~np.isfinite(a)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{source}: {what} holds {int(bad.sum())} NaN/Inf value(s), the first at index "
                         f"{first}; clean the file first")
