"""``diffsci evaluate mri anomaly``: anomaly maps from a diffusion prior trained on healthy images.

Two settings (report rows ``setting``):

- ``ixi_synthetic``: the prior of healthy IXI slices (the reconstruction prior; trained on the training
  slab). Every held-out test slice appears twice: as it is (normal) and with one MOOD-style synthetic
  anomaly (:mod:`diffsci_mri.anomalies`: intensity-shifted ellipse, local noise, local deformation)
  whose mask is the ground truth. Per-kind rows ``ixi_<kind>`` give the sample AUROC of each kind.
- ``brats``: a 4-channel prior (FLAIR, T1w, T1gd, T2w) trained on tumour-free 32x32 tiles of the
  axial slices of the lower part of the BraTS case; tested on the upper slices (a gap of ``gap``
  slices between): sample-level on test tiles with tumour (>= 10 % of the tile) against tumour-free
  test tiles, pixel-level on the whole test slices against the expert whole-tumour labels.

Maps: the engine's :func:`diffsci.anomaly.reconstruction_maps` (noise to sigma*, denoise, squared
residual; averaged over sigma* and repeats), smoothed (Gaussian, 1.5 px), restricted to the brain and
summed over channels. Sample score: the 99th percentile of the map inside the brain (small anomalies
raise the tail, not the mean). Metrics (engine :mod:`diffsci.metrics`): sample AUROC, AP, FPR at 95 %
TPR; pixel AUROC, pixel AP and the best Dice over thresholds on the pooled brain pixels. The maps,
images and masks are written as NIfTI with the affine of the preprocessed volume (IXI) or the 1 mm
BraTS grid.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from diffsci.anomaly import reconstruction_maps, smooth_map
from diffsci.config import load_config
from diffsci.data import ArrayDataset
from diffsci.metrics import detection_metrics, segmentation_metrics
from diffsci.report import Report
from diffsci.utils import config_dir, data_root, resolve_device

from ..anomalies import ANOMALY_KINDS, add_anomaly
from ..brats import assemble_brats, tiles
from ..datasets import MRIDataConfig, load_volume, slice_dataset
from ..io import write_nifti
from .common import PaddedDenoiser, Timer, stable_seed, unet_multiple
from .figures import anomaly_figure
from .prior import load_prior, quick_config, train_prior
from .reconstruction import DEFAULT_CONFIG

__all__ = ["run_anomaly", "add_args", "anomaly_maps", "sample_scores", "flair_maps", "BRATS_CONFIG"]

BRATS_CONFIG = config_dir() / "mri_anomaly.yaml"


def add_args(p: argparse.ArgumentParser) -> None:
    """Options of the anomaly harness (``Domain.add_harness_args``)."""
    g = p.add_argument_group("mri anomaly")
    g.add_argument("--prior", default=None, help="healthy IXI prior (run folder); default: train one")
    g.add_argument("--brats-prior", default=None, help="BraTS tile prior (run folder); default: train one")
    g.add_argument("--no-progress", action="store_true", help="no training progress bar")
    g.add_argument("--config", default=str(DEFAULT_CONFIG), help="experiment YAML of the IXI prior")
    g.add_argument("--brats-config", default=str(BRATS_CONFIG), help="experiment YAML of the BraTS prior")
    g.add_argument("--brats", default="auto", help="BraTS patch folder ('auto': DATA/brats_patches; 'none')")
    g.add_argument("--settings", nargs="+", default=["ixi_synthetic", "brats"], choices=("ixi_synthetic", "brats"))
    g.add_argument("--train-steps", type=int, default=None, help="override both priors' training steps")
    g.add_argument("--sigmas", type=float, nargs="+", default=[0.05, 0.1, 0.2], help="noise levels sigma*")
    g.add_argument("--repeats", type=int, default=None, help="noise draws per sigma* (default 4, quick 1)")
    g.add_argument("--smooth", type=float, default=1.5, help="Gaussian smoothing of the maps (pixels)")
    g.add_argument("--max-slices", type=int, default=None, help="IXI test slices per volume (quick: 3)")
    g.add_argument("--gap", type=int, default=3, help="BraTS slices between training and test")


# ---------------------------------------------------------------------------------------------------
def anomaly_maps(denoiser, x: torch.Tensor, brain: torch.Tensor, *, sigmas, repeats: int, smooth: float,
                 generator: torch.Generator, batch: int = 16) -> tuple[np.ndarray, int]:
    """Smoothed residual maps summed over channels, zero outside ``brain``: (B, H, W), and the NFE per image."""
    maps, nfe = [], 0
    for lo in range(0, x.shape[0], batch):
        r = reconstruction_maps(denoiser, x[lo:lo + batch], sigmas=sigmas, repeats=repeats, method="onestep",
                                generator=generator)
        m = r.map.sum(1, keepdim=True)
        if smooth > 0:
            m = smooth_map(m, smooth)
        maps.append(m[:, 0].cpu().numpy() * brain[lo:lo + batch].cpu().numpy())
        nfe = r.nfe
    return np.concatenate(maps), nfe


def sample_scores(maps: np.ndarray, brain: np.ndarray, q: float = 99.0) -> np.ndarray:
    """The ``q``-th percentile of each map over its brain pixels (0 for an empty brain).

    >>> m = np.zeros((1, 10, 10)); m[0, 0, :] = 1.0; b = np.ones((1, 10, 10), bool)
    >>> sample_scores(m, b, 95.0).tolist()
    [1.0]
    """
    return np.array([np.percentile(m[b], q) if b.any() else 0.0 for m, b in zip(maps, brain)])


def _prior(path, cfg_path, out_dir, quick, train_steps, data, dev, report, what, datasets=None, progress=False):
    """Load a prior, or train one (on ``datasets`` (train, val) if given, else on ``data``)."""
    if path:
        den, cfg = load_prior(path, dev)
        report.notes.append(f"{what} prior loaded from {path}")
    else:
        base = load_config(cfg_path)
        cfg = quick_config(base, out_dir=str(out_dir), crop=(32, 32)) if quick else base
        if train_steps:
            cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"steps": train_steps})})
        if datasets is not None:
            from diffsci.train import train
            res = train(cfg, dataset=datasets[0], val_dataset=datasets[1], device=str(dev), progress=progress,
                        out_dir=out_dir)
        else:
            params = data.model_copy(update={k: tuple(v) if isinstance(v, list) else v
                                             for k, v in cfg.data.params.items() if k in ("crop", "crops_per_slice")})
            res = train_prior(cfg, out_dir, data=params, device=str(dev), progress=progress)
        den, cfg = load_prior(res.run_dir, dev)
        report.notes.append(f"{what} prior trained here: {res.step} steps in {res.seconds:.0f} s ({out_dir})")
    report.extra.setdefault("priors", {})[what] = {"model": cfg.model.model_dump(mode="json"),
                                                   "train_steps": cfg.train.steps}
    return PaddedDenoiser(den, unet_multiple(cfg))


def _add_metrics(report, setting, scores, labels, maps=None, masks=None, n_maps=None, method="diffusion_recon"):
    det = detection_metrics(scores, labels)
    n = int(len(labels))
    report.add_row(method, setting, "sample_auroc", det["auroc"], None, n)
    report.add_row(method, setting, "sample_ap", det["ap"], None, n)
    report.add_row(method, setting, "fpr95", det["fpr95"], None, n)
    if maps is not None:
        seg = segmentation_metrics(maps, masks)
        report.add_row(method, setting, "pixel_auroc", seg["pixel_auroc"], None, n_maps)
        report.add_row(method, setting, "pixel_ap", seg["pixel_ap"], None, n_maps)
        report.add_row(method, setting, "best_dice", seg["best_dice"], None, n_maps)
        return seg
    return None


def flair_maps(x: np.ndarray, brain: np.ndarray, smooth: float) -> np.ndarray:
    """The intensity baseline of Meissen et al. 2021 ("Challenging current semi-supervised anomaly segmentation
    methods for brain MRI"): the FLAIR image itself (channel 0, scaled as the prior's input), smoothed like the
    diffusion maps, zero outside ``brain``. (B, C, H, W) -> (B, H, W). Gliomas are FLAIR-hyperintense, so this
    map needs no model; it is the bar an unsupervised map of BraTS has to clear.

    >>> x = np.zeros((1, 4, 8, 8)); x[0, 0, 2:4, 2:4] = 1.0
    >>> m = flair_maps(x, np.ones((1, 8, 8), bool), 0.0)
    >>> float(m.sum()), float(m[0, 2, 2])
    (4.0, 1.0)
    """
    m = np.asarray(x, np.float64)[:, :1]
    if smooth > 0:
        m = smooth_map(m, smooth)
    return m[:, 0] * brain


def run_anomaly(args: argparse.Namespace) -> dict:
    """Synthetic anomalies in held-out IXI slices and BraTS tumours: sample AUROC/AP, pixel AP, best Dice."""
    dev = resolve_device(args.device)
    out = Path(args.out)
    (out / "maps").mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    root = Path(args.data) if args.data else data_root("mri")
    report = Report("mri", "anomaly", data=str(root), device=str(dev), quick=args.quick)
    repeats = args.repeats or (1 if args.quick else 4)
    report.extra["maps"] = {"method": "onestep", "sigmas": args.sigmas, "repeats": repeats, "smooth_px": args.smooth,
                            "sample_score": "99th percentile of the map in the brain"}
    timer = Timer()
    if "ixi_synthetic" in args.settings:
        with timer("ixi"):
            _ixi(args, root, dev, repeats, report, out)
    brats = None if args.brats == "none" else (Path(args.brats) if args.brats != "auto" else root / "brats_patches")
    if "brats" in args.settings and brats is not None:
        if brats.exists():
            with timer("brats"):
                _brats(args, brats, dev, repeats, report, out)
        elif args.brats != "auto":
            raise FileNotFoundError(f"{brats}: no such BraTS patch folder")
        else:
            report.notes.append(f"{brats} not found: the BraTS setting was skipped")
    report.extra["seconds_per_setting"] = timer.seconds
    return report.write(out)


def _ixi(args, root: Path, dev, repeats: int, report: Report, out: Path) -> None:
    base = load_config(args.config)
    data = MRIDataConfig.model_validate(base.data.params)
    if args.data:
        data = data.model_copy(update={"root": str(root)})
    den = _prior(args.prior, args.config, out / "prior_ixi", args.quick, args.train_steps, data, dev, report, "ixi",
                 progress=not getattr(args, "no_progress", False))
    test, index = slice_dataset(data.model_copy(update={"crop": None}), "test", return_index=True)
    max_slices = args.max_slices or (3 if args.quick else None)
    rows: dict[str, list[int]] = {}
    for r, (p, _) in enumerate(index):
        rows.setdefault(p, []).append(r)
    if max_slices:
        rows = {p: [rs[i] for i in np.linspace(0, len(rs) - 1, min(max_slices, len(rs))).round().astype(int)]
                for p, rs in rows.items()}
    order = [r for rs in rows.values() for r in rs]
    normal = test.x[order, 0].numpy()
    rng = np.random.default_rng(stable_seed("ixi-anomalies", args.seed))
    kinds = [ANOMALY_KINDS[i % len(ANOMALY_KINDS)] for i in range(len(order))]
    anomalies = [add_anomaly(img, k, rng, radius=(4.0, 12.0)) for img, k in zip(normal, kinds)]
    images = np.concatenate([normal, np.stack([a.image for a in anomalies])])
    masks = np.concatenate([np.zeros_like(normal, bool), np.stack([a.mask for a in anomalies])])
    brain = images > 0.02
    brain |= masks
    gen = torch.Generator().manual_seed(stable_seed("ixi-maps", args.seed))
    x = torch.from_numpy(images)[:, None].to(dev)
    maps, nfe = anomaly_maps(den, x, torch.from_numpy(brain), sigmas=args.sigmas, repeats=repeats,
                             smooth=args.smooth, generator=gen)
    scores = sample_scores(maps, brain)
    labels = np.r_[np.zeros(len(normal)), np.ones(len(anomalies))]
    seg = _add_metrics(report, "ixi_synthetic", scores, labels, maps[len(normal):], masks[len(normal):],
                       len(anomalies))
    report.add_row("diffusion_recon", "ixi_synthetic", "nfe", nfe, 0.0, len(images))
    for k in ANOMALY_KINDS:
        sel = np.r_[np.ones(len(normal), bool), np.array([kk == k for kk in kinds])]
        if sel[len(normal):].any():
            _add_metrics(report, f"ixi_{k}", scores[sel], labels[sel],
                         maps[sel][labels[sel] == 1], masks[sel][labels[sel] == 1], int(sel[len(normal):].sum()))
    # NIfTI: per volume, the test slices' maps, anomalous images and masks in the preprocessed volume's grid
    row_of = {r: i for i, r in enumerate(order)}
    for p, rs in rows.items():
        vol = load_volume(p, data.model_copy(update={"crop": None}))
        shape = tuple(vol.shape[1:])
        meta = {"affine": np.asarray(vol.affine, dtype=np.float64)}
        planes = {"map": np.zeros(shape, np.float32), "image": np.zeros(shape, np.float32),
                  "mask": np.zeros(shape, np.float32)}
        for r in rs:
            i, z = row_of[r] + len(normal), index[r][1]
            planes["map"][..., z], planes["image"][..., z], planes["mask"][..., z] = maps[i], images[i], masks[i]
        stem = Path(p).name.replace(".nii.gz", "").replace(".nii", "")
        for key, arr in planes.items():
            write_nifti(out / "maps" / f"{stem}_synthetic_{key}.nii.gz", arr[None], meta)
    pick = [len(normal) + i for i in range(min(len(anomalies), 3))] + [0]
    anomaly_figure(out / "anomaly_ixi.png", [images[i] for i in pick], [maps[i] for i in pick],
                   [masks[i] for i in pick], [kinds[i - len(normal)] if i >= len(normal) else "normal" for i in pick],
                   title=f"IXI synthetic anomalies (AUROC {report.get('diffusion_recon', 'ixi_synthetic', 'sample_auroc')['mean']:.3f}, "
                         f"pixel AP {seg['pixel_ap']:.3f})")
    report.figures.append("anomaly_ixi.png")
    report.extra["ixi"] = {"normal": int(len(normal)), "anomalous": int(len(anomalies)),
                           "kinds": {k: kinds.count(k) for k in ANOMALY_KINDS}}


def brats_split(vol, gap: int) -> tuple[range, range]:
    """Training slices (the lower 40 % of the covered axial slices) and test slices (the rest after ``gap``)."""
    z0, z1 = vol.z_range
    split = z0 + (z1 - z0 + 1) * 2 // 5
    return range(z0, split), range(split + gap, z1 + 1)


def brats_tile_datasets(vol, train_z: range, seed: int = 0) -> tuple[ArrayDataset, ArrayDataset]:
    """Tumour-free 32x32 tiles of ``train_z`` (and their mirror images), 5 % held out for validation."""
    tr = tiles(vol, train_z)
    healthy = tr["x"][tr["clean"]]
    if len(healthy) < 8:
        raise ValueError(f"only {len(healthy)} tumour-free tiles in slices {train_z.start}-{train_z.stop - 1}")
    healthy = np.concatenate([healthy, healthy[..., ::-1, :]])         # left-right mirror
    n_val = max(4, len(healthy) // 20)
    perm = np.random.default_rng(stable_seed("brats-split", seed)).permutation(len(healthy))
    return (ArrayDataset(np.ascontiguousarray(healthy[perm[n_val:]]), source="brats tiles"),
            ArrayDataset(np.ascontiguousarray(healthy[perm[:n_val]]), source="brats tiles"))


def _brats(args, folder: Path, dev, repeats: int, report: Report, out: Path) -> None:
    vol = assemble_brats(folder)
    train_z, test_z = brats_split(vol, args.gap)
    if args.quick:
        test_z = test_z[:: max(1, len(test_z) // 4)][:4]
    datasets = brats_tile_datasets(vol, train_z, args.seed)
    healthy_n = len(datasets[0]) + len(datasets[1])
    den = _prior(args.brats_prior, args.brats_config, out / "prior_brats", args.quick, args.train_steps, None, dev,
                 report, "brats", datasets=datasets, progress=not getattr(args, "no_progress", False))
    gen = torch.Generator().manual_seed(stable_seed("brats-maps", args.seed))
    # sample level: test tiles with >= 10 % tumour vs tumour-free test tiles
    te = tiles(vol, test_z)
    pos, neg = te["tumour_frac"] >= 0.10, te["clean"]
    sel = pos | neg
    xt = torch.from_numpy(te["x"][sel]).to(dev)
    brain_t = torch.from_numpy(np.ones((int(sel.sum()),) + xt.shape[-2:], bool))
    tmaps, nfe = anomaly_maps(den, xt, brain_t, sigmas=args.sigmas, repeats=repeats, smooth=args.smooth,
                              generator=gen)
    tscores = sample_scores(tmaps, brain_t.numpy())
    _add_metrics(report, "brats", tscores, pos[sel].astype(float))
    report.add_row("diffusion_recon", "brats", "nfe", nfe, 0.0, int(sel.sum()))
    _add_metrics(report, "brats", sample_scores(flair_maps(te["x"][sel], brain_t.numpy(), args.smooth),
                                                brain_t.numpy()), pos[sel].astype(float), method="flair_intensity")
    # pixel level: whole test slices (the covered part), against the whole-tumour labels
    zs = list(test_z)
    xs = torch.from_numpy(np.moveaxis(vol.image[..., zs], -1, 0).copy()).to(dev)       # (S, 4, X, Y)
    brain = np.moveaxis(vol.brain[..., zs], -1, 0)
    maps, _ = anomaly_maps(den, xs, torch.from_numpy(brain), sigmas=args.sigmas, repeats=repeats,
                           smooth=args.smooth, generator=gen, batch=4)
    labels = np.moveaxis(vol.tumour[..., zs], -1, 0)
    seg = segmentation_metrics(maps[brain], labels[brain])
    report.add_row("diffusion_recon", "brats", "pixel_auroc", seg["pixel_auroc"], None, len(zs))
    report.add_row("diffusion_recon", "brats", "pixel_ap", seg["pixel_ap"], None, len(zs))
    report.add_row("diffusion_recon", "brats", "best_dice", seg["best_dice"], None, len(zs))
    fseg = segmentation_metrics(flair_maps(xs.cpu().numpy(), brain, args.smooth)[brain], labels[brain])
    for k in ("pixel_auroc", "pixel_ap", "best_dice"):
        report.add_row("flair_intensity", "brats", k, fseg[k], None, len(zs))
    report.add_row("chance", "brats", "pixel_ap", float(labels[brain].mean()), None, len(zs))
    # NIfTI in the 1 mm BraTS grid (identity affine: the patches carry no header)
    full = np.zeros(vol.tumour.shape, np.float32)
    full[..., zs] = np.moveaxis(maps, 0, -1)
    meta = {"affine": np.eye(4)}
    write_nifti(out / "maps" / "brats_map.nii.gz", full[None], meta)
    write_nifti(out / "maps" / "brats_tumour.nii.gz", vol.tumour[None].astype(np.float32), meta)
    write_nifti(out / "maps" / "brats_flair.nii.gz", vol.image[:1], meta)
    k = np.argsort([-labels[i].sum() for i in range(len(zs))])[: min(3, len(zs))]
    anomaly_figure(out / "anomaly_brats.png", [xs[i, 0].cpu().numpy() for i in k], [maps[i] for i in k],
                   [labels[i] for i in k], [f"FLAIR z={zs[i]}" for i in k],
                   title=f"BraTS (pixel AP {seg['pixel_ap']:.3f}, best Dice {seg['best_dice']:.3f})")
    report.figures.append("anomaly_brats.png")
    report.extra["brats"] = {"train_slices": [train_z.start, train_z.stop - 1], "test_slices": zs,
                             "healthy_tiles": int(healthy_n), "test_tiles_tumour": int(pos.sum()),
                             "test_tiles_clean": int(neg.sum()), "tumour_prevalence_in_brain": float(labels[brain].mean()),
                             "channel_scale_p99.5": vol.scale.tolist()}
    report.notes += ["BraTS: every covered axial slice holds tumour, so the healthy prior is trained on tumour-"
                     "free 32x32 tiles (>= 4 px from any label) of the lower slices; the row "
                     "chance/pixel_ap is the AP of a random map (the tumour prevalence in the brain)",
                     "flair_intensity: the FLAIR image itself as the map (Meissen et al. 2021), no model: gliomas "
                     "are FLAIR-hyperintense, so it is the bar a learned map of BraTS has to clear"]
