"""``diffsci evaluate microstructure sample``: generated volumes written to files, at a target porosity and any size.

    diffsci evaluate microstructure sample --checkpoint runs/micro --size 128 --n 4 --porosity 0.2 --out synth/

writes synth/sample_000.tif ... (pore masks in the training volume's coding, 0 = pore / 255 = grain unless the
training file said otherwise, with its voxel size), synth/report.json and report.md (each volume's porosity,
specific surface and Euler density against the asked porosity) and synth/samples.png (mid-slices). Volumes larger
than the training patches are denoised in overlapping tiles at every step (tiling.py). The defaults are the
settings that did best on Berea (docs/benchmarks.md, Microstructure): the stochastic sampler, 80 steps, churn 80
with gamma 1, tiles of the patch size with overlap 0.25 and a random grid shift at every network call.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

__all__ = ["add_sample_args", "run_sample"]

FORMATS = (".tif", ".zip", ".raw", ".h5", ".npy", ".nii.gz")


def add_sample_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", default=None, help="trained prior (run folder or checkpoint); required")
    p.add_argument("--weights", choices=("ema", "raw"), default="ema", help="EMA weights (default) or the raw ones")
    p.add_argument("--n", type=int, default=2, help="volumes to draw (default 2)")
    p.add_argument("--size", default=None,
                   help="side of the volumes, or a shape such as 256,256,128 (default: the training patch)")
    p.add_argument("--porosity", type=float, default=None,
                   help="target porosity for a porosity-conditioned prior (default: unconditional)")
    p.add_argument("--specific-surface", type=float, default=None,
                   help="target specific surface per voxel, for a prior trained on [porosity, specific_surface]")
    p.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance scale (default 1)")
    p.add_argument("--steps", type=int, default=80, help="sampler steps (default 80)")
    p.add_argument("--sampler", default="stochastic", help="engine sampler (default stochastic)")
    p.add_argument("--s-churn", type=float, default=80.0, help="stochastic sampler: EDM's S_churn (default 80)")
    p.add_argument("--s-gamma-max", type=float, default=1.0, help="stochastic sampler: cap on gamma (default 1)")
    p.add_argument("--tile", type=int, default=None,
                   help="tile side (default: the training patch); 0: the whole volume in one network call")
    p.add_argument("--overlap", type=float, default=0.25, help="tile overlap fraction (default 0.25)")
    p.add_argument("--shift", choices=("none", "random"), default="random",
                   help="move the tile grid by a random offset at every network call (default random)")
    p.add_argument("--format", default=".tif", help=f"file format of the volumes: {', '.join(FORMATS)} (default .tif)")
    p.add_argument("--voxel-size", type=float, default=None,
                   help="metres, written into the files (default: the training file's, when known)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _shape(size, patch: int, ndim: int) -> tuple[int, ...]:
    if size is None:
        return (patch,) * ndim
    try:
        parts = [int(s) for s in str(size).split(",")]
    except ValueError:
        raise ValueError(f"--size {size}: give a side (128) or one side per axis (128,128,64)") from None
    shape = tuple(parts) * ndim if len(parts) == 1 else tuple(parts)
    if len(shape) != ndim or min(shape) < 1:
        raise ValueError(f"--size {size}: the prior is {ndim}D, give one side or {ndim} positive sides")
    return shape


def _training_coding(cfg) -> dict:
    """The training volume's coding and voxel size, from its file when it can be read; else 0/255 and none."""
    from .data import MicrostructureData, load_pore_volume
    try:
        params = MicrostructureData.model_validate(cfg.data.params)
        if params.source == "file":
            _, meta = load_pore_volume(params)
            return {k: meta[k] for k in ("dtype", "pore_value", "solid_value", "voxel_size") if k in meta}
    except (OSError, ValueError):
        pass                                  # the training file is elsewhere: write the default coding
    return {}


