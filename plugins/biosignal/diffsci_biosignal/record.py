"""A trained model applied to a whole record: denoise every lead, or score every beat.

The harness models see short windows of one lead: the conditional denoiser of ``diffsci evaluate biosignal
denoising`` 512 samples at 360 Hz folded into 8 channels of 64, the prior of normal beats of ``... anomaly``
+-1.6 s around an R peak at 120 Hz folded alike. :func:`denoise_record` takes a record (C, T) in mV at any rate:

1. resamples each lead to the model's rate (:func:`.resample.resample`, the record mirrored at its ends so
   that the anti-aliasing filter sees no step),
2. cuts overlapping windows of the model's length (:func:`.windows.fixed_windows`; the record mirrored by half a
   window so that its first and last samples sit in the middle of a window),
3. normalises each window as the model was trained: a conditional denoiser gets the window minus its mean as its
   condition (:func:`.data.noisy_condition`), a prior the window minus its median (:func:`.windows.normalise`),
4. folds it (:func:`.windows.fold`) and runs the denoising harness's own method: K posterior samples of the
   conditional model (:func:`.harness.common.sample`, the sampler and steps of
   :func:`.harness.denoising.sampling_setup`) averaged; a prior with ``noise_sigma`` S instead draws K samples of
   the posterior of white Gaussian noise of std S mV (the engine's data consistency, ``diffsci.guidance``),
5. unfolds, overlap-adds the windows with a Hann weight (divided by the sum of the weights, so any overlap
   stitches without seams), adds the removed offsets back where asked, and resamples to the record's rate.

:func:`score_record` scores every beat of one lead with the anomaly harness's reconstruction scores
(:func:`.harness.anomaly.diffusion_recon_scores`), the beats from the record's annotations or the R-peak
detector, their R peaks kept in the record's own samples.

``diffsci evaluate biosignal denoise-record`` and ``score-record`` (:func:`run_denoise`, :func:`run_score`) read a
file in any supported format, run these and write the result.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from diffsci import Cond

from .data import BiosignalData, noisy_condition
from .io import READERS, WRITERS
from .mitdb import BeatSet, record_beats
from .resample import rational_factor, resample
from .windows import fixed_windows, fold, unfold

__all__ = ["ModelWindow", "model_window", "window_hop", "overlap_windows", "overlap_add", "resample_record",
           "denoise_windows", "denoise_record", "ScoredRecord", "score_record", "read_record", "resolve_checkpoint",
           "add_args", "run_denoise", "run_score", "TASKS"]

#: models trained on the QTDB benchmark beats run at its rate; the others at ``data.params.fs``
_QTDB_FS = 360.0

@dataclass(frozen=True)
class ModelWindow:
    """What a biosignal model sees: windows of ``length`` samples of one lead at ``fs`` Hz, folded by ``fold``;
    ``conditional``: a denoiser of the clean window given the noisy one (else a prior); ``offset``: the window
    statistic removed before the model ("mean" for a conditional model's condition, else "median");
    ``kind``: ``data.params.kind`` of its training data; ``noise``: the noises a conditional model was trained on."""

    fs: float
    length: int
    fold: int
    conditional: bool
    offset: str
    kind: str
    noise: tuple[str, ...] = ()


def model_window(denoiser, cfg) -> ModelWindow:
    """The :class:`ModelWindow` of a biosignal model, from its resolved config (and ``denoiser.sample_shape``).

    Single-lead models only: the network's input channels are the polyphase fold of one lead.
    """
    if cfg.data.domain != "biosignal":
        raise ValueError(f"model '{cfg.name}' was trained on domain '{cfg.data.domain}', not biosignal")
    try:
        p = BiosignalData(**cfg.data.params)
    except Exception as e:
        raise ValueError(f"model '{cfg.name}': data.params is not a biosignal dataset: {e}") from None
    k = int(cfg.model.in_channels)
    if p.fold not in (1, k):
        raise ValueError(f"model '{cfg.name}': data.params.fold {p.fold} but model.in_channels {k}: only "
                         "single-lead models (in_channels = the fold factor) can be applied to a record")
    cond = int(cfg.model.cond_channels or 0)
    if cond and cond != k:
        raise ValueError(f"model '{cfg.name}': cond_channels {cond} != in_channels {k}; a record denoiser takes "
                         "the noisy window, folded like the clean one, as its condition")
    shape = getattr(denoiser, "sample_shape", None)
    if shape:
        if int(shape[0]) != k:
            raise ValueError(f"model '{cfg.name}': sample_shape {tuple(shape)} disagrees with in_channels {k}")
        length = k * int(shape[-1])
    elif p.kind in ("qtdb", "qtdb_noisy"):
        length = 512
    elif p.kind == "mitdb":
        length = int(round(p.before_s * p.fs)) + int(round(p.after_s * p.fs))
    else:
        length = p.length
    if length % k:
        raise ValueError(f"model '{cfg.name}': window length {length} is not a multiple of the fold {k}")
    fs = _QTDB_FS if p.kind in ("qtdb", "qtdb_noisy") else float(p.fs)
    noisy = cond and p.kind in ("qtdb_noisy", "qtdb_windows_noisy")
    return ModelWindow(fs=fs, length=length, fold=k, conditional=bool(cond), offset="mean" if cond else "median",
                       kind=p.kind, noise=tuple(p.noise) if noisy else ())


# ------------------------------------------------------------------------------------------ windows and stitching
def _hann(length: int) -> np.ndarray:
    from scipy.signal import get_window
    return get_window("hann", length)                   # periodic: shifted copies at hop L/2 sum to exactly 1


def window_hop(length: int, overlap: float) -> int:
    """Samples between window starts for windows of ``length`` sharing the fraction ``overlap`` with the next:
    round((1 - overlap) length), kept in [1, length - 1] so that windows always overlap.

    >>> window_hop(512, 0.5), window_hop(512, 0.999), window_hop(4, 0.01)
    (256, 1, 3)
    """
    return max(1, min(length - 1, int(round((1.0 - overlap) * length))))


def overlap_windows(x: np.ndarray, length: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows (N, C, length) every ``hop`` samples that cover every sample of ``x`` (C, T) with a positive Hann
    weight: ``x`` is mirrored (odd reflection) by length // 2 at the start and up to the last window's end at
    the tail. Returns (windows, starts), ``starts`` in the samples of ``x`` (the first is -length // 2).

    >>> w, s = overlap_windows(np.arange(10.0)[None], 4, 2)
    >>> w.shape, s.tolist()
    ((6, 1, 4), [-2, 0, 2, 4, 6, 8])
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a (C, T) signal, got shape {x.shape}")
    if not 0 < hop < length:
        raise ValueError(f"hop must be in [1, {length - 1}] for windows of {length} (they must overlap), got {hop}")
    t = x.shape[1]
    if t < 2:
        raise ValueError(f"a record of {t} sample(s) is too short to window")
    left = length // 2
    n = math.ceil(t / hop) + 1                           # the last window reaches at least sample t - 1 + length/2
    right = (n - 1) * hop + length - left - t
    padded = np.pad(x, ((0, 0), (left, right)), mode="reflect", reflect_type="odd")
    w, starts = fixed_windows(padded, length, hop)
    return w, starts - left


def overlap_add(windows: np.ndarray, starts: np.ndarray, total: int) -> np.ndarray:
    """Stitch windows (N, C, L) starting at ``starts`` into (C, total): a Hann-weighted average at each sample,
    the weights divided by their sum there (windows partly outside [0, total) contribute their inside part).

    >>> w, s = overlap_windows(np.arange(10.0)[None], 4, 3)
    >>> overlap_add(w, s, 10).round(12).tolist() == [list(np.arange(10.0))]
    True
    """
    windows = np.asarray(windows, dtype=np.float64)
    n, c, length = windows.shape
    h = _hann(length)
    acc = np.zeros((c, total + 2 * length))
    wsum = np.zeros(total + 2 * length)
    for win, s in zip(windows, np.asarray(starts) + length):        # shifted by length: no negative index
        acc[:, s:s + length] += h * win
        wsum[s:s + length] += h
    acc, wsum = acc[:, length:length + total], wsum[length:length + total]
    if (wsum <= 1e-12).any():
        raise ValueError(f"samples {np.flatnonzero(wsum <= 1e-12)[:5].tolist()}... are covered by no window")
    return acc / wsum


def resample_record(x: np.ndarray, fs_in: float, fs_out: float, length: int | None = None) -> np.ndarray:
    """:func:`.resample.resample` of (C, T) with the record mirrored (odd reflection) at both ends, so that the
    filter's start-up and end transients fall outside it; ``length`` output samples (default ceil(T fs_out / fs_in)).
    """
    x = np.asarray(x, dtype=np.float64)
    if fs_in == fs_out:
        return x[:, :length] if length is not None else x
    up, down = rational_factor(fs_in, fs_out)
    m = math.ceil(max(32.0, 0.25 * fs_in) / down)       # whole periods of the rational factor: exact crop
    pad_in, pad_out = m * down, m * up
    n_out = math.ceil(x.shape[1] * up / down) if length is None else int(length)
    padded = np.pad(x, ((0, 0), (pad_in, pad_in)), mode="reflect", reflect_type="odd") if x.shape[1] > pad_in \
        else np.pad(x, ((0, 0), (pad_in, pad_in)), mode="edge")
    y = resample(padded, fs_in, fs_out, axis=-1)
    return y[:, pad_out:pad_out + n_out]


# -------------------------------------------------------------------------------------------------- denoising
def _check_mode(mw: ModelWindow, noise_sigma: float | None, name: str) -> None:
    if mw.conditional and noise_sigma is not None:
        raise ValueError(f"model '{name}' is a conditional denoiser: it estimates the clean window from the noisy one "
                         "and takes no noise level (drop noise_sigma / --noise-sigma)")
    if not mw.conditional and (noise_sigma is None or not noise_sigma > 0):
        raise ValueError(f"model '{name}' is an unconditional prior (model.cond_channels unset): give the std of the "
                         "white Gaussian noise to remove (noise_sigma / --noise-sigma, mV > 0), or use the "
                         "conditional denoiser of `diffsci evaluate biosignal denoising`")


def denoise_windows(denoiser, cfg, windows: np.ndarray, *, shots: int = 10, steps: int | None = None,
                    sampler: str | None = None, noise_sigma: float | None = None,
                    generator: torch.Generator | None = None, batch: int = 256, device: str | torch.device = "cpu",
                    progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Denoise windows (N, L) of one lead at the model's rate: returns (estimates (N, L), offsets (N,)), the
    estimates in the model's convention (offset removed) and the offset each window had removed.

    A conditional model: the harness's multi-shot posterior mean (:func:`.harness.common.sample`, ``shots``
    samples averaged; sampler and steps by :func:`.harness.denoising.sampling_setup`). A prior: ``noise_sigma``
    (mV) is required; K samples of the posterior of white Gaussian noise of that std under the prior
    (``diffsci.guidance.multishot`` with data consistency on the identity operator; default sampler
    "stochastic", the config's steps) averaged.
    """
    from tqdm.auto import tqdm

    from .harness.common import sample
    from .harness.denoising import sampling_setup

    mw = model_window(denoiser, cfg)
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != mw.length:
        raise ValueError(f"windows must be (N, {mw.length}) for model '{cfg.name}', got shape {w.shape}")
    if shots < 1:
        raise ValueError(f"shots must be >= 1, got {shots}")
    k, n = mw.fold, len(w)
    out = np.empty_like(w)
    chunk = max(1, batch // shots)
    _check_mode(mw, noise_sigma, cfg.name)
    bar = tqdm(total=n, desc="denoising windows", unit="win", disable=not progress)
    if mw.conditional:
        offsets = w.mean(-1)
        cond = Cond(channels=torch.as_tensor(fold(noisy_condition(w[:, None]), k)))
        sampler, steps = sampling_setup(cfg, sampler=sampler, steps=steps)
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            s = sample(denoiser, (hi - lo, k, mw.length // k), cond=cond.index(slice(lo, hi)), shots=shots,
                       steps=steps, sampler=sampler, sigma_min=cfg.sampling.sigma_min,
                       sigma_max=cfg.sampling.sigma_max, generator=generator, batch=batch, device=device)
            out[lo:hi] = unfold(s.mean(1), k).numpy()[:, 0]
            bar.update(hi - lo)
    else:
        from diffsci.diffusion import get_schedule
        from diffsci.guidance import multishot
        from diffsci.operators import Identity
        offsets = np.median(w, -1)
        y = torch.as_tensor(fold((w - offsets[:, None])[:, None], k), dtype=torch.float32)
        steps = int(steps or cfg.sampling.steps)
        sigmas = get_schedule(cfg.sampling.schedule)(steps, cfg.sampling.sigma_min, cfg.sampling.sigma_max,
                                                     dtype=torch.float32, device=device)
        op = Identity(sigma_y=float(noise_sigma)).to(device)
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            with torch.no_grad():
                post = multishot("dc", denoiser, (hi - lo, k, mw.length // k), sigmas, operator=op,
                                 measurement=y[lo:hi].to(device), shots=shots, generator=generator, max_batch=batch,
                                 sigma_data=cfg.diffusion.sigma_data, sampler=sampler or "stochastic")
            out[lo:hi] = unfold(post.mean.cpu(), k).numpy()[:, 0]
            bar.update(hi - lo)
    bar.close()
    return out, offsets


def denoise_record(denoiser, cfg, signal: np.ndarray, fs: float, *, shots: int = 10, steps: int | None = None,
                   sampler: str | None = None, noise_sigma: float | None = None, overlap: float = 0.5,
                   baseline: str | None = None, generator: torch.Generator | None = None, batch: int = 256,
                   device: str | torch.device = "cpu", progress: bool = True) -> np.ndarray:
    """Denoise a record ``signal`` (C, T) in mV at ``fs`` Hz lead by lead with a single-lead biosignal model;
    returns (C, T) float32 in mV at ``fs`` (the steps are in the module docstring).

    Args:
        denoiser, cfg: a trained model and its config (:func:`diffsci.train.load_denoiser`).
        shots: posterior samples averaged per window (the denoising harness's default is 10).
        steps, sampler: default: the denoising harness's (conditional model) or the config's steps and
            "stochastic" (prior).
        noise_sigma: a prior only: std in mV of the white Gaussian noise to remove.
        overlap: fraction of a window shared with the next (hop = (1 - overlap) L); 0.5 by default.
        baseline: "model": the estimate as the model gives it; a conditional denoiser was trained to return the
            clean beat with its baseline at 0 mV (the DeepFilter targets), so baseline wander and the record's DC
            offset are removed with the noise. "input": each window's removed offset (mean or median) is added
            back, so the record's DC and slow baseline are kept (an identity model returns the input exactly).
            Default: "model" for a conditional denoiser, "input" for a prior (white noise has no baseline).
    """
    mw = model_window(denoiser, cfg)
    _check_mode(mw, noise_sigma, cfg.name)
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise ValueError(f"expected a record (C, T) or one lead (T,), got shape {x.shape}")
    bad = ~np.isfinite(x)
    if bad.any():
        c, t = np.argwhere(bad)[0]
        raise ValueError(f"the record has {int(bad.sum())} NaN/Inf samples (first: lead {c}, sample {t}); "
                         "fill or cut them first")
    if not fs > 0:
        raise ValueError(f"sampling rate must be positive, got {fs}")
    baseline = baseline or ("model" if mw.conditional else "input")
    if baseline not in ("model", "input"):
        raise ValueError(f"baseline must be 'model' or 'input', got {baseline!r}")
    if not 0.0 < overlap < 1.0:
        raise ValueError(f"overlap must be in (0, 1), got {overlap}")
    hop = window_hop(mw.length, overlap)
    xm = resample_record(x, fs, mw.fs)                                            # (C, Tm) at the model's rate
    w, starts = overlap_windows(xm, mw.length, hop)                               # (N, C, L)
    n, c, length = w.shape
    est, offsets = denoise_windows(denoiser, cfg, w.reshape(n * c, length), shots=shots, steps=steps,
                                   sampler=sampler, noise_sigma=noise_sigma, generator=generator, batch=batch,
                                   device=device, progress=progress)
    if baseline == "input":
        est = est + offsets[:, None]
    ym = overlap_add(est.reshape(n, c, length), starts, xm.shape[1])
    return resample_record(ym, mw.fs, fs, length=x.shape[1]).astype(np.float32)


# ---------------------------------------------------------------------------------------------------- scoring
@dataclass
class ScoredRecord:
    """Per-beat scores of one lead: ``beats`` (windows, R peaks in the record's samples and at the model's rate,
    RR intervals), ``scores`` {name: (N,)}, the time-point maps and mean reconstructions (N, L) in mV^2 and mV."""

    beats: BeatSet
    scores: dict[str, np.ndarray]
    maps: np.ndarray
    reconstruction: np.ndarray


def score_record(denoiser, cfg, signal: np.ndarray, fs: float, r_peaks: np.ndarray, labels: np.ndarray | None = None,
                 *, record: str = "record", batch: int = 256, generator: torch.Generator | None = None,
                 device: str | torch.device = "cpu", progress: bool = True) -> ScoredRecord:
    """Score every beat of one lead ``signal`` (T,) in mV at ``fs`` Hz with the anomaly harness's prior of normal
    beats: windows as the prior was trained (:func:`.mitdb.record_beats`, its rate, span and rhythm
    normalisation), then :func:`.harness.anomaly.diffusion_recon_scores` and the rhythm term
    (``rr_prematurity``); ``_rn`` variants are robust z-scores within the record. ``r_peaks`` in the record's
    samples; ``labels`` their AAMI indices where known. Beats whose window leaves the record are dropped."""
    from .harness.anomaly import diffusion_recon_scores, prematurity, record_normalise

    mw = model_window(denoiser, cfg)
    if mw.conditional or mw.kind != "mitdb":
        raise ValueError(f"model '{cfg.name}' is not a prior of beat windows (data.params.kind {mw.kind!r}"
                         f"{', conditional' if mw.conditional else ''}): score-record needs the prior of normal "
                         "beats of `diffsci evaluate biosignal anomaly`")
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"score_record takes one lead (T,), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"record {record}: {int((~np.isfinite(x)).sum())} NaN/Inf samples in the lead")
    p = BiosignalData(**cfg.data.params)
    beats = record_beats(x, fs, r_peaks, labels, record, fs=p.fs, before_s=p.before_s, after_s=p.after_s,
                         rhythm_ref_s=p.rhythm_ref_s)
    if len(beats) == 0:
        raise ValueError(f"record {record}: no beat lies {p.before_s} s after the start and {p.after_s} s before the "
                         f"end ({len(r_peaks)} R peaks in {len(x) / fs:.1f} s)")
    if beats.x.shape[-1] != mw.length:
        raise ValueError(f"model '{cfg.name}' takes windows of {mw.length} samples, the beats have "
                         f"{beats.x.shape[-1]}")
    scores, maps, recon = diffusion_recon_scores(denoiser, beats, mw.fold, batch=batch, device=device,
                                                 generator=generator, progress=progress)
    scores = {"rr_prematurity": prematurity(beats.rr_local, beats.rr_prev, beats.rr_average), **scores}
    for name in ("diffusion_recon", "diffusion_recon_rr"):
        scores[name + "_rn"] = record_normalise(scores[name], beats.record)
    return ScoredRecord(beats, scores, maps, recon)


# ------------------------------------------------------------------------------------------------- files, CLI
def read_record(path: str | Path):
    """Read one record with the plugin's readers (by suffix): (Loaded in mV, suffix).

    The readers convert voltages (uV, V) to mV; a batch (N, C, T), a missing sampling rate or a lead whose unit
    is not a voltage is an error naming the file.
    """
    path = Path(path)
    name = path.name.lower()
    suffix = next((s for s in sorted(READERS, key=len, reverse=True) if name.endswith(s)), None)
    if suffix is None:
        raise ValueError(f"{path}: unsupported format; readable: {', '.join(sorted(READERS))}")
    loaded = READERS[suffix](path)
    if loaded.array.ndim != 2:
        raise ValueError(f"{path}: holds a batch of shape {loaded.array.shape}; give one record (C, T)")
    if loaded.meta.get("fs") is None:
        raise ValueError(f"{path}: no sampling rate in the file (CSV: a 'time' column; NumPy: fs in the "
                         f"{path.name}.json sidecar; HDF5: an 'fs' attribute)")
    names = loaded.meta.get("sig_name") or []
    for i, u in enumerate(loaded.meta.get("units") or []):
        if u != "mV":
            raise ValueError(f"{path}: lead {i} ({names[i] if i < len(names) else '?'}) is in '{u}', not a voltage "
                             "(mV, uV, V): the models are trained on ECG in mV")
    return loaded, suffix


def resolve_checkpoint(path: str | Path, pattern: str, prefer: tuple[str, ...] = ()) -> Path:
    """A run, checkpoint or export folder as it is; a harness's output folder (or its ``models/``) -> the model
    folder in it matching ``pattern`` (e.g. ``denoise_*``): the first of ``prefer`` present, else the only one."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such checkpoint folder")
    if (p / "models").is_dir():
        p = p / "models"
    found = sorted(q for q in p.glob(pattern) if q.is_dir())
    if not found:
        return p
    for name in prefer:
        if (p / name).is_dir():
            return p / name
    if len(found) == 1:
        return found[0]
    raise ValueError(f"{p} holds several models ({', '.join(q.name for q in found)}): pass one of them as "
                     "--checkpoint" + (" or choose with --noise" if pattern.startswith("denoise") else ""))


def add_args(task: str, p: argparse.ArgumentParser) -> None:
    """The options of ``diffsci evaluate biosignal denoise-record`` and ``score-record``."""
    p.add_argument("--checkpoint", required=True,
                   help="the trained model: a run folder, or the output folder of the harness that trained it "
                        + ("(DIR/models/denoise_<noise>)" if task == "denoise-record" else "(DIR/models/prior_normal*)"))
    p.add_argument("--record", required=True, help="the record: WFDB .hea, CSV, EDF/BDF, HDF5 or NumPy (+ sidecar)")
    p.add_argument("--batch", type=int, default=256, help="model batch size")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    if task == "denoise-record":
        g = p.add_mutually_exclusive_group()
        g.add_argument("--noise", choices=("bw", "em", "ma", "mixed"), default=None,
                       help="the noise to remove: picks the denoising harness's model of that noise in a harness "
                            "folder (else its mixed one); a run folder's model must have been trained on it")
        g.add_argument("--noise-sigma", type=float, default=None, metavar="S",
                       help="with an unconditional prior: remove white Gaussian noise of std S mV")
        p.add_argument("--shots", type=int, default=None, help="posterior samples averaged (default 10; --quick 2)")
        p.add_argument("--steps", type=int, default=None, help="sampler steps (default: the harness's)")
        p.add_argument("--sampler", default=None, help="engine sampler (default: the harness's)")
        p.add_argument("--overlap", type=float, default=0.5, help="fraction of a window shared with the next")
        p.add_argument("--baseline", choices=("model", "input"), default=None,
                       help="model: remove the baseline as the model does (default for a conditional denoiser); "
                            "input: keep each window's offset, i.e. the record's DC and slow baseline (default for a "
                            "prior)")
        p.add_argument("--figure-seconds", type=float, default=5.0, help="seconds of each lead in the figure")
    else:
        p.add_argument("--lead", type=int, default=0, help="the lead to score (default 0; the MIT-BIH prior is MLII)")
        p.add_argument("--annotation", default="atr",
                       help="WFDB annotation extension of the beats (default atr); 'none', or a record without "
                            "one, uses the R-peak detector")
        p.add_argument("--detector", choices=("neurokit", "xqrs"), default="neurokit", help="R-peak detector")


def _load(path: Path, device):
    from diffsci.train import load_denoiser
    return load_denoiser(path, device=device)


def _written_path(out: Path, src: Path, suffix: str, tag: str) -> tuple[Path, str]:
    """OUT/<stem>_<tag><suffix> in the input's format where the plugin writes it, else HDF5."""
    stem = src.name[:len(src.name) - len(suffix)] if src.name.lower().endswith(suffix) else src.stem
    out_suffix = suffix if suffix in WRITERS else ".h5"
    return out / f"{stem}_{tag}{out_suffix}", out_suffix


def _plot_record(path: Path, raw: np.ndarray, est: np.ndarray, fs: float, names: list[str], seconds: float) -> None:
    from diffsci.figures import pyplot, save
    plt = pyplot()
    c = raw.shape[0]
    n = min(raw.shape[1], max(2, int(round(seconds * fs))))
    t = np.arange(n) / fs
    fig, axes = plt.subplots(c, 1, figsize=(10, 2.4 * c), squeeze=False, sharex=True)
    for i, ax in enumerate(axes[:, 0]):
        ax.plot(t, raw[i, :n], color="0.6", lw=0.8, label="raw")
        ax.plot(t, est[i, :n], color="C0", lw=1.0, label="denoised")
        ax.set_ylabel(f"{names[i]} (mV)")
    axes[0, 0].legend(fontsize=8, loc="upper right")
    axes[-1, 0].set_xlabel("s")
    save(fig, path)


def _start(args: argparse.Namespace):
    """What both record tasks begin with: threads, device, the output folder, the record read (in mV)."""
    from diffsci.utils import resolve_device

    from .harness.common import set_threads
    set_threads()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    src = Path(args.record)
    loaded, suffix = read_record(src)
    return resolve_device(args.device), out, src, loaded, suffix, float(loaded.meta["fs"])


def run_denoise(args: argparse.Namespace) -> dict:
    """Denoise one record lead by lead with a trained biosignal model; writes it in the input's format."""
    from diffsci.report import Report

    from .harness.common import say
    from .harness.denoising import QUICK, sampling_setup

    t0 = time.perf_counter()
    device, out, src, loaded, suffix, fs = _start(args)
    ck = resolve_checkpoint(args.checkpoint, "denoise_*",
                            prefer=((f"denoise_{args.noise}",) if args.noise else ()) + ("denoise_mixed",))
    den, cfg = _load(ck, device)
    mw = model_window(den, cfg)
    _check_mode(mw, args.noise_sigma, f"{cfg.name}' ({ck})")
    if args.noise and args.noise != "mixed" and mw.noise and args.noise not in mw.noise:
        raise ValueError(f"{ck}: the model was trained on noise {', '.join(mw.noise)}, not {args.noise}")
    shots = args.shots or (QUICK["shots"] if args.quick else 10)
    if mw.conditional:
        sampler, steps = sampling_setup(cfg, quick=bool(args.quick), sampler=args.sampler, steps=args.steps)
    else:
        sampler, steps = args.sampler or "stochastic", int(args.steps or cfg.sampling.steps)
    x = loaded.array.astype(np.float64)
    names = list(loaded.meta.get("sig_name") or [f"ch{i}" for i in range(x.shape[0])])
    say(f"{src}: {x.shape[0]} lead(s), {x.shape[1] / fs:.1f} s at {fs:g} Hz; model {ck} ({mw.length} samples at "
        f"{mw.fs:g} Hz, fold {mw.fold}); {shots} shots of {steps} {sampler} steps")
    gen = torch.Generator().manual_seed(args.seed)
    t1 = time.perf_counter()
    est = denoise_record(den, cfg, x, fs, shots=shots, steps=steps, sampler=sampler, noise_sigma=args.noise_sigma,
                         overlap=args.overlap, baseline=args.baseline, generator=gen, batch=args.batch, device=device,
                         progress=not args.no_progress)
    seconds_model = time.perf_counter() - t1

    target, out_suffix = _written_path(out, src, suffix, "denoised")
    meta = {k: v for k, v in loaded.meta.items() if k not in ("source", "record_name")}
    WRITERS[out_suffix](target, est.astype(np.float32), meta)
    _plot_record(out / "denoised.png", x, est, fs, names, args.figure_seconds)

    report = Report("biosignal", "denoise-record", data=str(src), device=str(device), quick=bool(args.quick))
    for i, name in enumerate(names):
        report.add_row("diffusion", name, "rms_raw_mv", float(np.sqrt(np.mean(x[i] ** 2))))
        report.add_row("diffusion", name, "rms_denoised_mv", float(np.sqrt(np.mean(est[i].astype(np.float64) ** 2))))
        report.add_row("diffusion", name, "rms_removed_mv", float(np.sqrt(np.mean((x[i] - est[i]) ** 2))))
    report.figures.append("denoised.png")
    hop = window_hop(mw.length, args.overlap)
    report.extra.update({
        "record": {"path": str(src), "fs": fs, "leads": names, "samples": int(x.shape[1]),
                   "seconds": round(x.shape[1] / fs, 3)},
        "model": {"checkpoint": str(ck), "fs": mw.fs, "window": mw.length, "fold": mw.fold,
                  "conditional": mw.conditional, "train_noise": list(mw.noise), "kind": mw.kind},
        "settings": {"noise": args.noise, "noise_sigma": args.noise_sigma, "shots": shots, "steps": steps,
                     "sampler": sampler, "sigma_max": cfg.sampling.sigma_max, "overlap": args.overlap, "hop": hop,
                     "baseline": args.baseline or ("model" if mw.conditional else "input"), "seed": args.seed},
        "written": target.name, "seconds_model": round(seconds_model, 2),
        "wall_seconds": round(time.perf_counter() - t0, 2)})
    report.notes += [
        f"Each lead resampled {fs:g} -> {mw.fs:g} Hz, cut into {mw.length}-sample windows every {hop} samples, "
        "denoised, stitched with Hann weights (divided by their sum) and resampled back; rms_removed_mv is the RMS "
        "of raw - denoised.",
        "The denoising harness's model was trained on single QTDB beats zero-padded to 512 samples; record windows "
        "hold one to two beats and no padding, so its estimate here is outside the benchmark's conditions (a model "
        "of record windows: configs/biosignal_records.yaml)."
        if mw.kind == "qtdb_noisy" else
        f"Model trained on windows of whole QTDB records high-passed at {cfg.data.params.get('highpass_hz', 0.5)} Hz "
        "with NSTDB noise: the denoised record has no baseline drift." if mw.kind == "qtdb_windows_noisy" else
        f"Model trained on data.params.kind {mw.kind}."]
    if out_suffix != suffix:
        report.notes.append(f"{suffix} has no writer: the denoised record is written as HDF5.")
    return report.write(out)


def run_score(args: argparse.Namespace) -> dict:
    """Score every beat of one record with the anomaly harness's prior; writes scores.csv and maps.npz."""
    from diffsci.report import Report

    from .aami import aami_labels
    from .figures import plot_anomaly_examples
    from .harness.anomaly import write_maps, write_scores
    from .harness.common import say
    from .io import read_annotations
    from .windows import detect_rpeaks

    t0 = time.perf_counter()
    device, out, src, loaded, suffix, fs = _start(args)
    if not 0 <= args.lead < loaded.array.shape[0]:
        raise ValueError(f"{src}: --lead {args.lead}, the record has {loaded.array.shape[0]} lead(s)")
    x = loaded.array[args.lead].astype(np.float64)
    ann = None
    if suffix == ".hea" and args.annotation.lower() != "none":
        ann = loaded.meta.get("annotations") if args.annotation == "atr" else None
        if ann is None and Path(src).with_suffix("." + args.annotation).exists():
            ann = read_annotations(src, args.annotation)
    if ann is not None:
        labels = aami_labels(ann["symbol"])
        beat = labels >= 0
        r_peaks, labels, source = ann["sample"][beat], labels[beat], f"annotations (.{ann['extension']})"
    else:
        r_peaks, labels, source = detect_rpeaks(x, fs, args.detector), None, f"R-peak detector ({args.detector})"
    ck = resolve_checkpoint(args.checkpoint, "prior_normal*")
    den, cfg = _load(ck, device)
    stem = loaded.meta.get("record_name") or src.stem
    say(f"{src}: lead {args.lead}, {len(x) / fs:.1f} s at {fs:g} Hz; {len(r_peaks)} beats from {source}; prior {ck}")
    t1 = time.perf_counter()
    res = score_record(den, cfg, x, fs, r_peaks, labels, record=str(stem), batch=args.batch,
                       generator=torch.Generator().manual_seed(args.seed), device=device,
                       progress=not args.no_progress)
    seconds_model = time.perf_counter() - t1
    b = res.beats
    write_scores(out / "scores.csv", b, res.scores)
    write_maps(out / "maps.npz", b, res.maps, res.reconstruction)
    main = res.scores["diffusion_recon_rr"]
    order = np.argsort(-main)
    pick = list(order[:3]) + [order[len(order) // 2]]
    plot_anomaly_examples(out / "score_examples.png", b.fs,
                          [{"title": f"{'median' if j == pick[-1] else 'top'}: {b.sample_record[j] / fs:.1f} s",
                            "x": b.x[j, 0], "map": res.maps[j], "recon": res.reconstruction[j]} for j in pick])
    report = Report("biosignal", "score-record", data=str(src), device=str(device), quick=bool(args.quick))
    for name, v in res.scores.items():
        report.add("prior", "record", name, v)
    report.figures.append("score_examples.png")
    report.extra.update({
        "record": {"path": str(src), "fs": fs, "lead": args.lead, "samples": int(len(x))},
        "beats": {"source": source, "found": int(len(r_peaks)), "scored": int(len(b)),
                  "counts": b.counts() if labels is not None else None},
        "model": {"checkpoint": str(ck), "fs": b.fs, "window": int(b.x.shape[-1]),
                  "rhythm_ref_s": BiosignalData(**cfg.data.params).rhythm_ref_s},
        "top_beats": [{"sample_record": int(b.sample_record[j]), "time_s": round(float(b.sample_record[j] / fs), 3),
                       "diffusion_recon_rr": float(main[j])} for j in order[:10]],
        "written": ["scores.csv", "maps.npz"], "seconds_model": round(seconds_model, 2),
        "wall_seconds": round(time.perf_counter() - t0, 2)})
    report.notes += [
        "scores.csv: one row per scored beat; sample_record is the R peak in the record's own samples (as in its "
        f"annotations), sample_{b.fs:g}hz at the prior's rate. Higher = more anomalous. maps.npz: the time-point "
        "maps, reconstructions and windows in the same order.",
        "Beats within the window half-width of the record's ends are not scored."]
    return report.write(out)


def _denoise_task(args: argparse.Namespace) -> dict:
    """Denoise one record (any format) lead by lead with a trained model; writes it back in its format."""
    return run_denoise(args)


def _score_task(args: argparse.Namespace) -> dict:
    """Score every beat of one record with the anomaly prior; per-beat scores in the record's samples + maps."""
    return run_score(args)


_denoise_task.without_options = ("data",)              # --record names the input; --quick: fewer shots
_score_task.without_options = ("data", "quick")

#: the tasks of ``diffsci evaluate biosignal`` that apply a trained model to one record
TASKS = {"denoise-record": _denoise_task, "score-record": _score_task}
