"""Readers and writers of 1D biosignals: WFDB (+ annotations), CSV, EDF, HDF5, NumPy.

Every reader returns a :class:`diffsci.domains.Loaded` whose ``array`` is (C, T) float32 in physical
units (mV for ECG) and whose ``meta`` holds what a writer needs to write it back:

- ``fs``: sampling rate in Hz (None where the format does not store one and no sidecar gives it),
- ``sig_name``: one name per channel (lead), ``units``: one unit per channel,
- ``annotations`` (WFDB only, when an annotation file sits beside the record):
  ``{"extension": "atr", "sample": int array, "symbol": list[str]}``,
- ``adc_gain``/``baseline``/``fmt`` (WFDB only): kept so that a record read and written back keeps
  its digital values,
- ``converted_units`` (every reader; CSV with a units row, HDF5 ``units`` attribute, .npy sidecar), only
  when a channel was converted:
  ``{channel: {"from": "uV", "scale": 0.001}}``. Voltages in uV/µV/mV/V become mV; other units are kept
  with a warning.

Bad files raise ``FileNotFoundError`` or ``ValueError`` naming the file and what is wrong.
"""

from __future__ import annotations

import csv
import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from diffsci.domains import Loaded
from diffsci.io import hdf5_datasets, open_hdf5

__all__ = ["read_wfdb", "write_wfdb", "read_annotations", "read_csv", "write_csv", "read_edf", "read_hdf5",
           "write_hdf5", "read_npy", "write_npy", "READERS", "WRITERS", "as_channels_first"]

# multiply by these to get mV (keys lower-case; both the micro sign U+00B5 and the Greek mu U+03BC occur)
#: voltage unit (lower case) -> factor to mV, the plugin's unit
TO_MV = {"mv": 1.0, "millivolt": 1.0, "millivolts": 1.0, "uv": 1e-3, "\u00b5v": 1e-3, "\u03bcv": 1e-3,
         "microvolt": 1e-3, "microvolts": 1e-3, "v": 1e3, "volt": 1e3, "volts": 1e3}


def as_channels_first(array: np.ndarray, source: str, transpose: bool = False, batch: bool = False) -> np.ndarray:
    """Return a float32 (C, T) copy of a (T,) or (C, T) signal (or (N, C, T) with ``batch``).

    An array with more rows than columns (the last two axes) looks like (T, C): the longer axis is time.
    With ``transpose`` (readers) it is transposed with a warning; otherwise (writers) it is an error.
    """
    a = np.asarray(array, dtype=np.float32)
    if a.ndim == 1:
        a = a[None]
    shapes = "(T,), (C, T) or (N, C, T)" if batch else "(T,) or (C, T)"
    if a.ndim != 2 and not (batch and a.ndim == 3):
        raise ValueError(f"{source}: expected a signal of shape {shapes}, got shape {a.shape}")
    if a.shape[-2] > a.shape[-1]:
        if not transpose:
            raise ValueError(f"{source}: shape {a.shape} has more channels than samples; "
                             "signals are (channels, time): transpose it")
        warnings.warn(f"{source}: shape {a.shape} has more rows than columns; reading it as (T, C) and "
                      "transposing to channels first (the longer axis is time)", stacklevel=3)
        a = np.ascontiguousarray(np.swapaxes(a, -1, -2))
    return a


