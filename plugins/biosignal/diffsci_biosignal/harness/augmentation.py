"""``diffsci evaluate biosignal augmentation``: class-conditional synthetic beats where labels are scarce.

Labels: a class-stratified 5 % of the beats of the training records of DS1 (split by record); the test
set is every beat of the other records (inter-patient). Classes N, S, V, F (AAMI Q is dropped: DS1 holds
8 Q beats). A class-conditional diffusion model is trained on the same labelled 5 % only (the generator
sees no other label and no other beat) with label dropout, and sampled with classifier-free guidance.
``--generator-data all`` makes it semi-supervised (:func:`semi_supervised_set`): the other training beats join
as an "unlabelled" class, the labelled ones repeated to ``--labelled-share`` of its training set.
``--generator-data pseudo`` trains it on the labelled beats plus the other training beats that a classifier of the
labelled 5 % labels with softmax >= ``--pseudo-threshold`` (:func:`pseudo_label`; self-training's pseudo-labels,
here feeding the generator), and adds the self-training baseline ``real_5pct_plus_pseudo`` beside it.
``--generator-data external`` trains it on the labelled 5 % plus the labelled beats of a public database of other
patients (:func:`external_beats`: the QTDB excerpts of MIT-BIH DS2 and Supraventricular Arrhythmia Database patients,
DATA/qtdb), the way a researcher with few labels would use a generator pretrained on public data; the baseline
``real_5pct_plus_external`` (the classifier trained on those public beats themselves) is reported beside it.
Measured once per fold (docs/benchmarks.md, session 33): + synthetic 0.476 vs 0.461 on the test records but 0.440 vs
0.491 on the reverse fold, where the public beats themselves cost too, and -0.010 on average over three label draws;
hence not the default.
``--split validation`` draws the labels from the training records but 201 and 208 and tests on those two: the
settings (e.g. the number of synthetic beats) are chosen there, never on the test records.
Windows are rhythm-normalised by default (config ``data.params.rhythm_ref_s``, :func:`..windows.rhythm_windows`;
``--plain-windows`` for the plain ones), for the generator and every classifier alike. Synthetic beats are drawn
only for the classes with at least ``--min-labelled`` beats in the generator's training set (labelled, plus
pseudo-labelled with ``--generator-data pseudo``).

The same small CNN (:class:`..classify.BeatCNN`, class-balanced loss) is trained, over several seeds, on

- ``real_5pct``: the labelled 5 %;
- ``real_5pct_jitter``: the same with classical augmentation (scaling, noise, shifts);
- ``real_5pct_plus_diffusion``: the 5 % plus synthetic beats (CFG) of the classes with enough labels;
- ``real_5pct_plus_sdedit``: the 5 % plus SDEdit variations of each labelled beat (noised to ``--sdedit-sigma``
  and denoised by the generator under the beat's own label; every class, since a variation keeps its beat's shape);
- ``real_5pct_jitter_plus_sdedit``: the same with classical augmentation on top (beside ``real_5pct_jitter``);
- ``real_5pct_plus_interp`` (``--interpolations K``): the 5 % plus K points per labelled beat on the generator's
  path from it to another labelled beat of its class (:func:`pf_ode_interpolations`: both mapped to noise by the
  PF-ODE under their label, joined by slerp at t ~ U(0.25, 0.75), mapped back); beside it ``real_5pct_plus_mixup``,
  the same pairs mixed linearly at the same t in the data (what the generator's path must be read against);
- ``diffusion_only``: synthetic beats only (it cannot predict a class it has no beats of);
- ``real_5pct_plus_pseudo`` (``--generator-data pseudo`` only): the 5 % plus the pseudo-labelled real beats the
  generator learned from (self-training, no generator: what the synthetic beats must be read against);
- ``real_5pct_plus_external`` (``--generator-data external`` only): the 5 % plus the public real beats the generator
  learned from (no generator);
- ``real_100pct``: every labelled training beat (reference: what more labels would buy);

Rows: method x setting "5pct" x metric (macro_f1 over N, S, V, F; recall_N ... recall_F; accuracy),
mean and std over classifier seeds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from diffsci import Cond
from diffsci.data import ArrayDataset
from diffsci.guidance import ClassifierFreeGuidance
from diffsci.report import Report
from diffsci.utils import resolve_device

from ..classify import jitter, macro_f1, per_class_recall, predict, train_classifier
from ..figures import plot_beats_by_class
from ..mitdb import (EXTERNAL_QTDB_RECORDS, SPLITS, VALIDATION_RECORDS, BeatSet, external_qtdb_records,
                     harness_split, load_beats, stratified_subset)
from ..windows import fold, unfold
from .anomaly import subsample_beats
from .common import ecg_root, experiment, in_run_folder, sample, say, set_threads, train_or_load

__all__ = ["run", "add_args", "semi_supervised_set", "pseudo_label", "sdedit_variations", "external_beats",
           "class_pairs", "pf_ode_interpolations", "CLASSES"]

CLASSES = ("N", "S", "V", "F")
# synthetic beats per class beside the labelled 5 %: chosen on --split validation (records 201, 208; 5 classifier
# seeds): 100 per class 0.431, 250 0.420, 1000 0.376, real alone 0.427 (docs/benchmarks.md, Augmentation, session 19);
# 1000 synthetic S beats made of 10 real ones drag the N recall down (0.96 -> 0.76)
SYNTHETIC_PER_CLASS = 100
# synthetic beats only for the classes with at least this many labelled beats: a generator that saw 10 S or 2 F beats
# draws mostly normal-looking beats under those labels, which teach the classifier that N looks like S. Chosen on
# --split validation with rhythm-normalised windows (labelled N 1119, S 10, V 49, F 2; 5 seeds): 100 synthetic N and V
# 0.487 +- 0.013, 100 of every class 0.407, real alone 0.469 (docs/benchmarks.md, Augmentation, session 21). Judged
# once on the test records afterwards: 0.457 against real alone 0.460 (the gain did not carry over)
MIN_LABELLED = 30
# SDEdit variations of every labelled beat (its own label, CFG): noise to this sigma, denoise back (Heun, 8 steps),
# SDEDIT_COPIES per beat. Chosen on --split validation (5 seeds): sigma 0.3 + jitter 0.527 +- 0.029 vs jitter alone
# 0.468 +- 0.014; without jitter 0.481 vs 0.468; sigma 0.1: 0.477 / 0.469 (docs/benchmarks.md, session 21). Judged
# once on the test records afterwards: 0.444 vs 0.460 and, with jitter, 0.475 vs 0.510 (reported, not a gain)
SDEDIT_SIGMA = 0.3
SDEDIT_COPIES = 2
# --generator-data pseudo: the softmax a pseudo-label needs. Fixed before any scoring from the pseudo-labels' quality
# on the validation split's training records: at 0.9 the S pseudo-labels (150 beats) have precision 0.96 and recall
# 0.79, and are as premature as the training patients' S beats (the 10 labelled ones are not). Scored once per fold
# (docs/benchmarks.md, session 22): + synthetic 0.490 vs 0.468 (validation), 0.442 vs 0.461 (test records), 0.496 vs
# 0.491 (reverse); self-training on the same pseudo-labels 0.530 on the test records
PSEUDO_THRESHOLD = 0.9
# --interpolations: the fraction of the way between two labelled beats of a class (uniform in this range, so that
# each point is a new beat, not a near-copy of one end) and the Heun steps of each PF-ODE solve. Fixed before
# scoring, measured once per fold with K = 2 (docs/benchmarks.md, session 34): 0.412 vs real alone 0.460 on the test
# records, 0.486 vs 0.492 on the reverse fold (the linear mix of the same pairs 0.444 / 0.472); hence off by default
INTERP_T = (0.25, 0.75)
INTERP_STEPS = 16
QUICK = {"synthetic_per_class": 96, "seeds": 1, "max_test": 3000, "epochs": 15, "steps": 8,
         "model": {"model": {"channels": [32, 64, 64], "num_res_blocks": 1, "attention_levels": [False, False, False]},
                   "train": {"steps": 600, "batch_size": 32, "warmup_steps": 50, "ema_decay": 0.99,
                             "ckpt_every": 200, "val_every": 600, "log_every": 50}}}


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fraction", type=float, default=0.05, help="labelled fraction of the training beats (0.05)")
    p.add_argument("--synthetic-per-class", type=int, default=None, help="synthetic beats per class (default "
                   "100, chosen on --split validation among 100/250/1000 and class subsets; quick 96)")
    p.add_argument("--min-labelled", type=int, default=MIN_LABELLED, help="synthetic beats only for the classes "
                   f"with at least this many labelled beats (default {MIN_LABELLED}; 0: every class)")
    p.add_argument("--sdedit-sigma", type=float, default=SDEDIT_SIGMA, help="noise level of the SDEdit variations "
                   f"of the labelled beats (default {SDEDIT_SIGMA}; 0: no SDEdit variants)")
    p.add_argument("--interpolations", type=int, default=0, help="K points per labelled beat on the generator's "
                   "PF-ODE path to another labelled beat of its class (real_5pct_plus_interp, beside the same pairs "
                   "mixed in the data, real_5pct_plus_mixup; default 0: neither variant)")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale (default: config)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: config; quick 8)")
    p.add_argument("--seeds", type=int, default=None, help="classifier seeds per variant (default 5; quick 1)")
    p.add_argument("--epochs", type=int, default=None, help="classifier epochs (default 30; quick 15)")
    p.add_argument("--max-test", type=int, default=None, help="test beats (default all; quick 3000)")
    p.add_argument("--train-steps", type=int, default=None, help="override the generator's training steps")
    p.add_argument("--models", default=None, help="folder of the trained generator (default OUT/models)")
    p.add_argument("--checkpoint", default=None, help="use this trained class-conditional generator")
    p.add_argument("--no-reference", action="store_true", help="skip the real_100pct reference classifier")
    p.add_argument("--generator-data", choices=("labelled", "all", "pseudo", "external"), default="labelled",
                   help="train the generator on the labelled 5 %% only (default); 'all': also on the other training "
                        "beats WITHOUT their labels (semi-supervised: an extra 'unlabelled' class); 'pseudo': also "
                        "on the other training beats that a classifier of the labelled 5 %% labels confidently; "
                        "'external': also on the labelled beats of other patients in DATA/qtdb (MIT-BIH DS2 and "
                        "Supraventricular Arrhythmia Database excerpts)")
    p.add_argument("--pseudo-threshold", type=float, default=PSEUDO_THRESHOLD, help="with --generator-data pseudo: "
                   f"the softmax a pseudo-label needs (default {PSEUDO_THRESHOLD:g})")
    p.add_argument("--labelled-share", type=float, default=0.5, help="with --generator-data all: the labelled "
                   "beats are repeated to make this share of the generator's training set (default 0.5)")
    p.add_argument("--split", choices=SPLITS, default="test",
                   help="test: labels from the training records, scored on the test records (the benchmark); "
                        "reverse: the halves swapped; validation: the training records but "
                        + " and ".join(VALIDATION_RECORDS) + ", scored on those two (for choosing settings; never "
                        "look at test for that)")
    p.add_argument("--plain-windows", action="store_true", help="plain +-1.6 s windows instead of the config's "
                   "rhythm-normalised ones (data.params.rhythm_ref_s; windows.rhythm_windows), for both the "
                   "generator and the classifiers")
    p.add_argument("--batch", type=int, default=256, help="sampling batch size")
    p.add_argument("--no-progress", action="store_true", help="no training progress bar")


def semi_supervised_set(lab_x: np.ndarray, lab_y: np.ndarray, rest_x: np.ndarray, *, unlabelled: int,
                        share: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The generator's training set with --generator-data all: the labelled beats with their labels, repeated
    (a whole number of times) so that they make about ``share`` of the set, plus the other beats under the
    extra label ``unlabelled``. Without the repetition 5 % labels are 5 % of the steps and the class branch
    hardly trains (measured: macro-F1 0.18 with the synthetic beats against 0.33 without).

    >>> x, y = semi_supervised_set(np.zeros((2, 1, 4)), np.array([0, 1]), np.ones((6, 1, 4)), unlabelled=4)
    >>> y.tolist()
    [0, 1, 0, 1, 0, 1, 4, 4, 4, 4, 4, 4]
    """
    if not 0.0 < share < 1.0:
        raise ValueError(f"--labelled-share must be in (0, 1), got {share}")
    reps = max(1, int(round(share / (1.0 - share) * len(rest_x) / max(1, len(lab_x)))))
    gx = np.concatenate([np.tile(lab_x, (reps,) + (1,) * (lab_x.ndim - 1)), rest_x])
    gy = np.concatenate([np.tile(lab_y, reps), np.full(len(rest_x), unlabelled, dtype=lab_y.dtype)])
    return gx, gy


