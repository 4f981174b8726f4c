"""The diffusion prior of the MRI harnesses: train it on the training split, or load a trained one.

``python -m diffsci_mri.harness.prior CONFIG.yaml RUN_DIR [--steps N] [--resume]`` trains a prior from
an experiment YAML (e.g. ``configs/mri_reconstruction.yaml``) in the background; the harnesses then take
``--prior RUN_DIR``. The data come from the config's ``data.params`` (:class:`MRIDataConfig`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from diffsci.config import ExperimentConfig, load_config

from ..datasets import MRIDataConfig, make_dataset

__all__ = ["train_prior", "load_prior", "quick_config", "main"]


def quick_config(base: ExperimentConfig, *, steps: int = 150, out_dir: str = "runs/mri_prior_quick",
                 crop: tuple[int, int] = (32, 32)) -> ExperimentConfig:
    """A tiny version of ``base`` for ``--quick`` runs: narrow UNet, small crops, few steps."""
    model = base.model.model_copy(update={"channels": (16, 32, 64), "num_res_blocks": 1,
                                          "attention_levels": (False, False, False), "norm_num_groups": 8})
    params = dict(base.data.params, crop=list(crop), crops_per_slice=8)
    train = base.train.model_copy(update={"steps": steps, "batch_size": 16, "lr": 1e-3, "warmup_steps": 50,
                                          "ema_decay": 0.99, "ckpt_every": steps, "val_every": steps,
                                          "log_every": 25, "out_dir": out_dir})
    return base.model_copy(update={"model": model, "train": train,
                                   "data": base.data.model_copy(update={"params": params}),
                                   "name": base.name + "_quick"})


def train_prior(cfg: ExperimentConfig, out_dir: str | Path, *, data: MRIDataConfig | None = None,
                device: str = "auto", resume: bool = False, progress: bool = True):
    """Train the EDM prior of ``cfg`` on the training split of its MRI data; returns the TrainResult.

    Args:
        cfg: experiment (model, diffusion, train); ``cfg.data.params`` is an :class:`MRIDataConfig`.
        out_dir: run folder (checkpoints, config.yaml, metrics.jsonl).
        data: override of the data parameters (e.g. another root folder).
    """
    from diffsci.train import train
    data = data or MRIDataConfig.model_validate(cfg.data.params)
    train_ds = make_dataset(data, "train")
    val_ds = make_dataset(data.model_copy(update={"crop": None}), "val")
    return train(cfg, dataset=train_ds, val_dataset=val_ds, resume=resume, device=device, progress=progress,
                 out_dir=out_dir)


def load_prior(path: str | Path, device: str | torch.device = "cpu"):
    """The EMA denoiser of a run folder / checkpoint / export (``diffsci.train.load_denoiser``).

    Priors saved before the UNet had its ``upsample`` option (and its pointwise 1x1 skips) load with
    the architecture they were trained with: ``upsample="nearest_first"`` (MONAI's order, the UNet's
    only order until then) and the 1x1 kernels reshaped (see :func:`_legacy_model`).
    """
    from diffsci.train import load_denoiser, read_checkpoint
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such prior (a run folder of diffsci_mri.harness.prior or "
                                "diffsci train)")
    ck = read_checkpoint(path, files=())
    model_cfg = _legacy_model(ck)
    try:
        denoiser, cfg = load_denoiser(path, device=device, ema=True, net=model_cfg.build())
    except ValueError as e:
        if "shape mismatch" not in str(e):
            raise
        denoiser, cfg = _load_reshaped(path, device, model_cfg)
    cfg = cfg.model_copy(update={"model": model_cfg})
    denoiser.requires_grad_(False)
    return denoiser, cfg


def _legacy_model(ck):
    """The model config a checkpoint was trained with: its saved YAML lacks ``upsample`` when it predates
    the option, and then the order was nearest-neighbour first."""
    import yaml
    raw = yaml.safe_load((ck.path / "config.yaml").read_text()) or {}
    model = ck.config.model
    if "upsample" in type(model).model_fields and "upsample" not in (raw.get("model") or {}):
        model = model.model_copy(update={"upsample": "nearest_first"})
    return model


def _load_reshaped(path: Path, device, model_cfg):
    """Load weights whose shapes differ from the current UNet's only by singleton axes.

    The UNet's 1x1 skip convolutions became pointwise layers ``(out, in)`` while priors with
    ``(out, in, 1, 1)`` kernels were training; the weights are the same numbers. Anything else that
    does not fit is still an error naming the tensor.
    """
    from diffsci.train import read_checkpoint
    from diffsci.utils import resolve_device
    ck = read_checkpoint(path)
    tensors = ck.prefixed("model.safetensors", "ema.") or ck.prefixed("model.safetensors", "model.")
    net = model_cfg.build()
    state = net.state_dict()
    for k, v in list(tensors.items()):
        if k in state and v.shape != state[k].shape:
            if v.numel() != state[k].numel() or v.squeeze().shape != state[k].squeeze().shape:
                raise ValueError(f"{ck.path}: tensor {k} has shape {tuple(v.shape)}, the network wants "
                                 f"{tuple(state[k].shape)}")
            tensors[k] = v.reshape(state[k].shape)
    net.load_state_dict(tensors, strict=True)
    denoiser = ck.config.diffusion.build_denoiser(net).to(resolve_device(device)).eval()
    denoiser.sample_shape = tuple(ck.state.get("sample_shape") or ()) or None
    return denoiser, ck.config


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m diffsci_mri.harness.prior", description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("out")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--device", default="auto")
    p.add_argument("--data", default=None, help="folder of volumes (default: the config's root)")
    p.add_argument("--brats", default=None, help="train the BraTS tile prior of the anomaly harness on this "
                                                 "patch folder instead (configs/mri_anomaly.yaml)")
    p.add_argument("--gap", type=int, default=3, help="with --brats: slices between training and test")
    args = p.parse_args(argv)
    cfg = load_config(args.config)
    if args.steps:
        cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"steps": args.steps})})
    if args.brats:
        from diffsci.train import train
        from ..brats import assemble_brats
        from .anomaly import brats_split, brats_tile_datasets
        vol = assemble_brats(args.brats)
        tr, va = brats_tile_datasets(vol, brats_split(vol, args.gap)[0])
        res = train(cfg, dataset=tr, val_dataset=va, device=args.device, resume=args.resume, progress=False,
                    out_dir=args.out)
        print(f"trained {res.step} steps in {res.seconds:.0f} s; run folder {res.run_dir}", file=sys.stderr)
        return 0
    data = MRIDataConfig.model_validate(cfg.data.params)
    if args.data:
        data = data.model_copy(update={"root": args.data})
    res = train_prior(cfg, args.out, data=data, device=args.device, resume=args.resume, progress=False)
    print(f"trained {res.step} steps in {res.seconds:.0f} s; run folder {res.run_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
