"""MIT-BIH Arrhythmia Database beats for anomaly detection and augmentation (inter-patient protocol).

de Chazal et al. (2004) split the 44 non-paced records into DS1 (training) and DS2 (test) by patient.
The data folder holds DS1 without records 118 and 119; here DS1 is split again **by record** so that
no patient contributes beats to both the model's training data and the test data:
records sorted by number, alternately to train and test, except that the bundle-branch-block records
alternate among themselves (:func:`record_split`): AAMI counts left/right bundle-branch-block beats (L, R)
as normal, and their wide QRS looks nothing like the other normal beats, so both halves must hold them
(de Chazal's DS1 and DS2 both do). The plain alternation put all three such records of this folder (109,
124, 207) in the test half: a prior of "normal" beats never saw one, and on record 207 it ranked the
V beats *below* its normal beats (AUROC 0.19; docs/benchmarks.md).

Each beat is a window centred on its annotated R peak, long enough (default +-1.6 s) to hold the
neighbouring beats, so that the window also carries the rhythm (a premature S beat sits close to the
previous R peak). The record (lead 0, MLII) is high-passed at 0.5 Hz (zero-phase Butterworth) against
baseline wander, resampled to ``fs`` Hz, cut into windows, and each window has its median removed
(amplitudes stay in mV). With ``rhythm_ref_s`` the windows are rhythm-normalised instead
(:func:`.windows.rhythm_windows`): outside the QRS the time axis is scaled so that the patient's usual RR
(the longer of the local and the +-5 min median, as the anomaly harness's prematurity) spans ``rhythm_ref_s``;
a premature beat's previous R peak then sits at the same place in every patient's window.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfiltfilt

from .aami import AAMI_CLASSES, aami_labels
from .io import read_wfdb
from .resample import resample, resample_samples
from .windows import beat_windows, normalise, rhythm_windows

__all__ = ["DS1_RECORDS", "DS2_RECORDS", "BBB_RECORDS", "VALIDATION_RECORDS", "SPLITS", "mitdb_records",
           "record_split", "harness_split", "BeatSet", "local_median_rr", "windowed_median", "usual_rr",
           "record_beats", "load_record_beats", "load_beats", "stratified_subset", "AVERAGE_RR_HALF_WIDTH_S",
           "EXTERNAL_QTDB_RECORDS", "SAME_SUBJECT", "external_qtdb_records"]

DS1_RECORDS = ("101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122", "124", "201", "203",
               "205", "207", "208", "209", "215", "220", "223", "230")
DS2_RECORDS = ("100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210", "212", "213", "214",
               "219", "221", "222", "228", "231", "232", "233", "234")

#: records whose normal-class beats are mostly bundle-branch-block beats (L or R), from the MIT-BIH Arrhythmia
#: Database Directory (109, 111, 207, 214: LBBB; 118, 124, 207, 212, 231: RBBB); pinned against the annotations
#: by tests/test_mitdb.py where the data is present
BBB_RECORDS = ("109", "111", "118", "124", "207", "212", "214", "231")

#: ``split="validation"``: two TRAINING records held out from the models, chosen because they hold every abnormal
#: class in numbers (201: S, V, F and runs of atrial fibrillation; 208: 992 V and 373 F beats); settings are
#: chosen there, never on the test records
VALIDATION_RECORDS = ("201", "208")
SPLITS = ("test", "reverse", "validation")
# QTDB's 15-min excerpts (250 Hz, beat annotations of their source database) of patients outside this folder: the
# de Chazal DS2 records among them (MIT-BIH, MLII; 102 and 104 are paced and left out, as de Chazal did) and the
# MIT-BIH Supraventricular Arrhythmia Database ones (sel8xx; lead 0 is "ECG1", not necessarily MLII). A
# cross-database check of the anomaly scores: no choice was made on them (docs/biosignal.md).
EXTERNAL_QTDB_RECORDS = ("sel100", "sel103", "sel117", "sel123", "sel213", "sel221", "sel231", "sel232", "sel233",
                         "sel803", "sel808", "sel811", "sel820", "sel821", "sel840", "sel847", "sel853", "sel871",
                         "sel872", "sel873", "sel883", "sel891")
# MIT-BIH records that come from one subject (the MIT-BIH Arrhythmia Database Directory: 201 and 202)
SAME_SUBJECT = {"201": "202", "202": "201"}
AVERAGE_RR_HALF_WIDTH_S = 300.0     # the +-5 min of de Chazal et al. (2004)'s average RR


def mitdb_records(root: str | Path) -> list[str]:
    """The records present in a MIT-BIH folder (``*.hea`` with an ``.atr`` beside it), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: MIT-BIH folder not found")
    names = sorted(p.stem for p in root.glob("*.hea") if p.with_suffix(".atr").exists())
    if not names:
        raise FileNotFoundError(f"{root}: no MIT-BIH records (.hea + .atr)")
    return names