def pseudo_label(lab_x: np.ndarray, lab_y: np.ndarray, rest_x: np.ndarray, n_classes: int, *, threshold: float,
                 seed: int = 0, epochs: int = 30, batch: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Self-training's pseudo-labels: a classifier (:func:`..classify.train_classifier`, the harness's CNN) trained
    on the labelled beats labels ``rest_x``; returns (indices into ``rest_x`` whose top softmax >= ``threshold``,
    their predicted labels)."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"--pseudo-threshold must be in (0, 1), got {threshold}")
    net = train_classifier(lab_x, lab_y, n_classes, seed=seed, epochs=epochs)
    with torch.no_grad():
        p = torch.cat([net(torch.as_tensor(rest_x[lo:lo + batch], dtype=torch.float32)).softmax(1)
                       for lo in range(0, len(rest_x), batch)]) if len(rest_x) else torch.zeros(0, n_classes)
    conf, pred = p.max(1)
    keep = torch.nonzero(conf >= threshold).flatten().numpy()
    return keep, pred.numpy()[keep].astype(lab_y.dtype)


def external_beats(qtdb_root: str | Path, mitdb_records: list[str], **kw) -> BeatSet:
    """The labelled N, S, V, F beats of :func:`..mitdb.external_qtdb_records` (QTDB excerpts of patients outside
    ``mitdb_records``; it raises for a patient in use), windowed as the MIT-BIH beats (``kw``:
    :func:`..mitdb.load_record_beats`'s)."""
    records = external_qtdb_records(mitdb_records)
    root = Path(qtdb_root)
    missing = [r for r in records if not (root / f"{r}.hea").exists()]
    if missing:
        raise FileNotFoundError(f"{root}: --generator-data external needs the QTDB records "
                                f"{', '.join(missing)} (.hea, .dat, .atr)")
    ext = load_beats(root, records, **kw)
    return ext.subset(ext.label < len(CLASSES))


