"""``diffsci evaluate mri reconstruction``: undersampled k-space, zero-filled vs CS vs diffusion posterior sampling.

Single-coil (settings ``4x``, ``8x``): held-out 2-D slices (magnitude images of the test slab, never
seen in training) are Fourier transformed and undersampled with fastMRI's random column masks (one
mask per volume, as fastMRI draws one per file; 4x with centre fraction 0.08, 8x with 0.04).
Multi-coil (``4x_multicoil``, ``8x_multicoil``): the raw 8-coil k-space ``full.cfl`` (BART) with the
same kind of masks (several draws), SENSE maps by ESPIRiT from the central 24x24 k-space (a calibration
pre-scan), the ground truth the magnitude of the ESPIRiT combination of the fully sampled coil images
(fastMRI's ``reconstruction_esc`` convention; the RSS image would add background noise that no SENSE
reconstruction reproduces: a fully sampled SENSE image scores only 33 dB against it).

Methods: ``zero_filled`` (|inverse FFT of the zero-filled k-space|, SENSE-combined multi-coil), ``cs_tv`` and
``cs_wavelet`` (PDHG, :mod:`diffsci_mri.baselines.cs`, lambda tuned on training slices only),
``diffusion_dc`` (data consistency on the denoised estimate, Euler sampler by default) and
``diffusion_dps`` (Chung et al. 2023), both from the engine (:mod:`diffsci.guidance`), started from the
zero-filled image noised to ``--sigma-start`` (:data:`DEFAULT_SIGMA_START`, inside the prior's training
noise range) and reported as the mean of ``--shots`` posterior samples (their std is the uncertainty map).
``--init cs_tv`` starts them from the CS-TV reconstruction instead (Chung et al. 2022 start from any
initial estimate; a better one allows a lower start sigma); its seconds then include the CS-TV solve.
Metrics: fastMRI's NMSE, PSNR and SSIM per slice with the data range of the slice's volume, the
number of denoiser evaluations (nfe) and wall seconds per slice.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from diffsci.config import load_config
from diffsci.diffusion import get_schedule
from diffsci.guidance import data_consistency, dps, method_nfe, multishot, reduce_shots
from diffsci.report import Report
from diffsci.utils import config_dir, data_root, resolve_device

from ..baselines.cs import cs_reconstruct
from ..datasets import MRIDataConfig, slice_dataset
from ..forward import multi_coil, single_coil
from ..io import read_cfl
from ..forward import noise_std_from_corners
from ..kspace import CENTER_FRACTIONS, absorb_phase, cartesian_mask, espirit_maps, ifft2c, sense_combine
from ..metrics import psnr, slice_metrics
from .common import PaddedDenoiser, Timer, stable_seed, unet_multiple
from .figures import reconstruction_figure
from .prior import load_prior, quick_config, train_prior
from .tuning import tune as tune_grid

__all__ = ["run_reconstruction", "add_args", "DEFAULT_CONFIG"]

DEFAULT_CONFIG = config_dir() / "mri_reconstruction.yaml"
METHODS = ("zero_filled", "cs_tv", "cs_wavelet", "diffusion_dc", "diffusion_dps")
#: Starting estimates of the diffusion methods (``--init``).
INITS = ("zero_filled", "cs_tv", "noise")
#: First sigma of the diffusion methods when they start from the zero-filled image. It must lie in the
#: bulk of the prior's training noise levels (ln sigma ~ N(P_mean, P_std^2)): sigma_max = 10 sits 2.7
#: standard deviations out and a briefly trained prior denoises there worse than predicting zero.
DEFAULT_SIGMA_START = 1.0
#: Training steps of the --quick prior (a 16/32/64 UNet on 32 x 32 crops; ~3 it/s on one free core).
QUICK_TRAIN_STEPS = 500


def add_args(p: argparse.ArgumentParser) -> None:
    """Options of the reconstruction harness (``Domain.add_harness_args``)."""
    g = p.add_argument_group("mri reconstruction")
    g.add_argument("--prior", default=None, help="trained prior (run folder); default: train one first")
    g.add_argument("--no-progress", action="store_true", help="no training progress bar")
    g.add_argument("--config", default=str(DEFAULT_CONFIG), help="experiment YAML of the prior and the data")
    g.add_argument("--train-steps", type=int, default=None, help="override the prior's training steps")
    g.add_argument("--accelerations", type=int, nargs="+", default=[4, 8])
    g.add_argument("--mask", choices=("random", "equispaced"), default="random")
    g.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    g.add_argument("--steps", type=int, default=None,
                   help="diffusion_dc sampler steps (default 20, quick 10; NFE per sample: see --dc-sampler)")
    g.add_argument("--dc-sampler", default="euler", choices=("euler", "heun", "stochastic"),
                   help="engine sampler that integrates the data-consistent denoiser (euler: N NFE, heun and "
                        "stochastic: 2N-1)")
    g.add_argument("--dps-steps", type=int, default=None, help="diffusion_dps steps = NFE per sample (default 25, quick 10)")
    g.add_argument("--dps-step-size", type=float, default=None,
                   help="DPS zeta' (default: tuned on training slices; quick: 1.0)")
    g.add_argument("--max-slices", type=int, default=None, help="at most this many test slices per volume")
    g.add_argument("--shots", type=int, default=None,
                   help="posterior samples per slice: their mean is the reconstruction (MMSE), their std the "
                        "uncertainty map; NFE per slice = shots x NFE per sample (default 4, quick 2)")
    g.add_argument("--multicoil", default="auto",
                   help="BART k-space (.cfl) of the multi-coil setting; 'auto': DATA/full.cfl; 'none': skip")
    g.add_argument("--cs-iters", type=int, default=None, help="PDHG iterations (default 300, quick 100)")
    g.add_argument("--batch", type=int, default=16, help="slices per diffusion batch")
    g.add_argument("--mc-masks", type=int, default=None, help="mask draws of the multi-coil setting (3, quick 1)")
    g.add_argument("--init", choices=INITS, default="zero_filled",
                   help="diffusion start: the zero-filled image noised to --sigma-start (default; Chung et al. "
                        "2022, come-closer-diffuse-faster), the CS-TV reconstruction noised to --sigma-start "
                        "(needs cs_tv among --methods: its lambda is tuned on training slices), or pure noise")
    g.add_argument("--sigma-start", type=float, default=None,
                   help="first sigma of the diffusion schedules (default: 1.0 with --init zero_filled, else "
                        "the config's sigma_max)")


def _quick_defaults(args) -> dict:
    q = args.quick
    return {"steps": args.steps or (10 if q else 20), "dps_steps": args.dps_steps or (10 if q else 25),
            "max_slices": args.max_slices or (1 if q else None), "shots": args.shots or (2 if q else 4),
            "cs_iters": args.cs_iters or (100 if q else 300), "tune_slices": 2 if q else 8,
            "lambda_grid": [1e-3, 3e-3] if q else [3e-4, 1e-3, 2e-3, 4e-3, 8e-3],
            "dps_grid": [1.0] if q else [0.3, 1.0, 3.0], "mc_masks": args.mc_masks or (1 if q else 3), "cg_iters": 10 if q else 30}


# ---------------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------------
def _volumes(ds, index, max_slices: int | None) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Group test slices by volume: path -> ((n, H, W) images, slice indices)."""
    groups: dict[str, list[int]] = {}
    for row, (path, _) in enumerate(index):
        groups.setdefault(path, []).append(row)
    out = {}
    for path, rows in groups.items():
        if max_slices:
            pick = np.linspace(0, len(rows) - 1, min(max_slices, len(rows))).round().astype(int)
            rows = [rows[i] for i in pick]
        out[path] = (ds.x[rows, 0].numpy(), [index[r][1] for r in rows])
    return out