def _to_millivolts(x: np.ndarray, names: list[str], units: list[str], source: str) -> tuple[np.ndarray, list, dict]:
    """Scale the voltage channels of (C, T) or (N, C, T) ``x`` to mV; returns (x, units, {channel: {"from", "scale"}}).

    Units other than uV/µV/mV/V (case-insensitive) are kept as they are, with a warning; an empty unit is
    taken as mV (EDF and CSV files often leave it blank).
    """
    out, converted, unknown = list(units), {}, []
    x = np.array(x, dtype=np.float32)                       # a copy: scaled in place below
    for i, u in enumerate(units):
        key = (u or "mV").strip().lower()
        if key not in TO_MV:
            unknown.append(f"{names[i]} ({u})")
            continue
        out[i] = "mV"
        if TO_MV[key] != 1.0:
            x[..., i, :] *= np.float32(TO_MV[key])
            converted[names[i]] = {"from": u, "scale": TO_MV[key]}
    if unknown:
        warnings.warn(f"{source}: channels {', '.join(unknown)} are not in a voltage unit this reader converts "
                      "(uV, µV, mV, V); kept in their own units", stacklevel=3)
    return x, out, converted


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
        head = wfdb.rdheader(str(base))
    except Exception as e:  # wfdb raises assorted errors on malformed headers
        raise ValueError(f"{hea}: not a readable WFDB header: {e}") from None
    _check_signal_files(hea, head)
    try:
        rec = wfdb.rdrecord(str(base))
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{hea}: a signal file named in the header is missing ({e})") from None
    except Exception as e:
        raise ValueError(f"{hea}: not a readable WFDB record: {e}") from None
    if rec.p_signal is None:
        raise ValueError(f"{hea}: the record holds no signal")
    names = list(rec.sig_name)
    x, units, converted = _to_millivolts(rec.p_signal.T, names, list(rec.units), str(hea))
    # digital = physical * gain + baseline: a channel now in mV has gain / scale digital units per mV
    scale = [converted[n]["scale"] if n in converted else 1.0 for n in names]
    meta: dict[str, Any] = {"fs": float(rec.fs), "sig_name": names, "units": units,
                            "adc_gain": [float(g) / s for g, s in zip(rec.adc_gain, scale)],
                            "baseline": [int(b) for b in rec.baseline],
                            "fmt": list(rec.fmt), "record_name": rec.record_name, "source": str(hea)}
    if converted:
        meta["converted_units"] = converted
    if annotation is not None and base.with_suffix("." + annotation).exists():
        meta["annotations"] = read_annotations(base, annotation)
    return Loaded(np.ascontiguousarray(x, dtype=np.float32), meta)


# bytes per sample of the uncompressed WFDB formats (212: 3 bytes per 2 samples, 310/311: 4 per 3)
_WFDB_BYTES = {"8": 1, "16": 2, "24": 3, "32": 4, "61": 2, "80": 1, "160": 2, "212": 1.5, "310": 4 / 3, "311": 4 / 3}


def _check_signal_files(hea: Path, head) -> None:
    """Name a missing or truncated signal file; wfdb itself fails with a reshape or broadcast error."""
    if not head.file_name or not head.sig_len:
        return
    spf = head.samps_per_frame or [1] * len(head.file_name)
    for name in dict.fromkeys(head.file_name):
        dat = hea.parent / name
        if not dat.exists():
            raise FileNotFoundError(f"{hea}: the signal file {name} named in the header is missing")
        chans = [i for i, f in enumerate(head.file_name) if f == name]
        fmt = head.fmt[chans[0]]
        if fmt not in _WFDB_BYTES:
            continue                                            # FLAC-compressed: size says nothing
        per_frame = sum(spf[i] or 1 for i in chans) * _WFDB_BYTES[fmt]
        offset = (head.byte_offset or [None] * len(head.file_name))[chans[0]] or 0
        need, have = offset + int(head.sig_len * per_frame), dat.stat().st_size
        if have < need:
            raise ValueError(f"{dat}: the signal file is shorter than the header's length: {have} bytes hold "
                             f"{int((have - offset) // per_frame)} of the {head.sig_len} samples of {len(chans)} "
                             f"signals in format {fmt} ({need} bytes); the file is truncated (incomplete download?)")


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


_RECORD_NAME = re.compile(r"[-\w]+", re.ASCII)
# a batch does not fit the one-signal formats: the error says where it does fit
_BATCH_HINT = "write one file per item (or concatenate along time), or write .h5/.npy, which store (N, C, T)"


