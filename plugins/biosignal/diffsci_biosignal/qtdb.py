"""The QTDB + NSTDB denoising benchmark of DeepFilter (Romero et al. 2021) and DeScoD-ECG (Li et al. 2023).

Protocol, as in the published data preparation:

1. Every QT Database record (250 Hz): lead 0 in mV; beats run from 40 ms before one P-wave onset to
   40 ms before the next (onsets from the automatic ``pu1`` annotations: the last ``(`` before each
   ``p``); a segment holding two or more QRS (``N``) annotations is dropped.
2. Each beat is resampled to 360 Hz with ``resample_poly`` after mirror-extending it on both sides (edge
   effects), then placed at offset 16 in a zero vector of 512 samples after subtracting the mean of its
   first and last samples; beats longer than 496 samples are dropped.
3. 14 records (two per source database) are the test set, the other 91 the training set.
4. Noise: an NSTDB record split by :func:`diffsci_biosignal.noise.deepfilter_noise_split` (version 1 or 2).
   With ``np.random.seed(1234)`` one ratio in {0.20, ..., 1.99} is drawn per training beat, then one per
   test beat; test beat i gets the i-th consecutive 512-sample noise segment, scaled so that its
   peak-to-peak amplitude is ratio x the beat's.

Differences from the published code, stated in the report: records are visited in sorted order (the
code visits them in ``glob`` order, which depends on the file system), so which ratio a given beat
receives differs; the distribution of ratios and noise segments is the same.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from .io import read_annotations, read_wfdb
from .noise import deepfilter_noise_split, load_nstdb, scale_peak_to_peak, sequential_segments
from .resample import poly_filter, rational_factor

__all__ = ["TEST_RECORDS", "qtdb_records", "qtdb_beats", "pad_beats", "BenchmarkData", "deepfilter_benchmark",
           "load_qtdb_beats", "qtdb_record_windows"]

TEST_RECORDS = ("sel123", "sel233",        # MIT-BIH Arrhythmia
                "sel302", "sel307",        # MIT-BIH ST Change
                "sel820", "sel853",        # MIT-BIH Supraventricular Arrhythmia
                "sel16420", "sel16795",    # MIT-BIH Normal Sinus Rhythm
                "sele0106", "sele0121",    # European ST-T
                "sel32", "sel49",          # sudden death
                "sel14046", "sel15814")    # MIT-BIH Long-Term

SAMPLES, INIT_PADDING, FS = 512, 16, 360.0


def qtdb_records(root: str | Path) -> list[str]:
    """Record names of a QTDB folder (from RECORDS, else the .hea files), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: QTDB folder not found")
    rec = root / "RECORDS"
    names = rec.read_text().split() if rec.exists() else [p.stem for p in root.glob("*.hea")]
    if not names:
        raise FileNotFoundError(f"{root}: no QTDB records (no RECORDS file and no .hea files)")
    return sorted(names)


def qtdb_beats(root: str | Path, record: str, fs_out: float = FS, annotation: str = "pu1") -> list[np.ndarray]:
    """The beats of one QTDB record, resampled to fs_out (step 1 and the resampling of step 2)."""
    root = Path(root)
    rec = read_wfdb(root / f"{record}.hea", annotation=None)
    fs = float(rec.meta["fs"])
    sig = rec.array[0].astype(np.float64)
    ann = read_annotations(root / record, annotation)
    sym, samp = np.asarray(ann["symbol"]), ann["sample"]
    p_idx, onsets, r_idx = samp[sym == "p"], samp[sym == "("], samp[sym == "N"]
    starts = []
    for p in p_idx:
        before = onsets[onsets < p]
        if len(before):
            starts.append(before[-1] - int(0.04 * fs))       # 40 ms before the P-wave onset
    starts = np.asarray(starts, dtype=np.int64)
    up, down = rational_factor(fs, fs_out)
    h = poly_filter(up, down)
    beats = []
    for a, b in zip(starts[:-1], starts[1:]):
        if a < 0 or b <= a or np.sum((r_idx > a) & (r_idx < b)) >= 2:
            continue
        beat = sig[a:b]
        n_out = math.ceil(len(beat) * fs_out / fs)
        ext = np.concatenate([beat[::-1], beat, beat[::-1]])     # mirror on both sides against edge effects
        beats.append(resample_poly(ext, up, down, window=h)[n_out - 1:2 * n_out - 1])
    return beats


