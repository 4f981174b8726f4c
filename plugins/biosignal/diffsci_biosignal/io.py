"""Readers and writers of 1D biosignals: WFDB (+ annotations), CSV, EDF, HDF5, NumPy.

Every reader returns a :class:`diffsci.domains.Loaded` whose ``array`` is (C, T) float32 in physical
units (mV for ECG) and whose ``meta`` holds what a writer needs to write it back:

- ``fs``: sampling rate in Hz (None where the format does not store one and no sidecar gives it),
- ``sig_name``: one name per channel (lead), ``units``: one unit per channel,
- ``annotations`` (WFDB only, when an annotation file sits beside the record):
  ``{"extension": "atr", "sample": int array, "symbol": list[str]}``,
- ``adc_gain``/``baseline``/``fmt`` (WFDB only): kept so that a record read and written back keeps
  its digital values.

Bad files raise ``FileNotFoundError`` or ``ValueError`` naming the file and what is wrong.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from diffsci.domains import Loaded

__all__ = ["read_wfdb", "write_wfdb", "read_annotations", "read_csv", "write_csv", "read_edf", "read_hdf5",
           "write_hdf5", "read_npy", "write_npy", "READERS", "WRITERS", "as_channels_first"]

_TIME_COLUMNS = ("time", "t", "seconds", "time_s", "sec")


def as_channels_first(array: np.ndarray, source: str) -> np.ndarray:
    """Return a (C, T) float32 copy of a 1D (T,) or 2D (C, T) signal; a (T, C) array with C < T is an error."""
    a = np.asarray(array, dtype=np.float32)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2:
        raise ValueError(f"{source}: expected a signal of shape (T,) or (C, T), got shape {a.shape}")
    if a.shape[0] > a.shape[1]:
        raise ValueError(f"{source}: shape {a.shape} has more channels than samples; "
                         "signals are (channels, time): transpose it")
    return a


def _record_base(path: Path) -> Path:
    """WFDB names a record by its base path; accept 'rec', 'rec.hea' or 'rec.dat'."""
    return path.with_suffix("") if path.suffix in (".hea", ".dat") else path


# --------------------------------------------------------------------------------------------- WFDB
def read_wfdb(path: str | Path, annotation: str | None = "atr") -> Loaded:
    """Read a WFDB record (``.hea`` + signal file) and, if present, its ``annotation`` file.

    Args:
        path: the header ``rec.hea`` (or the record base ``rec``).
        annotation: extension of the beat annotations to attach (``atr``, ``pu1``, ...); None skips them.
    """
    import wfdb

    base = _record_base(Path(path))
    hea = base.with_suffix(".hea")
    if not hea.exists():
        raise FileNotFoundError(f"{hea}: no such WFDB header")
    try:
        rec = wfdb.rdrecord(str(base))
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{hea}: a signal file named in the header is missing ({e})") from None
    except Exception as e:  # wfdb raises assorted errors on malformed headers and short .dat files
        raise ValueError(f"{hea}: not a readable WFDB record: {e}") from None
    if rec.p_signal is None:
        raise ValueError(f"{hea}: the record holds no signal")
    meta: dict[str, Any] = {"fs": float(rec.fs), "sig_name": list(rec.sig_name), "units": list(rec.units),
                            "adc_gain": [float(g) for g in rec.adc_gain], "baseline": [int(b) for b in rec.baseline],
                            "fmt": list(rec.fmt), "record_name": rec.record_name, "source": str(hea)}
    if annotation is not None and base.with_suffix("." + annotation).exists():
        meta["annotations"] = read_annotations(base, annotation)
    return Loaded(np.ascontiguousarray(rec.p_signal.T, dtype=np.float32), meta)


def read_annotations(path: str | Path, extension: str = "atr") -> dict:
    """Read a WFDB annotation file: ``{"extension", "sample" (int64), "symbol" (list of str), "fs"}``."""
    import wfdb

    base = _record_base(Path(path))
    f = base.with_suffix("." + extension)
    if not f.exists():
        raise FileNotFoundError(f"{f}: no such annotation file")
    try:
        ann = wfdb.rdann(str(base), extension)
    except Exception as e:
        raise ValueError(f"{f}: not a readable WFDB annotation file: {e}") from None
    return {"extension": extension, "sample": np.asarray(ann.sample, dtype=np.int64),
            "symbol": list(ann.symbol), "fs": None if ann.fs is None else float(ann.fs)}


def write_wfdb(path: str | Path, array: np.ndarray, meta: dict) -> None:
    """Write (C, T) physical values as a WFDB record ``path`` (``rec.hea`` + ``rec.dat``), with annotations.

    The gain and baseline of ``meta`` are reused when given (a record read and written back keeps its
    digital values); otherwise 32-bit samples with a gain chosen by wfdb keep float precision.
    """
    import wfdb

    path = Path(path)
    if path.suffix != ".hea":
        raise ValueError(f"{path}: a WFDB record is written through its header; name it <record>.hea")
    x = as_channels_first(array, str(path))
    if not np.isfinite(x).all():
        raise ValueError(f"{path}: cannot write NaN or Inf to WFDB")
    c = x.shape[0]
    fs = meta.get("fs")
    if fs is None:
        raise ValueError(f"{path}: WFDB needs a sampling rate; pass meta['fs']")
    names = list(meta.get("sig_name") or [f"ch{i}" for i in range(c)])
    units = list(meta.get("units") or ["mV"] * c)
    if len(names) != c or len(units) != c:
        raise ValueError(f"{path}: {c} channels but {len(names)} names and {len(units)} units in meta")
    kw: dict[str, Any] = {}
    gain, baseline = meta.get("adc_gain"), meta.get("baseline")
    if gain is not None and baseline is not None and len(gain) == c and all(g > 0 for g in gain):
        kw = {"adc_gain": [float(g) for g in gain], "baseline": [int(b) for b in baseline], "fmt": ["32"] * c}
        digital = np.round(x.astype(np.float64) * np.asarray(kw["adc_gain"])[:, None]
                           + np.asarray(kw["baseline"])[:, None])
        if np.abs(digital).max(initial=0) >= 2 ** 31 - 1:
            kw = {}
    if not kw:
        kw = {"fmt": ["32"] * c}
    rec_name = path.stem
    wfdb.wrsamp(rec_name, fs=float(fs), units=units, sig_name=names, p_signal=x.T.astype(np.float64),
                write_dir=str(path.parent), **kw)
    ann = meta.get("annotations")
    if ann is not None and len(ann["sample"]):
        wfdb.wrann(rec_name, ann.get("extension", "atr"), np.asarray(ann["sample"], dtype=np.int64),
                   symbol=list(ann["symbol"]), fs=float(fs), write_dir=str(path.parent))


# ---------------------------------------------------------------------------------------------- CSV
def read_csv(path: str | Path) -> Loaded:
    """Read a CSV with one header row of column names and one row per time sample.

    A first column named ``time`` (or ``t``, ``seconds``) gives the sampling rate (1 / median step);
    every other column is a channel. Non-numeric cells are an error naming the line and column.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    with path.open(newline="") as f:
        rows = list(csv.reader(line for line in f if not line.startswith("#")))
    if not rows:
        raise ValueError(f"{path}: empty CSV")
    header = [h.strip() for h in rows[0]]
    if all(_is_number(h) for h in header):
        raise ValueError(f"{path}: the first row must name the columns (e.g. time,MLII), got numbers")
    data = np.empty((len(rows) - 1, len(header)), dtype=np.float64)
    for i, row in enumerate(rows[1:]):
        if len(row) != len(header):
            raise ValueError(f"{path}: line {i + 2} has {len(row)} columns, the header has {len(header)}")
        for j, cell in enumerate(row):
            try:
                data[i, j] = float(cell)
            except ValueError:
                raise ValueError(f"{path}: line {i + 2}, column '{header[j]}': not a number: {cell!r}") from None
    if len(data) < 2:
        raise ValueError(f"{path}: needs at least two samples, got {len(data)}")
    fs = None
    if header[0].lower() in _TIME_COLUMNS:
        dt = np.diff(data[:, 0])
        if not (dt > 0).all():
            raise ValueError(f"{path}: column '{header[0]}' is not strictly increasing")
        # the mean step over the whole record is far more precise than one rounded difference
        fs = float(np.round((len(dt)) / (data[-1, 0] - data[0, 0]), 6))
        data, header = data[:, 1:], header[1:]
    if data.shape[1] == 0:
        raise ValueError(f"{path}: no signal columns besides '{header[0]}'")
    return Loaded(np.ascontiguousarray(data.T, dtype=np.float32),
                  {"fs": fs, "sig_name": header, "units": ["mV"] * len(header), "source": str(path)})


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def write_csv(path: str | Path, array: np.ndarray, meta: dict) -> None:
    """Write (C, T) as CSV: a ``time`` column (when meta has fs) and one column per channel."""
    path = Path(path)
    x = as_channels_first(array, str(path))
    names = list(meta.get("sig_name") or [f"ch{i}" for i in range(x.shape[0])])
    if len(names) != x.shape[0]:
        raise ValueError(f"{path}: {x.shape[0]} channels but {len(names)} names in meta['sig_name']")
    fs = meta.get("fs")
    cols = [x[c].astype(np.float64) for c in range(x.shape[0])]
    if fs is not None:
        names, cols = ["time"] + names, [np.arange(x.shape[1]) / float(fs)] + cols
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        # repr of float32 values round-trips exactly (9 significant digits)
        fmt = ["{:.15g}"] * (len(cols) - x.shape[0]) + ["{:.9g}"] * x.shape[0]        # time in double precision
        w.writerows(zip(*[[f.format(v) for v in col] for f, col in zip(fmt, cols)]))


