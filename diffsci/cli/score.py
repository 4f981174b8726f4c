"""``diffsci score``: anomaly scores (and maps) of files under a trained prior.

    diffsci score --checkpoint RUN --input scans/ --out scores/ --method recon --reference normals/

reads every file of --input (a file or a folder) with the reader of the model's domain (cfg.data.domain),
scores each sample by ``nll`` (-log p in bits/dim, probability-flow ODE), ``elbo`` (its variational upper
bound, cheaper) or ``recon`` (noise-and-denoise residual, with a map), and writes

  OUT/scores.csv, OUT/scores.json   one row per sample (file, index, score, stderr[, p_value, percentile])
  OUT/maps/<name>_map<suffix>       recon maps shaped like the input, through the domain's writer for the
                                    input's format (so NIfTI keeps its affine); .npy when it has none
  OUT/maps/<name>_zmap<suffix>      with --reference: maps z-scored against the normal data's maps

--reference FILE|DIR scores normal data the same way: each score gets a conformal p-value and a percentile.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch

from . import add_device_arg

METHODS = ("nll", "elbo", "recon")


def register(sub) -> None:
    p = sub.add_parser("score", help="anomaly scores (NLL, ELBO, reconstruction) and maps of files",
                       description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="run folder, checkpoint folder or export of a trained prior")
    p.add_argument("--input", required=True, help="a file or a folder of files in a format of the model's domain")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--method", choices=METHODS, default="nll", help="nll (default), elbo or recon")
    p.add_argument("--reference", default=None, help="normal data (file or folder) to calibrate against")
    p.add_argument("--steps", type=int, default=None,
                   help="nll: RK4 steps (default 16); elbo: sigma strata (default 32); recon: ode/sde grid (8)")
    p.add_argument("--divergence", choices=("auto", "exact", "hutchinson"), default="auto",
                   help="nll: exact divergence for up to 256 values per sample, else Hutchinson (auto)")
    p.add_argument("--probes", type=int, default=4, help="nll: Hutchinson probes per evaluation (default 4)")
    p.add_argument("--repeats", type=int, default=4, help="elbo / recon: noise draws (default 4)")
    p.add_argument("--sigmas", default="0.1,0.2,0.4", help="recon: noise levels sigma*, comma separated")
    p.add_argument("--recon-method", choices=("onestep", "ode", "sde"), default="onestep",
                   help="recon: one denoiser step, PF-ODE or reverse SDE from sigma* (default onestep)")
    p.add_argument("--smooth", type=float, default=0.0, help="recon: Gaussian smoothing of maps, in pixels")
    p.add_argument("--sigma-min", type=float, default=None, help="nll / elbo: default the config's sampling")
    p.add_argument("--sigma-max", type=float, default=None, help="nll / elbo: default the config's sampling")
    p.add_argument("--batch-size", type=int, default=8, help="samples per model call (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-ema", action="store_true", help="use the raw weights instead of the EMA weights")
    add_device_arg(p)
    p.set_defaults(func=run)


# --- reading -------------------------------------------------------------------------------------
def _suffix_of(path: Path, table: dict) -> str | None:
    name = path.name.lower()
    for s in sorted(table, key=len, reverse=True):
        if name.endswith(s.lower()):
            return s
    return None


def list_inputs(path: Path, readers: dict) -> list[Path]:
    """The file itself, or the files of a folder that a reader of the domain accepts (sorted)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and _suffix_of(p, readers) is not None)
    if not files:
        raise ValueError(f"{path}: no readable files (the domain reads {', '.join(sorted(readers)) or 'nothing'})")
    return files


def load_samples(path: Path, domain, cfg, checkpoint: str) -> tuple[np.ndarray, dict, bool]:
    """(samples (N, C, *spatial) float32, meta, batched) of one file, checked against the model."""
    loaded = domain.read(path)
    arr = np.asarray(loaded.array)
    sd, ch = cfg.model.spatial_dims, cfg.model.in_channels
    if arr.ndim == sd + 1:
        batched, x = False, arr[None]
    elif arr.ndim == sd + 2:
        batched, x = True, arr
    else:
        raise ValueError(f"{path}: array of shape {arr.shape} does not fit checkpoint {checkpoint}, which was "
                         f"trained with spatial_dims={sd} and in_channels={ch}: expected (C, *spatial) of rank "
                         f"{sd + 1} or (N, C, *spatial) of rank {sd + 2}")
    if x.shape[1] != ch:
        raise ValueError(f"{path}: {x.shape[1]} channels (shape {arr.shape}), but checkpoint {checkpoint} was "
                         f"trained with in_channels={ch} (spatial_dims={sd})")
    if np.iscomplexobj(x):
        raise ValueError(f"{path}: complex data; the model scores real arrays")
    from ..utils import check_finite
    check_finite(x, str(path))                       # "PATH: NaN in sample i"
    return x.astype(np.float32), dict(loaded.meta), batched


