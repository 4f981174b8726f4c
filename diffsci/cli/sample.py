"""``diffsci sample --checkpoint C --num N --out FILE.npy|.h5 [--steps S] [--sampler NAME] [--guidance W
--label K --scalars ...] [--seed] [--device]``: draw samples and write them with a PNG figure beside."""

from __future__ import annotations

from pathlib import Path

from . import add_device_arg


def register(sub) -> None:
    p = sub.add_parser("sample", help="draw samples from a trained prior (.npy or .h5, plus a PNG)")
    p.add_argument("--checkpoint", required=True, help="run folder (its latest checkpoint) or checkpoint folder")
    p.add_argument("--num", type=int, required=True, help="number of samples")
    p.add_argument("--out", required=True, help="output file: .npy, .h5 or .hdf5 (a .png is written beside it)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: sampling.steps of the config)")
    p.add_argument("--sampler", default=None, help="euler | heun | dpmpp_2m | stochastic | euler_maruyama "
                                                   "(default: sampling.sampler of the config)")
    p.add_argument("--schedule", default=None, help="karras | loglinear (default: the config's)")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale w (1 = none)")
    p.add_argument("--label", type=int, default=None, help="class label for every sample")
    p.add_argument("--scalars", type=float, nargs="+", default=None, help="scalar conditions for every sample")
    p.add_argument("--batch-size", type=int, default=64, help="samples per sampler call")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-ema", action="store_true", help="use the raw trained weights instead of the EMA")
    p.add_argument("--no-figure", action="store_true", help="skip the PNG")
    add_device_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from ..conditioning import Cond
    from ..guidance import ClassifierFreeGuidance
    from ..io import ARRAY_SUFFIXES, save_samples
    from ..samplers import generate, get_sampler
    from ..train import load_denoiser
    from ..utils import resolve_device

    out = Path(args.out)
    if out.suffix.lower() not in ARRAY_SUFFIXES:
        raise ValueError(f"--out {out}: unsupported format; use one of {', '.join(ARRAY_SUFFIXES)}")
    if args.num < 1 or args.batch_size < 1:
        raise ValueError("--num and --batch-size must be >= 1")
    if args.sampler is not None:
        get_sampler(args.sampler)                       # an unknown name lists the valid ones, before any work
    dev = resolve_device(args.device)
    denoiser, cfg = load_denoiser(args.checkpoint, device=dev, ema=not args.no_ema)
    sampler, steps = args.sampler or cfg.sampling.sampler, args.steps or cfg.sampling.steps
    if steps < 1:
        raise ValueError(f"--steps must be >= 1, got {steps}")
    if not denoiser.sample_shape:
        raise ValueError(f"{args.checkpoint}: the checkpoint does not record the sample shape")

    m = cfg.model
    cond = None
    if args.label is not None:
        if m.num_classes is None:
            raise ValueError("--label was given, but this model is not class-conditional (model.num_classes unset)")
        if not 0 <= args.label < m.num_classes:
            raise ValueError(f"--label {args.label} out of range: the model has {m.num_classes} classes")
        cond = Cond(label=torch.full((args.num,), args.label, dtype=torch.long))
    if args.scalars is not None:
        if len(args.scalars) != m.num_scalars:
            raise ValueError(f"--scalars got {len(args.scalars)} values, the model expects {m.num_scalars}")
        s = torch.tensor(args.scalars, dtype=torch.float32)[None].expand(args.num, -1)
        cond = Cond(label=None if cond is None else cond.label, scalars=s)
    guidance = cfg.sampling.guidance_scale if args.guidance is None else args.guidance
    if args.guidance is not None and args.guidance != 1.0 and cond is None:
        raise ValueError("--guidance needs a condition to guide towards: give --label or --scalars")
    model = ClassifierFreeGuidance(denoiser, guidance) if cond is not None and guidance != 1.0 else denoiser

    gen = torch.Generator().manual_seed(args.seed)
    parts = []
    with torch.no_grad():
        for start in range(0, args.num, args.batch_size):
            b = min(args.batch_size, args.num - start)
            c = None if cond is None else cond.index(slice(start, start + b)).to(dev)
            parts.append(generate(model, (b, *denoiser.sample_shape), sampler=sampler, steps=steps,
                                  schedule=args.schedule or cfg.sampling.schedule, sigma_min=cfg.sampling.sigma_min,
                                  sigma_max=cfg.sampling.sigma_max, cond=c, generator=gen, device=dev).cpu())
    samples = torch.cat(parts).numpy()
    meta = {"checkpoint": str(args.checkpoint), "sampler": sampler, "steps": steps, "seed": args.seed,
            "guidance": guidance, "label": args.label, "scalars": args.scalars, "ema": not args.no_ema,
            "experiment": cfg.name}
    written = save_samples(out, samples, {k: v for k, v in meta.items() if v is not None},
                           figure=not args.no_figure, title=f"{cfg.name}: {sampler}, {steps} steps")
    print(f"wrote {args.num} samples of shape {tuple(denoiser.sample_shape)} to "
          + " and ".join(str(p) for p in written))
    return 0