def _training_slices(cfg: MRIDataConfig, n: int) -> np.ndarray:
    """``n`` whole training slices (no flips, no crops) for tuning, spread over the training slices whose
    brain area is at least the median (the test slab lies mid-brain; edge slices are mostly background)."""
    ds = slice_dataset(cfg.model_copy(update={"crop": None, "flip": False}), "train")
    area = (ds.x[:, 0] > 0.02).float().mean(dim=(1, 2)).numpy()
    rows = np.flatnonzero(area >= np.median(area))
    pick = rows[np.linspace(0, len(rows) - 1, min(n, len(rows))).round().astype(int)]
    return ds.x[pick, 0].numpy()


# ---------------------------------------------------------------------------------------------------
# methods
# ---------------------------------------------------------------------------------------------------
@dataclass
class Problem:
    """One batch of measurements and the operators each method uses.

    ``A`` (real images) serves the diffusion samplers and, single-coil, CS; ``A_cs`` the CS baseline
    (multi-coil: complex images, the standard SENSE-CS); ``zero_filled`` the zero-filled image.
    Every method's output is compared as a magnitude image ``|x|``.
    """

    A: object
    y: torch.Tensor
    A_cs: object
    constraint: str
    zero_filled: torch.Tensor
    shape: tuple


def _cs(A, y, lam, sparsity, iters, constraint="nonneg"):
    return cs_reconstruct(A, y, lam, sparsity=sparsity, constraint=constraint, iters=iters).x