def external_qtdb_records(in_use: list[str]) -> list[str]:
    """:data:`EXTERNAL_QTDB_RECORDS`, checked against the MIT-BIH records ``in_use`` (a harness's training and test
    records): ValueError if one of them comes from the patient of a record in use (the same record number, or
    :data:`SAME_SUBJECT`), whose beats it would leak into the comparison.

    >>> external_qtdb_records(["101", "106"])[:2]
    ['sel100', 'sel103']
    >>> external_qtdb_records(["100", "101"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: QTDB external records sel100 come from patients of the MIT-BIH records in use (100, 101); ...
    """
    used = set(in_use) | {SAME_SUBJECT[r] for r in in_use if r in SAME_SUBJECT}
    clash = [r for r in EXTERNAL_QTDB_RECORDS if r[:3] == "sel" and r[3:] in used]
    if clash:
        raise ValueError(f"QTDB external records {', '.join(clash)} come from patients of the MIT-BIH records in use "
                         f"({', '.join(sorted(in_use))}); they would leak the judged patients' beats")
    return list(EXTERNAL_QTDB_RECORDS)


def record_split(records: list[str]) -> tuple[list[str], list[str]]:
    """Split records by patient: sorted, then alternately train / test; the bundle-branch-block records
    (:data:`BBB_RECORDS`) then alternate among themselves, so that both halves hold such patients.

    >>> record_split(["101", "106", "108", "109", "112"])
    (['101', '108', '109', '112'], ['106'])
    >>> record_split(["101", "106", "108", "109", "112", "114", "115", "116", "122", "124", "201", "203", "205",
    ...               "207", "208", "209", "215", "220", "223", "230"])[1]                 # the folder's DS1
    ['106', '114', '116', '124', '203', '209', '220', '230']
    """
    r = sorted(records)
    bbb = [x for x in r if x in BBB_RECORDS]
    to_train = {x: i % 2 == 0 for i, x in enumerate(r)}
    to_train.update({x: i % 2 == 0 for i, x in enumerate(bbb)})
    return [x for x in r if to_train[x]], [x for x in r if not to_train[x]]