# --- scoring -------------------------------------------------------------------------------------
def _score_batches(denoiser, x: np.ndarray, args, cfg, device,
                   generator) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(scores (N,), stderr (N,), maps (N, C, *spatial) or None) in batches of --batch-size."""
    from ..anomaly import score_samples, smooth_map
    d = int(np.prod(x.shape[1:]))
    smp = cfg.sampling
    kw: dict = {"generator": generator}
    if args.method in ("nll", "elbo"):
        kw.update(sigma_min=args.sigma_min or smp.sigma_min, sigma_max=args.sigma_max or smp.sigma_max)
    if args.method == "nll":
        div = args.divergence if args.divergence != "auto" else ("exact" if d <= 256 else "hutchinson")
        kw.update(divergence=div, probes=args.probes, steps=args.steps or 16)
    elif args.method == "elbo":
        kw.update(steps=args.steps or 32, repeats=args.repeats)
    else:
        sigmas = [float(s) for s in str(args.sigmas).split(",") if s.strip()]
        kw.update(sigmas=sigmas, repeats=args.repeats, method=args.recon_method, steps=args.steps or 8)
    scores, errs, maps = [], [], []
    for i0 in range(0, len(x), args.batch_size):
        xb = torch.from_numpy(x[i0:i0 + args.batch_size]).to(device)
        r = score_samples(denoiser, xb, args.method, **kw)
        scores.append(r.score.cpu().numpy())
        errs.append(r.stderr.cpu().numpy() if r.stderr is not None else np.zeros(len(xb)))
        if r.map is not None:
            m = r.map.cpu().numpy()
            maps.append(smooth_map(m, args.smooth) if args.smooth > 0 else m)
    return np.concatenate(scores), np.concatenate(errs), (np.concatenate(maps) if maps else None)


def _write_map(domain, out_dir: Path, src: Path, suffix: str, tag: str, m: np.ndarray, meta: dict,
               batched: bool) -> Path:
    """Write a map shaped like the input through the domain's writer for its format (else .npy)."""
    name = src.name[: len(src.name) - len(suffix)] if src.name.lower().endswith(suffix.lower()) else src.stem
    arr = m.astype(np.float32) if batched else m[0].astype(np.float32)
    if _suffix_of(src, domain.writers) == suffix:
        path = out_dir / f"{name}_{tag}{suffix}"
        domain.write(path, arr, meta)
    else:
        from ..io import save_array
        path = save_array(out_dir / f"{name}_{tag}.npy", arr)
    return path


def run(args) -> int:
    from ..anomaly import Calibrator, MapNormalizer
    from ..domains import get_domain
    from ..train import load_denoiser
    from ..utils import resolve_device
    t0 = time.perf_counter()
    for name in ("batch_size", "repeats", "probes"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    device = resolve_device(args.device)
    denoiser, cfg = load_denoiser(args.checkpoint, device=device, ema=not args.no_ema)
    if cfg.model.cond_channels or cfg.model.num_scalars:
        raise ValueError(f"checkpoint {args.checkpoint} needs conditioning inputs (cond_channels="
                         f"{cfg.model.cond_channels}, num_scalars={cfg.model.num_scalars}); diffsci score "
                         "scores unconditional (or class-conditional, unlabelled) priors")
    domain = get_domain(cfg.data.domain)
    out = Path(args.out)
    (out / "maps").mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(args.seed)

    def score_path(path: Path):
        x, meta, batched = load_samples(path, domain, cfg, args.checkpoint)
        with torch.no_grad():
            scores, errs, maps = _score_batches(denoiser, x, args, cfg, device, gen)
        bad = np.flatnonzero(~np.isfinite(scores))
        if bad.size:
            raise RuntimeError(f"{path}: the {args.method} score of sample {int(bad[0])} is not finite "
                               f"({scores[bad[0]]}); the model's output or Jacobian overflowed there")
        return x, meta, batched, scores, errs, maps

    results = [(p, *score_path(p)) for p in list_inputs(Path(args.input), domain.readers)]

    calib = normalizer = None
    ref_info = None
    if args.reference:
        ref_files = list_inputs(Path(args.reference), domain.readers)
        ref = [score_path(p) for p in ref_files]
        calib = Calibrator(np.concatenate([r[3] for r in ref]))
        ref_maps = [r[5] for r in ref if r[5] is not None]
        if ref_maps:
            shapes = {m.shape[1:] for m in ref_maps} | {r[6].shape[1:] for r in results if r[6] is not None}
            normalizer = MapNormalizer(per="location" if len(shapes) == 1 else "global")
            normalizer.fit(np.concatenate(ref_maps))
        ref_info = {"files": [str(p) for p in ref_files], "n": calib.n,
                    "map_normalisation": normalizer.per if normalizer else None}

    rows = []
    for path, x, meta, batched, scores, errs, maps in results:
        suffix = _suffix_of(path, domain.readers) or path.suffix
        map_path = zmap_path = None
        if maps is not None:
            map_path = _write_map(domain, out / "maps", path, suffix, "map", maps, meta, batched)
            if normalizer is not None:
                zmap_path = _write_map(domain, out / "maps", path, suffix, "zmap", normalizer.transform(maps),
                                       meta, batched)
        for i, (s, e) in enumerate(zip(scores, errs)):
            row = {"file": str(path), "index": i, "score": float(s),
                   "stderr": float(e) if np.isfinite(e) else None}   # None: one Hutchinson probe, no spread
            if calib is not None:
                row["p_value"] = float(calib.p_value([s])[0])
                row["percentile"] = float(calib.percentile([s])[0])
            if map_path is not None:
                row["map"] = str(map_path)
            if zmap_path is not None:
                row["zmap"] = str(zmap_path)
            rows.append(row)

    with open(out / "scores.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    unit = {"nll": "bits/dim", "elbo": "bits/dim (-ELBO, upper bound on the NLL)", "recon": "mean residual"}
    report = {"checkpoint": str(args.checkpoint), "domain": domain.name, "method": args.method,
              "unit": unit[args.method], "device": str(device), "seed": args.seed,
              "settings": {k: getattr(args, k) for k in ("steps", "divergence", "probes", "repeats", "sigmas",
                                                         "recon_method", "smooth", "sigma_min", "sigma_max")},
              "reference": ref_info, "seconds": round(time.perf_counter() - t0, 2), "samples": rows}
    (out / "scores.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"scored {len(rows)} samples from {len(results)} files ({args.method}); wrote {out / 'scores.csv'}, "
          f"{out / 'scores.json'}" + (f" and maps in {out / 'maps'}" if any('map' in r for r in rows) else ""))
    return 0