def write_wfdb(path: str | Path, array: np.ndarray, meta: dict) -> None:
    """Write (C, T) physical values as a WFDB record ``path`` (``rec.hea`` + ``rec.dat``), with annotations.

    The gain and baseline of ``meta`` are reused for a channel whose values lie on their digital grid (a
    record read and written back keeps its digital values). Any other channel (a denoised signal, a std
    map) gets its own gain: its range fills about 90 % of 16 bits (format 16), i.e. a resolution of
    range / 60000. Annotations (``meta["annotations"]``) at another rate than ``meta["fs"]`` are moved to
    it; samples outside the record and symbols that are not WFDB codes are errors.
    """
    import wfdb

    path = Path(path)
    if path.suffix != ".hea":
        raise ValueError(f"{path}: a WFDB record is written through its header; name it <record>.hea")
    rec_name = path.stem
    if not _RECORD_NAME.fullmatch(rec_name):
        raise ValueError(f"{path}: WFDB record names may hold only ASCII letters, digits, '-' and '_' "
                         f"(no '.', no spaces); got '{rec_name}'")
    if np.ndim(array) == 3:
        raise ValueError(f"{path}: a WFDB record holds one signal (T,) or (C, T), got a batch of shape "
                         f"{np.shape(array)}; {_BATCH_HINT}")
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
    ann = meta.get("annotations")
    ann = _annotations_to_write(path, ann, float(fs), x.shape[1]) if ann is not None and len(ann["sample"]) else None
    kw = _digital_format(x, meta.get("adc_gain"), meta.get("baseline"))
    try:
        wfdb.wrsamp(rec_name, fs=float(fs), units=units, sig_name=names, p_signal=x.T.astype(np.float64),
                    write_dir=str(path.parent), **kw)
        if ann is not None:
            wfdb.wrann(rec_name, ann[0], ann[1], symbol=ann[2], fs=float(fs), write_dir=str(path.parent))
    except Exception as e:  # wfdb raises bare Exception on some invalid fields
        raise ValueError(f"{path}: wfdb could not write the record: {e}") from None


def _digital_format(x: np.ndarray, gain, baseline) -> dict:
    """adc_gain, baseline and fmt of each channel of (C, T) x (see :func:`write_wfdb`)."""
    c = x.shape[0]
    given = gain is not None and baseline is not None and len(gain) == c and len(baseline) == c
    g, b = np.empty(c), np.empty(c, dtype=np.int64)
    for j in range(c):
        xj = x[j].astype(np.float64)
        if given and gain[j] > 0:
            d = xj * gain[j] + baseline[j]
            # on the grid up to float32 round-off: the record was read with this gain, reuse it exactly
            off = np.abs(d - np.round(d)).max(initial=0)
            if off <= 1e-3 + 4 * np.finfo(np.float32).eps * np.abs(d).max(initial=0) and np.abs(d).max() < 2 ** 31 - 1:
                g[j], b[j] = gain[j], baseline[j]
                continue
        lo, hi = float(xj.min()), float(xj.max())
        half, mid = (hi - lo) / 2, (hi + lo) / 2
        half = half if half > 0 else max(abs(mid), 1.0)           # a constant: any gain represents it
        gj = 30000 / half                                          # +-30000 of +-32767: margin for rounding
        e = 10.0 ** (np.floor(np.log10(gj)) - 2)
        g[j] = np.floor(gj / e) * e                                # 3 significant digits, rounded down
        b[j] = -int(np.round(mid * g[j]))
    d = np.round(x.astype(np.float64) * g[:, None] + b[:, None])
    fmt = "16" if np.abs(d).max(initial=0) <= 32767 else "32"     # -32768 is WFDB's invalid sample
    return {"adc_gain": g.tolist(), "baseline": [int(v) for v in b], "fmt": [fmt] * c}


def _annotations_to_write(path: Path, ann: dict, fs: float, length: int) -> tuple[str, np.ndarray, list[str]]:
    """(extension, samples at fs, symbols) of an annotation dict, checked against a record of ``length``."""
    from wfdb.io.annotation import ann_label_table

    from .resample import resample_samples

    sample = np.asarray(ann["sample"])
    symbol = [str(s) for s in ann["symbol"]]
    if len(symbol) != len(sample):
        raise ValueError(f"{path}: {len(sample)} annotation samples but {len(symbol)} symbols")
    ann_fs = ann.get("fs")
    if ann_fs is not None and float(ann_fs) != fs:
        # annotations read at the original rate, signal resampled: move the beats with it
        sample = resample_samples(sample, float(ann_fs), fs)
    sample = np.round(sample).astype(np.int64)
    out = np.flatnonzero((sample < 0) | (sample >= length))
    if len(out):
        raise ValueError(f"{path}: {len(out)} annotation samples lie outside the record's {length} samples "
                         f"(first: {sample[out[0]]}; annotations at {ann_fs or fs:g} Hz, record at {fs:g} Hz)")
    valid = set(ann_label_table["symbol"])
    bad = sorted(set(symbol) - valid)
    if bad:
        raise ValueError(f"{path}: annotation symbols {bad} are not WFDB codes; valid: "
                         f"{' '.join(sorted(valid - {' '}))} (wfdb.io.annotation.ann_label_table)")
    return ann.get("extension", "atr"), sample, symbol