def _diffusion(method: str, denoiser, A, y, shape, sigmas, gen, *, dps_step: float, shots: int = 1,
               init: torch.Tensor | None = None, sampler: str = "euler"):
    """Posterior mean over ``shots`` samples (and the std map), by the engine's samplers.

    ``init`` (B, 1, H, W): start from ``init + sigmas[0] * noise`` instead of pure noise, i.e. enter
    the reverse diffusion at sigmas[0] < sigma_max from an estimate (Chung et al. 2022, "Come-closer-
    diffuse-faster"); otherwise x_T ~ N(0, sigma_max^2 I).
    """
    fn = data_consistency if method == "dc" else dps
    kw = {"sampler": sampler} if method == "dc" else {"step_size": dps_step}
    if init is None:
        res = multishot(fn, denoiser, shape, sigmas, operator=A, measurement=y, shots=shots, generator=gen, **kw)
        return res.mean.detach(), res.std.detach()
    x0 = init.repeat_interleave(shots, dim=0)
    noise = torch.randn(x0.shape, generator=gen, dtype=x0.dtype).to(x0.device)
    out = fn(denoiser, x0 + sigmas[0] * noise, sigmas, operator=A, measurement=y.repeat_interleave(shots, dim=0),
             generator=gen, **kw)
    res = reduce_shots(out.detach(), shots)
    return res.mean, res.std


