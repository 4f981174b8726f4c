"""Datasets of the biosignal domain: ``data.params`` of an experiment YAML and ``make_dataset``.

Kinds (``data.params.kind``):

- ``mitdb``: MIT-BIH beat windows (:mod:`.mitdb`), optionally only some AAMI classes, optionally labelled.
- ``qtdb``: clean QTDB beats of the DeepFilter protocol (:mod:`.qtdb`), 512 samples at 360 Hz.
- ``qtdb_noisy``: QTDB beats with NSTDB noise drawn on the fly from the training halves of the noise
  (:class:`NoisyBeats`): ``x`` the clean beat, ``channels`` the noisy one (a conditional denoiser).
- ``qtdb_windows_noisy``: windows of whole QTDB records (:func:`.qtdb.qtdb_record_windows`: ``length`` samples
  at ``fs``, high-passed at ``highpass_hz``, minus their median) with NSTDB noise as in ``qtdb_noisy``: a
  conditional denoiser of records (``diffsci evaluate biosignal denoise-record``), not of padded beats.
- ``files``: any readable files (WFDB/CSV/EDF/HDF5/NumPy) resampled to ``fs`` and cut in fixed windows.
- ``simulated``: ECG simulated by neurokit2 (ECGSYN), the embedded default: no download.

Normalisation: amplitudes stay in mV; every window has its median (``mitdb``, ``files``, ``simulated``)
or the mean of its end points (``qtdb``, as the benchmark) removed. Items are dicts
``{"x": (C, L) float32, optional "label", optional "channels"}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch.utils.data import Dataset

from diffsci.data import ArrayDataset
from diffsci.utils import data_root

from .aami import AAMI_CLASSES
from .noise import deepfilter_noise_split, load_nstdb, scale_peak_to_peak
from .windows import fold

__all__ = ["BiosignalData", "make_dataset", "NoisyBeats", "SyntheticNoisyBeats", "noisy_condition", "default_root"]


def default_root(sub: str) -> Path:
    """``$DIFFSCI_DATA/ecg/<sub>`` (default ../shared/data/ecg/<sub> beside the repository)."""
    return data_root("ecg") / sub


class BiosignalData(BaseModel):
    """``data.params`` of a biosignal experiment."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["mitdb", "qtdb", "qtdb_noisy", "qtdb_windows_noisy", "files", "simulated"] = "simulated"
    root: str | None = Field(None, description="data folder (default: $DIFFSCI_DATA/ecg/<mitdb|qtdb>)")
    nstdb_root: str | None = None
    records: list[str] | None = Field(None, description="records to use (default: the split's records)")
    files: list[str] | None = None
    fs: float = Field(120.0, gt=0, description="model sampling rate in Hz (mitdb, qtdb_windows_noisy, files, "
                      "simulated)")
    highpass_hz: float | None = Field(0.5, ge=0, description="qtdb_windows_noisy: high-pass of the clean records")
    before_s: float = Field(1.6, gt=0)
    after_s: float = Field(1.6, gt=0)
    rhythm_ref_s: float | None = Field(None, gt=0.15, description="mitdb: rhythm-normalised windows, the beat's "
                                       "usual RR mapped to this many seconds (windows.rhythm_windows); None: plain")
    length: int = Field(384, ge=8, description="window length in samples (qtdb_windows_noisy, files, simulated)")
    lead: int = Field(0, ge=0)
    classes: list[Literal["N", "S", "V", "F", "Q"]] | None = None
    labels: bool = False
    noise: list[Literal["bw", "em", "ma"]] = ["bw"]
    draws: int = Field(4, ge=1, description="noise draws per clean beat per epoch (qtdb_noisy, qtdb_windows_noisy)")
    fold: int = Field(1, ge=1, description="polyphase fold of each beat into (fold, L / fold) (qtdb_noisy, "
                      "qtdb_windows_noisy)")
    seed: int = 0
    n_records: int = Field(8, ge=1, description="simulated records")
    duration_s: float = Field(60.0, gt=0, description="seconds per simulated record")