def _class_counts(labels: np.ndarray) -> dict[str, int]:
    """Beats per class of :data:`CLASSES` (labels are their indices)."""
    return {c: int((labels == i).sum()) for i, c in enumerate(CLASSES)}


def sdedit_variations(denoiser, x: np.ndarray, y: np.ndarray, *, sigma: float, k: int, steps: int = 8,
                      generator: torch.Generator | None = None, batch: int = 256, device="cpu") -> np.ndarray:
    """SDEdit (:func:`diffsci.samplers.edit`) of beats ``x`` (N, 1, L) under their labels ``y``: each is noised to
    ``sigma`` and denoised by ``denoiser`` (Heun, ``steps``) in the polyphase fold ``k`` the generator uses."""
    from diffsci.samplers import edit
    out = []
    for lo in range(0, len(x), batch):
        xb = torch.as_tensor(fold(x[lo:lo + batch], k), dtype=torch.float32, device=device)
        cond = Cond(label=torch.as_tensor(y[lo:lo + batch], device=device))
        with torch.no_grad():
            out.append(edit(denoiser, xb, sigma, steps=steps, cond=cond, generator=generator).cpu())
    return unfold(torch.cat(out), k).numpy().astype(np.float32)


def class_pairs(y: np.ndarray, copies: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(i, j): ``copies`` partners j per index i, drawn uniformly among the other indices of i's class; classes
    with a single member are left out (nothing to pair with).

    >>> y = np.array([0, 0, 1, 2, 2, 2])
    >>> i, j = class_pairs(y, 2, np.random.default_rng(0))
    >>> len(i), bool(np.all(i != j)), bool(np.all(y[i] == y[j]))
    (10, True, True)
    """
    firsts, seconds = [], []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        if len(members) < 2:
            continue
        i = np.repeat(members, copies)
        off = rng.integers(1, len(members), size=len(i))           # any other member: position + 1 ... + n-1
        pos = np.searchsorted(members, i)
        firsts.append(i)
        seconds.append(members[(pos + off) % len(members)])
    if not firsts:
        return np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(firsts), np.concatenate(seconds)


def pf_ode_interpolations(denoiser, x: np.ndarray, y: np.ndarray, i: np.ndarray, j: np.ndarray, t: np.ndarray, *,
                          k: int, steps: int = INTERP_STEPS, batch: int = 256, device="cpu") -> np.ndarray:
    """Beats at fraction ``t`` of the way from x[i] to x[j] through the generator's PF-ODE noise (DDIM
    interpolation, :mod:`diffsci.samplers.interpolate`), under the label y[i] (= y[j]) and without guidance, in the
    polyphase fold ``k`` the generator uses. Each beat is mapped to noise once, however many pairs it is in."""
    from diffsci.samplers.interpolate import decode, encode, slerp
    if np.any(y[i] != y[j]):
        raise ValueError("pf_ode_interpolations pairs beats of one class only (y[i] != y[j] somewhere)")
    if len(i) == 0:
        return x[:0].copy()
    used = np.unique(np.concatenate([i, j]))
    z = torch.zeros((len(x), *fold(x[:1], k).shape[1:]))
    with torch.no_grad():
        for lo in range(0, len(used), batch):
            idx = used[lo:lo + batch]
            xb = torch.as_tensor(fold(x[idx], k), dtype=torch.float32, device=device)
            z[idx] = encode(denoiser, xb, steps=steps, cond=Cond(label=torch.as_tensor(y[idx], device=device))).cpu()
        out = []
        for lo in range(0, len(i), batch):
            ii, jj = i[lo:lo + batch], j[lo:lo + batch]
            zt = slerp(z[ii], z[jj], torch.as_tensor(t[lo:lo + batch], dtype=torch.float32)).to(device)
            out.append(decode(denoiser, zt, steps=steps, cond=Cond(label=torch.as_tensor(y[ii], device=device))).cpu())
    return unfold(torch.cat(out), k).numpy().astype(np.float32)


def run(args: argparse.Namespace) -> dict:
    """MIT-BIH beat classification from 5 % labels, with and without class-conditional synthetic beats."""
    set_threads()
    t_start = time.perf_counter()
    quick = bool(args.quick)
    q = QUICK if quick else {}
    n_syn = args.synthetic_per_class or q.get("synthetic_per_class", SYNTHETIC_PER_CLASS)
    seeds = args.seeds or q.get("seeds", 5)
    epochs = args.epochs or q.get("epochs", 30)
    max_test = args.max_test if args.max_test is not None else q.get("max_test")
    device = resolve_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    root = ecg_root(args.data) / "mitdb"
    report = Report("biosignal", "augmentation", data=str(root), device=str(device), quick=quick)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    over: dict = {"train": {"steps": args.train_steps}} if args.train_steps else {}
    semi = args.generator_data == "all"
    if semi:
        over["model"] = {"num_classes": len(CLASSES) + 1}                 # + an "unlabelled" class
    if args.plain_windows:
        over["data"] = {"params": {"rhythm_ref_s": None}}
    share_tag = (f"_share{args.labelled_share:g}" if semi else
                 f"_th{args.pseudo_threshold:g}" if args.generator_data == "pseudo" else "")
    split_tag = "" if args.split == "test" else f"_{args.split}"
    models = Path(args.models) if args.models else out / "models"
    cfg = in_run_folder(experiment("augmentation", quick=quick, seed=args.seed, out_dir=models,
                                   quick_overrides=q.get("model"), overrides=over), models,
                        f"generator_{int(round(100 * args.fraction))}pct_{args.generator_data}{share_tag}{split_tag}",
                        f"_seed{args.seed}")
    p = cfg.data.params
    kw = {"fs": p.get("fs", 120.0), "before_s": p.get("before_s", 1.6), "after_s": p.get("after_s", 1.6),
          "rhythm_ref_s": p.get("rhythm_ref_s")}
    k = int(p.get("fold", 8))
    train_recs, test_recs = harness_split(root, args.split)
    train = load_beats(root, train_recs, **kw)
    train = train.subset(train.label < len(CLASSES))                      # drop Q
    test = load_beats(root, test_recs, **kw)
    test = test.subset(test.label < len(CLASSES))
    test = test.subset(subsample_beats(test.label, max_test and int(0.8 * max_test),
                                       max_test and int(0.2 * max_test)))
    lab_idx = stratified_subset(train.label, args.fraction, rng)
    lab = train.subset(lab_idx)
    counts = _class_counts(lab.label)
    say(f"labelled {len(lab)} of {len(train)} training beats {counts}; test {len(test)} beats")

    rest = np.setdiff1d(np.arange(len(train)), lab_idx)
    gen_counts, pseudo, external = counts, None, None
    if semi:
        gx, gy = semi_supervised_set(lab.x, lab.label, train.x[rest], unlabelled=len(CLASSES),
                                     share=args.labelled_share)
    elif args.generator_data == "pseudo":
        keep, plab = pseudo_label(lab.x, lab.label, train.x[rest], len(CLASSES), threshold=args.pseudo_threshold,
                                  seed=args.seed * 100, epochs=epochs)
        true = train.label[rest[keep]]
        pseudo = {"threshold": args.pseudo_threshold, "n": int(len(keep)), "of": int(len(rest)),
                  "counts": _class_counts(plab),
                  # diagnostic only (the training records' own labels; nothing is chosen by it)
                  "precision": {c: (float(np.mean(true[plab == i] == i)) if np.any(plab == i) else None)
                                for i, c in enumerate(CLASSES)}}
        say(f"pseudo-labelled {len(keep)} of {len(rest)} unlabelled training beats (softmax >= "
            f"{args.pseudo_threshold:g}): {pseudo['counts']}")
        gx, gy = np.concatenate([lab.x, train.x[rest[keep]]]), np.concatenate([lab.label, plab])
        gen_counts = _class_counts(gy)
    elif args.generator_data == "external":
        ext_root = ecg_root(args.data) / "qtdb"
        ext = external_beats(ext_root, train_recs + test_recs, **kw)
        external = {"data": str(ext_root), "records": list(EXTERNAL_QTDB_RECORDS), "n": len(ext),
                    "counts": _class_counts(ext.label)}
        say(f"public beats of other patients for the generator: {len(ext)} from {len(EXTERNAL_QTDB_RECORDS)} QTDB "
            f"excerpts {external['counts']}")
        gx, gy = np.concatenate([lab.x, ext.x]), np.concatenate([lab.label, ext.label])
        gen_counts = _class_counts(gy)
    else:
        gx, gy = lab.x, lab.label
    den, info = train_or_load(cfg, ArrayDataset(fold(gx, k), label=gy, source=str(root)),
                              checkpoint=args.checkpoint, device=str(device), progress=not args.no_progress)
    scale = args.guidance if args.guidance is not None else cfg.sampling.guidance_scale
    steps = args.steps or q.get("steps") or cfg.sampling.steps
    synth_classes = [i for i, c in enumerate(CLASSES) if gen_counts[c] >= args.min_labelled]
    if not synth_classes:
        raise ValueError(f"no class has --min-labelled {args.min_labelled} beats in the generator's training set "
                         f"({gen_counts}); lower it")
    say(f"synthetic beats for {', '.join(CLASSES[i] for i in synth_classes)} (>= {args.min_labelled} in the "
        "generator's training set)")
    labels = np.repeat(np.asarray(synth_classes), n_syn)
    t0 = time.perf_counter()
    cfg_den = ClassifierFreeGuidance(den, scale)
    syn = sample(cfg_den, (len(labels), k, lab.x.shape[-1] // k), cond=Cond(label=torch.as_tensor(labels)),
                 steps=steps, sampler=cfg.sampling.sampler, sigma_min=cfg.sampling.sigma_min,
                 sigma_max=cfg.sampling.sigma_max, generator=gen, batch=args.batch, device=device)
    syn = unfold(syn[:, 0], k).numpy().astype(np.float32)                 # (n, 1, L)
    gen_seconds = time.perf_counter() - t0
    say(f"generated {len(syn)} synthetic beats in {gen_seconds:.0f} s (guidance {scale}, {steps} steps)")

    variants = {"real_5pct": (lab.x, lab.label, None),
                "real_5pct_jitter": (lab.x, lab.label, jitter),
                "real_5pct_plus_diffusion": (np.concatenate([lab.x, syn]), np.concatenate([lab.label, labels]), None)}
    if args.sdedit_sigma > 0:
        t0 = time.perf_counter()
        src_x, var_y = np.repeat(lab.x, SDEDIT_COPIES, 0), np.repeat(lab.label, SDEDIT_COPIES)
        var_x = sdedit_variations(cfg_den, src_x, var_y, sigma=args.sdedit_sigma, k=k, generator=gen,
                                  batch=args.batch, device=device)
        sdedit_seconds = time.perf_counter() - t0
        rms = float(np.sqrt(np.mean((var_x - src_x) ** 2)))
        say(f"{len(var_x)} SDEdit variations (sigma {args.sdedit_sigma}) in {sdedit_seconds:.0f} s, rms change "
            f"{rms:.3f} mV")
        both = (np.concatenate([lab.x, var_x]), np.concatenate([lab.label, var_y]))
        variants["real_5pct_plus_sdedit"] = (*both, None)
        variants["real_5pct_jitter_plus_sdedit"] = (*both, jitter)
    interp = None
    if args.interpolations > 0:
        t0 = time.perf_counter()
        prng = np.random.default_rng([args.seed, 1])           # its own stream: the other variants are unchanged
        pi, pj = class_pairs(lab.label, args.interpolations, prng)
        tt = prng.uniform(*INTERP_T, size=len(pi)).astype(np.float32)
        int_x = pf_ode_interpolations(den, lab.x, lab.label, pi, pj, tt, k=k, batch=args.batch, device=device)
        mix_x = ((1 - tt)[:, None, None] * lab.x[pi] + tt[:, None, None] * lab.x[pj]).astype(np.float32)
        interp = {"per_beat": args.interpolations, "n": int(len(pi)), "t": list(INTERP_T), "steps": INTERP_STEPS,
                  "seconds": round(time.perf_counter() - t0, 1),
                  # how far the generator's path strays from the straight line between the two beats
                  "rms_from_mixup_mv": float(np.sqrt(np.mean((int_x - mix_x) ** 2)))}
        say(f"{len(pi)} PF-ODE interpolations in {interp['seconds']:.0f} s, rms from the linear mix "
            f"{interp['rms_from_mixup_mv']:.3f} mV")
        pair_y = lab.label[pi]
        variants["real_5pct_plus_interp"] = (np.concatenate([lab.x, int_x]), np.concatenate([lab.label, pair_y]),
                                             None)
        variants["real_5pct_plus_mixup"] = (np.concatenate([lab.x, mix_x]), np.concatenate([lab.label, pair_y]),
                                            None)
    variants["diffusion_only"] = (syn, labels, None)
    if pseudo is not None:
        variants["real_5pct_plus_pseudo"] = (gx, gy, None)
    if external is not None:
        variants["real_5pct_plus_external"] = (gx, gy, None)
    if not args.no_reference:
        variants["real_100pct"] = (train.x, train.label, None)
    cls = list(range(len(CLASSES)))
    summary = {}
    for name, (x, y, aug) in variants.items():
        vals: dict[str, list[float]] = {}
        t0 = time.perf_counter()
        # the full training set gets fewer epochs: about the same number of optimiser steps as the others
        # (so do the 5 % plus the pseudo-labelled beats, and the 5 % plus the public beats)
        ep = max(2, int(epochs * len(lab.x) * 2 / len(x))) \
            if name in ("real_100pct", "real_5pct_plus_pseudo", "real_5pct_plus_external") \
            else epochs
        for s in range(seeds):
            net = train_classifier(x, y, len(CLASSES), seed=args.seed * 100 + s, epochs=ep, augment=aug)
            pred = predict(net, test.x)
            vals.setdefault("macro_f1", []).append(macro_f1(test.label, pred, cls))
            vals.setdefault("accuracy", []).append(float(np.mean(pred == test.label)))
            for c, r in per_class_recall(test.label, pred, cls).items():
                vals.setdefault(f"recall_{CLASSES[c]}", []).append(r)
        for metric, v in vals.items():
            report.add(name, f"{int(round(100 * args.fraction))}pct", metric, v)
        summary[name] = {m: float(np.mean(v)) for m, v in vals.items()}
        summary[name]["seconds"] = round(time.perf_counter() - t0, 1)
        say(f"{name}: macro-F1 {summary[name]['macro_f1']:.3f}")

    groups = {}                                          # one row per class: real, synthetic, SDEdit
    for i, c in enumerate(CLASSES):
        groups[f"real {c}"] = lab.x[lab.label == i][:6]
        groups[f"synthetic {c}"] = syn[labels == i][:6] if i in synth_classes else None
        if args.sdedit_sigma > 0:
            groups[f"SDEdit {c}"] = var_x[var_y == i][:6] if np.any(var_y == i) else None
    plot_beats_by_class(out / "augmentation_beats.png", lab.fs, groups, ncols=3 if args.sdedit_sigma > 0 else 2,
                        title=f"5 % labelled real beats, class-conditional samples and SDEdit variations (CFG {scale})",
                        xlabel=(f"s, rhythm-normalised (usual RR = {kw['rhythm_ref_s']:g} s)" if kw["rhythm_ref_s"]
                                else "s"))
    report.figures.append("augmentation_beats.png")
    report.extra.update({"labelled_counts": counts, "n_labelled": len(lab), "n_train_beats": len(train),
                         "test_counts": _class_counts(test.label),
                         "split": args.split, "train_records": train_recs, "test_records": test_recs, "generator": info,
                         "guidance_scale": scale, "sampler_steps": steps, "synthetic_per_class": n_syn,
                         "generation_seconds": round(gen_seconds, 1), "rhythm_ref_s": kw["rhythm_ref_s"],
                         "synthetic_classes": [CLASSES[i] for i in synth_classes], "min_labelled": args.min_labelled,
                         "sdedit_sigma": args.sdedit_sigma,
                         "sdedit_copies": SDEDIT_COPIES if args.sdedit_sigma > 0 else 0, "classifier_seeds": seeds,
                         "classifier_epochs": epochs, "summary": summary, "generator_data": args.generator_data,
                         "labelled_share": args.labelled_share if semi else None, "pseudo_labels": pseudo,
                         "generator_counts": gen_counts, "external": external, "interpolations": interp,
                         "wall_seconds": round(time.perf_counter() - t_start, 1)})
    report.notes += [
        ("The generator is trained on the labelled 5 % only (no other beat, no other label), so every "
         "variant but real_100pct sees the same labelled information." if args.generator_data == "labelled" else
         "Semi-supervised generator: the labelled 5 % with their labels (repeated to make "
         f"{100 * args.labelled_share:g} % of its training set) plus the other training beats as an 'unlabelled' "
         "class (no label information); the classifiers still see only the labelled 5 %." if semi else
         f"External generator: the labelled 5 % plus {external['n']} labelled beats of other patients from a public "
         f"database (QTDB excerpts of MIT-BIH DS2 and SVDB records, {external['counts']}); "
         "real_5pct_plus_external is the classifier trained on those public beats themselves, the baseline the "
         "synthetic beats must be read against." if external is not None else
         f"Pseudo-labelled generator: the labelled 5 % plus the {pseudo['n']} other training beats that a classifier "
         f"of the 5 % labels with softmax >= {args.pseudo_threshold:g} ({pseudo['counts']}); real_5pct_plus_pseudo is "
         "the classifier trained on those real beats themselves (self-training), the baseline the synthetic beats "
         "must be read against."),
        "Classifier: a 3-layer 1D CNN (pooling that keeps positions) with class-balanced cross-entropy; std over "
        "classifier seeds.",
        "Inter-patient: train and test records are disjoint (DS1 split by record); Q beats dropped (8 in DS1).",
        ("Windows: rhythm-normalised (the beat's usual RR mapped to "
         f"{kw['rhythm_ref_s']:g} s outside the QRS), for the generator and every classifier alike."
         if kw["rhythm_ref_s"] else "Windows: plain +-1.6 s around the R peak."),
        f"Synthetic beats only for {', '.join(CLASSES[i] for i in synth_classes)} (>= {args.min_labelled} "
        "beats in the generator's training set); the SDEdit variants edit every labelled beat under its own label.",
    ] + (["--quick: a small generator trained briefly, one seed, a test subset; not the benchmark result."]
         if quick else [])
    return report.write(out)
