"""A tiny stand-in network, datasets and config for the training-loop tests, and the DDP test's worker.

Run as a script under torchrun it trains a few steps with DDP and writes each rank's weights:
``torchrun --standalone --nproc-per-node 2 _tiny.py OUT_DIR``.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from diffsci.config import DataConfig, ExperimentConfig, TrainConfig, UNetConfig
from diffsci.data import ArrayDataset
from diffsci.utils import append_dims

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


class TinyNet(nn.Module):
    """net(x, noise_level, cond) -> F: three convolutions, a noise-level embedding, an optional label
    embedding with a null class for dropped conditions, and dropout (to exercise the global RNG)."""

    def __init__(self, spatial_dims: int = 1, channels: int = 1, width: int = 8, num_classes: int | None = None,
                 dropout: float = 0.1, seed: int = 0):
        super().__init__()
        conv = CONV[spatial_dims]
        fork = torch.random.fork_rng()
        fork.__enter__()                                 # the initial weights depend on ``seed`` alone
        torch.manual_seed(seed)
        self.inp = conv(channels, width, 3, padding=1)
        self.mid = conv(width, width, 3, padding=1)
        self.out = conv(width, channels, 3, padding=1)
        self.emb = nn.Linear(1, width)
        self.num_classes = num_classes
        self.label = nn.Embedding(num_classes + 1, width) if num_classes else None
        self.drop = nn.Dropout(dropout)
        fork.__exit__(None, None, None)

    def forward(self, x, noise_level, cond=None):
        h = self.inp(x) + append_dims(self.emb(noise_level[:, None]), x.ndim)
        if self.label is not None:
            lab = cond.label.clone()
            if cond.dropped is not None:
                lab[cond.dropped] = self.num_classes            # the null class
            h = h + append_dims(self.label(lab), x.ndim)
        h = self.mid(self.drop(F.silu(h)))
        return self.out(F.silu(h))


def tiny_config(steps: int = 8, spatial_dims: int = 1, **train) -> ExperimentConfig:
    kw = dict(steps=steps, batch_size=4, lr=3e-3, warmup_steps=3, ema_decay=0.9, cond_dropout=0.25,
              log_every=2, val_every=4, val_batches=2, ckpt_every=4, keep_checkpoints=2, seed=0)
    kw.update(train)
    return ExperimentConfig(
        name="tiny",
        model=UNetConfig(spatial_dims=spatial_dims, in_channels=1, channels=(8,), attention_levels=(False,),
                         num_res_blocks=1, norm_num_groups=4),
        data=DataConfig(domain="synthetic"), train=TrainConfig(**kw))


def tiny_dataset(n: int = 10, length: int = 16, seed: int = 0, labels: bool = True) -> ArrayDataset:
    """n smooth 1D signals, two classes with opposite means."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    t = np.linspace(0, 2 * np.pi, length)
    x = (2 * y[:, None] - 1) * 0.5 * np.sin(t)[None] + 0.1 * rng.standard_normal((n, length))
    return ArrayDataset(x[:, None].astype(np.float32), label=y if labels else None, source="tiny")


def ddp_worker(out_dir: str) -> None:
    import torch.distributed as dist

    from diffsci.train import train
    from safetensors.torch import save_file
    torch.set_num_threads(1)
    net = TinyNet(num_classes=2)
    res = train(tiny_config(steps=6, ckpt_every=6, val_every=6), dataset=tiny_dataset(12),
                val_dataset=tiny_dataset(4, seed=1), progress=False, out_dir=f"{out_dir}/run", net=net)
    rank = int(__import__("os").environ["RANK"])
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, f"{out_dir}/rank{rank}.safetensors")
    with open(f"{out_dir}/rank{rank}.txt", "w") as f:
        f.write(f"{res.step} {dist.is_initialized()}\n")


if __name__ == "__main__":
    ddp_worker(sys.argv[1])
