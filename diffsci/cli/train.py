"""``diffsci train --config C [--resume] [--device D] [--out DIR] [--steps N ...] [--set KEY=VALUE ...]``.

Trains the experiment of a YAML config (see configs/). Works the same under ``torchrun`` (DDP); only
rank 0 writes. Overrides: ``--steps``, ``--batch-size``, ``--lr``, ``--seed``, and any field with
``--set train.ema_decay=0.99`` (the value is parsed as YAML).
"""

from __future__ import annotations

import json

from . import add_device_arg


def register(sub) -> None:
    p = sub.add_parser("train", help="train a diffusion prior from an experiment YAML")
    p.add_argument("--config", required=True, help="experiment YAML (see configs/)")
    p.add_argument("--resume", action="store_true", help="continue the run in the output folder exactly")
    p.add_argument("--out", default=None, help="run folder (default: train.out_dir of the config)")
    p.add_argument("--steps", type=int, default=None, help="override train.steps (the total)")
    p.add_argument("--batch-size", type=int, default=None, help="override train.batch_size (global batch)")
    p.add_argument("--lr", type=float, default=None, help="override train.lr")
    p.add_argument("--seed", type=int, default=None, help="override train.seed")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config field, e.g. --set model.channels=[32,64] (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_device_arg(p)
    p.set_defaults(func=run)


def overrides_from_args(args) -> dict:
    """The nested override dict of --steps/--batch-size/--lr/--seed and every --set KEY=VALUE."""
    import yaml
    out: dict = {}
    items = [(f"train.{k}", getattr(args, a)) for k, a in
             (("steps", "steps"), ("batch_size", "batch_size"), ("lr", "lr"), ("seed", "seed"))
             if getattr(args, a) is not None]
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE (e.g. train.lr=1e-4), got '{item}'")
        items.append((key.strip(), yaml.safe_load(value)))
    for key, value in items:
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def run(args) -> int:
    from ..config import load_config
    from ..train import train
    cfg = load_config(args.config, overrides_from_args(args))
    res = train(cfg, resume=args.resume, device=args.device, progress=not args.no_progress, out_dir=args.out)
    if res.checkpoint is not None:                     # rank 0 under torchrun
        print(json.dumps({"run_dir": str(res.run_dir), "step": res.step, "checkpoint": str(res.checkpoint),
                          "loss": res.losses[-1] if res.losses else None, "val_loss": res.val_loss,
                          "seconds": round(res.seconds, 1)}))
    return 0