def harness_split(root: str | Path, split: str = "test") -> tuple[list[str], list[str]]:
    """The (train, test) records of a harness run on the MIT-BIH folder ``root``.

    ``test``: :func:`record_split` (the benchmark); ``reverse``: its two halves swapped (the other fold: how much a
    result depends on which patients are tested); ``validation``: the training half without
    :data:`VALIDATION_RECORDS`, tested on those two (for choosing settings without looking at the test records).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    train, test = record_split(mitdb_records(root))
    if split == "reverse":
        return test, train
    if split == "validation":
        missing = [r for r in VALIDATION_RECORDS if r not in train]
        if missing:
            raise ValueError(f"{root}: validation records {', '.join(missing)} are not among the training records "
                             f"({', '.join(train)})")
        return [r for r in train if r not in VALIDATION_RECORDS], list(VALIDATION_RECORDS)
    return train, test


@dataclass
class BeatSet:
    """Beat windows and their labels.

    x: (N, 1, L) float32 windows (mV, median removed); label: (N,) AAMI index (N=0 S=1 V=2 F=3 Q=4; -1 where
    the beat's class is unknown, e.g. a detected R peak); record: (N,) record name; sample: (N,) R-peak sample at
    the windows' rate ``fs``; sample_record: (N,) the same R peak in the record's own samples (its .atr sample);
    rr_prev, rr_next: (N,) RR intervals in s;
    rr_local: (N,) median RR of the 21 beats around (the record's local rhythm); rr_average: (N,) median RR within
    +-5 min (the patient's usual rhythm, de Chazal et al. 2004's "average RR", median instead of mean). All RR
    values come from the R positions only, never from labels.
    """

    x: np.ndarray
    label: np.ndarray
    record: np.ndarray
    sample: np.ndarray
    sample_record: np.ndarray
    rr_prev: np.ndarray
    rr_next: np.ndarray
    rr_local: np.ndarray
    rr_average: np.ndarray
    fs: float

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, idx) -> "BeatSet":
        return BeatSet(*(getattr(self, f)[idx] for f in _PER_BEAT), self.fs)

    @staticmethod
    def cat(sets: list["BeatSet"]) -> "BeatSet":
        if not sets:
            raise ValueError("no beats to concatenate")
        return BeatSet(*(np.concatenate([getattr(s, f) for s in sets]) for f in _PER_BEAT), sets[0].fs)

    def counts(self) -> dict[str, int]:
        return {c: int((self.label == i).sum()) for i, c in enumerate(AAMI_CLASSES)}


_PER_BEAT = tuple(f.name for f in fields(BeatSet) if f.name != "fs")


def local_median_rr(rr_prev: np.ndarray, half: int = 10) -> np.ndarray:
    """Median of the RR intervals of the 2 half + 1 beats around each beat (NaN ignored): the local rhythm.

    >>> local_median_rr(np.array([np.nan, 0.8, 0.8, 0.4, 0.8]), half=1).tolist()
    [0.8, 0.8, 0.8, 0.8, 0.6000000000000001]
    """
    return np.array([np.nanmedian(rr_prev[max(0, i - half):i + half + 1]) for i in range(len(rr_prev))])


def windowed_median(t: np.ndarray, v: np.ndarray, half_width: float) -> np.ndarray:
    """Median of ``v`` over the entries whose time ``t`` (sorted) lies within +-half_width of each entry's (NaN ignored).

    >>> windowed_median(np.array([0., 1., 2., 10.]), np.array([1., 3., np.nan, 7.]), 1.5).tolist()
    [2.0, 2.0, 3.0, 7.0]
    """
    lo = np.searchsorted(t, t - half_width, side="left")
    hi = np.searchsorted(t, t + half_width, side="right")
    return np.array([np.nanmedian(v[a:b]) if np.isfinite(v[a:b]).any() else np.nan for a, b in zip(lo, hi)])


def usual_rr(rr_local: np.ndarray, rr_average: np.ndarray) -> np.ndarray:
    """The patient's usual RR at each beat: the longer of the local (21-beat) and the average (+-5 min) median RR,
    NaN ignored. Inside a run of tachycardia the local median is short too; the average is not.

    >>> usual_rr(np.array([0.5, 0.8, np.nan]), np.array([1.0, 0.7, 0.9])).tolist()
    [1.0, 0.8, 0.9]
    """
    return np.fmax(rr_local, rr_average)


def load_record_beats(root: str | Path, record: str, fs: float = 120.0, before_s: float = 1.6,
                      after_s: float = 1.6, lead: int = 0, highpass_hz: float | None = 0.5,
                      rhythm_ref_s: float | None = None) -> BeatSet:
    """Beat-centred windows of one record, at the annotated beats (AAMI classes; non-beats skipped).

    ``rhythm_ref_s``: rhythm-normalised windows (:func:`.windows.rhythm_windows`) whose time axis maps the
    beat's usual RR (max of ``rr_local`` and ``rr_average``) to this many seconds; None: plain windows.
    """
    rec = read_wfdb(Path(root) / f"{record}.hea", annotation="atr")
    if "annotations" not in rec.meta:
        raise FileNotFoundError(f"{Path(root) / record}.atr: beat annotations are needed")
    if lead >= rec.array.shape[0]:
        raise ValueError(f"{rec.meta['source']}: lead {lead} asked for, the record has {rec.array.shape[0]}")
    ann = rec.meta["annotations"]
    labels = aami_labels(ann["symbol"])
    beat = labels >= 0
    return record_beats(rec.array[lead], float(rec.meta["fs"]), ann["sample"][beat], labels[beat], record, fs=fs,
                        before_s=before_s, after_s=after_s, highpass_hz=highpass_hz, rhythm_ref_s=rhythm_ref_s)


def record_beats(signal: np.ndarray, fs_in: float, r_peaks: np.ndarray, labels: np.ndarray | None = None,
                 record: str = "", fs: float = 120.0, before_s: float = 1.6, after_s: float = 1.6,
                 highpass_hz: float | None = 0.5, rhythm_ref_s: float | None = None) -> BeatSet:
    """Beat-centred windows of one lead ``signal`` (T,) in mV at ``fs_in`` Hz around the R peaks ``r_peaks``
    (record samples, sorted), as the MIT-BIH models see them: high-passed at ``highpass_hz`` (zero-phase
    Butterworth), resampled to ``fs``, cut at +-``before_s``/``after_s`` (or rhythm-normalised), median removed.

    ``labels``: AAMI index per R peak (default -1, unknown). Beats whose window leaves the record are dropped;
    ``sample_record`` keeps each kept beat's R peak in the record's samples, ``sample`` at ``fs``.

    >>> b = record_beats(np.zeros(3600), 360.0, np.array([100, 1800, 3500]), record="x")
    >>> b.sample_record.tolist(), b.sample.tolist(), b.x.shape, b.label.tolist()
    ([1800], [600], (1, 1, 384), [-1])
    """
    sig = np.asarray(signal, dtype=np.float64)
    if sig.ndim != 1:
        raise ValueError(f"record {record!r}: record_beats takes one lead (T,), got shape {sig.shape}")
    r_in = np.asarray(r_peaks, dtype=np.int64)
    if r_in.ndim != 1 or (np.diff(r_in) <= 0).any():
        raise ValueError(f"record {record!r}: R peaks must be a 1-D strictly increasing array of samples")
    labels = np.full(len(r_in), -1, np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
    if labels.shape != r_in.shape:
        raise ValueError(f"record {record!r}: {len(labels)} labels for {len(r_in)} R peaks")
    if highpass_hz:
        sig = sosfiltfilt(butter(2, highpass_hz / (fs_in / 2), "highpass", output="sos"), sig)
    sig = resample(sig, fs_in, fs)
    rr = np.diff(r_in) / fs_in
    rr_prev = np.concatenate([[np.nan], rr])
    rr_next = np.concatenate([rr, [np.nan]])
    rr_local = local_median_rr(rr_prev)
    rr_average = windowed_median(r_in / fs_in, rr_prev, AVERAGE_RR_HALF_WIDTH_S)
    centres = resample_samples(r_in, fs_in, fs)
    before, after = int(round(before_s * fs)), int(round(after_s * fs))
    if rhythm_ref_s:
        w, kept = rhythm_windows(sig[None], r_in * (fs / fs_in), fs, before, after, usual_rr(rr_local, rr_average),
                                 ref_s=rhythm_ref_s)
    else:
        w, kept = beat_windows(sig[None], centres, before, after)
    w, _ = normalise(w, "median")
    return BeatSet(x=w, label=labels[kept], record=np.full(len(kept), record), sample=centres[kept],
                   sample_record=r_in[kept], rr_prev=rr_prev[kept], rr_next=rr_next[kept], rr_local=rr_local[kept],
                   rr_average=rr_average[kept], fs=fs)


def load_beats(root: str | Path, records: list[str], **kw) -> BeatSet:
    """:func:`load_record_beats` for several records, concatenated."""
    return BeatSet.cat([load_record_beats(root, r, **kw) for r in records])


def stratified_subset(labels: np.ndarray, fraction: float, rng: np.random.Generator,
                      min_per_class: int = 1) -> np.ndarray:
    """Indices of a random ``fraction`` of each class (at least ``min_per_class`` where the class exists).

    >>> idx = stratified_subset(np.array([0] * 100 + [1] * 10), 0.05, np.random.default_rng(0))
    >>> np.bincount(np.array([0] * 100 + [1] * 10)[idx]).tolist()
    [5, 1]
    """
    out = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = min(len(idx), max(min_per_class, int(round(fraction * len(idx)))))
        out.append(rng.choice(idx, size=k, replace=False))
    return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)
