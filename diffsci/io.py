"""Sample outputs: arrays as .npy or .h5 (HDF5, with metadata), and a PNG figure of 1D, 2D or 3D samples.

Arrays are (N, C, *spatial). An .h5 file holds the dataset ``x`` and the metadata as attributes
(numbers and strings as they are, anything else as JSON text), so ``load_array`` returns both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ARRAY_SUFFIXES", "save_array", "load_array", "save_figure", "save_samples", "open_hdf5", "hdf5_datasets"]

ARRAY_SUFFIXES = (".npy", ".h5", ".hdf5")
_JSON_PREFIX = "json:"


def _suffix(path: Path) -> str:
    s = path.suffix.lower()
    if s not in ARRAY_SUFFIXES:
        raise ValueError(f"{path}: unsupported output format '{path.suffix}'; use one of {', '.join(ARRAY_SUFFIXES)}")
    return s


def save_array(path: str | Path, array: np.ndarray, meta: dict[str, Any] | None = None) -> Path:
    """Write ``array`` to .npy (metadata is dropped: use .h5 to keep it) or .h5/.hdf5 (dataset "x" + attrs)."""
    path = Path(path)
    suffix = _suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.asarray(array)
    if suffix == ".npy":
        np.save(path, array, allow_pickle=False)
        return path
    import h5py
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=array)
        for k, v in (meta or {}).items():
            f.attrs[k] = v if isinstance(v, (bool, int, float, str, np.number)) else _JSON_PREFIX + json.dumps(v)
    return path


def load_array(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read an array written by :func:`save_array` (or any .npy, or .h5 with a dataset "x"): (array, meta)."""
    path = Path(path)
    suffix = _suffix(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False), {}
        except (ValueError, OSError) as e:
            raise ValueError(f"{path}: not a readable .npy array ({e})") from None
    import h5py
    try:
        with h5py.File(path, "r") as f:
            if "x" not in f:
                raise ValueError(f"{path}: no dataset 'x' (found: {', '.join(f.keys()) or 'nothing'})")
            meta = {}
            for k, v in f.attrs.items():
                if isinstance(v, bytes):
                    v = v.decode()
                if isinstance(v, str) and v.startswith(_JSON_PREFIX):
                    v = json.loads(v[len(_JSON_PREFIX):])
                elif isinstance(v, np.generic):
                    v = v.item()
                meta[k] = v
            return f["x"][()], meta
    except OSError as e:
        raise ValueError(f"{path}: not a readable HDF5 file ({e})") from None


def open_hdf5(path: str | Path, *, hint: str = ""):
    """``path`` opened read-only with h5py (use it in a ``with``). A missing file raises FileNotFoundError, one that
    h5py cannot open (truncated, corrupt, another format) ValueError naming the file; ``hint`` is added to that
    message (e.g. "truncated or corrupt?"). The biosignal, microstructure and fastMRI readers open files through it
    (load_array here and the BraTS patch reader keep one try around opening and reading both)."""
    import h5py
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path}: not a readable HDF5 file{f' ({hint})' if hint else ''}: {e}") from None


def hdf5_datasets(f) -> list[str]:
    """The paths of every dataset in the open HDF5 file ``f``, groups walked (to name them in an error)."""
    import h5py
    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def save_figure(path: str | Path, samples: np.ndarray, *, title: str | None = None, max_samples: int = 16) -> Path:
    """A PNG of samples (N, C, *spatial), first channel: 1D line plots, a 2D image grid, or the three
    orthogonal mid-slices of each 3D volume (one row per sample)."""
    from .figures import pyplot, save
    plt = pyplot()

    x = np.asarray(samples, dtype=np.float64)
    if x.ndim < 3 or x.ndim > 5:
        raise ValueError(f"samples must be (N, C, *spatial) with 1 to 3 spatial axes, got shape {x.shape}")
    dims = x.ndim - 2
    x = x[:max_samples if dims < 3 else min(max_samples, 4), 0]
    n = len(x)
    vmin, vmax = np.percentile(x, [1, 99]) if x.size else (0, 1)
    if dims == 1:
        rows = min(n, 8)
        cols = -(-n // rows)
        fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 1.2 * rows), squeeze=False, sharex=True)
        for i, ax in enumerate(axes.T.flat):
            if i < n:
                ax.plot(x[i], lw=0.8)
            else:
                ax.axis("off")
    elif dims == 2:
        cols = int(np.ceil(np.sqrt(n)))
        rows = -(-n // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(2 * cols, 2 * rows), squeeze=False)
        for i, ax in enumerate(axes.flat):
            if i < n:
                ax.imshow(x[i], cmap="viridis", vmin=vmin, vmax=vmax)
            ax.axis("off")
    else:
        fig, axes = plt.subplots(n, 3, figsize=(6, 2 * n), squeeze=False)
        for i in range(n):
            c = [s // 2 for s in x[i].shape]
            for j, (sl, name) in enumerate(((x[i][c[0]], "axis 0"), (x[i][:, c[1]], "axis 1"),
                                            (x[i][:, :, c[2]], "axis 2"))):
                axes[i, j].imshow(sl, cmap="viridis", vmin=vmin, vmax=vmax)
                axes[i, j].set_xticks([]), axes[i, j].set_yticks([])
                if i == 0:
                    axes[i, j].set_title(f"mid-slice {name}", fontsize=8)
    return save(fig, path, title=title, dpi=100)


def save_samples(path: str | Path, samples: np.ndarray, meta: dict[str, Any] | None = None, *,
                 figure: bool = True, title: str | None = None) -> list[Path]:
    """Write samples to ``path`` (.npy/.h5) and, with ``figure``, a PNG beside it (same name, .png)."""
    path = Path(path)
    written = [save_array(path, samples, meta)]
    if figure:
        written.append(save_figure(path.with_suffix(".png"), samples, title=title))
    return written
