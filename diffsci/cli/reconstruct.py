"""``diffsci reconstruct``: posterior samples, mean and uncertainty map of a measurement under a trained prior.

    diffsci reconstruct --checkpoint RUN --operator "fourier:mask=m.npy,centered=true,sigma=0.01" \\
        --measurement kspace.npy --method pigdm --shots 8 --steps 50 --out recon/

writes DIR/mean, DIR/std (per-location posterior std) and DIR/samples in the domain's format (the
measurement's suffix when the domain can write it, else .npy; ``--format`` overrides), a PNG of each,
and DIR/reconstruct.json (settings, shapes, data residual, timings). The operator grammar is printed by
``diffsci reconstruct --help-operators``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from . import add_device_arg

METHOD_CHOICES = ("dc", "dps", "pigdm", "diffpir")


def register(sub) -> None:
    p = sub.add_parser("reconstruct", help="posterior sampling of a measurement: mean, std map, samples",
                       description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="run folder, checkpoint folder or export of a trained prior")
    p.add_argument("--operator", help="measurement operator spec, e.g. mask:holes.npy (see --help-operators)")
    p.add_argument("--measurement", help="measurement file: .npy or a format of the model's domain")
    p.add_argument("--method", choices=METHOD_CHOICES, default="dc",
                   help="dc (data consistency), dps, pigdm or diffpir (default: dc)")
    p.add_argument("--shots", type=int, default=4, help="posterior samples per measurement (default 4)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: the config's sampling.steps)")
    p.add_argument("--out", help="output folder")
    p.add_argument("--format", default="auto",
                   help="output suffix (.npy, .h5, .nii.gz, ...); auto: the measurement's when the domain writes it")
    p.add_argument("--sampler", default=None, help="engine sampler integrating dc / pigdm (default: stochastic)")
    p.add_argument("--step-size", type=float, default=1.0, help="dps: the step size zeta' (default 1.0)")
    p.add_argument("--lam", type=float, default=1.0, help="diffpir: lambda (default 1.0)")
    p.add_argument("--zeta", type=float, default=1.0, help="diffpir: zeta in [0, 1] (default 1.0)")
    p.add_argument("--label", type=int, default=None, help="class label for a class-conditional prior")
    p.add_argument("--guidance-scale", type=float, default=None,
                   help="classifier-free guidance scale with --label (default: the config's)")
    p.add_argument("--cond-channels", choices=("adjoint", "pinv", "measurement"), default="adjoint",
                   help="for a measurement-conditioned prior: which view of y its channels are (default adjoint)")
    p.add_argument("--max-batch", type=int, default=None, help="at most this many samples per sampler call")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-ema", action="store_true", help="use the raw weights instead of the EMA weights")
    p.add_argument("--help-operators", action="store_true", help="print the operator spec grammar and exit")
    add_device_arg(p)
    p.set_defaults(func=run)


def _read_measurement(path: Path, get_domain):
    """(array, meta, suffix): a .npy is read as it is (in the model's normalisation); any other format
    through a reader of the model's domain, then the domain's ``to_model`` when it has one."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such measurement file")
    if path.suffix.lower() == ".npy":
        try:
            return np.load(path, allow_pickle=False), {}, ".npy"
        except (ValueError, OSError) as e:
            raise ValueError(f"{path}: not a readable .npy array ({e})") from None
    domain = get_domain()
    if domain is None:
        raise ValueError(f"{path}: only .npy measurements can be read without the model's domain plugin")
    loaded = domain.read(path)                       # a ValueError listing the readable formats otherwise
    arr = domain.to_model(loaded) if domain.to_model is not None else loaded.array
    return np.asarray(arr), dict(loaded.meta), _suffix_of(path, domain.readers)


def _suffix_of(path: Path, table: dict) -> str:
    name = path.name.lower()
    for s in sorted(table, key=len, reverse=True):
        if name.endswith(s.lower()):
            return s
    return path.suffix


def _shapes(arr: np.ndarray, op, channels: int, spatial_dims: int, path: Path) -> tuple[tuple, tuple]:
    """Interpret the measurement array as (N, *meas) or (*meas): returns (measurement shape, image shape)."""
    tried = []
    for cand in (tuple(arr.shape), (1, *arr.shape), (1, 1, *arr.shape)):
        try:
            x_shape = tuple(op.input_shape(cand))
            ok = (len(x_shape) == spatial_dims + 2 and x_shape[1] == channels
                  and tuple(op.measurement_shape(x_shape)) == cand)
        except ValueError as e:
            tried.append(str(e))
            continue
        if ok:
            return cand, x_shape
    raise ValueError(f"measurement {path} has shape {tuple(arr.shape)}, which {op.name} cannot map to images of "
                     f"{channels} channel(s) with {spatial_dims} spatial axes (expected (N, *meas) or (*meas) "
                     f"with meas = the operator's measurement of (C={channels}, *spatial))"
                     + (f"; {tried[-1]}" if tried else ""))