# ---------------------------------------------------------------------------------------------------
# the harness
# ---------------------------------------------------------------------------------------------------
def run_reconstruction(args: argparse.Namespace) -> dict:
    """Reconstruct held-out MRI slices at 4x and 8x (single- and multi-coil) and write the report."""
    q = _quick_defaults(args)
    if getattr(args, "init", None) == "cs_tv" and "cs_tv" not in args.methods:
        raise ValueError("--init cs_tv starts the diffusion methods from the CS-TV reconstruction: add cs_tv to "
                         f"--methods (its lambda is tuned on training slices); got --methods {' '.join(args.methods)}")
    # the methods run in this order: the CS-TV image exists before a diffusion method starts from it
    args.methods = [m for m in METHODS if m in args.methods]
    dev = resolve_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    base = load_config(args.config)
    data = MRIDataConfig.model_validate(base.data.params)
    if args.data:
        data = data.model_copy(update={"root": args.data})
    report = Report("mri", "reconstruction", data=str(data.resolved_root()), device=str(dev), quick=args.quick)

    # --- the prior: load, or train on the training slab --------------------------------------------
    diffusion_methods = [m for m in args.methods if m.startswith("diffusion")]
    denoiser = None
    if diffusion_methods:
        if args.prior:
            denoiser, pcfg = load_prior(args.prior, dev)
            report.notes.append(f"prior loaded from {args.prior}")
        else:
            pcfg = quick_config(base, out_dir=str(out / "prior"), steps=QUICK_TRAIN_STEPS) if args.quick else base
            if args.train_steps:
                pcfg = pcfg.model_copy(update={"train": pcfg.train.model_copy(update={"steps": args.train_steps})})
            crop = pcfg.data.params.get("crop")
            tdata = data.model_copy(update={"crop": tuple(crop) if crop else None, "crops_per_slice":
                                            pcfg.data.params.get("crops_per_slice", data.crops_per_slice)})
            res = train_prior(pcfg, out / "prior", data=tdata, device=str(dev),
                              progress=not getattr(args, "no_progress", False))
            denoiser, pcfg = load_prior(res.run_dir, dev)
            report.notes.append(f"prior trained here: {res.step} steps in {res.seconds:.0f} s ({out / 'prior'})")
        report.extra["prior"] = {"model": pcfg.model.model_dump(mode="json"),
                                 "diffusion": pcfg.diffusion.model_dump(mode="json"),
                                 "train_steps": pcfg.train.steps, "crop": pcfg.data.params.get("crop")}
        denoiser = PaddedDenoiser(denoiser, unet_multiple(pcfg))
        sampling = pcfg.sampling
    else:
        sampling = base.sampling
    schedule = get_schedule(sampling.schedule)
    s_max = args.sigma_start or (sampling.sigma_max if args.init == "noise" else DEFAULT_SIGMA_START)
    sig_dc = schedule(q["steps"], sampling.sigma_min, s_max, dtype=torch.float32, device=dev)
    sig_dps = schedule(q["dps_steps"], sampling.sigma_min, s_max, dtype=torch.float32, device=dev)
    report.extra["diffusion"] = {"init": args.init, "sigma_max": s_max, "sigma_min": sampling.sigma_min,
                                 "schedule": sampling.schedule, "dc_sampler": args.dc_sampler,
                                 "dc_steps": q["steps"], "dps_steps": q["dps_steps"], "shots": q["shots"],
                                 "estimate": f"mean of {q['shots']} posterior samples"}
    # NFE per slice: every posterior sample costs the sampler's NFE
    nfe = {"zero_filled": 0, "cs_tv": 0, "cs_wavelet": 0,
           "diffusion_dc": q["shots"] * method_nfe("dc", q["steps"], args.dc_sampler),
           "diffusion_dps": q["shots"] * method_nfe("dps", q["dps_steps"])}
    report.extra["nfe"] = nfe

    # --- data: test slices by volume, training slices for tuning ------------------------------------
    test_ds, index = slice_dataset(data.model_copy(update={"crop": None}), "test", return_index=True)
    volumes = _volumes(test_ds, index, q["max_slices"])
    tune = _training_slices(data, q["tune_slices"])
    report.extra["test_slices"] = {Path(p).name: idx for p, (_, idx) in volumes.items()}
    report.extra["tuning_slices"] = int(len(tune))

    tuned = _tune(args, q, tune, denoiser, sig_dps, dev)
    report.extra["tuned"] = tuned

    for R in args.accelerations:
        _single_coil_setting(args, q, R, volumes, denoiser, sig_dc, sig_dps, tuned, nfe, report, out, dev)
    mc_path = _multicoil_path(args)
    if mc_path is not None:
        for R in args.accelerations:
            _multicoil_setting(args, q, R, mc_path, denoiser, sig_dc, sig_dps, tuned, nfe, report, out, dev)
    report.notes += [
        "single-coil k-space is simulated from magnitude slices (real images): CS and diffusion both "
        "reconstruct real images (CS: non-negative), zero-filled is |F^-1 M y| as in fastMRI",
        "metrics per slice, data range = max of the slice's ground-truth volume (fastMRI evaluate.py: "
        "PSNR/SSIM data_range = volume max, SSIM 7x7 window); rows n = number of test slices",
        f"lambda of CS and DPS step size tuned on {len(tune)} training slices only (never test slices); "
        "the multi-coil CS uses the single-coil lambda of its acceleration",
    ] + ([f"--init cs_tv: the diffusion methods start from the CS-TV image noised to sigma {s_max:g}; their "
          "seconds per slice include the CS-TV solve"] if args.init == "cs_tv" else [])
    return report.write(out)