# ---------------------------------------------------------------------------------------------- CSV
_TIME_NAMES = ("time", "t", "seconds", "sec", "secs", "elapsed time", "elapsed", "timestamp")
_TIME_UNITS = {"s": 1.0, "sec": 1.0, "secs": 1.0, "seconds": 1.0, "ms": 1e-3, "msec": 1e-3, "us": 1e-6,
               "\u00b5s": 1e-6, "min": 60.0, "h": 3600.0, "hh:mm:ss.mmm": 1.0, "hh:mm:ss": 1.0, "mm:ss.mmm": 1.0}
_INDEX_NAMES = ("sample", "sample #", "sample#", "sample number", "samples", "index")


def _time_column(name: str, unit: str | None) -> float | str | None:
    """Seconds per unit of a time column ('time', 'Time (s)', 'time_ms', 'Elapsed time'), "index" for a
    sample-number column, None for a signal column. ``unit`` is the column's entry in a units row."""
    n = name.strip().lower()
    m = re.fullmatch(r"(.*?)\s*[(\[]\s*([^)\]]*?)\s*[)\]]", n)              # 'Time (s)', 'time [ms]'
    if m:
        n, unit = m[1], m[2]
    else:
        m = re.fullmatch(r"(.*?)[_ ](s|sec|ms|msec|us|min)", n)               # 'time_s', 'time_ms'
        if m and m[1].replace("_", " ") in _TIME_NAMES:
            n, unit = m[1], m[2]
    n = n.replace("_", " ").strip()
    if n in _INDEX_NAMES:
        return "index"
    if n not in _TIME_NAMES:
        return None
    if n in ("seconds", "sec", "secs") or not unit:
        return 1.0
    if unit.strip().lower() not in _TIME_UNITS:
        raise ValueError(f"time column '{name}': unknown time unit '{unit}'; known: {', '.join(_TIME_UNITS)}")
    return _TIME_UNITS[unit.strip().lower()]


def _clean(cell: str) -> str:
    """A cell without surrounding blanks and quotes (PhysioNet exports quote with ')."""
    c = cell.strip()
    if len(c) >= 2 and c[0] == c[-1] and c[0] in "'\"":
        c = c[1:-1].strip()
    return c


def _seconds(cell: str) -> float:
    """A number, or an elapsed time 'h:mm:ss.mmm' / 'm:ss.mmm' in seconds."""
    try:
        return float(cell)
    except ValueError:
        parts = cell.split(":")
        if not 2 <= len(parts) <= 3:
            raise
        return sum(float(v) * 60 ** k for k, v in enumerate(reversed(parts)))


def _rate_from_times(t: np.ndarray) -> float:
    """Sampling rate of a time column: the mean step, rounded.

    The mean over the record, not the median step: a 360 Hz column rounded to ms has steps of 2 and 3 ms,
    whose median gives 333 Hz, while the mean is off by at most 1 ms / duration. Within 0.1 % of a whole
    number the rate is that number (360.008 -> 360), else it keeps 4 significant digits, so that a rate
    read from rounded times still has a rational factor for resampling.
    """
    raw = (len(t) - 1) / (t[-1] - t[0])
    if abs(raw - round(raw)) <= 1e-3 * raw:
        return float(round(raw))
    return float(f"{raw:.4g}")