def pad_beats(beats: list[np.ndarray], samples: int = SAMPLES,
              init_padding: int = INIT_PADDING) -> tuple[np.ndarray, np.ndarray]:
    """Step 2: centre each beat on the mean of its end points and zero-pad it to ``samples``.

    Returns (padded (N, samples), kept indices); beats longer than samples - init_padding are dropped.

    >>> x, kept = pad_beats([np.array([1.0, 2.0, 3.0]), np.ones(10)], samples=8, init_padding=2)
    >>> x.tolist(), kept.tolist()
    ([[0.0, 0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0]], [0])
    """
    kept = [i for i, b in enumerate(beats) if len(b) <= samples - init_padding]
    out = np.zeros((len(kept), samples))
    for k, i in enumerate(kept):
        b = beats[i]
        out[k, init_padding:init_padding + len(b)] = b - (b[0] + b[-1]) / 2
    return out, np.asarray(kept, dtype=np.int64)


def load_qtdb_beats(root: str | Path, records: list[str] | None = None, samples: int = SAMPLES,
                    init_padding: int = INIT_PADDING, cache: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All padded beats of the given records: (beats (N, samples), record name per beat, beat length).

    Beats are returned rounded to float32 precision (1e-7 relative, far below the ECG's 5 uV resolution) so
    that a cached and a freshly computed set are identical. With ``cache``, the result is kept in
    ``$DIFFSCI_CACHE`` (default ~/.cache/diffsci)/biosignal, keyed by the files' names, sizes and times.
    """
    root = Path(root)
    records = qtdb_records(root) if records is None else sorted(records)
    path = _cache_path(root, records, samples, init_padding) if cache else None
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as z:
            return z["x"].astype(np.float64), z["names"], z["lengths"]
    xs, names, lengths = [], [], []
    for r in records:
        beats = qtdb_beats(root, r)
        padded, kept = pad_beats(beats, samples, init_padding)
        xs.append(padded)
        names += [r] * len(kept)
        lengths += [len(beats[i]) for i in kept]
    if not xs:
        raise ValueError(f"{root}: no QTDB beats found")
    x32 = np.concatenate(xs).astype(np.float32)
    names_a, lengths_a = np.asarray(names), np.asarray(lengths, dtype=np.int64)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
            np.savez(tmp, x=x32, names=names_a, lengths=lengths_a)
            os.replace(tmp, path)
        except OSError:
            pass                                   # a read-only home: work without the cache
    return x32.astype(np.float64), names_a, lengths_a


def qtdb_record_windows(root: str | Path, records: list[str], fs_out: float = FS, length: int = SAMPLES,
                        hop: int | None = None, highpass_hz: float | None = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Clean windows of whole QTDB records, for a denoiser of records rather than of padded beats.

    Lead 0 of each record in mV, resampled to ``fs_out`` (:func:`.resample.resample`), high-passed at
    ``highpass_hz`` (2nd-order Butterworth, zero phase: the record's own baseline drift is not ECG, and a
    denoiser of records should remove it with the noise), cut into ``length``-sample windows every ``hop``
    (default: ``length``, no overlap), each minus its median. Returns (windows (N, length), record per window).
    """
    from scipy.signal import butter, sosfiltfilt

    from .resample import resample
    from .windows import fixed_windows
    root = Path(root)
    xs, names = [], []
    for r in sorted(records):
        rec = read_wfdb(root / f"{r}.hea", annotation=None)
        sig = resample(rec.array[:1].astype(np.float64), float(rec.meta["fs"]), fs_out)
        if highpass_hz:
            sig = sosfiltfilt(butter(2, highpass_hz / (fs_out / 2), "highpass", output="sos"), sig, axis=-1)
        if sig.shape[-1] < length:
            continue
        w, _ = fixed_windows(sig, length, hop)
        w = w[:, 0]
        xs.append(w - np.median(w, axis=-1, keepdims=True))
        names += [r] * len(w)
    if not xs:
        raise ValueError(f"{root}: no record of {', '.join(records[:3])}{'...' if len(records) > 3 else ''} "
                         f"holds a {length}-sample window at {fs_out:g} Hz")
    return np.concatenate(xs), np.asarray(names)


def _cache_path(root: Path, records: list[str], samples: int, init_padding: int) -> Path:
    h = hashlib.sha1(f"qtdb-v1|{samples}|{init_padding}".encode())
    for r in records:
        for ext in (".hea", ".dat", ".pu1"):
            f = root / (r + ext)
            st = f.stat() if f.exists() else None
            h.update(f"{f.resolve()}|{st.st_size if st else -1}|{st.st_mtime_ns if st else -1}".encode())
    base = Path(os.environ.get("DIFFSCI_CACHE", Path.home() / ".cache" / "diffsci"))
    return base / "biosignal" / f"qtdb_beats_{h.hexdigest()[:16]}.npz"


@dataclass
class BenchmarkData:
    """One noise setting of the benchmark; all signals in mV at 360 Hz, (N, 512)."""

    noise: str
    version: int
    train_clean: np.ndarray
    train_records: np.ndarray
    test_clean: np.ndarray
    test_noisy: np.ndarray
    test_ratio: np.ndarray
    test_records: np.ndarray
    noise_train: np.ndarray
    noise_test: np.ndarray
    info: dict = field(default_factory=dict)


def deepfilter_benchmark(qtdb_root: str | Path, nstdb_root: str | Path, noise: str = "bw", version: int = 1,
                         seed: int = 1234, beats: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                         test_records: tuple[str, ...] = TEST_RECORDS) -> BenchmarkData:
    """Build one (noise, version) setting of the benchmark (module docstring, steps 1-4).

    ``beats`` may pass the output of :func:`load_qtdb_beats` to avoid re-reading the database for every
    setting.
    """
    x, names, lengths = load_qtdb_beats(qtdb_root) if beats is None else beats
    missing = sorted(set(test_records) - set(names.tolist()))
    if missing:
        raise ValueError(f"{qtdb_root}: test records {', '.join(missing)} are missing from the QT Database")
    is_test = np.isin(names, test_records)
    rec, fs = load_nstdb(nstdb_root, noise)
    if fs != FS:
        raise ValueError(f"{nstdb_root}/{noise}: expected 360 Hz noise, got {fs} Hz")
    noise_train, noise_test = deepfilter_noise_split(rec, version)
    rs = np.random.RandomState(seed)                       # the legacy generator the protocol seeds
    rs.randint(low=20, high=200, size=int((~is_test).sum()))   # training ratios are drawn first
    ratio = rs.randint(low=20, high=200, size=int(is_test.sum())) / 100
    clean = x[is_test]
    segments = sequential_segments(noise_test, len(clean), x.shape[1])
    noisy = clean + scale_peak_to_peak(clean, segments, ratio)
    return BenchmarkData(noise=noise, version=version, train_clean=x[~is_test], train_records=names[~is_test],
                         test_clean=clean, test_noisy=noisy, test_ratio=ratio, test_records=names[is_test],
                         noise_train=noise_train, noise_test=noise_test,
                         info={"n_train": int((~is_test).sum()), "n_test": int(is_test.sum()), "seed": seed,
                               "test_lengths": lengths[is_test]})