class NoisyBeats(Dataset):
    """Clean beats with real noise added on the fly by the DeepFilter amplitude rule.

    Item i is beat ``i % N`` plus a random 512-sample segment of a random noise record, scaled so that
    its peak-to-peak amplitude is r x the beat's, r uniform in {0.20, ..., 1.99}. The draw depends only
    on (seed, i), so the data are reproducible and a resumed training run sees the same items.

    Returns ``{"x": clean (1, L), "channels": noisy condition (1, L)}`` (see :func:`noisy_condition`),
    both polyphase-folded to (fold, L / fold) when ``fold`` > 1 (:func:`.windows.fold`).
    """

    def __init__(self, clean: np.ndarray, noises: list[np.ndarray], *, draws: int = 4, seed: int = 0,
                 ratio: tuple[int, int] = (20, 200), sources: list[str] | None = None, fold: int = 1):
        self.clean = np.asarray(clean, dtype=np.float64)
        if self.clean.ndim != 2:
            raise ValueError(f"clean beats must be (N, L), got shape {self.clean.shape}")
        self.noises = [np.asarray(n, dtype=np.float64) for n in noises]
        if not self.noises or any(len(n) <= self.clean.shape[1] for n in self.noises):
            raise ValueError("every noise record must be longer than one beat")
        self.draws, self.seed, self.ratio, self.sources, self.fold = int(draws), int(seed), ratio, sources, int(fold)

    def __len__(self) -> int:
        return len(self.clean) * self.draws

    def pair(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(clean, noisy) of item i in mV."""
        rng = np.random.default_rng([self.seed, i])
        x = self.clean[i % len(self.clean)]
        n = self.noises[int(rng.integers(len(self.noises)))]
        start = int(rng.integers(0, len(n) - len(x)))
        r = rng.integers(*self.ratio) / 100
        return x, x + scale_peak_to_peak(x, n[start:start + len(x)], r)

    def __getitem__(self, i: int) -> dict:
        x, y = self.pair(i)
        return {"x": torch.as_tensor(fold(x[None], self.fold), dtype=torch.float32),
                "channels": torch.as_tensor(fold(noisy_condition(y[None]), self.fold), dtype=torch.float32)}


class SyntheticNoisyBeats(Dataset):
    """Clean beats plus a random mix of synthetic noises (:func:`.noise.synthetic_noise`) at a random SNR.

    Item i: beat ``i % N``; each of ``kinds`` with a weight uniform in [0, 1], the mixture scaled to an SNR
    uniform in ``snr_db`` (dB, :func:`.noise.scale_to_snr`). Depends only on (seed, i).
    """

    def __init__(self, clean: np.ndarray, fs: float, kinds: tuple[str, ...] = ("baseline_wander", "emg", "powerline50"),
                 snr_db: tuple[float, float] = (-3.0, 9.0), draws: int = 4, seed: int = 0):
        self.clean = np.asarray(clean, dtype=np.float64)
        self.fs, self.kinds, self.snr_db, self.draws, self.seed = float(fs), tuple(kinds), snr_db, int(draws), int(seed)

    def __len__(self) -> int:
        return len(self.clean) * self.draws

    def pair(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        from .noise import scale_to_snr, synthetic_noise
        rng = np.random.default_rng([self.seed, i])
        x = self.clean[i % len(self.clean)]
        n = sum(rng.uniform(0.2, 1.0) * synthetic_noise(k, len(x), self.fs, rng) for k in self.kinds)
        return x, x + scale_to_snr(x, n, rng.uniform(*self.snr_db))

    def __getitem__(self, i: int) -> dict:
        x, y = self.pair(i)
        return {"x": torch.as_tensor(x[None], dtype=torch.float32),
                "channels": torch.as_tensor(noisy_condition(y[None]), dtype=torch.float32)}


def noisy_condition(noisy: np.ndarray) -> np.ndarray:
    """The condition channel of a noisy beat: the noisy signal minus its mean (the NSTDB noise carries
    offsets of several mV that say nothing about the beat)."""
    noisy = np.asarray(noisy, dtype=np.float64)
    return (noisy - noisy.mean(-1, keepdims=True)).astype(np.float32)


def _split_records(all_records: list[str], split: str, kind: str) -> list[str]:
    if kind == "mitdb":
        from .mitdb import record_split
        train, test = record_split(all_records)
        return test if split == "test" else train
    from .qtdb import TEST_RECORDS
    return [r for r in all_records if (r in TEST_RECORDS) == (split == "test")]


def make_dataset(params: BiosignalData, split: str = "train") -> Dataset:
    """Build the dataset of ``params`` for ``split`` in ("train", "val", "test").

    "val" is every 20th item of the training records' data (a monitor for the training loss, not a test).
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"unknown split '{split}'; valid: train, val, test")
    base = "train" if split == "val" else split
    if params.kind == "mitdb":
        from .mitdb import load_beats, mitdb_records
        root = Path(params.root) if params.root else default_root("mitdb")
        records = params.records or _split_records(mitdb_records(root), base, "mitdb")
        beats = load_beats(root, records, fs=params.fs, before_s=params.before_s, after_s=params.after_s,
                           lead=params.lead, rhythm_ref_s=params.rhythm_ref_s)
        if params.classes:
            beats = beats.subset(np.isin(beats.label, [AAMI_CLASSES.index(c) for c in params.classes]))
        if split == "val":
            beats = beats.subset(slice(None, None, 20))
        return ArrayDataset(beats.x, label=beats.label if params.labels else None, source=str(root),
                            sources=[f"{r}@{s}" for r, s in zip(beats.record, beats.sample)])
    if params.kind in ("qtdb", "qtdb_noisy", "qtdb_windows_noisy"):
        from .qtdb import load_qtdb_beats, qtdb_record_windows, qtdb_records
        root = Path(params.root) if params.root else default_root("qtdb")
        records = params.records or _split_records(qtdb_records(root), base, "qtdb")
        if params.kind == "qtdb_windows_noisy":
            x, names = qtdb_record_windows(root, records, params.fs, params.length, highpass_hz=params.highpass_hz)
        else:
            x, names, _ = load_qtdb_beats(root, records)
        if split == "val":
            x, names = x[::20], names[::20]
        if params.kind == "qtdb":
            return ArrayDataset(x[:, None].astype(np.float32), source=str(root), sources=list(names))
        nroot = Path(params.nstdb_root) if params.nstdb_root else default_root("nstdb")
        noises = []
        for kind in params.noise:
            rec, _ = load_nstdb(nroot, kind)
            # both versions' training halves (channel 1 a, channel 2 a); the test halves are never used
            noises += [deepfilter_noise_split(rec, 1)[0], deepfilter_noise_split(rec, 2)[0]]
        return NoisyBeats(x, noises, draws=params.draws, seed=params.seed + (split == "val"), sources=list(names),
                          fold=params.fold)
    if params.kind == "files":
        if not params.files:
            raise ValueError("data.params.files: give the signal files to cut into windows")
        return ArrayDataset(*_file_windows(params))
    if params.kind == "simulated":
        from .simulate import simulated_windows
        x = simulated_windows(params.n_records, params.duration_s, params.fs, params.length,
                              seed=params.seed + {"train": 0, "val": 1, "test": 2}[split])
        return ArrayDataset(x, source="neurokit2.ecg_simulate")
    raise ValueError(f"unknown data kind '{params.kind}'")