def read_csv(path: str | Path, fs: float | None = None) -> Loaded:
    """Read a CSV with one header row of column names and one row per time sample.

    - A first column named ``time``/``t``/``seconds``/``Elapsed time`` (units in the name allowed:
      ``Time (s)``, ``time_ms``, ``time [ms]``) gives the sampling rate (:func:`_rate_from_times`); its cells
      are numbers or elapsed times ``h:mm:ss.mmm``. A first column ``sample #``/``index`` is dropped.
    - A second row with no numbers is a units row (PhysioNet: ``'hh:mm:ss.mmm','mV','mV'``); voltage
      columns are converted to mV. Without one, values are taken as mV.
    - Quotes (' or "), a UTF-8 byte-order mark (Excel) and ``#`` comment lines are skipped.
    - ``fs`` sets the rate when the file has no time column (or overrides it).

    Every other column is a channel. Non-numeric cells are an error naming the line and column.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = [(i + 1, r) for i, r in enumerate(csv.reader(f)) if r and not r[0].lstrip().startswith("#")
                    and any(c.strip() for c in r)]
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text: {e}") from None
    if not rows:
        raise ValueError(f"{path}: empty CSV")
    header = [_clean(h) for h in rows[0][1]]
    if all(_is_number(h) for h in header):
        raise ValueError(f"{path}: the first row must name the columns (e.g. time,MLII), got numbers")
    units = None
    if len(rows) > 1 and len(rows[1][1]) == len(header) and not any(_is_number(_clean(c)) for c in rows[1][1]):
        units = [_clean(c) for c in rows[1][1]]
        rows = rows[:1] + rows[2:]
    try:
        kind = _time_column(header[0], units[0] if units else None)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    data = np.empty((len(rows) - 1, len(header)), dtype=np.float64)
    for i, (line, row) in enumerate(rows[1:]):
        if len(row) != len(header):
            raise ValueError(f"{path}: line {line} has {len(row)} columns, the header has {len(header)}")
        for j, cell in enumerate(row):
            cell = _clean(cell)
            try:
                data[i, j] = _seconds(cell) if j == 0 and kind is not None else float(cell)
            except ValueError:
                raise ValueError(f"{path}: line {line}, column '{header[j]}': not a number: {cell!r}") from None
    if len(data) < 2:
        raise ValueError(f"{path}: needs at least two samples, got {len(data)}")
    meta: dict[str, Any] = {}
    if kind is not None:
        if kind == "index":
            meta["index_column"] = header[0]
        else:
            t = data[:, 0] * kind
            bad = np.flatnonzero(np.diff(t) <= 0)
            if len(bad):
                raise ValueError(f"{path}: column '{header[0]}' is not strictly increasing "
                                 f"(line {rows[bad[0] + 2][0]})")
            meta["time_column"] = header[0]
            fs = fs if fs is not None else _rate_from_times(t)
        data, header = data[:, 1:], header[1:]
        units = units[1:] if units else None
    if data.shape[1] == 0:
        raise ValueError(f"{path}: no signal columns besides '{meta.get('time_column') or meta['index_column']}'")
    x = np.ascontiguousarray(data.T, dtype=np.float32)
    if units is None:
        units = ["mV"] * len(header)
    else:
        x, units, converted = _to_millivolts(x, header, units, str(path))
        if converted:
            meta["converted_units"] = converted
    return Loaded(x, {"fs": None if fs is None else float(fs), "sig_name": header, "units": units, **meta,
                      "source": str(path)})


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def write_csv(path: str | Path, array: np.ndarray, meta: dict) -> None:
    """Write (C, T) as CSV: a ``time`` column (when meta has fs) and one column per channel."""
    path = Path(path)
    if np.ndim(array) == 3:
        raise ValueError(f"{path}: a CSV holds one signal (T,) or (C, T), got a batch of shape {np.shape(array)}; "
                         f"{_BATCH_HINT}")
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
def read_edf(path: str | Path, channels: list[str | int] | str | int | None = None,
             fs: float | None = None) -> Loaded:
    """Read an EDF/EDF+/BDF file with pyedflib.

    Args:
        channels: labels or indices of the channels to read (default: all).
        fs: the rate to return. Default: the rate of the chosen channels, or the highest of them when they
            differ; channels at another rate are resampled to it (:func:`.resample.resample`).
    """
    import pyedflib

    from .resample import resample

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        f = pyedflib.EdfReader(str(path))
    except Exception as e:
        raise ValueError(f"{path}: not a readable EDF file: {e}") from None
    try:
        labels = [str(v).strip() for v in f.getSignalLabels()]
        idx = _edf_channels(path, labels, channels)
        rates = [float(f.getSampleFrequency(i)) for i in idx]
        sigs = [f.readSignal(i) for i in idx]
        names, units = [labels[i] for i in idx], [f.getPhysicalDimension(i).strip() for i in idx]
    finally:
        f.close()
    target = float(fs) if fs is not None else max(rates)
    resampled = {}
    for k, (r, sig) in enumerate(zip(rates, sigs)):
        if r != target:
            try:
                sigs[k] = resample(sig, r, target)
            except ValueError:
                raise ValueError(f"{path}: channels have different sampling rates {dict(zip(names, rates))} and "
                                 f"channel '{names[k]}' cannot be resampled from {r:g} to {target:g} Hz with a small "
                                 "rational factor; choose channels of one rate with channels=[...]") from None
            resampled[names[k]] = r
    n = min(len(v) for v in sigs)           # ceil(T fs_out / fs_in) may exceed the record by a sample
    x, units, converted = _to_millivolts(np.stack([v[:n] for v in sigs]), names, units, str(path))
    meta: dict[str, Any] = {"fs": target, "sig_name": names, "units": units, "source": str(path)}
    if resampled:
        meta["resampled_from"] = resampled
    if converted:
        meta["converted_units"] = converted
    return Loaded(x, meta)


def _edf_channels(path: Path, labels: list[str], channels) -> list[int]:
    """Indices of ``channels`` (labels, case-insensitive if not exact, or indices) among ``labels``."""
    if channels is None:
        return list(range(len(labels)))
    if isinstance(channels, (str, int)):
        channels = [channels]
    out = []
    for c in channels:
        if isinstance(c, (int, np.integer)):
            if not -len(labels) <= c < len(labels):
                raise ValueError(f"{path}: channel index {c} out of range; the file has {len(labels)} channels")
            out.append(int(c) % len(labels))
            continue
        hits = [i for i, v in enumerate(labels) if v == c] or [i for i, v in enumerate(labels) if v.lower() == c.lower()]
        if not hits:
            raise ValueError(f"{path}: no channel '{c}'; channels: {', '.join(labels)}")
        out.append(hits[0])
    return out


# --------------------------------------------------------------------------------------------- HDF5
def read_hdf5(path: str | Path, key: str | None = None) -> Loaded:
    """Read a signal from HDF5: dataset ``key``, else ``signal``, else the only dataset in the file.

    The dataset is (C, T), (T,) or a batch (N, C, T) (a (T, C) array is transposed with a warning:
    the longer axis is time); attributes ``fs``, ``sig_name``, ``units`` are read from the dataset or the
    file root.
    """
    path = Path(path)
    with open_hdf5(path) as f:
        names = hdf5_datasets(f)
        if key is None:
            key = "signal" if "signal" in names else (names[0] if len(names) == 1 else None)
        if key is None or key not in f:
            raise ValueError(f"{path}: no dataset '{key or 'signal'}'; datasets: {', '.join(names) or 'none'}")
        ds = f[key]
        x = np.asarray(ds[()], dtype=np.float32)
        attrs = {**dict(f.attrs), **dict(ds.attrs)}
    x = as_channels_first(x, f"{path}:{key}", transpose=True, batch=True)
    c = x.shape[-2]
    meta = {"fs": float(attrs["fs"]) if "fs" in attrs else None,
            "sig_name": _str_list(attrs.get("sig_name"), [f"ch{i}" for i in range(c)]), "key": key,
            "source": str(path)}
    units = _str_list(attrs.get("units"), ["mV"] * c)
    _check_per_channel(f"{path}:{key}", c, meta["sig_name"], units)
    x, meta["units"], converted = _to_millivolts(x, meta["sig_name"], units, f"{path}:{key}")
    if converted:
        meta["converted_units"] = converted
    return Loaded(x, meta)


def _check_per_channel(source: str, c: int, names: list[str], units: list[str]) -> None:
    """One name and one unit per channel, or an error naming the file (a sidecar or attribute out of step)."""
    if len(names) != c or len(units) != c:
        raise ValueError(f"{source}: {c} channel(s) but {len(names)} sig_name and {len(units)} units entries")


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
    """Read a ``.npy`` array (T,), (C, T) or (N, C, T); the sidecar ``<file>.npy.json`` gives fs and names.

    A (T, C) array (more rows than columns) is transposed with a warning: the longer axis is time.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        x = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"{path}: not a plain numeric .npy array: {e}") from None
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{path}: dtype {x.dtype} is not numeric")
    x = as_channels_first(x, str(path), transpose=True, batch=True)
    meta: dict[str, Any] = {"fs": None, "source": str(path)}
    side = _sidecar(path)
    if side.exists():
        try:
            meta.update(json.loads(side.read_text()))
        except json.JSONDecodeError as e:
            raise ValueError(f"{side}: not valid JSON: {e}") from None
    c = x.shape[-2]
    meta.setdefault("sig_name", [f"ch{i}" for i in range(c)])
    units = meta.get("units") or ["mV"] * c
    units = [units] * c if isinstance(units, str) else [str(u) for u in units]      # "uV" for every channel
    _check_per_channel(str(side), c, meta["sig_name"], units)
    x, meta["units"], converted = _to_millivolts(x, meta["sig_name"], units, str(path))
    if converted:
        meta["converted_units"] = converted
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
