"""``diffsci evaluate biosignal anomaly``: beat anomaly detection on MIT-BIH, inter-patient.

A diffusion prior is trained on the normal (AAMI N) beats of the training records of DS1 (split by
record, :func:`..mitdb.record_split`); every beat of the other records is scored, higher = more
anomalous, and the scores are evaluated as detectors of N against S, V, F, Q and all abnormal beats
(AUROC, AP; std by bootstrap over beats).

Scores (higher = more anomalous):
- ``diffusion_recon``: noise the window to sigma* = 2.5 mV (about 8x the data scale: the prior, not the
  input, decides what the beat should look like), denoise in one step (the posterior mean, Tweedie),
  4 draws, and average the squared residual over the beat itself, +-0.3 s around its R peak
  (:func:`diffsci.anomaly.reconstruction_maps`); the residual over the whole window is the time-point
  anomaly map;
- ``diffusion_elbo``: the continuous-time ELBO of the whole window in bits/dim (:func:`diffsci.likelihood.elbo`);
- ``diffusion_nll``: -log p(window) in bits/dim by the probability-flow ODE with Hutchinson's divergence
  (:func:`diffsci.likelihood.log_likelihood`), on at most ``--nll-max`` beats;
- ``diffusion_recon_rr``: log(diffusion_recon) + 7.5 log(prematurity): the prior's morphology score plus
  prematurity, the patient's usual RR (the longer of the 21-beat local median and the +-5 min median) over the
  preceding RR (:func:`prematurity`; RR intervals come from the R positions, not from labels);
- ``diffusion_recon_rr_fisher``: Fisher's combination -2 (ln p_shape + ln p_rhythm) of the conformal p-values
  (:class:`diffsci.anomaly.Calibrator`) of ``diffusion_recon`` and of the prematurity, each against the beats
  of the same record (unlabelled, mostly normal): no weight to tune, and the patient-to-patient offset of the
  morphology score cancels; ``template_rr_fisher`` is the same with the template score (no model);
- baselines: ``template`` (squared distance of the beat, +-0.3 s, to the mean normal training beat),
  ``pca`` (residual of the +-0.3 s beat after projection on the first 16 principal components of the normal
  training beats), ``rr_prematurity`` (the rhythm term alone).

The scoring choices (sigma*, the +-0.3 s region) were made on a validation split of the TRAINING records
(prior on the N beats of the other training records, scored on records 201 and 208); the rhythm term's reference
on all 12 training records; its weight between the two that the training records proposed (2.5 by 201/208, 7.5
by all 12 with the template as the shape score) by a rule written down before scoring the QTDB excerpts below.
docs/biosignal.md tells which of these came after a look at the test records.

Cross-database check (default when DATA/qtdb exists; ``--no-external`` skips it): the same prior scores the QTDB
excerpts of patients outside the MIT-BIH folder (:data:`..mitdb.EXTERNAL_QTDB_RECORDS`: MIT-BIH DS2 and the
Supraventricular Arrhythmia Database), settings ``qtdb_N_vs_*``; their beats go to scores_qtdb.csv.

Each score also comes record-normalised (suffix ``_rn``): (s - median over the record's beats) / MAD.
This uses no label, only the unlabelled beats of the same recording (most of which are normal), and
removes the patient-to-patient offset of the scores.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch

from diffsci.anomaly import Calibrator, reconstruction_maps
from diffsci.data import ArrayDataset
from diffsci.likelihood import elbo, log_likelihood
from diffsci.metrics import auroc, average_precision
from diffsci.report import Report
from diffsci.utils import resolve_device

from ..aami import AAMI_CLASSES
from ..figures import plot_anomaly_examples
from ..mitdb import (EXTERNAL_QTDB_RECORDS, SPLITS, VALIDATION_RECORDS, BeatSet, external_qtdb_records, harness_split,
                     load_beats, usual_rr)
from ..windows import fold, unfold
from .common import ecg_root, experiment, in_run_folder, parse_list, say, set_threads, train_or_load

__all__ = ["run", "add_args", "diffusion_recon_scores", "write_scores", "write_maps", "subsample_beats",
           "record_normalise", "record_fisher", "detection_rows", "prematurity", "fast_auroc", "fast_average_precision",
           "VALIDATION_RECORDS"]

SCORES = ("recon", "elbo", "nll")
RECON_SIGMAS = (2.5,)
RECON_REPEATS = 4
BEAT_HALF_WIDTH_S = 0.3
RR_WEIGHT = 7.5      # 2.5 until session 20; docs/biosignal.md, "How the score settings were chosen"
QUICK = {"max_normal": 300, "max_abnormal": 300, "nll_max": 100, "elbo_steps": 8,
         "model": {"model": {"channels": [32, 64, 64], "num_res_blocks": 1, "attention_levels": [False, False, False]},
                   "train": {"steps": 400, "batch_size": 32, "warmup_steps": 40, "ema_decay": 0.98,
                             "ckpt_every": 200, "val_every": 400, "log_every": 50}}}


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scores", default="recon,elbo,nll", help="diffusion scores, comma-separated (recon, elbo, nll)")
    p.add_argument("--max-normal", type=int, default=None, help="N test beats scored (default all; quick 300)")
    p.add_argument("--max-abnormal", type=int, default=None, help="abnormal test beats scored (default all; quick 300)")
    p.add_argument("--nll-max", type=int, default=4000, help="at most this many beats get the (costly) NLL score, "
                   "a class-stratified subset (default 4000; quick 100)")
    p.add_argument("--elbo-steps", type=int, default=16, help="strata of the ELBO (default 16; quick 8)")
    p.add_argument("--train-steps", type=int, default=None, help="override the config's training steps")
    p.add_argument("--models", default=None, help="folder of the trained prior (default OUT/models)")
    p.add_argument("--checkpoint", default=None, help="use this trained prior of N beats")
    p.add_argument("--batch", type=int, default=256, help="scoring batch size")
    p.add_argument("--split", choices=SPLITS, default="test",
                   help="test: prior on the training records, scored on the test records (the benchmark); "
                        "reverse: the other fold of a 2-fold split by record (prior on the test records, scored "
                        "on the training records: how much the result depends on which patients are tested); "
                        "validation: prior on the training records but " + " and ".join(VALIDATION_RECORDS)
                        + ", scored on those two (for choosing score settings; never look at test for that)")
    p.add_argument("--no-external", action="store_true",
                   help="skip the cross-database check: by default the QTDB excerpts of patients outside the MIT-BIH "
                        "folder (MIT-BIH DS2 and Supraventricular Arrhythmia Database records, DATA/qtdb) are scored "
                        "too, as settings qtdb_N_vs_*, when that folder exists")
    p.add_argument("--rhythm-windows", type=float, default=None, metavar="SECONDS",
                   help="rhythm-normalised windows (windows.rhythm_windows: the beat's usual RR mapped to SECONDS "
                        "outside the QRS) for the prior and the scores; default: the config's (plain windows)")
    p.add_argument("--no-progress", action="store_true", help="no training progress bar")


def subsample_beats(labels: np.ndarray, max_normal: int | None, max_abnormal: int | None) -> np.ndarray:
    """Evenly spaced indices: at most max_normal N beats and max_abnormal others, every abnormal class kept
    in proportion but with at least min(its count, 10) beats.

    >>> lab = np.array([0] * 10 + [2] * 40 + [1] * 2)
    >>> np.bincount(lab[subsample_beats(lab, 5, 21)]).tolist()     # 20 V by proportion, both S kept
    [5, 2, 20]
    """
    out = []
    norm = np.flatnonzero(labels == 0)
    out.append(_even(norm, max_normal))
    abn = np.flatnonzero(labels > 0)
    if max_abnormal is None or max_abnormal >= len(abn):
        out.append(abn)
    else:
        for c in np.unique(labels[abn]):
            idx = np.flatnonzero(labels == c)
            k = max(min(len(idx), 10), int(round(max_abnormal * len(idx) / len(abn))))
            out.append(_even(idx, k))
    return np.sort(np.concatenate(out))


def _even(idx: np.ndarray, m: int | None) -> np.ndarray:
    if m is None or m >= len(idx):
        return idx
    return idx[np.unique(np.linspace(0, len(idx) - 1, m).round().astype(int))]


def record_normalise(scores: np.ndarray, records: np.ndarray) -> np.ndarray:
    """(s - median_r) / (1.4826 MAD_r) within each record r (robust z-score; labels are not used).

    >>> z = record_normalise(np.array([1.0, 2.0, 3.0, 10.0, 20.0, 30.0]), np.array(list("aaabbb")))
    >>> np.round(z * 1.4826, 6).tolist()
    [-1.0, 0.0, 1.0, -1.0, 0.0, 1.0]
    """
    out = np.empty_like(scores, dtype=np.float64)
    for r in np.unique(records):
        m = records == r
        s = scores[m]
        med = np.median(s)
        mad = 1.4826 * np.median(np.abs(s - med))
        out[m] = (s - med) / (mad if mad > 0 else 1.0)
    return out


def record_fisher(parts: list[np.ndarray], records: np.ndarray) -> np.ndarray:
    """Fisher's combination -2 sum_j ln p_j of per-record conformal p-values (higher = more anomalous).

    Each score in ``parts`` (higher = more anomalous) is turned into p_j(s) = (1 + #{beats of the same
    record with score >= s}) / (n_record + 1) (:class:`diffsci.anomaly.Calibrator`, the record's own beats
    as the reference: no labels). Under independence and normality -2 sum ln p_j is chi^2 with 2J degrees
    of freedom (Fisher 1925); here it is used as a rank-based, scale-free way to add evidence of different
    units (a residual in mV^2, a ratio of RR intervals).

    >>> s = record_fisher([np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])], np.array(list("aaa")))
    >>> np.round(s, 4).tolist()                    # p = (1, 3/4, 1/2) and (1/2, 3/4, 1)
    [1.3863, 1.1507, 1.3863]
    """
    out = np.zeros(len(records), dtype=np.float64)
    for r in np.unique(records):
        m = records == r
        for s in parts:
            out[m] -= 2.0 * np.log(Calibrator(s[m]).p_value(s[m]))
    return out


def fast_auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """AUROC as the Mann-Whitney statistic of average ranks (ties count 1/2): the value of
    :func:`diffsci.metrics.auroc` at a fraction of sklearn's validation cost, for the bootstrap loops.

    >>> fast_auroc(np.array([0.0, 1.0, 2.0, 3.0, 2.5, 4.0]), np.array([0, 0, 0, 0, 1, 1]))
    0.875
    """
    from scipy.stats import rankdata
    pos = np.asarray(positive, dtype=bool)
    n1, n0 = int(pos.sum()), int((~pos).sum())
    r = rankdata(scores)
    return float((r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def fast_average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    """AP = sum_k (R_k - R_{k-1}) P_k over the distinct score thresholds, high to low (sklearn's definition,
    no interpolation), in NumPy for the bootstrap loops.

    >>> fast_average_precision(np.array([0.0, 1.0, 2.0, 3.0, 2.5, 4.0]), np.array([0, 0, 0, 0, 1, 1]))
    0.8333333333333333
    """
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    s, y = np.asarray(scores)[order], np.asarray(positive, dtype=np.float64)[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]          # the end of each tie group
    tps, fps = np.cumsum(y)[last], np.cumsum(1 - y)[last]
    recall = tps / tps[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * tps / (tps + fps)))


def detection_rows(report: Report, method: str, scores: np.ndarray, labels: np.ndarray,
                   rng: np.random.Generator, n_boot: int = 100, prefix: str = "") -> dict:
    """AUROC and AP of N (label 0) against each abnormal class and against all of them (settings
    ``{prefix}N_vs_{class}``, ``{prefix}N_vs_all``); std by bootstrap."""
    out = {}
    normal = labels == 0
    targets = {f"{prefix}N_vs_{c}": labels == i for i, c in enumerate(AAMI_CLASSES) if i > 0}
    targets[f"{prefix}N_vs_all"] = labels > 0
    for setting, pos in targets.items():
        sel = normal | pos
        if pos.sum() == 0 or normal.sum() == 0:
            continue
        s, y = scores[sel], pos[sel].astype(int)
        a, ap = auroc(s, y), average_precision(s, y)
        boots_a, boots_ap = [], []
        for _ in range(n_boot):
            b = rng.integers(0, len(s), len(s))
            if 0 < y[b].sum() < len(b):
                boots_a.append(fast_auroc(s[b], y[b]))
                boots_ap.append(fast_average_precision(s[b], y[b]))
        report.add_row(method, setting, "auroc", a, float(np.std(boots_a, ddof=1)) if len(boots_a) > 1 else None,
                       int(len(s)))
        report.add_row(method, setting, "ap", ap, float(np.std(boots_ap, ddof=1)) if len(boots_ap) > 1 else None,
                       int(len(s)))
        out[setting] = {"auroc": a, "ap": ap, "n_normal": int(normal.sum()), "n_abnormal": int(pos.sum())}
    return out


def _all_detection_rows(report: Report, scores: dict[str, np.ndarray], beats: BeatSet, rng: np.random.Generator,
                        prefix: str = "", subsets: dict[str, np.ndarray] | None = None) -> dict:
    """:func:`detection_rows` of every score and of its record-normalised variant (``_rn``; not for the ``_fisher``
    scores, per-record already). ``subsets``: the beats a score was computed on, where not all of them."""
    out = {}
    for method, s in scores.items():
        idx = (subsets or {}).get(method, slice(None))
        lab, recs = beats.label[idx], beats.record[idx]
        out[method] = detection_rows(report, method, s, lab, rng, prefix=prefix)
        if not method.endswith("_fisher"):
            out[method + "_rn"] = detection_rows(report, method + "_rn", record_normalise(s, recs), lab, rng,
                                                 prefix=prefix)
    return out


def write_scores(path: Path, beats: BeatSet, scores: dict[str, np.ndarray]) -> None:
    """One row per beat: record, the R peak in the record's own samples (``sample_record``, the .atr sample) and
    at the windows' rate (``sample_120hz`` for 120 Hz windows), its time in s, AAMI class (empty where unknown),
    then every score."""
    rate = f"sample_{beats.fs:g}hz"
    t = beats.sample / beats.fs                                    # R-peak time in s
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        names = list(scores)
        w.writerow(["record", "sample_record", rate, "time_s", "aami"] + names)
        for i in range(len(beats)):
            w.writerow([beats.record[i], int(beats.sample_record[i]), int(beats.sample[i]), f"{t[i]:.4f}",
                        AAMI_CLASSES[beats.label[i]] if beats.label[i] >= 0 else ""]
                       + [f"{scores[m][i]:.6g}" for m in names])


def write_maps(path: Path, beats: BeatSet, maps: np.ndarray, recon: np.ndarray) -> None:
    """The time-point anomaly maps as arrays, one row per beat in the order of the scores CSV
    (``np.load(path)``): ``map`` (N, L) the squared residual of the one-step reconstructions in mV^2,
    ``reconstruction`` (N, L) their mean, ``window`` (N, L) the beat window (mV, median removed), ``t`` (L,) the
    window's time axis in s from the R peak (rhythm-normalised time for rhythm windows), ``record``,
    ``sample_record``, ``sample_<fs>hz`` and ``fs``."""
    length = beats.x.shape[-1]
    np.savez_compressed(path, map=np.asarray(maps, np.float32), reconstruction=np.asarray(recon, np.float32),
                        window=beats.x[:, 0].astype(np.float32), t=(np.arange(length) - length // 2) / beats.fs,
                        record=np.asarray(beats.record, dtype=str), sample_record=beats.sample_record,
                        **{f"sample_{beats.fs:g}hz": beats.sample}, fs=np.float64(beats.fs))


def _pca_scores(train_x: np.ndarray, test_x: np.ndarray, k: int = 16, seed: int = 0) -> np.ndarray:
    """Mean squared residual of each row after projection on the first k principal components of train_x."""
    from sklearn.decomposition import PCA
    rng = np.random.default_rng(seed)
    a = train_x if len(train_x) <= 8000 else train_x[rng.choice(len(train_x), 8000, replace=False)]
    pca = PCA(n_components=k, random_state=seed).fit(a)
    return np.mean((test_x - pca.inverse_transform(pca.transform(test_x))) ** 2, axis=1)


def prematurity(rr_local: np.ndarray, rr_prev: np.ndarray, rr_average: np.ndarray | None = None) -> np.ndarray:
    """Reference RR / preceding RR (1 for a regular beat, > 1 for a premature one; 1 where unknown).

    The reference is the local RR (median of the 21 beats around) or, where given and longer, the average RR
    (median over +-5 min, :data:`..mitdb.AVERAGE_RR_HALF_WIDTH_S`): inside a run of supraventricular
    tachycardia the local median is itself short and hides the run's beats; the patient's usual rhythm does
    not (on the 12 training records, N vs S AUROC of the rhythm term alone 0.846 -> 0.990; docs/biosignal.md).

    >>> prematurity(np.array([0.8, 0.8, 0.8]), np.array([0.8, 0.5, np.nan])).tolist()
    [1.0, 1.6, 1.0]
    >>> prematurity(np.array([0.5, 0.5]), np.array([0.5, 0.5]), np.array([1.0, np.nan])).tolist()  # a run
    [2.0, 1.0]
    """
    ref = rr_local if rr_average is None else usual_rr(rr_local, rr_average)
    return np.nan_to_num(ref / rr_prev, nan=1.0, posinf=1.0)


def _shape_rhythm_scores(test: BeatSet, normal: BeatSet, den, k: int, diffusion: bool, args, device,
                         gen: torch.Generator) -> tuple[dict[str, np.ndarray], dict[str, float], np.ndarray | None,
                                                         np.ndarray | None]:
    """The baselines and (``diffusion``) the one-step reconstruction scores of ``test``'s beats; also the
    per-location residual maps and reconstructions (None without ``diffusion``)."""
    length = test.x.shape[-1]
    half = int(round(BEAT_HALF_WIDTH_S * test.fs))
    beat = slice(length // 2 - half, length // 2 + half)           # the beat itself, +-0.3 s around its R peak
    scores: dict[str, np.ndarray] = {
        "template": np.mean((test.x[:, 0, beat] - normal.x[:, 0, beat].mean(0)) ** 2, axis=1),
        "pca": _pca_scores(normal.x[:, 0, beat], test.x[:, 0, beat], seed=args.seed),
        "rr_prematurity": prematurity(test.rr_local, test.rr_prev, test.rr_average)}
    scores["template_rr_fisher"] = record_fisher([scores["template"], scores["rr_prematurity"]], test.record)
    seconds: dict[str, float] = {}
    if not diffusion:
        return scores, seconds, None, None
    t0 = time.perf_counter()
    recon_scores, maps, recon = diffusion_recon_scores(den, test, k, batch=args.batch, device=device, generator=gen)
    scores.update(recon_scores)
    seconds["diffusion_recon"] = time.perf_counter() - t0
    return scores, seconds, maps, recon


def diffusion_recon_scores(den, beats: BeatSet, k: int, *, batch: int = 256, device: str | torch.device = "cpu",
                           generator: torch.Generator | None = None, progress: bool = False
                           ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The prior's reconstruction scores of ``beats`` (windows folded by ``k`` for the model):
    ``diffusion_recon`` (one-step residual at :data:`RECON_SIGMAS`, :data:`RECON_REPEATS` draws, over the beat
    +-:data:`BEAT_HALF_WIDTH_S`), ``diffusion_recon_rr`` (+ :data:`RR_WEIGHT` log prematurity) and
    ``diffusion_recon_rr_fisher`` (per-record conformal p-values combined); also the time-point maps (N, L) and
    the mean reconstructions (N, L) in mV."""
    from tqdm.auto import tqdm
    length = beats.x.shape[-1]
    half = int(round(BEAT_HALF_WIDTH_S * beats.fs))
    beat = slice(length // 2 - half, length // 2 + half)
    xt = torch.as_tensor(fold(beats.x, k))
    mparts, rparts = [], []
    for lo in tqdm(range(0, len(xt), batch), desc="scoring beats", unit="batch", disable=not progress):
        r = reconstruction_maps(den, xt[lo:lo + batch].to(device), sigmas=RECON_SIGMAS,
                                repeats=RECON_REPEATS, generator=generator)
        mparts.append(unfold(r.map.cpu(), k))
        rparts.append(unfold(r.reconstruction.cpu(), k))
    maps, recon = torch.cat(mparts).numpy()[:, 0], torch.cat(rparts).numpy()[:, 0]
    rr = prematurity(beats.rr_local, beats.rr_prev, beats.rr_average)
    scores = {"diffusion_recon": maps[:, beat].mean(1).astype(np.float64)}
    scores["diffusion_recon_rr"] = np.log(scores["diffusion_recon"]) + RR_WEIGHT * np.log(rr)
    scores["diffusion_recon_rr_fisher"] = record_fisher([scores["diffusion_recon"], rr], beats.record)
    return scores, maps, recon


def run(args: argparse.Namespace) -> dict:
    """MIT-BIH inter-patient beat anomaly detection with a prior of normal beats."""
    set_threads()
    t_start = time.perf_counter()
    quick = bool(args.quick)
    q = QUICK if quick else {}
    kinds = parse_list(args.scores, SCORES, "--scores")
    max_normal = args.max_normal if args.max_normal is not None else q.get("max_normal")
    max_abnormal = args.max_abnormal if args.max_abnormal is not None else q.get("max_abnormal")
    nll_max = q.get("nll_max", args.nll_max) if quick else args.nll_max
    elbo_steps = q.get("elbo_steps", args.elbo_steps) if quick else args.elbo_steps
    device = resolve_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    root = ecg_root(args.data) / "mitdb"
    report = Report("biosignal", "anomaly", data=str(root), device=str(device), quick=quick)
    gen = torch.Generator().manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    train_recs, test_recs = harness_split(root, args.split)
    over: dict = {"train": {"steps": args.train_steps}} if args.train_steps else {}
    rhythm = args.rhythm_windows
    if rhythm:
        over["data"] = {"params": {"rhythm_ref_s": rhythm}}
    models = Path(args.models) if args.models else out / "models"
    cfg = in_run_folder(experiment("anomaly", quick=quick, seed=args.seed, out_dir=models,
                                   quick_overrides=q.get("model"), overrides=over), models, "prior_normal")
    p = cfg.data.params
    kw = {"fs": p.get("fs", 120.0), "before_s": p.get("before_s", 1.6), "after_s": p.get("after_s", 1.6),
          "rhythm_ref_s": p.get("rhythm_ref_s")}
    k = int(p.get("fold", 8))
    say(f"reading MIT-BIH beats: train records {', '.join(train_recs)}; test records {', '.join(test_recs)}")
    train = load_beats(root, train_recs, **kw)
    normal = train.subset(train.label == 0)
    test_all = load_beats(root, test_recs, **kw)
    test: BeatSet = test_all.subset(subsample_beats(test_all.label, max_normal, max_abnormal))
    say(f"prior on {len(normal)} N beats; scoring {len(test)} test beats {test.counts()}")

    den, info = train_or_load(cfg, ArrayDataset(fold(normal.x, k), source=str(root)), checkpoint=args.checkpoint,
                              device=str(device), progress=not args.no_progress)
    xt = torch.as_tensor(fold(test.x, k)) if {"elbo", "nll"} & set(kinds) else None     # the likelihood scores' input
    scores, seconds, maps, recon = _shape_rhythm_scores(test, normal, den, k, "recon" in kinds, args, device, gen)
    if "elbo" in kinds:
        t0 = time.perf_counter()
        parts = [elbo(den, xt[lo:lo + args.batch].to(device), steps=elbo_steps, repeats=1,
                      generator=gen).bits_per_dim.detach().cpu().double() for lo in range(0, len(xt), args.batch)]
        scores["diffusion_elbo"] = torch.cat(parts).numpy()
        seconds["diffusion_elbo"] = time.perf_counter() - t0
    nll_idx = None
    if "nll" in kinds:
        nll_idx = subsample_beats(test.label, int(nll_max * 0.5), int(nll_max * 0.5)) if nll_max < len(test) \
            else np.arange(len(test))
        t0 = time.perf_counter()
        parts = []
        for lo in range(0, len(nll_idx), max(1, args.batch // 4)):
            sl = nll_idx[lo:lo + max(1, args.batch // 4)]
            parts.append(log_likelihood(den, xt[sl].to(device), divergence="hutchinson", probes=1, steps=8,
                                        generator=gen).bits_per_dim.detach().cpu().double())
        scores["diffusion_nll"] = torch.cat(parts).numpy()          # -log p(x) in bits/dim: higher = rarer
        seconds["diffusion_nll"] = time.perf_counter() - t0

    results = _all_detection_rows(report, scores, test, rng,
                                  subsets=None if nll_idx is None else {"diffusion_nll": nll_idx})

    if maps is not None:
        rows = []
        for i, c in enumerate(AAMI_CLASSES):
            idx = np.flatnonzero(test.label == i)
            if len(idx):
                j = idx[np.argsort(scores["diffusion_recon"][idx])[len(idx) // 2]]      # the class's median beat
                rows.append({"title": f"{c} beat, record {test.record[j]}", "x": test.x[j, 0], "map": maps[j],
                             "recon": recon[j]})
        plot_anomaly_examples(out / "anomaly_examples.png", test.fs, rows)
        report.figures.append("anomaly_examples.png")
    full = {m: (np.full(len(test), np.nan) if m == "diffusion_nll" else v) for m, v in scores.items()}
    if nll_idx is not None and "diffusion_nll" in scores:
        full["diffusion_nll"][nll_idx] = scores["diffusion_nll"]
    write_scores(out / "scores.csv", test, full)
    if maps is not None:
        write_maps(out / "maps.npz", test, maps, recon)

    external = None
    qtdb = ecg_root(args.data) / "qtdb"
    if not args.no_external and qtdb.is_dir():
        ext_all = load_beats(qtdb, external_qtdb_records(train_recs + test_recs), **kw)
        ext = ext_all.subset(subsample_beats(ext_all.label, max_normal, max_abnormal))
        say(f"cross-database check: scoring {len(ext)} beats of {len(EXTERNAL_QTDB_RECORDS)} QTDB excerpts {ext.counts()}")
        ext_scores, ext_seconds, ext_maps, ext_recon = _shape_rhythm_scores(ext, normal, den, k, "recon" in kinds,
                                                                             args, device, gen)
        external = {"data": str(qtdb), "records": list(EXTERNAL_QTDB_RECORDS), "counts": ext.counts(),
                    "counts_all": ext_all.counts(), "score_seconds": ext_seconds,
                    "results": _all_detection_rows(report, ext_scores, ext, rng, prefix="qtdb_")}
        write_scores(out / "scores_qtdb.csv", ext, ext_scores)
        if ext_maps is not None:
            write_maps(out / "maps_qtdb.npz", ext, ext_maps, ext_recon)

    report.extra.update({"split": args.split, "train_records": train_recs, "test_records": test_recs,
                         "rhythm_ref_s": kw["rhythm_ref_s"],
                         "n_train_normal": len(normal),
                         "test_counts": test.counts(), "test_counts_all": test_all.counts(), "model": info,
                         "score_seconds_per_beat": {m: s / max(1, len(test) if m != "diffusion_nll" else len(nll_idx))
                                                    for m, s in seconds.items()},
                         "results": results, "recon": {"sigmas": RECON_SIGMAS, "repeats": RECON_REPEATS,
                                                       "beat_half_width_s": BEAT_HALF_WIDTH_S, "rr_weight": RR_WEIGHT},
                         "elbo_steps": elbo_steps,
                         "nll": {"divergence": "hutchinson", "probes": 1, "steps": 8,
                                 "n": None if nll_idx is None else int(len(nll_idx))},
                         "external": external, "wall_seconds": round(time.perf_counter() - t_start, 1)})
    report.notes += [
        "Inter-patient: the prior never sees a beat of a test record. DS1 without 118/119 (not in the data "
        "folder), records sorted and alternately assigned to train and test; the bundle-branch-block records "
        "(AAMI N, wide QRS) alternate among themselves so that the prior sees such normal beats.",
        "Windows are +-1.6 s around the R peak at 120 Hz (they hold the neighbouring beats, so rhythm, e.g. "
        "prematurity, is part of the input). std of AUROC/AP: bootstrap over beats (100 resamples).",
        "*_rn scores are normalised within each test record by its median and MAD (unsupervised).",
        "Cross-database check (settings qtdb_*): QTDB excerpts of MIT-BIH DS2 and Supraventricular Arrhythmia "
        "Database patients, scored by the same prior (SVDB lead 0 is not necessarily MLII).",
        "scores.csv holds every scored beat's scores, its R peak in the record's samples (sample_record, as in "
        "the .atr) and at the windows' rate (sample_120hz); maps.npz holds every scored beat's time-point map "
        "(recon residual), reconstruction and window in the same order; the figure shows each class's "
        "median-score beat with its map.",
    ] + (["--quick: a small prior trained briefly and a subset of beats; not the benchmark result."] if quick else [])
    return report.write(out)