def run(args) -> int:
    import torch

    from ..conditioning import Cond
    from ..data.measurements import measurement_channels
    from ..diffusion import get_schedule
    from ..domains import get_domain
    from ..guidance import ClassifierFreeGuidance, method_nfe, multishot
    from ..operators.spec import BUILTIN, GRAMMAR, parse_operator
    from ..train import load_denoiser
    from ..utils import resolve_device

    if args.help_operators:
        print(GRAMMAR)
        return 0
    missing = [f"--{n}" for n in ("checkpoint", "operator", "measurement", "out") if getattr(args, n) is None]
    if missing:
        raise ValueError(f"missing required option(s): {', '.join(missing)}")
    if args.shots < 1 or (args.steps is not None and args.steps < 1):
        raise ValueError("--shots and --steps must be >= 1")
    t0 = time.perf_counter()
    device = resolve_device(args.device)
    denoiser, cfg = load_denoiser(args.checkpoint, device=device, ema=not args.no_ema)
    cache: dict = {}

    def domain():                                    # plugins are imported only when needed (some are slow)
        if "d" not in cache:
            try:
                cache["d"] = get_domain(cfg.data.domain)
            except ValueError:
                cache["d"] = None
                print(f"diffsci reconstruct: note: domain '{cfg.data.domain}' is not installed", file=sys.stderr)
        return cache["d"]

    mpath = Path(args.measurement)
    arr, meta, in_suffix = _read_measurement(mpath, domain)
    sd, channels = cfg.model.spatial_dims, cfg.model.in_channels
    spatial_guess = arr.shape[-sd:] if arr.ndim >= sd else None
    name = args.operator.partition(":")[0].strip().lower()
    builtin = name in BUILTIN
    op = parse_operator(args.operator, spatial_shape=spatial_guess, domain=None if builtin else domain()).to(device)
    if np.iscomplexobj(arr) and not op.complex_output:
        raise ValueError(f"measurement {mpath} is complex ({arr.dtype}) but the operator {op.name} measures a real "
                         "model: complex data cannot be given to a real model (k-space needs a fourier operator; "
                         "complex images need a (re, im) model and complex=true)")
    y_shape, x_shape = _shapes(arr, op, channels, sd, mpath)
    rdtype = torch.float32
    y = torch.as_tensor(arr.reshape(y_shape))
    y = y.to(device=device, dtype=torch.complex64 if y.is_complex() else rdtype)
    op.check_measurement(y, x_shape, what=f"measurement {mpath}")

    cond = None
    if cfg.model.cond_channels:
        cond = Cond(channels=measurement_channels(op, y, x_shape, args.cond_channels).to(rdtype))
    if args.label is not None:
        if not cfg.model.num_classes:
            raise ValueError("--label was given but the prior is not class-conditional (model.num_classes unset)")
        if not 0 <= args.label < cfg.model.num_classes:
            raise ValueError(f"--label {args.label} is out of range for {cfg.model.num_classes} classes")
        lab = torch.full((x_shape[0],), args.label, dtype=torch.long, device=device)
        cond = Cond(label=lab, channels=cond.channels if cond is not None else None)
    elif cfg.model.num_classes and cond is None:
        cond = Cond(label=torch.zeros(x_shape[0], dtype=torch.long, device=device)).drop()   # unconditional
    scale = args.guidance_scale if args.guidance_scale is not None else cfg.sampling.guidance_scale
    model = ClassifierFreeGuidance(denoiser, scale) if (args.label is not None and scale != 1.0) else denoiser

    steps = args.steps or cfg.sampling.steps
    sigmas = get_schedule(cfg.sampling.schedule)(steps, cfg.sampling.sigma_min, cfg.sampling.sigma_max,
                                                 dtype=rdtype, device=device)
    options = {"dps": {"step_size": args.step_size},
               "diffpir": {"lam": args.lam, "zeta": args.zeta}}.get(args.method, {})
    if args.method in ("dc", "pigdm"):
        options = {"sigma_data": cfg.diffusion.sigma_data}
        if args.sampler:
            options["sampler"] = args.sampler
    gen = torch.Generator(device=device).manual_seed(args.seed)
    ts = time.perf_counter()
    with torch.no_grad():                          # dps / pigdm open enable_grad for their own gradients
        post = multishot(args.method, model, x_shape, sigmas, operator=op, measurement=y, shots=args.shots,
                         cond=cond, generator=gen, max_batch=args.max_batch, **options)
    sample_seconds = time.perf_counter() - ts
    residual = float((op(post.mean) - y).abs().pow(2).sum().sqrt() / y.abs().pow(2).sum().sqrt().clamp_min(1e-30))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    single = len(arr.shape) < len(y_shape)
    arrays = {"mean": post.mean, "std": post.std, "samples": post.samples}
    fmt_suffix = in_suffix if args.format == "auto" else "." + args.format.lstrip(".")
    written, notes = _write_outputs(out, arrays, single, None if fmt_suffix == ".npy" else domain(), args.format,
                                    in_suffix, meta)
    summary = {"command": "diffsci " + " ".join(sys.argv[1:]), "checkpoint": str(args.checkpoint),
               "measurement": str(mpath), "operator": args.operator, "operator_repr": repr(op),
               "sigma_y": op.sigma_y, "method": args.method, "options": options, "shots": args.shots,
               "steps": steps,
               "nfe_per_sample": method_nfe(args.method, steps, options.get("sampler", "stochastic")),
               "measurement_shape": list(y_shape), "image_shape": list(x_shape), "device": str(device),
               "relative_residual_of_mean": residual, "sampling_seconds": round(sample_seconds, 3),
               "seconds_per_sample": round(sample_seconds / (x_shape[0] * args.shots), 4),
               "seconds": round(time.perf_counter() - t0, 3), "files": written, "notes": notes}
    (out / "reconstruct.json").write_text(json.dumps(summary, indent=2))
    for n in notes:
        print(f"diffsci reconstruct: note: {n}", file=sys.stderr)
    print(f"wrote {', '.join(written)} and reconstruct.json to {out} "
          f"({args.shots} shots, {steps} steps, {args.method}, relative residual {residual:.3g})")
    return 0