def _tune(args, q, tune: np.ndarray, denoiser, sig_dps, dev) -> dict:
    """Lambda of each CS method and DPS's step size per acceleration, by PSNR on training slices."""
    tuned: dict = {}
    x = torch.from_numpy(tune)[:, None].to(dev)
    maxval = float(tune.max())
    for R in args.accelerations:
        mask = cartesian_mask(args.mask, x.shape[-1], R, CENTER_FRACTIONS.get(R), seed=stable_seed("tune", R))
        A = single_coil(mask).to(dev)
        y = A(x)
        for method, sparsity in (("cs_tv", "tv"), ("cs_wavelet", "wavelet")):
            if method not in args.methods:
                continue
            best, scores = tune_grid(q["lambda_grid"], lambda lam, sparsity=sparsity: psnr(
                tune, _cs(A, y, lam, sparsity, q["cs_iters"])[:, 0].cpu().numpy(), maxval))
            tuned[f"{method}_{R}x"] = {"lambda": best, "train_psnr": scores}
        if "diffusion_dps" in args.methods and denoiser is not None:
            if args.dps_step_size is not None or len(q["dps_grid"]) == 1:
                tuned[f"dps_{R}x"] = {"step_size": args.dps_step_size or q["dps_grid"][0], "train_psnr": {}}
            else:
                if args.init == "cs_tv":               # the start of --init cs_tv, with the lambda just tuned
                    init = _cs(A, y, tuned[f"cs_tv_{R}x"]["lambda"], "tv", q["cs_iters"]).abs()
                else:
                    init = None if args.init == "noise" else A.pinv(y).clamp_min(0)

                def dps_score(z):
                    g = torch.Generator(device="cpu").manual_seed(stable_seed("dps-tune", R))
                    est, _ = _diffusion("dps", denoiser, A, y, x.shape, sig_dps, g, dps_step=z, init=init)
                    return psnr(tune, est.detach().clamp_min(0)[:, 0].cpu().numpy(), maxval)
                best, scores = tune_grid(q["dps_grid"], dps_score)
                tuned[f"dps_{R}x"] = {"step_size": best, "train_psnr": scores}
    return tuned


def _init(args, prob: Problem, outs: dict | None = None) -> torch.Tensor | None:
    """The starting estimate of the diffusion methods (``--init``): None (noise), the zero-filled
    least-squares image ``A^+ y`` (real, non-negative), or the CS-TV magnitude image already in ``outs``."""
    init = getattr(args, "init", "noise")
    if init == "noise":
        return None
    if init == "cs_tv":
        if outs is None or "cs_tv" not in outs:
            raise ValueError("--init cs_tv: the CS-TV reconstruction must run before the diffusion methods")
        return outs["cs_tv"].float().reshape(prob.shape)
    return prob.A.pinv(prob.y).clamp_min(0).reshape(prob.shape)


def _run_methods(args, q, R, prob: Problem, denoiser, sig_dc, sig_dps, tuned, gen, timer, stds=None) -> dict:
    """Every method on one batch; returns method -> magnitude image (B, 1, H, W).

    Diffusion methods return the mean of ``q["shots"]`` posterior samples; their per-pixel std goes
    into ``stds`` (method -> (B, 1, H, W)) when a dict is given."""
    outs = {}
    for m in args.methods:
        t0 = timer.seconds.get(m, 0.0)
        with timer(m):
            if m == "zero_filled":
                outs[m] = prob.zero_filled
            elif m in ("cs_tv", "cs_wavelet"):
                lam = tuned[f"{m}_{R}x"]["lambda"]
                outs[m] = _cs(prob.A_cs, prob.y, lam,
                              "tv" if m == "cs_tv" else "wavelet", q["cs_iters"], prob.constraint).abs()
            elif denoiser is not None:
                kind = "dc" if m == "diffusion_dc" else "dps"
                step = tuned.get(f"dps_{R}x", {}).get("step_size", 1.0)
                with torch.no_grad() if kind == "dc" else torch.enable_grad():
                    init = _init(args, prob, outs)
                    est, sd = _diffusion(kind, denoiser, prob.A, prob.y, prob.shape,
                                         sig_dc if kind == "dc" else sig_dps, gen, dps_step=step, init=init,
                                         shots=q["shots"], sampler=args.dc_sampler)
                outs[m] = est.clamp_min(0)                   # magnitude images are non-negative
                if stds is not None:
                    stds[m] = sd
        if m == "cs_tv":
            cs_seconds = timer.seconds[m] - t0
    if getattr(args, "init", None) == "cs_tv":               # a start from CS-TV costs its solve too
        for m in outs:
            if m.startswith("diffusion"):
                timer.seconds[m] += cs_seconds
    return outs


