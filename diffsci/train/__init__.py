"""Training: the loop, EMA, checkpoints (safetensors + JSON, atomic, exact resume) and DDP via torchrun.

Typical use::

    from diffsci.config import load_config
    from diffsci.train import train, load_denoiser
    result = train(load_config("configs/synthetic_field_2d.yaml"))       # or train(cfg, dataset=ArrayDataset(x))
    denoiser, cfg = load_denoiser(result.run_dir)                         # EMA weights, eval mode
"""

from .checkpoint import load_denoiser, read_checkpoint, resolve_checkpoint, save_denoiser
from .ema import EMA
from .loop import NonFiniteLossError, TrainResult, train, warmup_lr

__all__ = ["train", "TrainResult", "NonFiniteLossError", "load_denoiser", "save_denoiser", "read_checkpoint",
           "resolve_checkpoint", "EMA", "warmup_lr"]