def _file_windows(params: BiosignalData) -> tuple[np.ndarray]:
    from .io import READERS
    from .resample import resample
    from .windows import fixed_windows, normalise
    out = []
    for f in params.files:
        path = Path(f)
        reader = next((READERS[s] for s in sorted(READERS, key=len, reverse=True) if path.name.lower().endswith(s)),
                      None)
        if reader is None:
            raise ValueError(f"{path}: unsupported format; supported: {', '.join(sorted(READERS))}")
        loaded = reader(path)
        fs = loaded.meta.get("fs")
        if fs is None:
            raise ValueError(f"{path}: no sampling rate in the file; write a sidecar (.npy.json), a time column "
                             "(CSV) or use WFDB/EDF/HDF5 with fs")
        a = loaded.array if loaded.array.ndim == 2 else np.concatenate(list(loaded.array), axis=-1)
        if params.lead >= a.shape[0]:
            raise ValueError(f"{path}: data.params.lead is {params.lead} but the file has {a.shape[0]} channels "
                             f"({', '.join(map(str, loaded.meta.get('sig_name') or []))})")
        # resample and fixed_windows know nothing of the file: their errors get its name here
        try:
            sig = resample(a[params.lead:params.lead + 1], fs, params.fs)
            w, _ = fixed_windows(sig, params.length)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        out.append(normalise(w, "median")[0])
    return (np.concatenate(out),)