def _write_outputs(out: Path, arrays: dict, single: bool, domain, fmt: str, in_suffix: str, meta: dict):
    """Write mean / std / samples in the chosen format (+ PNG); returns (file names, notes)."""
    from ..io import save_figure
    notes = []
    suffix = in_suffix if fmt == "auto" else (fmt if fmt.startswith(".") else "." + fmt)
    can_domain = domain is not None and any(suffix.lower() == s.lower() for s in domain.writers)
    if suffix != ".npy" and not can_domain:
        if fmt != "auto":
            writes = ", ".join(sorted(getattr(domain, "writers", {}))) or "nothing"
            raise ValueError(f"cannot write format '{suffix}': the domain '{getattr(domain, 'name', '?')}' "
                             f"writes {writes}; use .npy")
        suffix = ".npy"
    written = []
    item_ndim = arrays["mean"].ndim - 1               # one image: (C, *spatial)
    for name, t in arrays.items():
        a = t.detach().cpu().numpy()
        if single:
            a = a[0]                                  # mean, std: (C, *spatial); samples: (K, C, *spatial)
        path = out / f"{name}{suffix}"
        if name == "samples" and suffix != ".npy" and domain.from_model is not None:
            a = domain.from_model(a, meta)            # realisations go back in the file's coding
        if suffix == ".npy":
            np.save(path, a, allow_pickle=False)
            written.append(path.name)
        else:
            written += _write_domain(domain, out, name, suffix, a, meta, item_ndim, notes)
        if name == "samples":                         # the K shots (of the first measurement)
            fig = a if single else a[0]
        else:
            fig = a[None] if single else a
        save_figure(out / f"{name}.png", fig, title=f"posterior {name}")
        written.append(f"{name}.png")
    return written, notes


def _write_domain(domain, out: Path, name: str, suffix: str, a: np.ndarray, meta: dict, item_ndim: int,
                  notes: list) -> list[str]:
    """Write ``a`` with the domain's writer: as one file, else (a writer of single images, e.g. one TIFF volume)
    one file per image, ``samples_000.tif``...; else as .npy with a note. Returns the file names."""
    try:
        domain.write(out / f"{name}{suffix}", a, meta)
        return [f"{name}{suffix}"]
    except (ValueError, TypeError) as e:
        first = e
    if a.ndim > item_ndim:
        items = a.reshape(-1, *a.shape[a.ndim - item_ndim:])
        names = [f"{name}_{i:03d}{suffix}" for i in range(len(items))]
        try:
            for n, item in zip(names, items):
                domain.write(out / n, item, meta)
            return names
        except (ValueError, TypeError):
            for n in names:
                (out / n).unlink(missing_ok=True)
    np.save(out / f"{name}.npy", a, allow_pickle=False)
    notes.append(f"{name}: the {domain.name} writer for {suffix} refused it ({first}); wrote {name}.npy")
    return [f"{name}.npy"]