def _single_coil_setting(args, q, R, volumes, denoiser, sig_dc, sig_dps, tuned, nfe, report, out, dev):
    setting = f"{R}x"
    per_metric: dict[str, dict[str, list]] = {}
    timer = Timer()
    n_total = 0
    for v, (path, (imgs, idx)) in enumerate(volumes.items()):
        vol_max = 1.0                            # the preprocessed volume is scaled to [0, 1] (clipped)
        mask = cartesian_mask(args.mask, imgs.shape[-1], R, CENTER_FRACTIONS.get(R),
                              seed=stable_seed(Path(path).name, R, args.seed))
        A = single_coil(mask).to(dev)
        gen = torch.Generator(device="cpu").manual_seed(stable_seed("sample", path, R, args.seed))
        for lo in range(0, len(imgs), args.batch):
            x = torch.from_numpy(imgs[lo:lo + args.batch])[:, None].to(dev)
            y = A(x)
            prob = Problem(A, y, A, "nonneg", ifft2c(y).abs(), tuple(x.shape))
            stds: dict = {}
            outs = _run_methods(args, q, R, prob, denoiser, sig_dc, sig_dps, tuned, gen, timer, stds)
            gt = x[:, 0].cpu().numpy()
            _collect(per_metric, gt, outs, vol_max)
            n_total += x.shape[0]
            if v == 0 and lo == 0:
                _figure(args, q, gt[0], outs, stds, report, out,
                        f"{setting}: {Path(path).name} slice {idx[0]}", f"reconstruction_{setting}.png")
    _add_rows(report, setting, per_metric, timer, n_total, nfe)


def _collect(per_metric, gt: np.ndarray, outs: dict, maxval: float) -> None:
    for m, est in outs.items():
        ms = slice_metrics(gt, est[:, 0].cpu().numpy(), maxval)
        for k, v in ms.items():
            per_metric.setdefault(m, {}).setdefault(k, []).extend(v.tolist())


def _multicoil_path(args) -> Path | None:
    if args.multicoil == "none":
        return None
    p = Path(args.multicoil) if args.multicoil != "auto" else data_root("mri") / "full.cfl"
    if not p.exists():
        if args.multicoil == "auto":
            return None
        raise FileNotFoundError(f"{p}: no such multi-coil k-space file")
    return p


def load_multicoil(path: Path) -> np.ndarray:
    """The BART k-space as (coils, H, W) complex64 (the ESPIRiT demo: 1 x 230 x 180 x 8 -> 8 x 230 x 180)."""
    k = read_cfl(path)
    if k.ndim == 4 and k.shape[0] == 1:
        k = k[0]
    if k.ndim != 3:
        raise ValueError(f"{path}: expected BART dims (1,) H x W x coils, got {k.shape}")
    return np.ascontiguousarray(np.moveaxis(k, -1, 0))