def run_sample(args) -> dict:
    """Draw ``--n`` volumes from a trained prior and write them, with a report of their morphology."""
    from diffsci.report import Report
    from diffsci.train import load_denoiser
    from diffsci.utils import resolve_device

    from .evaluation import describe
    from .figures import slices_figure
    from .generation import field_conditioned, generate_volumes
    from .io import encode_binary, write_volume

    if args.checkpoint is None:
        raise ValueError("--checkpoint is required: a prior trained with `diffsci train --config "
                         "configs/microstructure_berea.yaml` (or any microstructure config)")
    fmt = "." + args.format.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"--format {args.format}: choose one of {', '.join(FORMATS)}")
    if args.n < 1 or args.steps < 1:
        raise ValueError("--n and --steps must be >= 1")
    if args.porosity is not None and not 0 < args.porosity < 1:
        raise ValueError(f"--porosity {args.porosity}: a porosity lies in (0, 1)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(args.device)
    denoiser, cfg = load_denoiser(args.checkpoint, device=device, ema=args.weights != "raw")
    if cfg.data.domain != "microstructure":
        raise ValueError(f"{args.checkpoint}: a prior of the '{cfg.data.domain}' domain, not microstructure")
    ndim, patch = cfg.model.spatial_dims, int(cfg.data.params.get("patch_size", 32))
    shape = _shape(args.size, patch, ndim)
    tile = None if args.tile == 0 else (args.tile or patch)
    if field_conditioned(denoiser) and args.porosity is None:
        raise ValueError("this prior reads its porosity as a voxel-wise field and has no unconditional mode: "
                         "give --porosity")
    sampler_kw = {"s_churn": args.s_churn, "s_gamma_max": args.s_gamma_max} if args.sampler == "stochastic" else {}
    t = time.perf_counter()
    vols = generate_volumes(denoiser, args.n, shape, porosity=args.porosity, specific_surface=args.specific_surface,
                            guidance=args.guidance, tile=tile, overlap=args.overlap, shift=args.shift,
                            sampler=args.sampler, steps=args.steps, seed=args.seed, device=device,
                            sampler_kw=sampler_kw, progress=None if args.no_progress else "sample")
    seconds = time.perf_counter() - t
    coding = _training_coding(cfg)
    voxel = args.voxel_size or coding.get("voxel_size")
    files = []
    for i, v in enumerate(vols):
        name = f"sample_{i:03d}{fmt}"
        write_volume(out / name, encode_binary(v, coding)[None], {"voxel_size": voxel} if voxel else {})
        files.append(name)

    setting = "x".join(map(str, shape))
    report = Report("microstructure", "sample", data=str(args.checkpoint), device=str(device), quick=False,
                    command=getattr(args, "command", None))
    st = describe(vols, with_permeability=False, with_distributions=False)
    for k in ("porosity", "specific_surface", "euler"):
        report.add("diffusion", setting, k, st.values[k])
    if args.porosity is not None:
        report.add("diffusion", setting, "control_error", np.abs(st.values["porosity"] - args.porosity))
    slices_figure(out / "samples.png", {"diffusion": vols}, title=f"{args.n} samples, {setting}")
    report.figures.append("samples.png")
    report.extra.update(volumes=files, coding=coding, voxel_size_m=voxel, seconds_sampling=round(seconds, 1),
                        settings={"shape": list(shape), "tile": tile, "overlap": args.overlap, "shift": args.shift,
                                  "sampler": args.sampler, "steps": args.steps, "sampler_kw": sampler_kw,
                                  "porosity": args.porosity, "specific_surface": args.specific_surface,
                                  "guidance": args.guidance, "weights": args.weights})
    report.notes.append(f"volumes: {', '.join(files)} (pore masks, pore = {coding.get('pore_value', 0)}); "
                        "control_error = |asked - achieved porosity| per volume, uncalibrated (the generation "
                        "harness fits the calibration line, control.py)")
    return report.write(out)