# ---------------------------------------------------------------------------------------------- EDF
def read_edf(path: str | Path) -> Loaded:
    """Read an EDF/EDF+/BDF file with pyedflib; all channels must share one sampling rate."""
    import pyedflib

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        f = pyedflib.EdfReader(str(path))
    except Exception as e:
        raise ValueError(f"{path}: not a readable EDF file: {e}") from None
    try:
        n = f.signals_in_file
        rates = [float(f.getSampleFrequency(i)) for i in range(n)]
        if len(set(rates)) != 1:
            raise ValueError(f"{path}: channels have different sampling rates {rates}; "
                             "resample them to one rate first")
        x = np.stack([f.readSignal(i) for i in range(n)]).astype(np.float32)
        meta = {"fs": rates[0], "sig_name": list(f.getSignalLabels()),
                "units": [f.getPhysicalDimension(i) or "mV" for i in range(n)], "source": str(path)}
    finally:
        f.close()
    return Loaded(x, meta)


# --------------------------------------------------------------------------------------------- HDF5
def read_hdf5(path: str | Path, key: str | None = None) -> Loaded:
    """Read a signal from HDF5: dataset ``key``, else ``signal``, else the only dataset in the file.

    The dataset is (C, T), (T,) or a batch (N, C, T); attributes ``fs``, ``sig_name``, ``units`` are read
    from the dataset or the file root.
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path}: not a readable HDF5 file: {e}") from None
    with f:
        names: list[str] = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        if key is None:
            key = "signal" if "signal" in names else (names[0] if len(names) == 1 else None)
        if key is None or key not in f:
            raise ValueError(f"{path}: no dataset '{key or 'signal'}'; datasets: {', '.join(names) or 'none'}")
        ds = f[key]
        x = np.asarray(ds[()], dtype=np.float32)
        attrs = {**dict(f.attrs), **dict(ds.attrs)}
    if x.ndim == 1:
        x = x[None]
    if x.ndim not in (2, 3):
        raise ValueError(f"{path}:{key}: expected (C, T), (T,) or (N, C, T), got shape {x.shape}")
    c = x.shape[-2]
    meta = {"fs": float(attrs["fs"]) if "fs" in attrs else None,
            "sig_name": _str_list(attrs.get("sig_name"), [f"ch{i}" for i in range(c)]),
            "units": _str_list(attrs.get("units"), ["mV"] * c), "key": key, "source": str(path)}
    return Loaded(x, meta)


def _str_list(v, default: list[str]) -> list[str]:
    if v is None:
        return default
    return [s.decode() if isinstance(s, bytes) else str(s) for s in np.atleast_1d(v)]


def write_hdf5(path: str | Path, array: np.ndarray, meta: dict) -> None:
    """Write (C, T) or (N, C, T) to HDF5 dataset ``signal`` with attributes fs, sig_name, units."""
    import h5py

    path = Path(path)
    x = np.asarray(array, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    if x.ndim not in (2, 3):
        raise ValueError(f"{path}: expected (C, T) or (N, C, T), got shape {x.shape}")
    c = x.shape[-2]
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(meta.get("key", "signal"), data=x, compression="gzip")
        if meta.get("fs") is not None:
            ds.attrs["fs"] = float(meta["fs"])
        ds.attrs["sig_name"] = list(meta.get("sig_name") or [f"ch{i}" for i in range(c)])
        ds.attrs["units"] = list(meta.get("units") or ["mV"] * c)


# -------------------------------------------------------------------------------------------- NumPy
def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def read_npy(path: str | Path) -> Loaded:
    """Read a ``.npy`` array (T,), (C, T) or (N, C, T); the sidecar ``<file>.npy.json`` gives fs and names."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        x = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"{path}: not a plain numeric .npy array: {e}") from None
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{path}: dtype {x.dtype} is not numeric")
    x = x.astype(np.float32)
    if x.ndim == 1:
        x = x[None]
    if x.ndim not in (2, 3):
        raise ValueError(f"{path}: expected (T,), (C, T) or (N, C, T), got shape {x.shape}")
    meta: dict[str, Any] = {"fs": None, "source": str(path)}
    side = _sidecar(path)
    if side.exists():
        try:
            meta.update(json.loads(side.read_text()))
        except json.JSONDecodeError as e:
            raise ValueError(f"{side}: not valid JSON: {e}") from None
    c = x.shape[-2]
    meta.setdefault("sig_name", [f"ch{i}" for i in range(c)])
    meta.setdefault("units", ["mV"] * c)
    return Loaded(x, meta)


def write_npy(path: str | Path, array: np.ndarray, meta: dict) -> None:
    """Write the array as ``.npy`` and fs/sig_name/units to the sidecar ``<file>.npy.json``."""
    path = Path(path)
    np.save(path, np.asarray(array, dtype=np.float32), allow_pickle=False)
    side = {k: meta[k] for k in ("fs", "sig_name", "units") if meta.get(k) is not None}
    if side:
        _sidecar(path).write_text(json.dumps(side))


READERS = {".hea": read_wfdb, ".csv": read_csv, ".edf": read_edf, ".bdf": read_edf, ".h5": read_hdf5,
           ".hdf5": read_hdf5, ".npy": read_npy}
WRITERS = {".hea": write_wfdb, ".csv": write_csv, ".h5": write_hdf5, ".hdf5": write_hdf5, ".npy": write_npy}