def _multicoil_setting(args, q, R, path, denoiser, sig_dc, sig_dps, tuned, nfe, report, out, dev):
    """SENSE: CS on complex images, diffusion on real images in phase-absorbed maps; target |ESPIRiT combination|."""
    setting = f"{R}x_multicoil"
    k = load_multicoil(path)
    calib = min(24, *k.shape[-2:])
    maps = espirit_maps(k, calib_width=calib)
    maps_real = absorb_phase(maps, k, calib_width=calib)
    full = np.abs(sense_combine(ifft2c(k), maps))
    timer = Timer()
    per_metric: dict[str, dict[str, list]] = {}
    accels = []
    for draw in range(q["mc_masks"]):
        mask = cartesian_mask(args.mask, k.shape[-1], R, CENTER_FRACTIONS.get(R),
                              seed=stable_seed(path.name, R, args.seed, draw))
        accels.append(float(mask.size / mask.sum()))
        ku = k * mask[None, None, :]
        zf = np.abs(sense_combine(ifft2c(ku), maps))
        # scale so that the zero-filled image's 99.5th percentile is 1 (measured data only): the
        # intensity range of the prior's training data
        scale = 1.0 / float(np.percentile(zf, 99.5))
        sigma_y = noise_std_from_corners(ku * scale)
        A = multi_coil(maps_real, mask, sigma_y=sigma_y).to(dev)
        A.cg_iters = q["cg_iters"]
        A_cs = multi_coil(maps, mask, complex_input=True).to(dev)
        y = torch.from_numpy((ku * scale).astype(np.complex64))[None, None].to(dev)
        zf_t = torch.from_numpy((zf * scale).astype(np.float32))[None, None].to(dev)
        prob = Problem(A, y, A_cs, "complex", zf_t, (1, 1) + k.shape[-2:])
        gen = torch.Generator(device="cpu").manual_seed(stable_seed("sample", path.name, R, args.seed, draw))
        stds: dict = {}
        outs = _run_methods(args, q, R, prob, denoiser, sig_dc, sig_dps, tuned, gen, timer, stds)
        gt = (full * scale)[None]
        _collect(per_metric, gt, outs, float(gt.max()))
        if draw == 0 and R == args.accelerations[0]:
            _figure(args, q, gt[0], outs, stds, report, out,
                    f"{setting}: {path.name} (|ESPIRiT combination|)", f"reconstruction_{setting}.png")
    _add_rows(report, setting, per_metric, timer, q["mc_masks"], nfe)
    report.extra.setdefault("multicoil", {})[setting] = {
        "file": str(path), "coils": int(k.shape[0]), "shape": list(k.shape[-2:]), "mask_draws": q["mc_masks"],
        "achieved_acceleration": accels,
        "target": "|sum_c conj(S_c) x_c| of the fully sampled coil images (ESPIRiT maps), fastMRI's 'esc'",
        "maps": f"ESPIRiT (SigPy) from the central {calib}x{calib} k-space (a calibration pre-scan)",
        "cs": "complex images", "diffusion": "real images in maps carrying the calibration image's phase, "
                                             "noise-aware data consistency (sigma_y from the k-space edges)"}


def _add_rows(report, setting, per_metric, timer, n, nfe):
    for m, ms in per_metric.items():
        for k, v in ms.items():
            report.add(m, setting, k, v)
        report.add_row(m, setting, "nfe", nfe[m], 0.0, n)
        report.add_row(m, setting, "seconds_per_slice", timer.seconds.get(m, math.nan) / max(n, 1), None, n)


def _figure(args, q, gt: np.ndarray, outs, stds, report, out, title, name):
    """The figure of one slice: every method, |error| maps, and the std of the DC posterior samples."""
    std = None
    if q["shots"] > 1:
        sd = stds.get("diffusion_dc", stds.get("diffusion_dps"))
        std = None if sd is None else sd[0, 0].cpu().numpy()
    recons, mets = {}, {}
    for m, est in outs.items():
        img = est[0, 0].cpu().numpy()
        recons[m] = img
        ms = slice_metrics(gt[None], img[None], float(gt.max()))
        mets[m] = {"psnr": float(ms["psnr"][0]), "ssim": float(ms["ssim"][0])}
    reconstruction_figure(out / name, gt, recons, std, title=title, metrics=mets)
    report.figures.append(name)
